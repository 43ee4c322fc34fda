"""The SCIM client's transport against a real HTTP/1.1 server on loopback: what it sends, how it
maps each kind of failure, and that it keeps within its connection bound. (The engine's fault
tests cover the same errors end to end through cycles.)"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisiond.connectors.scim_client import ClientSettings, ScimClient, ScimError

TOKEN = "secret-token"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]


@dataclass
class Server:
    url: str
    handle: Callable[[BaseHTTPRequestHandler, Seen], None]
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> None:
    content = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/scim+json")
    handler.send_header("Content-Length", str(len(content)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(content)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server("", lambda handler, seen: answer(handler, 200, {"id": "1"}))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                self.path,
                dict(self.headers.items()),
                self.rfile.read(length),
                self.client_address,
            )
            with state.lock:
                state.seen.append(seen)
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            try:
                state.handle(self, seen)
            finally:
                with state.lock:
                    state.in_flight -= 1

        do_GET = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/scim/v2"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(url: str, sleeps: Sleeps | None = None, **settings: Any) -> ScimClient:
    return ScimClient(url + "?aadOptscim062020", TOKEN, ClientSettings(**settings), sleep=sleeps or Sleeps())


async def failure(call: Any) -> ScimError:
    with pytest.raises(ScimError) as caught:
        await call
    return caught.value


async def test_requests_carry_the_scim_headers_a_compact_json_body_and_an_encoded_query(
    server: Server,
) -> None:
    server.handle = lambda handler, seen: answer(
        handler, 201 if seen.method == "POST" else 200, {"id": "u1", "Resources": [{"id": "u1"}]}
    )
    scim = client(server.url)
    try:
        assert await scim.create("Users", {"userName": "zoë@contoso.com", "active": True}) == {
            "id": "u1",
            "Resources": [{"id": "u1"}],
        }
        assert await scim.query("Users", {"filter": 'userName eq "a+b c@contoso.com"'}) == [{"id": "u1"}]
        await scim.patch("Users", "a/b c", {"Operations": []})
        await scim.delete("Users", "u1")
    finally:
        await scim.close()

    post, query, patch, delete = server.seen
    assert (post.method, post.path) == ("POST", "/scim/v2/Users")
    assert post.body == '{"userName":"zoë@contoso.com","active":true}'.encode()
    assert post.headers["Content-Type"] == "application/scim+json"
    assert post.headers["Accept"] == "application/scim+json, application/json"
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert query.path == "/scim/v2/Users?filter=userName+eq+%22a%2Bb+c%40contoso.com%22"
    assert query.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (patch.method, patch.path) == ("PATCH", "/scim/v2/Users/a%2Fb%20c")
    assert (delete.method, delete.path, delete.body) == ("DELETE", "/scim/v2/Users/u1", b"")
    assert (scim.requests_sent, scim.writes_sent) == (4, 3)


async def test_a_missing_resource_reads_as_none(server: Server) -> None:
    server.handle = lambda handler, seen: answer(handler, 404, {"detail": "no such user"})
    scim = client(server.url)
    try:
        assert await scim.get("Users", "nobody") is None
    finally:
        await scim.close()


async def test_nul_and_lone_surrogates_an_app_sends_become_replacement_characters(server: Server) -> None:
    # They would be compared, logged and stored, and PostgreSQL text cannot hold a NUL.
    def handle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        if seen.method == "GET":
            answer(handler, 200, raw=b'{"id":"1","displayName":"a\\u0000b","x\\ud800":["\\udfff"]}')
        else:
            answer(handler, 409, raw=b'{"detail":"taken\\u0000 by \\ud83d"}')

    server.handle = handle
    scim = client(server.url)
    try:
        found = await scim.get("Users", "1")
        error = await failure(scim.create("Users", {"userName": "a"}))
    finally:
        await scim.close()
    assert found == {"id": "1", "displayName": "a\ufffdb", "x\ufffd": ["\ufffd"]}
    assert error.code == "EntryConflict"
    assert "taken\ufffd by \ufffd" in error.message


async def test_rejected_credentials_fail_the_job_at_once(server: Server) -> None:
    server.handle = lambda handler, seen: answer(handler, 401, {"detail": "bad token"})
    scim = client(server.url)
    try:
        error = await failure(scim.create("Users", {"userName": "a"}))
    finally:
        await scim.close()
    assert (error.code, error.status, error.job_level) == (
        "SystemForCrossDomainIdentityManagementInvalidCredentials",
        401,
        True,
    )
    assert "bad token" in error.message
    assert len(server.seen) == 1


async def test_throttling_honours_retry_after_then_succeeds(server: Server) -> None:
    def handle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        if len(server.seen) < 3:
            answer(handler, 429 if len(server.seen) == 1 else 503, headers={"Retry-After": "7"})
        else:
            answer(handler, 201, {"id": "u1"})

    server.handle = handle
    sleeps = Sleeps()
    scim = client(server.url, sleeps)
    try:
        assert await scim.create("Users", {"userName": "a"}) == {"id": "u1"}
    finally:
        await scim.close()
    assert sleeps.waits == [7.0, 7.0]
    assert len(server.seen) == 3


async def test_server_errors_are_retried_then_reported_for_the_object(server: Server) -> None:
    server.handle = lambda handler, seen: answer(handler, 500, raw=b"<html>oops</html>")
    sleeps = Sleeps()
    scim = client(server.url, sleeps, max_retries=2)
    try:
        error = await failure(scim.create("Users", {"userName": "a"}))
    finally:
        await scim.close()
    assert (error.code, error.status, error.job_level) == ("InternalServerError", 500, False)
    assert "<html>oops</html>" in error.message
    assert len(server.seen) == 3
    assert sleeps.waits == [2.0, 2.0]


@pytest.mark.parametrize(
    ("status", "raw"),
    [(200, b"not json"), (200, b"[1, 2]"), (302, b"")],
    ids=["not-json", "not-an-object", "redirect"],
)
async def test_answers_that_are_not_a_json_object_are_incompatible(
    server: Server, status: int, raw: bytes
) -> None:
    server.handle = lambda handler, seen: answer(handler, status, raw=raw, headers={"Location": "/elsewhere"})
    scim = client(server.url)
    try:
        error = await failure(scim.create("Users", {"userName": "a"}))
    finally:
        await scim.close()
    assert error.code == "SystemForCrossDomainIdentityManagementServiceIncompatible"
    assert [s.path for s in server.seen] == ["/scim/v2/Users"]  # a redirect is not followed


async def test_an_answer_slower_than_the_time_limit_is_a_timeout_and_is_not_repeated(server: Server) -> None:
    answered = threading.Event()

    def handle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        time.sleep(1.5)
        answer(handler, 201, {"id": "u1"})
        answered.set()

    server.handle = handle
    scim = client(server.url, timeout_seconds=0.3)
    try:
        error = await failure(scim.create("Users", {"userName": "a"}))
        gave_up_first = not answered.is_set()  # the order of the two, not a duration
    finally:
        await scim.close()
    assert gave_up_first
    assert (error.code, error.job_level) == ("Timeout", False)
    assert "0.3 s" in error.message
    assert len(server.seen) == 1


async def test_a_dropped_connection_is_retried_and_then_reported_for_the_object(server: Server) -> None:
    def handle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)  # no answer at all

    server.handle = handle
    sleeps = Sleeps()
    scim = client(server.url, sleeps, max_retries=1)
    try:
        error = await failure(scim.create("Users", {"userName": "a"}))
    finally:
        await scim.close()
    assert (error.code, error.status, error.job_level) == (
        "SystemForCrossDomainIdentityManagementServiceUnreachable",
        None,
        False,
    )
    assert len(server.seen) == 2
    assert sleeps.waits == [2.0]


async def test_a_refused_connection_fails_the_job() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    scim = client(f"http://127.0.0.1:{port}/scim")
    try:
        error = await failure(scim.get("Users", "u1"))
    finally:
        await scim.close()
    assert (error.code, error.job_level) == ("SystemForCrossDomainIdentityManagementServiceUnreachable", True)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_a_certificate_that_does_not_verify_fails_the_job(server: Server, tmp_path: Path) -> None:
    # The same HTTP server behind TLS with a self-signed certificate: verification is on by default.
    cert_path, key_path = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError), context.wrap_socket(listener, server_side=True) as tls:
            conn, _ = tls.accept()  # the handshake fails on the client's side
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    scim = client(f"https://127.0.0.1:{port}/scim")
    try:
        error = await failure(scim.get("Users", "u1"))
    finally:
        await scim.close()
        listener.close()
        thread.join(timeout=5)
    assert (error.code, error.job_level) == ("SystemForCrossDomainIdentityManagementServiceUnreachable", True)
    assert "certificate" in error.message.lower()


async def test_requests_stay_within_the_concurrency_over_reused_connections(server: Server) -> None:
    def handle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        time.sleep(0.02)
        answer(handler, 200, {"id": "u1"})

    server.handle = handle
    scim = client(server.url, concurrency=3)
    try:
        results = await asyncio.gather(*(scim.get("Users", f"u{i}") for i in range(30)))
    finally:
        await scim.close()
    assert results == [{"id": "u1"}] * 30
    assert server.peak_in_flight <= 3
    assert len({s.peer for s in server.seen}) <= 3  # keep-alive: connections are reused
