"""Graph's HTTP conventions that hold on every route, as one ASGI middleware.

- `request-id` and `client-request-id` on every response (the client's id echoed, else a new one);
- `/v1.0//servicePrincipals/...` (the SDK's default doubled slash) is the same route;
- path segments that name collections, actions and functions match in any case, and a
  function may be called with `()` (`filterOperators()`);
- bodies above 4 MiB are refused with 413 before the route reads them;
- past `max_in_flight` requests being worked on, another is answered at once with 429
  `TooManyRequests` and `Retry-After`, as Graph throttles, instead of queueing without bound
  (the SDKs' retry handlers wait that long and send it again);
- a path or query string holding a NUL (`/users/a%00b`, `$filter=...%00...`) is refused with 400
  before any route sees it: no backend can compare it (`provisiond.graph.text`);
- an exception that escapes everything still leaves as a Graph envelope (500).
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from provisiond.api.errors import RequestIds, envelope
from provisiond.graph.text import forbidden_character

log = logging.getLogger("provisiond.api")

# Every static segment of the API, in its canonical spelling.
KNOWN_SEGMENTS = [
    "v1.0",
    "beta",
    "users",
    "groups",
    "applications",
    "servicePrincipals",
    "applicationTemplates",
    "directory",
    "deletedItems",
    "members",
    "owners",
    "manager",
    "$ref",
    "$count",
    "$value",
    "appRoleAssignedTo",
    "appRoleAssignments",
    "instantiate",
    "restore",
    "synchronization",
    "jobs",
    "templates",
    "secrets",
    "schema",
    "directories",
    "start",
    "pause",
    "restart",
    "provisionOnDemand",
    "validateCredentials",
    "bulkUpload",
    "parseExpression",
    "filterOperators",
    "functions",
    "discover",
    "acquireAccessToken",
    "Ping",
    "auditLogs",
    "provisioning",
    "memberOf",
    "delta",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "microsoft.graph.application",
    "microsoft.graph.servicePrincipal",
]
_CANONICAL = {s.lower(): s for s in KNOWN_SEGMENTS}
_FUNCTION_CALL = re.compile(r"^(filterOperators|functions|Ping|delta)\(\)$", re.IGNORECASE)


def normalize_path(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    out = []
    for segment in segments:
        call = _FUNCTION_CALL.match(segment)
        if call:
            segment = call.group(1)
        out.append(_CANONICAL.get(segment.lower(), segment))
    return "/" + "/".join(out)


class TooLarge(Exception):
    pass


RETRY_AFTER_SECONDS = 1


class GraphProtocolMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_in_flight: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # only the event loop's thread changes it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        ids = RequestIds(str(uuid.uuid4()), headers.get("client-request-id") or str(uuid.uuid4()))
        scope = dict(scope)
        scope.setdefault("state", {})
        scope["state"] = dict(scope["state"], ids=ids)
        scope["path"] = normalize_path(scope["path"])
        scope["raw_path"] = scope["path"].encode()

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"request-id", ids.request_id.encode()),
                    (b"client-request-id", ids.client_request_id.encode()),
                ]
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        problem = _url_problem(scope)
        if problem is not None:
            await self._reply(send_with_ids, ids, 400, "BadRequest", problem)
            return
        if self.in_flight >= self.max_in_flight:
            await self._reply(
                send_with_ids,
                ids,
                429,
                "TooManyRequests",
                f"The service is working on {self.in_flight} requests, its limit; retry after "
                f"{RETRY_AFTER_SECONDS} second(s).",
                headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
            )
            return
        self.in_flight += 1
        try:
            await self._handle(scope, receive, send_with_ids, headers, ids)
        finally:
            self.in_flight -= 1

    async def _handle(
        self, scope: Scope, receive: Receive, send_with_ids: Send, headers: dict[str, str], ids: RequestIds
    ) -> None:
        started = False

        async def mark_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_with_ids(message)

        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reply(
                send_with_ids, ids, 413, "RequestEntityTooLarge", _too_large_message(self.max_body_bytes)
            )
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise TooLarge
            return message

        try:
            await self.app(scope, counting_receive, mark_started)
        except TooLarge:
            if not started:
                await self._reply(
                    send_with_ids, ids, 413, "RequestEntityTooLarge", _too_large_message(self.max_body_bytes)
                )
        except Exception:
            if started:
                return  # the route's own 500 envelope has been sent; the exception is already logged
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await self._reply(
                send_with_ids, ids, 500, "generalException", "An unexpected error occurred on the server."
            )

    @staticmethod
    async def _reply(
        send: Send,
        ids: RequestIds,
        status: int,
        code: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = json.dumps(envelope(ids, code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _url_problem(scope: Scope) -> str | None:
    """Why the URL is refused, or None. The path arrives percent-decoded; the query string raw."""
    problem = forbidden_character(scope["path"])
    if problem is not None:
        return f"The request path contains {problem}, which is not allowed in an id or segment."
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return "The query string contains a NUL character (U+0000), which is not allowed."
    return None


def _too_large_message(limit: int) -> str:
    return f"The request body exceeds the maximum of {limit} bytes."
