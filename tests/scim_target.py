"""A real SCIM 2.0 target for tests: scim2-server's WSGI app over HTTP in a thread, with a
ScimPolicy that tolerates Entra-style PATCH (remove with a value, replace on an unmatched
filter), behind a static bearer token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
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


def start_scim_server(token: str) -> tuple[str, Callable[[], None]]:
    """Serve on a free loopback port; returns the base URL (`.../v2`) and a stop function."""
    app, _ = build_app(token)
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}/v2", stop
