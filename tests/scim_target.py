"""A real SCIM 2.0 target for tests: scim2-server's WSGI app over HTTP in a thread, with a
ScimPolicy that tolerates Entra-style PATCH, behind a static bearer token.

It lives in the package (`provisiond.scim_target`), since `provisiond demo` runs it too. The
tests add, around the package's recording wrapper: a log of every request with its body and
time (`Traffic.log`), and slow answers (`Fault.delay_seconds`, with `status=None` to let the
real server answer after the delay)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import make_server

from provisiond import scim_target as _base
from provisiond.scim_target import (
    ENTRA_TOLERANT,
    ScimServer,
    build_app,
    read_request,
    serve_scim,
)


@dataclass
class Fault(_base.Fault):
    """As the package's Fault, plus `delay_seconds` before answering; `status=None` answers from
    the real server (after the delay) instead of with an injected error."""

    status: int | None = 500  # type: ignore[assignment]
    delay_seconds: float = 0.0

    def matches(self, method: str, path: str, body: bytes) -> bool:
        return self.status is not None and super().matches(method, path, body)

    def delays(self, method: str, path: str, body: bytes) -> bool:
        return self.delay_seconds > 0 and _base.Fault.matches(self, method, path, body)


@dataclass
class AppliedFault(_base.Fault):
    """The real server applies the request, then the client is answered with `status` anyway:
    the write happened, but the engine is told it failed (a lost 200, a proxy's 502)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class Traffic(_base.Traffic):
    """The package's Traffic, plus `log`: every request with its body and arrival time."""

    log: list[Request] = field(default_factory=list)
    applied_faults: list[AppliedFault] = field(default_factory=list)

    def matching(
        self, method: str | None = None, path_contains: str | None = None, body_contains: str | None = None
    ) -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method)
                and (path_contains is None or path_contains in r.path)
                and (body_contains is None or body_contains.encode() in r.body)
            ]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.log.clear()


class _Logging:
    """Outside the package's recording wrapper: logs bodies and times, and applies delays."""

    def __init__(self, app: Any, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path, body = read_request(environ)
        with self.traffic.lock:
            self.traffic.log.append(Request(method, path, body, time.monotonic()))
            delay = next(
                (
                    f.delay_seconds
                    for f in self.traffic.faults
                    if isinstance(f, Fault) and f.times != 0 and f.delays(method, path, body)
                ),
                0.0,
            )
            applied = next(
                (f for f in self.traffic.applied_faults if f.times != 0 and f.matches(method, path, body)),
                None,
            )
            if applied is not None and applied.times > 0:
                applied.times -= 1
        if delay:
            time.sleep(delay)
        if applied is not None:
            for _ in self.app(environ, lambda status, headers, exc_info=None: None):
                pass  # the real server's answer is dropped
            start_response(f"{applied.status} Injected", [("Content-Type", "application/scim+json")])
            error = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": str(applied.status),
            }
            return [json.dumps(error).encode()]
        return self.app(environ, start_response)


def start_scim_server(token: str, traffic: _base.Traffic | None = None) -> tuple[str, Callable[[], None]]:
    """Serve on a free loopback port; returns the base URL (`.../v2`) and a stop function."""
    if not isinstance(traffic, Traffic):
        return _base.start_scim_server(token, traffic)
    app, _ = build_app(token)
    wsgi = _Logging(_base._Recording(app, traffic), traffic)
    server = make_server("127.0.0.1", 0, wsgi, server_class=_base._Server, handler_class=_base._QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="scim-target", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_port}/v2", stop


__all__ = [
    "ENTRA_TOLERANT",
    "AppliedFault",
    "Fault",
    "Request",
    "ScimServer",
    "Traffic",
    "build_app",
    "serve_scim",
    "start_scim_server",
]
