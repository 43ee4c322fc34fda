"""No request waits on another (DESIGN invariant 9): a slow SCIM app delays only the request
that needs it, and past the in-flight limit the API answers 429 with Retry-After at once.

A SCIM app that holds its answer until the test lets it go (or 5 s pass) stands in for a slow
one; the tests assert the order in which requests finish, never how long they took."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app
from tests.conftest import LiveServer, serve_sqlite

from provisiond.config import Settings

HOLD_SECONDS = 5.0
LIST_RESPONSE = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0}


class SlowScimApp:
    """A SCIM app whose /Users answers only when released (or after HOLD_SECONDS)."""

    def __init__(self) -> None:
        self.received = threading.Semaphore(0)
        self.release = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.received.release()
                app.release.wait(HOLD_SECONDS)
                payload = json.dumps(LIST_RESPONSE).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/scim+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/scim/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_received(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.received.acquire(timeout=30), "the SCIM app was never asked"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_app() -> Iterator[SlowScimApp]:
    app = SlowScimApp()
    yield app
    app.close()


@pytest.fixture
def limited_server(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The API allowed two requests in flight."""
    yield from serve_sqlite(sqlite_url, dataclasses.replace(settings, max_requests_in_flight=2))


def _validate(server: LiveServer, sp_id: str, base_address: str) -> httpx.Response:
    body = {
        "templateId": "scim",
        "credentials": [
            {"key": "BaseAddress", "value": base_address},
            {"key": "SecretToken", "value": "any"},
        ],
    }
    with server.client() as client:
        return client.post(f"/servicePrincipals/{sp_id}/synchronization/jobs/validateCredentials", json=body)


def _in_thread(call: Any, finished: list[str], name: str) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        result["response"] = call()
        finished.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_slow_scim_app_in_validate_credentials_does_not_hold_up_a_concurrent_read(
    sqlite_server: LiveServer, slow_app: SlowScimApp
) -> None:
    with sqlite_server.client() as client:
        sp_id = make_app(client)["servicePrincipal"]["id"]
    finished: list[str] = []
    thread, validation = _in_thread(
        lambda: _validate(sqlite_server, sp_id, slow_app.url), finished, "validateCredentials"
    )
    slow_app.wait_received()  # validateCredentials is now waiting on the app
    with sqlite_server.client() as client:
        users = client.get("/users")
    finished.append("GET /users")
    slow_app.release.set()
    thread.join(timeout=60)
    assert users.status_code == 200
    assert validation["response"].status_code == 204, validation["response"].text
    assert finished == ["GET /users", "validateCredentials"]


def test_past_the_in_flight_limit_a_request_gets_429_with_retry_after_and_changes_nothing(
    limited_server: LiveServer, slow_app: SlowScimApp
) -> None:
    with limited_server.client() as client:
        sp_id = make_app(client)["servicePrincipal"]["id"]
    finished: list[str] = []
    held = [
        _in_thread(lambda: _validate(limited_server, sp_id, slow_app.url), finished, f"validate {i}")
        for i in range(2)
    ]
    slow_app.wait_received(2)  # both allowed requests are in flight
    with limited_server.client() as client:
        refused = client.post("/users", json={"displayName": "x"})
        body = assert_graph_error(refused, 429, "TooManyRequests")
        assert refused.headers["retry-after"] == "1"
        assert "limit" in body["message"]
        assert refused.headers["request-id"]
        slow_app.release.set()
        for thread, _ in held:
            thread.join(timeout=60)
        assert [r["response"].status_code for _, r in held] == [204, 204]
        assert client.get("/users").json()["value"] == []  # the refused create did nothing
        assert client.get("/users").status_code == 200  # the limit frees as requests finish


def test_a_client_that_goes_away_mid_body_is_not_logged_as_a_server_error(
    sqlite_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = sqlite_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"PATCH /v1.0/users/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {sqlite_server.token()}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"jobTitle": "'
        )
    with sqlite_server.client() as client:  # a later request is answered, so the first was handled
        assert client.get("/users").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
