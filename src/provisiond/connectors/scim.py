"""The SCIM 2.0 target connector.

This issue needs only Entra's "Test Connection": query the users endpoint for a userName that
cannot exist (a random GUID) and expect 200 with an empty ListResponse. The failure says which
of the three things a person must fix went wrong: reaching the endpoint, the credentials, or
the endpoint not being SCIM. (What a caller of validateCredentials is told is coarser: see
`services.synchronization.validate_credentials`.) The connection is held to the operator's
outbound policy; a refused address raises `connectors.outbound.OutboundRefused`.

Probes use aiohttp, the HTTP client of the engine's SCIM connector (one client library for SCIM
targets), and are called from synchronous service code through `run_probe`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from provisiond.connectors.outbound import (
    ALLOW_EVERYTHING,
    OutboundPolicy,
    OutboundRefused,
    guarded_resolver,
)

T = TypeVar("T")

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


@dataclass(frozen=True)
class ProbeResponse:
    """A whole answer to a probe, read within its time limit."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        """ValueError when the answer is not JSON (UnicodeDecodeError included)."""
        return json.loads(self.content)


@asynccontextmanager
async def probe_session(
    secret_token: str | None, timeout: float, outbound: OutboundPolicy
) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session for probing a SCIM app, configured as the engine's connector is
    (`scim_client`): no redirects, no proxy from the environment, every connection held to the
    outbound policy, `timeout` on each whole request."""
    headers = {"Accept": "application/scim+json, application/json"}
    if secret_token:
        headers["Authorization"] = f"Bearer {secret_token}"
    connector = aiohttp.TCPConnector(limit=2, resolver=guarded_resolver(outbound))
    async with aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
        trust_env=False,
    ) as session:
        yield session


async def probe_get(
    session: aiohttp.ClientSession,
    url: str,
    timeout: float,
    outbound: OutboundPolicy,
    *,
    params: dict[str, str] | None = None,
) -> ProbeResponse:
    """GET from a SCIM app, with the failures every probe (test connection, discovery) reports
    alike: not answering in time or at all, and refusing the credentials. A destination the
    outbound policy refuses raises OutboundRefused."""
    try:
        outbound.check_literal(URL(url).host or "")  # the resolver never sees an address
        async with session.get(url, params=params, allow_redirects=False) as response:
            answer = ProbeResponse(response.status, await response.read())
    except OutboundRefused:
        raise
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, OutboundRefused):
            raise exc.os_error from None
        raise _unreachable(url, exc) from None
    except TimeoutError:  # asyncio's, and aiohttp's connect and read timeouts
        raise ScimConnectionError(
            ConnectionProblem.UNREACHABLE,
            f"The SCIM endpoint {url} did not answer within {timeout:g} seconds.",
        ) from None
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a malformed address
        raise _unreachable(url, exc) from None
    if answer.status_code in (401, 403):
        raise ScimConnectionError(
            ConnectionProblem.UNAUTHORIZED,
            f"GET {url} was refused with HTTP {answer.status_code}; check SecretToken.",
        )
    return answer


def _unreachable(url: str, exc: Exception) -> ScimConnectionError:
    return ScimConnectionError(
        ConnectionProblem.UNREACHABLE,
        f"The SCIM endpoint {url} could not be reached: {str(exc) or type(exc).__name__}.",
    )


def run_probe(probe: Coroutine[Any, Any, T]) -> T:
    """Run a probe to the end from synchronous code (a service method in the API's thread
    pool): on an event loop of this thread's own, so a slow app holds up only its caller."""
    return asyncio.run(probe)


def test_connection(
    base_address: str,
    secret_token: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    outbound: OutboundPolicy = ALLOW_EVERYTHING,
) -> None:
    """Raise ScimConnectionError unless the endpoint answers a userName query as SCIM does."""
    run_probe(_test_connection(base_address, secret_token, timeout, outbound))


async def _test_connection(
    base_address: str, secret_token: str | None, timeout: float, outbound: OutboundPolicy
) -> None:
    params = {"filter": f'userName eq "{uuid.uuid4()}"'}
    async with probe_session(secret_token, timeout, outbound) as session:
        response = await probe_get(session, users_url(base_address), timeout, outbound, params=params)
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
