"""The HTTP side of the SCIM target connector: bounded concurrency, a request-rate limit,
`Retry-After` on 429 and 503, a time limit on every request, and failures as typed errors.

Errors carry the code the provisioning logs show (Entra's names where it has one) and say
whether they are the target's fault for one object (escrow and retry later) or for the
whole job (bad credentials, unreachable: quarantine).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2

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
    ) -> None:
        self.settings = settings or ClientSettings()
        self.base = base_address.partition("?")[0].rstrip("/")
        headers = {"Accept": f"{SCIM_JSON}, application/json", "Content-Type": SCIM_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        limits = httpx2.Limits(
            max_connections=self.settings.concurrency, max_keepalive_connections=self.settings.concurrency
        )
        self._http = httpx2.AsyncClient(headers=headers, timeout=self.settings.timeout_seconds, limits=limits)
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._limiter = RateLimiter(self.settings.rate_per_second)
        self._sleep = sleep
        self.requests_sent = 0
        self.writes_sent = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def create(self, resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._send("POST", f"/{resource_type}", json=body)
        return _json_object(response)

    async def patch(self, resource_type: str, target_id: str, body: Mapping[str, Any]) -> None:
        await self._send("PATCH", f"/{resource_type}/{quote(target_id, safe='')}", json=body)

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

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        attempt = 0
        while True:
            attempt += 1
            async with self._slots:
                await self._limiter.wait()
                self.requests_sent += 1
                if method != "GET":
                    self.writes_sent += 1
                try:
                    response = await self._http.request(method, self.base + path, **kwargs)
                except httpx2.TimeoutException:
                    error = ScimError(
                        "Timeout",
                        f"{method} {path} did not answer within {self.settings.timeout_seconds:g} s",
                    )
                    response = None
                except httpx2.HTTPError as exc:
                    error = ScimError(
                        "SystemForCrossDomainIdentityManagementServiceUnreachable",
                        f"{method} {path} failed: {exc}",
                        job_level=isinstance(exc, httpx2.ConnectError),
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


def _retryable(error: ScimError) -> bool:
    # A timed-out request is not retried within the cycle: it already held a slot for the whole
    # time limit, and a write may have been applied; it is escrowed and retried later (Entra:
    # Timeout is "automatically retried" through escrow), when matching finds a late create.
    if error.code == "Timeout":
        return False
    return error.status in (429, 500, 502, 503, 504) or error.status is None


def _retry_after(response: httpx2.Response, cap: float) -> float:
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


def _http_error(method: str, path: str, response: httpx2.Response) -> ScimError:
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


def _json_object(response: httpx2.Response) -> dict[str, Any]:
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
