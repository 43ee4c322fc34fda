"""The `provisiond` command as a user runs it: serve in a real process, token, env variables,
graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

CLI = [sys.executable, "-c", "from provisiond.cli import app; app()"]


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not start")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_with_tokens_from_the_same_data_dir_and_stops_gracefully(
    tmp_path: Path, signum: int
) -> None:
    port = free_port()
    env = {**os.environ, "PROVISIOND_PORT": str(port), "PROVISIOND_DATA_DIR": str(tmp_path)}
    env.pop("PROVISIOND_JWT_SECRET", None)
    process = subprocess.Popen(
        [*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/v1.0/users", process)
        token = subprocess.run(
            [*CLI, "token"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        response = httpx.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["value"] == []
        app_token = subprocess.run(
            [*CLI, "token", "--roles", "User.Read.All", "--app-id", "11111111-1111-1111-1111-111111111111"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert (
            httpx.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {app_token}"}).status_code
            == 200
        )
        denied = httpx.post(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {app_token}"}, json={})
        assert denied.status_code == 403
    finally:
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/v1.0" in output
    assert "provisiond token" in output
    assert (tmp_path / "provisiond.db").exists()


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provisiond.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output
    assert "PROVISIOND_DATABASE_URL" in result.output


def test_token_expires_in_is_honoured(tmp_path: Path) -> None:
    import jwt

    result = subprocess.run(
        [*CLI, "token", "--data-dir", str(tmp_path), "--expires-in", "60", "--scopes", "User.Read.All"],
        capture_output=True,
        text=True,
        check=True,
    )
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert claims["scp"] == "User.Read.All"


# Start-up with a database, tenant or policy that cannot work: one line, exit 1


def _start(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PROVISIOND_DATA_DIR": str(tmp_path), "PROVISIOND_PORT": str(free_port())}
    for key in ("PROVISIOND_DATABASE_URL", "PROVISIOND_TENANT_ID", "PROVISIOND_OUTBOUND_ALLOW"):
        environment.pop(key, None)
    environment.update(env)
    return subprocess.run([*CLI, command], env=environment, capture_output=True, text=True, timeout=60)


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert "\n" not in output, output
    assert "Traceback" not in output
    assert output.startswith("provisiond: "), output
    return output


def _closed_port() -> int:
    import socket

    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg://provisiond:s3cret-pw@127.0.0.1:{port}/provisiond", "Connection refused"),
        ("postgresql+psycopg://provisiond:s3cret-pw@db.invalid/provisiond", "db.invalid"),
        ("mysql+nodriver://provisiond:s3cret-pw@127.0.0.1/provisiond", "'mysql+nodriver' is not supported"),
        ("not a database url s3cret-pw", "cannot be parsed"),
    ],
    ids=["refused", "unknown-host", "bad-scheme", "unparsable"],
)
def test_a_database_that_cannot_be_opened_is_one_line_and_exit_1(
    tmp_path: Path, command: str, url: str, says: str
) -> None:
    result = _start(command, tmp_path, PROVISIOND_DATABASE_URL=url.format(port=_closed_port()))
    output = _one_line_failure(result)
    assert says in output
    assert "s3cret-pw" not in output
    if "://" in url and "unparsable" not in output:
        assert "provisiond:***@" in output


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_database_that_does_not_exist_on_the_server_is_one_line(tmp_path: Path, command: str) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL

    if not POSTGRES_URL:
        pytest.skip("needs PROVISIOND_TEST_POSTGRES_URL")
    # The test server trusts every login, so a wrong password cannot be shown; a missing database
    # is refused by the same authentication step.
    url = make_url(POSTGRES_URL).set(password="s3cret-pw", database="provisiond_no_such_database")
    result = _start(command, tmp_path, PROVISIOND_DATABASE_URL=url.render_as_string(hide_password=False))
    output = _one_line_failure(result)
    assert "provisiond_no_such_database" in output and "does not exist" in output
    assert "s3cret-pw" not in output


def test_a_configured_tenant_other_than_the_databases_is_refused_at_start(tmp_path: Path) -> None:
    from provisiond.store.db import DEFAULT_TENANT_ID, Database

    db = Database(f"sqlite+pysqlite:///{tmp_path / 'provisiond.db'}")
    db.migrate()
    assert db.tenant_id() == DEFAULT_TENANT_ID
    db.dispose()
    other = "0b3c2a1d-0000-4000-8000-000000000001"
    output = _one_line_failure(_start("serve", tmp_path, PROVISIOND_TENANT_ID=other))
    assert f"belongs to tenant {DEFAULT_TENANT_ID}" in output and other in output


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PROVISIOND_TENANT_ID": "contoso"}, "not a GUID"),
        ({"PROVISIOND_OUTBOUND_ALLOW": "10.0.0.0/8 not/a/network"}, "not/a/network"),
        ({"PROVISIOND_MAX_REQUESTS_IN_FLIGHT": "lots"}, "whole number"),
        ({"PROVISIOND_MAX_REQUESTS_IN_FLIGHT": "0"}, "at least 1"),
    ],
)
def test_bad_settings_are_one_line_and_exit_1(tmp_path: Path, env: dict[str, str], says: str) -> None:
    assert says in _one_line_failure(_start("serve", tmp_path, **env))


def test_cli_tokens_carry_the_configured_or_default_tenant(tmp_path: Path) -> None:
    import jwt

    from provisiond.store.db import DEFAULT_TENANT_ID

    def tid(**env: str) -> str:
        environment = {**os.environ, **env}
        environment.pop("PROVISIOND_TENANT_ID", None) if not env else None
        token = subprocess.run(
            [*CLI, "token", "--data-dir", str(tmp_path)],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return str(jwt.decode(token, options={"verify_signature": False})["tid"])

    assert tid() == DEFAULT_TENANT_ID
    configured = "0B3C2A1D-0000-4000-8000-000000000001"
    assert tid(PROVISIOND_TENANT_ID=configured) == configured.lower()
