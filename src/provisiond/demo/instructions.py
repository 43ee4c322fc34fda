"""What to try next: a token, and the exact curl and msgraph-sdk commands to look at the job,
change a user and restart it with a resetScope."""

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
) -> list[str]:
    v1 = f"{base}/v1.0"
    job_url = f"{v1}/servicePrincipals/{state.sp_id}/synchronization/jobs/{state.job_id}"
    auth = f'-H "Authorization: Bearer {token}"'
    json_type = '-H "Content-Type: application/json"'
    restart_body = '{"criteria":{"resetScope":"' + RESET_SCOPE + '"}}'
    upn = state.sample_upn
    return [
        "provisiond demo is serving; the job keeps provisioning changes as you make them.",
        "",
        f"  Graph API:          {v1}",
        f"  service principal:  {state.sp_id}",
        f"  job:                {job_url}",
        f"  SCIM app:           {scim_url}",
        f"  SCIM bearer token:  {scim_token}",
        f"  token:              {token}",
        f"  (an Application Administrator token, valid {TOKEN_LIFETIME // 3600} h; "
        f"another one: provisiond token{data_flag})",
        "",
        "Look at the job (status, lastExecution, counts):",
        f"  curl -s {auth} {job_url}",
        "",
        "The same with msgraph-sdk (pip install msgraph-sdk):",
        *("  " + line for line in _sdk_snippet(v1, token, state).splitlines()),
        "",
        f"Change a user ({upn}); the job picks the change up within seconds:",
        f"  curl -s -X PATCH {auth} {json_type} {v1}/users/{upn} "
        """-d '{"jobTitle":"Principal Engineer","officeLocation":"Remote"}'""",
        "and see it in the SCIM app:",
        f'  curl -s -G -H "Authorization: Bearer {scim_token}" {scim_url}/Users '
        f"--data-urlencode 'filter=userName eq \"{upn}\"'",
        "",
        "Read the provisioning logs (newest first):",
        f"  curl -s {auth} '{v1}/auditLogs/provisioning?$top=5'",
        "",
        "Restart the job with a resetScope:",
        f"  curl -s -X POST {auth} {json_type} {job_url}/restart -d '{restart_body}'",
        "",
        f"Data dir: {data_dir}. Ctrl-C stops the demo.",
    ]


def _sdk_snippet(v1: str, token: str, state: DemoState) -> str:
    return f"""\
import asyncio
from kiota_abstractions.authentication import (
    AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient

class Token(AccessTokenProvider):
    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return "{token}"
    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])

adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
adapter.base_url = "{v1}"
graph = GraphServiceClient(request_adapter=adapter)

async def main():
    sp = graph.service_principals.by_service_principal_id("{state.sp_id}")
    job = await sp.synchronization.jobs.by_synchronization_job_id("{state.job_id}").get()
    last = job.status.last_execution
    print(job.status.code.value, last.state.value, last.count_exported, "exported")

asyncio.run(main())"""
