"""The HTTP side of the SCIM target connector: bounded concurrency, a request-rate limit,
`Retry-After` on 429 and 503, a time limit on every request, and failures as typed errors.

Errors carry the code the provisioning logs show (Entra's names where it has one) and say
whether they are the target's fault for one object (escrow and retry later) or for the
whole job (bad credentials, unreachable: quarantine).

The transport is aiohttp: with its C HTTP parser it costs under half the CPU per request of
httpx2, and an initial cycle sends two requests per object. One session per client, created on
first use inside the running loop, with at most `concurrency` pooled keep-alive connections, TLS
verification on, no redirects followed, no proxy or netrc read from the environment, and
`timeout_seconds` as the limit on a whole request (connect, send, answer and body).

Every connection is held to the operator's outbound policy (`connectors.outbound`): a target
the policy refuses is a job-level `OutboundAddressNotAllowed` error, so the job is quarantined
with the reason instead of retrying.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from provisiond.connectors.outbound import (
    ALLOW_EVERYTHING,
    REFUSED_CODE,
    OutboundPolicy,
    OutboundRefused,
    guarded_resolver,
)
from provisiond.graph.text import storable

SCIM_JSON = "application/scim+json"


@dataclass
class ScimError(Exception):
    code: str
    message: str
    status: int | None = None
    job_level: bool = False  # the whole job cannot work (credentials, target unreachable)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RateLimiter:
    """At most `rate` request starts per second (token bucket; 0 = unlimited)."""

    def __init__(self, rate: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._monotonic = monotonic
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            now = self._monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
        delay = start - now
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class ClientSettings:
    concurrency: int = 8
    rate_per_second: float = 0.0
    timeout_seconds: float = 30.0
    max_retries: int = 3
    max_retry_after_seconds: float = 60.0


class ScimClient:
    def __init__(
        self,
        base_address: str,
        token: str | None,
        settings: ClientSettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
    ) -> None:
        self.settings = settings or ClientSettings()
        self.base = base_address.partition("?")[0].rstrip("/")
        self._outbound = outbound
        self._headers = {"Accept": f"{SCIM_JSON}, application/json", "Content-Type": SCIM_JSON}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._http: aiohttp.ClientSession | None = None  # created on first use, in the running loop
        self._base_url: str | None = None  # the base address, percent-encoded
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._limiter = RateLimiter(self.settings.rate_per_second)
        self._sleep = sleep
        self.requests_sent = 0
        self.writes_sent = 0

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                limit=self.settings.concurrency,
                keepalive_timeout=_KEEPALIVE_SECONDS,
                resolver=guarded_resolver(self._outbound),
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
                trust_env=False,
            )
        return self._http

    def _url(self, path: str, params: Mapping[str, str] | None) -> URL:
        """The request's URL, its query encoded as httpx encodes `params` (urlencode)."""
        if self._base_url is None:
            self._base_url = str(URL(self.base))
        query = f"?{urlencode(params)}" if params else ""
        return URL(self._base_url + path + query, encoded=True)

    async def create(self, resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._send("POST", f"/{resource_type}", body)
        return _json_object(response)

    async def patch(self, resource_type: str, target_id: str, body: Mapping[str, Any]) -> None:
        await self._send("PATCH", f"/{resource_type}/{quote(target_id, safe='')}", body)

    async def delete(self, resource_type: str, target_id: str) -> None:
        await self._send("DELETE", f"/{resource_type}/{quote(target_id, safe='')}")

    async def get(
        self, resource_type: str, target_id: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        try:
            response = await self._send("GET", f"/{resource_type}/{quote(target_id, safe='')}", params=params)
        except ScimError as exc:
            if exc.status == 404:
                return None
            raise
        return _json_object(response)

    async def query(self, resource_type: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        body = _json_object(await self._send("GET", f"/{resource_type}", params=params))
        resources = body.get("Resources") or []
        if not isinstance(resources, list):
            raise ScimError(
                "SystemForCrossDomainIdentityManagementServiceIncompatible", "Resources is not a list"
            )
        return [r for r in resources if isinstance(r, dict)]

    async def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> _Response:
        data = None if body is None else _json_bytes(body)
        attempt = 0
        while True:
            attempt += 1
            async with self._slots:
                await self._limiter.wait()
                self.requests_sent += 1
                if method != "GET":
                    self.writes_sent += 1
                try:
                    response = await self._request(method, path, params, data)
                except OutboundRefused as exc:
                    raise ScimError(REFUSED_CODE, str(exc), job_level=True) from None
                except aiohttp.ClientConnectorError as exc:
                    if isinstance(exc.os_error, OutboundRefused):
                        raise ScimError(REFUSED_CODE, str(exc.os_error), job_level=True) from None
                    error = ScimError(
                        "SystemForCrossDomainIdentityManagementServiceUnreachable",
                        f"{method} {path} failed: {_describe(exc)}",
                        job_level=True,
                    )
                    response = None
                except TimeoutError:  # asyncio's, and aiohttp's connect and read timeouts
                    error = ScimError(
                        "Timeout",
                        f"{method} {path} did not answer within {self.settings.timeout_seconds:g} s",
                    )
                    response = None
                except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a malformed BaseAddress
                    error = ScimError(
                        "SystemForCrossDomainIdentityManagementServiceUnreachable",
                        f"{method} {path} failed: {_describe(exc)}",
                    )
                    response = None
            if response is not None:
                if response.status_code < 400:
                    return response
                error = _http_error(method, path, response)
                wait = _retry_after(response, self.settings.max_retry_after_seconds)
            else:
                wait = min(2.0**attempt, 10.0)
            if error.job_level or attempt > self.settings.max_retries or not _retryable(error):
                raise error
            await self._sleep(wait)

    async def _request(
        self, method: str, path: str, params: Mapping[str, str] | None, data: bytes | None
    ) -> _Response:
        url = self._url(path, params)
        self._outbound.check_literal(url.host or "")  # aiohttp's resolver never sees an address
        async with self._session().request(method, url, data=data, allow_redirects=False) as response:
            content = await response.read()
            return _Response(response.status, response.headers, content, response.charset)


_KEEPALIVE_SECONDS = 5.0  # as httpx: an idle pooled connection is closed before most servers close it


@dataclass(frozen=True)
class _Response:
    """A whole answer, read within the request's time limit."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
    content: bytes
    charset: str | None

    def json(self) -> Any:
        # ValueError when not JSON (UnicodeDecodeError included). What the app sends is kept,
        # compared and logged: a NUL or lone surrogate in it would fail to store.
        return storable(json.loads(self.content))

    @property
    def text(self) -> str:
        try:
            text = self.content.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset
            text = self.content.decode("utf-8", errors="replace")
        return str(storable(text))


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    # As httpx's `json=`: compact, UTF-8, no NaN.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _retryable(error: ScimError) -> bool:
    # A timed-out request is not retried within the cycle: it already held a slot for the whole
    # time limit, and a write may have been applied; it is escrowed and retried later (Entra:
    # Timeout is "automatically retried" through escrow), when matching finds a late create.
    if error.code == "Timeout":
        return False
    return error.status in (429, 500, 502, 503, 504) or error.status is None


def _retry_after(response: _Response, cap: float) -> float:
    value = response.headers.get("retry-after")
    if value is None:
        return 1.0 if response.status_code in (429, 503) else 2.0
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        return 1.0


_CODES = {
    400: "SystemForCrossDomainIdentityManagementBadRequest",
    401: "SystemForCrossDomainIdentityManagementInvalidCredentials",
    403: "SystemForCrossDomainIdentityManagementInvalidCredentials",
    404: "InvalidAnchor",
    409: "EntryConflict",
    412: "PreconditionFailed",
    422: "UnprocessableEntity",
    429: "TooManyRequests",
    500: "InternalServerError",
    501: "NotImplemented",
    502: "WebExceptionProtocolError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _http_error(method: str, path: str, response: _Response) -> ScimError:
    detail = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("scimType") or "")
    except ValueError:
        detail = response.text[:200]
    code = _CODES.get(response.status_code, "WebExceptionProtocolError")
    message = f"{method} {path} answered HTTP {response.status_code}" + (f": {detail}" if detail else "")
    return ScimError(code, message, status=response.status_code, job_level=response.status_code in (401, 403))


def _json_object(response: _Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ScimError(
            "SystemForCrossDomainIdentityManagementServiceIncompatible",
            "the target answered with a body that is not JSON",
        ) from None
    if not isinstance(body, dict):
        raise ScimError(
            "SystemForCrossDomainIdentityManagementServiceIncompatible",
            "the target answered with non-object JSON",
        )
    return body
