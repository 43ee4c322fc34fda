// An administrator's runbook with Microsoft's JavaScript Graph clients: the graph-client 3.x
// (which sends its token only over https) and the Kiota-based @microsoft/msgraph-sdk.
// Reads BASE (https://host:port), TOKEN, SP, APP_ID and JOB from the environment; prints one
// JSON line per step for tests/e2e/test_node_clients.py to check.
import { Client } from "@microsoft/microsoft-graph-client";
import { AllowedHostsValidator, BaseBearerTokenAuthenticationProvider } from "@microsoft/kiota-abstractions";
import { createGraphServiceClient, GraphRequestAdapter } from "@microsoft/msgraph-sdk";
import "@microsoft/msgraph-sdk-users";

const { BASE, TOKEN, SP, APP_ID, JOB } = process.env;
const step = (name, value) => console.log(JSON.stringify({ step: name, value }));

// A host other than graph.microsoft.com gets the token only when named in customHosts.
const client = Client.init({
  baseUrl: BASE,
  customHosts: new Set([new URL(BASE).hostname]),
  authProvider: (done) => done(null, TOKEN),
});
const byAppId = await client.api(`/servicePrincipals(appId='${APP_ID}')`).get();
step("servicePrincipalByAppId", byAppId.id);
const job = await client.api(`/servicePrincipals/${SP}/synchronization/jobs/${JOB}`).get();
step("job", job.id);
const restarted = await client
  .api(`/servicePrincipals/${SP}/synchronization/jobs/${JOB}/restart`)
  .post({ criteria: { resetScope: "Watermark, Escrows, QuarantineState" } });
step("restart", restarted ?? null);
const jobsByAppId = await client.api(`/servicePrincipals(appId='${APP_ID}')/synchronization/jobs`).get();
step("jobsByAppId", jobsByAppId.value.map((j) => j.id));
// The rest of the calls the runbook found failing (issue 10's "Why"), through graph-client.
const owned = await client.api(`/servicePrincipals(appId='${APP_ID}')`).expand("owners").get();
step("expandOwners", owned.owners.map((o) => [o["@odata.type"], o.id]));
const tagged = await client.api("/servicePrincipals").filter("tags/any(t:t eq 'node-runbook')").get();
step("tagsAny", tagged.value.map((s) => s.id));
const searched = await client
  .api("/users")
  .header("ConsistencyLevel", "eventual")
  .search('"displayName:nodeuser"')
  .get();
step("search", searched.value.map((u) => u.userPrincipalName));
const logs = await client
  .api("/auditLogs/provisioning")
  .orderby("activityDateTime desc")
  .filter("contains(jobId,'scim') and activityDateTime ge 2020-01-01")
  .get();
step("logsQuery", logs.value.length);

const tokens = {
  getAuthorizationToken: async () => TOKEN,
  getAllowedHostsValidator: () => new AllowedHostsValidator(new Set()),
};
const adapter = new GraphRequestAdapter(new BaseBearerTokenAuthenticationProvider(tokens));
adapter.baseUrl = `${BASE}/v1.0`;
const graph = createGraphServiceClient(adapter);
const users = await graph.users.get({ queryParameters: { top: 5 } });
step("kiotaUsers", users.value.map((u) => u.userPrincipalName));
