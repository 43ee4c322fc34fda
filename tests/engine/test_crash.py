"""Crash safety and scale-out, with real processes: kill -9 the process holding a cycle, and
two `provisiond worker` processes sharing one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import LiveServer, ScimTarget, free_port, run_server
from tests.engine.helpers import Provisioned, provision, wait_for

from provisiond.api.app import create_app
from provisiond.config import Settings
from provisiond.store import engine_state
from provisiond.store.db import Database
from provisiond.store.tables import escrows

CLI = [sys.executable, "-c", "from provisiond.cli import app; app()"]


def _env(settings: Settings, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PROVISIOND_DATA_DIR": str(settings.data_dir),
        "PROVISIOND_DATABASE_URL": database_url,
        "PROVISIOND_JWT_SECRET": settings.jwt_secret or "",
        "PROVISIOND_SECRETS_KEY": settings.secrets_encryption_key(),
        "PROVISIOND_POLL_SECONDS": "0.2",
        "PROVISIOND_LEASE_SECONDS": "3",
        "PROVISIOND_LOG_LEVEL": "warning",
    }


def _spawn(command: str, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, command, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture
def api_only(db: Database, settings: Settings) -> Iterator[LiveServer]:
    """The API without a scheduler: cycles run in the processes a test spawns."""
    settings = Settings(
        data_dir=settings.data_dir,
        jwt_secret=settings.jwt_secret,
        secrets_key=settings.secrets_encryption_key(),
    )
    url, server, thread = run_server(create_app(settings, db))
    yield LiveServer(url, settings, db)
    server.should_exit = True
    thread.join(timeout=10)


def _assert_each_user_once(setup: Provisioned, expected: int) -> None:
    names = [u["userName"] for u in setup.scim.resources("Users")]
    assert len(names) == expected
    assert len(set(names)) == expected
    with setup.server.db.read() as conn:
        assert conn.execute(escrows.select()).first() is None
        counts = engine_state.cds_counts(conn, setup.job_id)
    assert counts.get("User") == expected


@pytest.mark.parametrize("kill_after", [5, 25, 45])
def test_kill_during_an_initial_cycle_loses_nothing_and_duplicates_nothing(
    api_only: LiveServer, scim_target: ScimTarget, database_url: str, kill_after: int
) -> None:
    users = 60
    setup = provision(api_only, scim_target, users=users, settings={"ExportRequestsPerSecond": "25"})
    env = _env(api_only.settings, database_url)
    first = _spawn("worker", env)
    try:
        wait_for(
            lambda: len(scim_target.resources("Users")) >= kill_after * users // 100, 60, "part of the cycle"
        )
    finally:
        _kill(first)
    partial = len(scim_target.resources("Users"))
    assert partial < users + 1
    second = _spawn("worker", env)
    try:
        wait_for(
            lambda: setup.job_row()["watermark"] is not None,
            120,
            "the initial cycle to finish after the crash",
        )
    finally:
        _kill(second)
    _assert_each_user_once(setup, users)
    members = setup.target_groups()["Engineering"].get("members") or []
    assert len(members) == users


def test_kill_during_an_incremental_cycle_loses_no_change(
    api_only: LiveServer, scim_target: ScimTarget, database_url: str
) -> None:
    users = 30
    setup = provision(api_only, scim_target, users=users)
    env = _env(api_only.settings, database_url)
    worker = _spawn("worker", env)
    try:
        wait_for(lambda: setup.job_row()["watermark"] is not None, 60, "the initial cycle")
    finally:
        _kill(worker)
    body = {"synchronizationJobSettings": [{"name": "ExportRequestsPerSecond", "value": "10"}]}
    assert setup.client.patch(setup.job_url, json=body).status_code == 204
    for user in setup.users.values():
        assert setup.client.patch(f"/users/{user['id']}", json={"jobTitle": "After"}).status_code == 204
    worker = _spawn("worker", env)
    try:
        wait_for(
            lambda: sum(u.get("title") == "After" for u in scim_target.resources("Users")) >= 8,
            60,
            "some changes",
        )
    finally:
        _kill(worker)
    assert sum(u.get("title") == "After" for u in scim_target.resources("Users")) < users
    worker = _spawn("worker", env)
    try:
        wait_for(
            lambda: all(u.get("title") == "After" for u in scim_target.resources("Users")), 90, "every change"
        )
    finally:
        _kill(worker)
    _assert_each_user_once(setup, users)


def _owner(setup: Provisioned) -> Any:
    return setup.job_row()["lease_owner"]


def test_two_workers_never_run_one_job_at_once_and_take_over_an_expired_lease(
    api_only: LiveServer, scim_target: ScimTarget, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out across processes is a PostgreSQL feature")
    users = 60
    setup = provision(api_only, scim_target, users=users, settings={"ExportRequestsPerSecond": "20"})
    env = _env(api_only.settings, database_url)
    workers = [_spawn("worker", env), _spawn("worker", env)]
    try:
        holder = wait_for(lambda: _owner(setup), 60, "a worker to take the job")
        owners = set()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            owner = _owner(setup)
            if owner:
                owners.add(owner)
            time.sleep(0.05)
        assert owners == {holder}  # the other worker never got the running job
        pid = int(holder.split(":")[1])
        victim = next(w for w in workers if w.pid == pid)
        _kill(victim)
        taken = wait_for(
            lambda: (_owner(setup) or holder) != holder and _owner(setup), 60, "the other worker to take over"
        )
        assert int(str(taken).split(":")[1]) != pid
        wait_for(lambda: setup.job_row()["watermark"] is not None, 120, "the cycle to finish on the survivor")
    finally:
        for worker in workers:
            _kill(worker)
    _assert_each_user_once(setup, users)


def test_a_serve_process_restarted_on_the_same_data_dir_resumes(
    tmp_path: Path, scim_target: ScimTarget, settings: Settings
) -> None:
    port = free_port()
    url = f"sqlite+pysqlite:///{tmp_path / 'serve.db'}"
    env = {**_env(settings, url), "PROVISIOND_PORT": str(port)}
    serve = _spawn("serve", env)
    try:
        db = Database(url)
        wait_for(lambda: _ready(port), 60, "serve to answer")
        server = LiveServer(f"http://127.0.0.1:{port}", settings, db)
        setup = provision(server, scim_target, users=20, settings={"ExportRequestsPerSecond": "10"})
        wait_for(lambda: len(scim_target.resources("Users")) >= 5, 60, "some users")
    finally:
        _kill(serve)
    serve = _spawn("serve", env)
    try:
        wait_for(lambda: setup.job_row()["watermark"] is not None, 120, "the cycle to finish after restart")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    _assert_each_user_once(setup, 20)
    db.dispose()


def _ready(port: int) -> bool:
    import httpx

    try:
        httpx.get(f"http://127.0.0.1:{port}/v1.0/users", timeout=1)
        return True
    except httpx.TransportError:
        return False


def test_a_worker_is_woken_by_changes_committed_in_another_process(
    api_only: LiveServer, scim_target: ScimTarget, database_url: str
) -> None:
    """LISTEN/NOTIFY: with polling set to ten minutes, only a notification from the API process
    can bring the worker to start the job and to export a later directory change."""
    if not database_url.startswith("postgresql"):
        pytest.skip("cross-process notifications are a PostgreSQL feature")
    env = {**_env(api_only.settings, database_url), "PROVISIOND_POLL_SECONDS": "600"}
    worker = _spawn("worker", env)
    try:
        wait_for(lambda: _worker_listening(api_only.db), 60, "the worker to listen")
        setup = provision(api_only, scim_target, users=3)
        wait_for(lambda: len(scim_target.resources("Users")) == 3, 120, "the initial cycle")
        user = next(iter(setup.users.values()))
        response = setup.client.patch(f"/users/{user['id']}", json={"jobTitle": "Woken"})
        assert response.status_code == 204, response.text
        wait_for(
            lambda: any(u.get("title") == "Woken" for u in scim_target.resources("Users")),
            120,
            "the change to reach the target",
        )
    finally:
        _kill(worker)


def _worker_listening(db: Database) -> bool:
    from sqlalchemy import text

    with db.read() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN provisiond%'")
        return bool(conn.execute(query).scalar())
