"""How processes are put together, as a user starts them: `worker` loads no web framework,
`serve --no-scheduler` runs no cycles, `serve --workers N`, and start-up lines that reach a
log file at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from provisiond.config import Settings
from provisiond.store import engine_state
from provisiond.store.db import Database
from tests.conftest import LiveServer, ScimTarget, free_port
from tests.engine.helpers import provision, wait_for

CLI = [sys.executable, "-c", "from provisiond.cli import app; app()"]


def _env(settings: Settings, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PROVISIOND_DATA_DIR": str(settings.data_dir),
        "PROVISIOND_DATABASE_URL": database_url,
        "PROVISIOND_JWT_SECRET": settings.jwt_secret or "",
        "PROVISIOND_SECRETS_KEY": settings.secrets_encryption_key(),
        "PROVISIOND_POLL_SECONDS": "0.2",
        "PROVISIOND_LOG_LEVEL": "warning",
        **extra,
    }
    for key in ("PROVISIOND_TENANT_ID", "PROVISIOND_OUTBOUND_ALLOW", "PROVISIOND_SCHEDULER"):
        if key not in extra:
            env.pop(key, None)
    return env


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _wait_listening(url: str, process: subprocess.Popen[str]) -> None:
    def up() -> bool:
        assert process.poll() is None, "the server exited early"
        try:
            httpx.get(url, timeout=1)
            return True
        except httpx.TransportError:
            return False

    wait_for(up, 60, "the server to listen")


def test_worker_imports_no_web_framework(tmp_path: Path) -> None:
    """`provisiond worker` runs (database opened, scheduler started and stopped) without ever
    importing FastAPI or Starlette."""
    script = (
        "import os, signal, sys, threading, time\n"
        "from provisiond.cli import app\n"
        "def stop():\n"
        "    while signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:\n"
        "        time.sleep(0.05)\n"
        "    time.sleep(0.5)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=stop, daemon=True).start()\n"
        "try:\n"
        f"    app(['worker', '--data-dir', {str(tmp_path)!r}])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette'))\n"
        "print('web modules:', loaded)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROVISIOND_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is running jobs" in result.stdout
    assert "web modules: []" in result.stdout, result.stdout


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_startup_lines_reach_a_log_file_at_once(tmp_path: Path, command: str) -> None:
    """With stdout redirected to a file, the start-up lines (the scheduler's owner id among
    them) are in the file while the process runs, not when a buffer fills or at exit."""
    log_file = tmp_path / "out.log"
    env = {
        k: v for k, v in os.environ.items() if k not in ("PROVISIOND_DATABASE_URL", "PROVISIOND_SCHEDULER")
    }
    env.update({"PROVISIOND_DATA_DIR": str(tmp_path / "data"), "PROVISIOND_PORT": str(free_port())})
    with log_file.open("w") as out:
        process = subprocess.Popen([*CLI, command], env=env, stdout=out, stderr=subprocess.DEVNULL, text=True)
    try:
        expected = "is running jobs" if command == "worker" else "scheduler:"

        def written() -> str | None:
            assert process.poll() is None, log_file.read_text()
            text = log_file.read_text()
            return text if expected in text else None

        text = wait_for(written, 60, "the start-up lines in the log file")
        owner = text.split("provisiond worker ")[1].split()[0] if command == "worker" else ""
        if command == "serve":
            owner = text.split("scheduler:")[1].split()[0]
        assert owner.count(":") == 2, text  # host:pid:random
    finally:
        _stop(process)


@pytest.fixture
def api_only(database_url: str, settings: Settings) -> tuple[Database, Settings, str]:
    db = Database(database_url)
    db.migrate()
    return db, settings, database_url


def test_serve_no_scheduler_runs_no_cycles_and_a_worker_does(
    api_only: tuple[Database, Settings, str], scim_target: ScimTarget
) -> None:
    db, settings, database_url = api_only
    port = free_port()
    env = _env(settings, database_url, PROVISIOND_PORT=str(port))
    api = subprocess.Popen(
        [*CLI, "serve", "--no-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker: subprocess.Popen[str] | None = None
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_listening(f"{url}/v1.0/users", api)
        setup = provision(LiveServer(url, settings, db), scim_target, users=2)

        def job() -> dict[str, object]:
            with db.read() as conn:
                row = engine_state.get_job(conn, setup.job_id)
            assert row is not None
            return row

        # Started and due at once; an API with a scheduler polling every 0.2 s would have
        # claimed it many times over in this while.
        time.sleep(2.5)
        row = job()
        assert row["lease_owner"] is None and row["watermark"] is None, row
        assert scim_target.resources("Users") == []

        worker = subprocess.Popen(
            [*CLI, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_for(lambda: job()["watermark"] is not None, 60, "the worker's initial cycle")
        assert len(scim_target.resources("Users")) == 2
    finally:
        _stop(api)
        if worker is not None:
            _stop(worker)  # type: ignore[arg-type]
        db.dispose()
    assert api.stdout is not None and "scheduler:    off" in api.stdout.read()


def test_scheduler_variable_turns_it_off() -> None:
    os.environ["PROVISIOND_SCHEDULER"] = "off"
    try:
        assert Settings.from_env().scheduler is False
        assert Settings.from_env(scheduler=True).scheduler is True  # the option wins
    finally:
        del os.environ["PROVISIOND_SCHEDULER"]
    assert Settings.from_env().scheduler is True


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROVISIOND_DATABASE_URL"}
    env.update({"PROVISIOND_DATA_DIR": str(tmp_path), "PROVISIOND_PORT": str(free_port())})
    result = subprocess.run(
        [*CLI, "serve", "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert output.splitlines()[-1].startswith("provisiond: --workers 2 needs PostgreSQL"), output


def test_serve_runs_several_api_processes_on_postgresql(postgres_url: str, settings: Settings) -> None:
    """Two processes start together on an empty database (each migrates, under the advisory
    lock) and both answer on one port."""
    port = free_port()
    env = _env(settings, postgres_url, PROVISIOND_PORT=str(port), PROVISIOND_SCHEDULER="off")
    log_file = settings.data_dir.parent / "serve.log"
    with log_file.open("w") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    try:
        url = f"http://127.0.0.1:{port}/v1.0/users"
        _wait_listening(url, process)
        wait_for(lambda: log_file.read_text().count("API process") == 2, 60, "both processes")
        db = Database(postgres_url)
        token = LiveServer("", settings, db).token()
        for _ in range(10):
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert response.status_code == 200, response.text
        db.dispose()
    finally:
        _stop(process)  # type: ignore[arg-type]
    assert "no scheduler" in log_file.read_text()
