"""A local SCIM 2.0 app: scim2-server's WSGI application over HTTP in a thread, with a ScimPolicy
that tolerates Entra-style PATCH (remove with a value, replace on an unmatched filter), behind a
static bearer token. Like apps built for Entra, it reads the enterprise manager in every form
Entra and RFC 7643 write it (`EntraManagerForms`) and stores it as `{"value": id}`.

`provisiond demo` provisions into it, and the tests use it as their real target: a `Traffic`
records what reached it and can make it answer with injected faults.
"""

from __future__ import annotations

import io
import json
import re
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
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER_PATH = f"{ENTERPRISE_USER}:manager"
_MANAGER_FILTER = re.compile(rf"{re.escape(MANAGER_PATH)}\[value eq .*\]", re.IGNORECASE)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# --- the manager as Entra sends it ----------------------------------------------------------------


def _manager_object(value: object) -> object:
    """A bare id (Entra's default) or a legacy one-item list becomes RFC 7643's `{"value": id}`."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return {"value": value}
    return value


def manager_operation(operation: Any) -> Any:
    """One PATCH operation with the manager in RFC 7643's form. Add or replace with a bare id (or
    `{"value": id}`) sets it, with an empty value clears it; a remove by path, by value, or by
    `manager[value eq "id"]` clears it (an app has one manager per user, so the value names it)."""
    if not isinstance(operation, dict):
        return operation
    op, path, value = str(operation.get("op") or "").lower(), operation.get("path"), operation.get("value")
    if isinstance(path, str) and (path.lower() == MANAGER_PATH.lower() or _MANAGER_FILTER.fullmatch(path)):
        if op == "remove" or (op in ("add", "replace") and value in ("", None, [], {})):
            return {"op": "remove", "path": MANAGER_PATH}
        return {**operation, "value": _manager_object(value)}
    if path is None and op in ("add", "replace") and isinstance(value, dict):
        return {**operation, "value": manager_resource(value)}
    return operation


def manager_resource(resource: Any) -> Any:
    """A resource (or a path-less PATCH value) with the manager in RFC 7643's form, whether it
    sits in the enterprise extension object or under its full path as a key."""
    if not isinstance(resource, dict):
        return resource
    out = dict(resource)
    for key, value in resource.items():
        if key.lower() == MANAGER_PATH.lower():
            out[key] = _manager_object(value)
        elif key.lower() == ENTERPRISE_USER.lower() and isinstance(value, dict):
            out[key] = {k: _manager_object(v) if k.lower() == "manager" else v for k, v in value.items()}
    return out


class EntraManagerForms:
    """A WSGI wrapper that rewrites the manager of User writes into the form scim2-server
    validates, before it sees them; everything else passes untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ["REQUEST_METHOD"]
        if method in ("POST", "PUT", "PATCH") and "/Users" in environ.get("PATH_INFO", ""):
            _, _, body = read_request(environ)
            rewritten = _rewrite(method, body)
            if rewritten is not body:
                environ["wsgi.input"] = io.BytesIO(rewritten)
                environ["CONTENT_LENGTH"] = str(len(rewritten))
        return self.app(environ, start_response)


def _rewrite(method: str, body: bytes) -> bytes:
    """The body with the manager rewritten; the same object when it is not JSON or unchanged."""
    try:
        document = json.loads(body)
    except ValueError:
        return body  # scim2-server answers the malformed body itself
    if method == "PATCH" and isinstance(document, dict):
        operations = document.get("Operations")
        if isinstance(operations, list):
            changed = {**document, "Operations": [manager_operation(o) for o in operations]}
        else:
            changed = document
    else:
        changed = manager_resource(document)
    return body if changed == document else json.dumps(changed).encode()


def build_app(token: str) -> tuple[EntraManagerForms, InMemoryStorage]:
    """scim2-server's application with the default User/Group schemas, Entra-tolerant (the
    manager in any of Entra's forms included), that accepts `Authorization: Bearer <token>`;
    and its in-memory storage."""
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
    return EntraManagerForms(app), storage


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
