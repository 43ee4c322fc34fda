"""Alternate keys: `servicePrincipals(appId='{appId}')` and `applications(appId='{appId}')`
address the object whose appId that is, wherever its object id works: the entity (GET, PATCH,
DELETE) and every path under it (synchronization, jobs, secrets, owners, appRoleAssignedTo).
Graph documents the key form, and the Kiota SDKs build it (`servicePrincipalsWithAppId`).

One ASGI middleware rewrites the segment to the object id before routing, so every route
serves both forms without knowing of them. The key is read as OData writes it: single quotes
around the value, a quote inside doubled (`''`); `appId` matches in any case, as Graph's does.
An appId that names no live object is Graph's 404 `Request_ResourceNotFound`, after the token
is checked as on any path; a key other than appId is a 400 (`applications(uniqueName=...)` is not served: provisiond keeps no
uniqueName).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from provisiond.api.errors import envelope

# `/v1.0/servicePrincipals(appId='...')/rest`, the path as the server decoded it.
_KEYED = re.compile(
    r"^/(?P<version>[^/]+)/(?P<collection>servicePrincipals|applications)"
    r"\((?P<key>[A-Za-z]+)=(?P<quoted>'(?:[^']|'')*'|\"[^\"]*\")\)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
COLLECTIONS = {"serviceprincipals": "servicePrincipals", "applications": "applications"}

Resolver = Callable[[str, str], "str | None"]  # (collection, appId) -> object id


class AlternateKeyMiddleware:
    """Rewrites `{collection}(appId='...')` to `{collection}/{object id}`; `resolve` is the
    directory's lookup, run in the thread pool (it reads the database)."""

    def __init__(self, app: ASGIApp, *, resolve: Resolver) -> None:
        self.app = app
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "(" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        keyed = _KEYED.match(scope["path"])
        if keyed is None:
            await self.app(scope, receive, send)
            return
        collection = COLLECTIONS[keyed["collection"].lower()]
        if keyed["key"].lower() != "appid":
            await _reply(
                scope,
                send,
                400,
                "BadRequest",
                f"The alternate key '{keyed['key']}' is not supported on {collection}; use appId.",
            )
            return
        app_id = keyed["quoted"][1:-1].replace("''", "'")
        object_id = await run_in_threadpool(self.resolve, collection, app_id)
        if object_id is None:
            # Routed on with the appId in the id's place: the route checks the token first and
            # then answers 404 naming it, so an anonymous caller cannot probe which appIds exist.
            object_id = app_id.replace("/", "%2F") or "''"
        path = f"/{keyed['version']}/{collection}/{object_id}{keyed['rest'] or ''}"
        await self.app(dict(scope, path=path, raw_path=path.encode()), receive, send)


async def _reply(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(envelope(scope.get("state", {}).get("ids"), code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
