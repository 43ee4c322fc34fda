"""A local SCIM 2.0 app: scim2-server's WSGI application over HTTP in a thread, with a ScimPolicy
that tolerates Entra-style PATCH (remove with a value, replace on an unmatched filter), behind a
static bearer token.

`provisiond demo` provisions into it, and the tests use it as their real target: a `Traffic`
records what reached it and can make it answer with injected faults.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim2_models import ScimPolicy, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

ENTRA_TOLERANT = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def build_app(token: str) -> tuple[BearerTokenApplication, InMemoryStorage]:
    """scim2-server's application with the default User/Group schemas, Entra-tolerant, that
    accepts `Authorization: Bearer <token>`; and its in-memory storage."""
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(),
        load_default_resource_types().values(),
        config=config,
        policy=ENTRA_TOLERANT,
    )
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=ScimService(provider), bearer_tokens=[token])
    return app, storage


@dataclass
class Fault:
    """Answer requests that match with this status (and Retry-After), `times` times (-1: always)."""

    method: str | None = None
    path_contains: str | None = None
    body_contains: str | None = None
    status: int = 500
    retry_after: str | None = None
    times: int = -1

    def matches(self, method: str, path: str, body: bytes) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.body_contains is None or self.body_contains.encode() in body)
        )


@dataclass
class Traffic:
    """What reached the target, and the faults it should answer with; shared with tests."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str]]:
        with self.lock:
            return [r for r in self.requests if r[0] != "GET"]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


def read_request(environ: dict[str, Any]) -> tuple[str, str, bytes]:
    """Method, path with query, and body of a WSGI request; the body stays readable downstream."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "") + (
        "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
    )
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return method, path, body


class _Recording:
    """A WSGI wrapper that records requests and injects faults before the real server sees them."""

    def __init__(self, app: Any, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path, body = read_request(environ)
        with self.traffic.lock:
            self.traffic.requests.append((method, path))
            fault = next(
                (f for f in self.traffic.faults if f.times != 0 and f.matches(method, path, body)), None
            )
            if fault is not None and fault.times > 0:
                fault.times -= 1
        if fault is not None:
            headers = [("Content-Type", "application/scim+json")]
            if fault.retry_after is not None:
                headers.append(("Retry-After", fault.retry_after))
            start_response(f"{fault.status} Injected", headers)
            error = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": str(fault.status),
                "detail": "injected",
            }
            return [json.dumps(error).encode()]
        return self.app(environ, start_response)


@dataclass
class ScimServer:
    """A running local SCIM app: its base URL (`.../v2`), storage, and how to stop it."""

    url: str
    token: str
    storage: InMemoryStorage
    stop: Callable[[], None]


def serve_scim(
    token: str, traffic: Traffic | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> ScimServer:
    """Serve on `host:port` (port 0: a free one) in a daemon thread; raises OSError if it can't bind."""
    app, storage = build_app(token)
    wsgi = _Recording(app, traffic) if traffic is not None else app
    server = make_server(host, port, wsgi, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="scim-target", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return ScimServer(f"http://{host}:{server.server_port}/v2", token, storage, stop)


def start_scim_server(token: str, traffic: Traffic | None = None) -> tuple[str, Callable[[], None]]:
    """Serve on a free loopback port; returns the base URL (`.../v2`) and a stop function."""
    server = serve_scim(token, traffic)
    return server.url, server.stop
