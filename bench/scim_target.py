"""A fast in-memory SCIM 2.0 target for the benchmarks, run in its own process:

    .venv/bin/python bench/scim_target.py --port 8080 --token secret

scim2-server's ASGI application over its in-memory storage (searches that compare one string
attribute with `eq` are indexed), served by uvicorn, with the ScimPolicy that tolerates
Entra-style PATCH and a static bearer token. Identifiers are derived from the userName or
displayName, so a fresh target given the same requests assigns the same ids: a recorded
request stream can be replayed against it, PATCH paths included.

Beside the SCIM endpoints, `/_bench/...` (no token) serves the benchmark:
- `GET  /_bench/stats`: requests served so far by method, and how many are recorded;
- `POST /_bench/record` `{"on": true}`: start (clearing) or stop recording every SCIM request;
- `POST /_bench/dump` `{"path": "..."}`: write the recorded requests there as JSON lines;
- `POST /_bench/load` `[{"resource": "Users", "body": {...}}, ...]`: create resources with the
  validation and storage of a POST, without HTTP (to pre-seed the target quickly); answers
  their ids;
- `POST /_bench/reset`: zero the request counters.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from scim2_models import ResourceType, ScimPolicy, ScimProvider, UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ENTRA_TOLERANT = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
ID_NAMESPACE = uuid.UUID("6c1f4c1e-4d0b-4a43-9b7e-2f5d3b8f0a11")
ADMIN_PREFIX = "/_bench/"


class DeterministicStorage(InMemoryStorage):
    """Ids from the resource's name, so that a replay against a fresh target reuses them."""

    def generate_id(self, resource_type: ResourceType, resource: Any) -> str:
        name = getattr(resource, "user_name", None) or getattr(resource, "display_name", None)
        if not name:
            return uuid.uuid4().hex
        return uuid.uuid5(ID_NAMESPACE, f"{resource_type.name}:{name}").hex


class BearerASGIApplication(ASGIApplication):
    def __init__(self, storage: AsyncInMemoryStorage, provider: ScimProvider, token: str) -> None:
        super().__init__(storage, provider, ScimService(provider))
        self.token = token

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            raise UnauthorizedException


def build_scim_app(token: str) -> tuple[BearerASGIApplication, InMemoryStorage]:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(),
        load_default_resource_types().values(),
        config=config,
        policy=ENTRA_TOLERANT,
    )
    storage = DeterministicStorage()
    return BearerASGIApplication(AsyncInMemoryStorage(storage), provider, token), storage


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class BenchTarget:
    """The SCIM app plus request counting, recording and bulk loading."""

    def __init__(self, token: str) -> None:
        self.scim, self.storage = build_scim_app(token)
        self.counts: Counter[str] = Counter()
        self.recording = False
        self.recorded: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.scim(scope, receive, send)
            return
        if scope["path"].startswith(ADMIN_PREFIX):
            await self._admin(scope, await _read_body(receive), send)
            return
        self.counts[scope["method"]] += 1
        if self.recording:
            body = await _read_body(receive)
            self.recorded.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope["query_string"].decode(),
                    "body": body.decode(),
                }
            )
            receive = _replaying(body)
        await self.scim(scope, receive, send)

    async def _admin(self, scope: Scope, body: bytes, send: Send) -> None:
        action = scope["path"].removeprefix(ADMIN_PREFIX)
        request: Any = json.loads(body) if body else None
        answer: Any
        if action == "stats":
            answer = {"requests": dict(self.counts), "recorded": len(self.recorded)}
        elif action == "reset":
            self.counts.clear()
            answer = {}
        elif action == "record":
            self.recording = bool(request["on"])
            if self.recording:
                self.recorded = []
            answer = {"recorded": len(self.recorded)}
        elif action == "dump":
            with open(request["path"], "w", encoding="utf-8") as out:
                for entry in self.recorded:
                    out.write(json.dumps(entry) + "\n")
            answer = {"recorded": len(self.recorded)}
        elif action == "load":
            answer = {"ids": self._load(request)}
        else:
            await _send_json(send, 404, {"error": f"no such action {action!r}"})
            return
        await _send_json(send, 200, answer)

    def _load(self, items: list[dict[str, Any]]) -> list[str]:
        """Validate each body as a POST does and store it; skips the 201 response's rendering."""
        service = self.scim.service
        ids: list[str] = []
        with service.provider:
            for item in items:
                resource_type = service.resource_type_at(f"/{item['resource']}")
                body = json.dumps(item["body"]).encode()
                resource = service.read_creation(resource_type, body, "application/scim+json")
                ids.append(str(self.storage.create(resource_type, resource).id))
        return ids


async def _send_json(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description="A fast in-memory SCIM target for the benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    uvicorn.run(
        BenchTarget(args.token),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
