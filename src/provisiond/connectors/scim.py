"""The SCIM 2.0 target connector.

This issue needs only Entra's "Test Connection": query the users endpoint for a userName that
cannot exist (a random GUID) and expect 200 with an empty ListResponse. The failure says which
of the three things a person must fix went wrong: reaching the endpoint, the credentials, or
the endpoint not being SCIM. (What a caller of validateCredentials is told is coarser: see
`services.synchronization.validate_credentials`.) The connection is held to the operator's
outbound policy; a refused address raises `connectors.outbound.OutboundRefused`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

import httpx2

from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy, guarded_transport

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
DEFAULT_TIMEOUT_SECONDS = 10.0


class ConnectionProblem(Enum):
    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"
    NOT_SCIM = "notScim"


@dataclass
class ScimConnectionError(Exception):
    problem: ConnectionProblem
    detail: str
    # The endpoint answered with a SCIM ListResponse, so the detail is about the SCIM service
    # and says nothing a network scan could use; otherwise callers show one message only.
    answered_as_scim: bool = False

    def __str__(self) -> str:
        return self.detail


def users_url(base_address: str) -> str:
    """`{BaseAddress}/Users`, keeping a query string such as `?aadOptscim062020` out of the path."""
    path = base_address.partition("?")[0]
    return f"{path.rstrip('/')}/Users"


def probe_get(
    client: httpx2.Client,
    url: str,
    timeout: float,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """GET from a SCIM app, with the failures every probe (test connection, discovery) reports
    alike: not answering in time or at all, and refusing the credentials."""
    try:
        response = client.get(url, params=params, headers=headers)
    except httpx2.TimeoutException:
        raise ScimConnectionError(
            ConnectionProblem.UNREACHABLE,
            f"The SCIM endpoint {url} did not answer within {timeout:g} seconds.",
        ) from None
    except httpx2.HTTPError as exc:
        raise ScimConnectionError(
            ConnectionProblem.UNREACHABLE, f"The SCIM endpoint {url} could not be reached: {exc}."
        ) from None
    if response.status_code in (401, 403):
        raise ScimConnectionError(
            ConnectionProblem.UNAUTHORIZED,
            f"GET {url} was refused with HTTP {response.status_code}; check SecretToken.",
        )
    return response


def test_connection(
    base_address: str,
    secret_token: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    outbound: OutboundPolicy = ALLOW_EVERYTHING,
) -> None:
    """Raise ScimConnectionError unless the endpoint answers a userName query as SCIM does."""
    headers = {"Accept": "application/scim+json, application/json"}
    if secret_token:
        headers["Authorization"] = f"Bearer {secret_token}"
    params = {"filter": f'userName eq "{uuid.uuid4()}"'}
    transport = guarded_transport(outbound)
    with httpx2.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        response = probe_get(client, users_url(base_address), timeout, params=params, headers=headers)
    if response.status_code != 200:
        raise ScimConnectionError(
            ConnectionProblem.NOT_SCIM,
            f'GET {users_url(base_address)}?filter=userName eq "<random id>" answered HTTP {response.status_code}, '
            "where a SCIM service answers 200 with an empty ListResponse.",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or LIST_RESPONSE not in (body.get("schemas") or []):
        raise ScimConnectionError(
            ConnectionProblem.NOT_SCIM, "The endpoint answered 200, but not with a SCIM ListResponse."
        )
    if body.get("totalResults") not in (0, None) or body.get("Resources"):
        raise ScimConnectionError(
            ConnectionProblem.NOT_SCIM,
            "The endpoint returned users for a userName that cannot exist; its filter support is not SCIM-compliant.",
        )
