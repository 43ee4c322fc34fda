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
