"""What to try next: the console's sign-in link, a token, and the exact curl and msgraph-sdk
commands to look at the job, change a user and restart it with a resetScope."""

from __future__ import annotations

from pathlib import Path

from provisiond.demo.setup import DemoState

TOKEN_LIFETIME = 24 * 3600
RESET_SCOPE = "Watermark, Escrows, QuarantineState"


def instructions(
    base: str,
    scim_url: str,
    scim_token: str,
    token: str,
    state: DemoState,
    data_dir: Path,
    data_flag: str,
    console_link: str | None = None,
    *,
    ca: Path | None = None,
) -> list[str]:
    """The lines to print: the console link, then shell variables set once (`export TOKEN=...
    SP=... JOB=...`) and commands that use them, so the long token appears once."""
    v1 = f"{base}/v1.0"
    job_url = f"{v1}/servicePrincipals/{state.sp_id}/synchronization/jobs/{state.job_id}"
    job_ref = f"{v1}/servicePrincipals/$SP/synchronization/jobs/$JOB"
    auth = '-H "Authorization: Bearer $TOKEN"'
    json_type = '-H "Content-Type: application/json"'
    restart_body = '{"criteria":{"resetScope":"' + RESET_SCOPE + '"}}'
    upn = state.sample_upn
    console = (
        [
            f"  console:            {console_link}",
            "  (a one-time sign-in link; another one: "
            f"provisiond console-link --port {base.rsplit(':', 1)[-1]}{data_flag})",
        ]
        if console_link
        else []
    )
    return [
        "provisiond demo is serving; the job keeps provisioning changes as you make them.",
        "",
        *console,
        f"  Graph API:          {v1}",
        f"  service principal:  {state.sp_id}",
        f"  job:                {job_url}",
        f"  SCIM app:           {scim_url}",
        f"  SCIM bearer token:  {scim_token}",
        "",
        f"Set these once in your shell (an Application Administrator token, valid {TOKEN_LIFETIME // 3600} h; "
        f"another one: provisiond token{data_flag}):",
        f"  export TOKEN={token} SP={state.sp_id} JOB={state.job_id} SCIM_TOKEN={scim_token}",
        *(
            [
                "and trust the demo's self-signed certificate (curl, Python's httpx and msgraph-sdk, Node):",
                f"  export CURL_CA_BUNDLE={ca} SSL_CERT_FILE={ca} NODE_EXTRA_CA_CERTS={ca}",
            ]
            if ca
            else []
        ),
        "",
        "Look at the job (status, lastExecution, counts):",
        f'  curl -s {auth} "{job_ref}"',
        "",
        "The same with msgraph-sdk (pip install msgraph-sdk), reading $TOKEN, $SP and $JOB:",
        *("  " + line for line in _sdk_snippet(v1).splitlines()),
        "",
        f"Change a user ({upn}); the job picks the change up within seconds:",
        f"  curl -s -X PATCH {auth} {json_type} {v1}/users/{upn} "
        """-d '{"jobTitle":"Principal Engineer","officeLocation":"Remote"}'""",
        "and see it in the SCIM app:",
        f'  curl -s -G -H "Authorization: Bearer $SCIM_TOKEN" {scim_url}/Users '
        f"--data-urlencode 'filter=userName eq \"{upn}\"'",
        "",
        "Read the provisioning logs (newest first):",
        f"  curl -s {auth} '{v1}/auditLogs/provisioning?$top=5'",
        "",
        "See what a restart would do before doing it (a dry run; nothing is written):",
        f"  curl -s -X POST {auth} {json_type} \"{job_ref}/preview\" -d '{restart_body}'",
        "then restart the job with that resetScope:",
        f"  curl -s -X POST {auth} {json_type} \"{job_ref}/restart\" -d '{restart_body}'",
        "",
        f"Data dir: {data_dir}. Ctrl-C stops the demo.",
    ]


def _sdk_snippet(v1: str) -> str:
    return f"""\
import asyncio, os
from kiota_abstractions.authentication import (
    AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient

class Token(AccessTokenProvider):
    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return os.environ["TOKEN"]
    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])

adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
adapter.base_url = "{v1}"
graph = GraphServiceClient(request_adapter=adapter)

async def main():
    sp = graph.service_principals.by_service_principal_id(os.environ["SP"])
    job = await sp.synchronization.jobs.by_synchronization_job_id(os.environ["JOB"]).get()
    last = job.status.last_execution
    print(job.status.code.value, last.state.value, last.count_exported, "exported")

asyncio.run(main())"""
