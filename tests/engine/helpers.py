"""Driving the engine end to end: a live server with its scheduler, a real SCIM target."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Table
from tests.api.helpers import make_app, make_job, make_user
from tests.conftest import LiveServer, ScimTarget, run_server

from provisiond.api.app import create_app
from provisiond.clock import Clock, ManualClock, SystemClock
from provisiond.config import Settings
from provisiond.graph.job_state import status_wire
from provisiond.runtime import build_scheduler
from provisiond.store import engine_state
from provisiond.store.db import Database

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"


def start_engine_server(
    settings: Settings, db: Database, clock: Clock | None = None
) -> tuple[LiveServer, Callable[[], None]]:
    """With a ManualClock, a directory change makes the job due at once (no debounce), and
    everything else the engine schedules waits until the test moves the clock."""
    clock = clock or SystemClock()
    scheduler = build_scheduler(settings, db, clock)
    scheduler.poll_seconds = 0.2
    scheduler.debounce = scheduler.debounce * (0 if isinstance(clock, ManualClock) else 0.2)
    url, server, thread = run_server(create_app(settings, db, clock, scheduler=scheduler))
    scheduler.start()

    def stop() -> None:
        scheduler.stop()
        server.should_exit = True
        thread.join(timeout=10)

    return LiveServer(url, settings, db), stop


@contextmanager
def sqlite_engine_server(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The API and its scheduler on a new SQLite database, for tests where storage is not the
    subject (browser tests, other SCIM servers)."""
    database = Database(sqlite_url)
    database.migrate()
    live, stop = start_engine_server(settings, database)
    try:
        yield live
    finally:
        stop()
        database.dispose()


@pytest.fixture
def engine_server(db: Database, settings: Settings) -> Iterator[LiveServer]:
    """The API and the scheduler in one process (as `provisiond serve`), on both databases."""
    server, stop = start_engine_server(settings, db)
    yield server
    stop()


@dataclass
class ManualEngine:
    server: LiveServer
    clock: ManualClock


@pytest.fixture
def manual_engine(db: Database, settings: Settings) -> Iterator[ManualEngine]:
    """As engine_server, on a ManualClock that starts at the real time (so due times compare
    sensibly with it) and moves only when the test says."""
    clock = ManualClock(datetime.now(UTC))
    server, stop = start_engine_server(settings, db, clock)
    yield ManualEngine(server, clock)
    stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Provisioned:
    server: LiveServer
    scim: ScimTarget
    client: httpx.Client
    sp_id: str
    job_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)  # the engine's: "due" is by its time

    @property
    def sync(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization"

    @property
    def job_url(self) -> str:
        return f"{self.sync}/jobs/{self.job_id}"

    def rows(self, table: Table) -> list[dict[str, Any]]:
        """The job's rows of an engine-state table (escrows, provisioning_logs, ...)."""
        with self.server.db.read() as conn:
            return [
                dict(r) for r in conn.execute(table.select().where(table.c.job_id == self.job_id)).mappings()
            ]

    def job_row(self) -> dict[str, Any]:
        """The job's row, its typed status read as Graph's synchronizationStatus."""
        with self.server.db.read() as conn:
            row = engine_state.get_job(conn, self.job_id)
        assert row is not None
        return {**row, "status": status_wire(row["status"])}

    def ended(self) -> str | None:
        last = self.job_row()["status"].get("lastExecution")
        return last["timeEnded"] if last else None

    def wait_cycle(self, previous: str | None, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until a cycle that ended after `previous` is recorded and no cycle is running."""

        def done() -> dict[str, Any] | None:
            row = self.job_row()
            last = row["status"].get("lastExecution")
            if last and last["timeEnded"] != previous and row["lease_owner"] is None:
                return row
            return None

        return dict(wait_for(done, timeout, "a cycle to finish"))

    def wait_idle(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the job has caught up with every change that concerns it and nothing is
        running. A change that touches no object of its scope does not wake it (engine.wakeups):
        the job stays behind the log for those until its interval, and is idle all the same."""
        from provisiond.engine.wakeups import jobs_to_wake
        from provisiond.store.changelog import last_seq

        secrets = self.client.get(f"{self.sync}/secrets").json()["value"]
        sync_all = any(s["key"] == "SyncAll" and str(s["value"]).lower() == "true" for s in secrets)

        def caught_up() -> dict[str, Any] | None:
            row = self.job_row()
            with self.server.db.read() as conn:
                head = last_seq(conn)
                watermark = row["watermark"]
                behind = watermark is not None and bool(
                    jobs_to_wake(conn, -1, head, {self.job_id: (self.sp_id, watermark)}, lambda _: sync_all)
                )
            if row["watermark"] is not None and not behind and row["lease_owner"] is None:
                due = row["cycle_due_at"]
                if due is None or due > self.clock.now() + timedelta(seconds=5):
                    return row
            return None

        return dict(wait_for(caught_up, timeout, "the job to catch up"))

    def assign(self, principal_id: str) -> dict[str, Any]:
        body = {"principalId": principal_id, "resourceId": self.sp_id, "appRoleId": DEFAULT_ACCESS}
        response = self.client.post(f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def target_users(self) -> dict[str, dict[str, Any]]:
        return {u["userName"]: u for u in self.scim.resources("Users")}

    def target_groups(self) -> dict[str, dict[str, Any]]:
        return {g["displayName"]: g for g in self.scim.resources("Groups")}


def provision(
    server: LiveServer,
    scim: ScimTarget,
    *,
    users: int = 3,
    assign: bool = True,
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    start: bool = True,
) -> Provisioned:
    client = server.client()
    app = make_app(client)
    sp_id = app["servicePrincipal"]["id"]
    job = make_job(client, sp_id)
    setup = Provisioned(server, scim, client, sp_id, job["id"])
    for i in range(users):
        user = make_user(
            client, f"user{i}", givenName=f"Given{i}", surname=f"Sur{i}", mail=f"user{i}@contoso.example"
        )
        setup.users[user["userPrincipalName"]] = user
    # Graph takes at most 20 members@odata.bind per request: the rest are added one by one.
    binds = [f"https://graph.microsoft.com/v1.0/directoryObjects/{u['id']}" for u in setup.users.values()]
    group = client.post(
        "/groups",
        json={
            "displayName": "Engineering",
            "mailEnabled": False,
            "mailNickname": "eng",
            "securityEnabled": True,
            "members@odata.bind": binds[:20],
        },
    )
    assert group.status_code == 201, group.text
    for bind in binds[20:]:
        response = client.post(f"/groups/{group.json()['id']}/members/$ref", json={"@odata.id": bind})
        assert response.status_code == 204, response.text
    setup.groups["Engineering"] = group.json()
    if assign:
        setup.assign(group.json()["id"])
    values = {"BaseAddress": scim.url, "SecretToken": scim.token, "SyncAll": "false", **(secrets or {})}
    response = client.put(
        f"{setup.sync}/secrets", json={"value": [{"key": k, "value": v} for k, v in values.items()]}
    )
    assert response.status_code == 204, response.text
    if settings:
        body = {"synchronizationJobSettings": [{"name": k, "value": v} for k, v in settings.items()]}
        assert client.patch(setup.job_url, json=body).status_code == 204
    if start:
        assert client.post(f"{setup.job_url}/start").status_code == 204
    return setup
