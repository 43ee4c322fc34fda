"""https: `provisiond serve --certfile --keyfile` in a real process, the certificate checks at
start-up, and the self-signed certificate `provisiond demo --tls` makes (provisiond/tls.py)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from provisiond.tls import TlsConfigError, TlsFiles, checked, self_signed
from tests.conftest import free_port
from tests.test_cli import CLI, _one_line_failure, _start


def _wait_https(url: str, ca: Path, process: subprocess.Popen[str]) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            httpx.get(url, timeout=1, verify=ssl.create_default_context(cafile=str(ca)))
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not start")


@dataclass
class HttpsServer:
    """`provisiond serve --certfile --keyfile` in its own process, on a new SQLite data dir."""

    base: str
    port: int
    files: TlsFiles
    token: str
    output: str = ""


@contextmanager
def serving_https(tmp_path: Path) -> Iterator[HttpsServer]:
    files = self_signed(tmp_path / "tls")
    port = free_port()
    env = {**os.environ, "PROVISIOND_PORT": str(port), "PROVISIOND_DATA_DIR": str(tmp_path / "data")}
    env.pop("PROVISIOND_DATABASE_URL", None)
    process = subprocess.Popen(
        [*CLI, "serve", "--certfile", str(files.certfile), "--keyfile", str(files.keyfile)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = HttpsServer(f"https://127.0.0.1:{port}", port, files, "")
    try:
        _wait_https(f"{server.base}/v1.0/users", files.certfile, process)
        server.token = subprocess.run(
            [*CLI, "token"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        server.output, _ = process.communicate(timeout=30)


def test_serve_with_a_certificate_answers_over_https_only(tmp_path: Path) -> None:
    with serving_https(tmp_path) as server:
        trusted = ssl.create_default_context(cafile=str(server.files.certfile))
        for host in ("127.0.0.1", "localhost"):
            answer = httpx.get(
                f"https://{host}:{server.port}/v1.0/users",
                headers={"Authorization": f"Bearer {server.token}"},
                verify=trusted,
            )
            assert answer.status_code == 200, answer.text
        # Not trusted without the certificate; no plain http on the port.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base}/v1.0/users")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/v1.0/users", timeout=5)
    assert f"https://127.0.0.1:{server.port}/v1.0" in server.output


@pytest.mark.parametrize(
    ("which", "says"),
    [
        ("cert-only", "go together"),
        ("missing", "no such file"),
        ("other-key", "does not belong"),
        ("not-pem", "cannot read"),
    ],
)
def test_a_certificate_that_cannot_be_served_is_one_line_at_start(
    tmp_path: Path, which: str, says: str
) -> None:
    files = self_signed(tmp_path / "a")
    other = self_signed(tmp_path / "b")
    (tmp_path / "junk.pem").write_text("not a certificate")
    env = {
        "cert-only": {"PROVISIOND_TLS_CERTFILE": str(files.certfile)},
        "missing": {
            "PROVISIOND_TLS_CERTFILE": str(tmp_path / "nope.pem"),
            "PROVISIOND_TLS_KEYFILE": str(files.keyfile),
        },
        "other-key": {
            "PROVISIOND_TLS_CERTFILE": str(files.certfile),
            "PROVISIOND_TLS_KEYFILE": str(other.keyfile),
        },
        "not-pem": {
            "PROVISIOND_TLS_CERTFILE": str(tmp_path / "junk.pem"),
            "PROVISIOND_TLS_KEYFILE": str(files.keyfile),
        },
    }[which]
    assert says in _one_line_failure(_start("serve", tmp_path, **env))


def test_the_self_signed_certificate_names_the_loopback_and_is_reused_until_near_expiry(
    tmp_path: Path,
) -> None:
    files = self_signed(tmp_path)
    cert = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert oct(files.keyfile.stat().st_mode & 0o777) == "0o600"
    first = files.certfile.read_bytes()
    assert self_signed(tmp_path).certfile.read_bytes() == first
    later = cert.not_valid_after_utc - dt.timedelta(hours=1)
    assert self_signed(tmp_path, now=later).certfile.read_bytes() != first
    assert checked(files.certfile, files.keyfile) is not None
    with pytest.raises(TlsConfigError):
        checked(None, files.keyfile)
