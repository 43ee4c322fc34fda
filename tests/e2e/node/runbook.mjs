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

const tokens = {
  getAuthorizationToken: async () => TOKEN,
  getAllowedHostsValidator: () => new AllowedHostsValidator(new Set()),
};
const adapter = new GraphRequestAdapter(new BaseBearerTokenAuthenticationProvider(tokens));
adapter.baseUrl = `${BASE}/v1.0`;
const graph = createGraphServiceClient(adapter);
const users = await graph.users.get({ queryParameters: { top: 5 } });
step("kiotaUsers", users.value.map((u) => u.userPrincipalName));
