"""A directory change wakes only the jobs whose scope it can touch (engine.wakeups): counted
in cycles, with four jobs on one directory and the engine's clock standing still (so no
interval heartbeat runs, and every cycle is one a change caused)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.api.helpers import make_app, make_job, make_user
from tests.conftest import ScimTarget
from tests.engine.helpers import ManualEngine, Provisioned, provision, wait_for

SETTLE_SECONDS = 1.5  # several scheduler polls (0.2 s): a cycle a change caused has started by then


@pytest.fixture
def second_target() -> Iterator[ScimTarget]:
    from tests.scim_target import Traffic, start_scim_server

    url, stop = start_scim_server("scim-second", Traffic())
    yield ScimTarget(url, "scim-second")
    stop()


def _job(engine: ManualEngine, scim: ScimTarget, name: str, sync_all: bool) -> Provisioned:
    """A started job of its own app, with nothing assigned."""
    client = engine.server.client()
    sp_id = make_app(client, name)["servicePrincipal"]["id"]
    job = Provisioned(engine.server, scim, client, sp_id, make_job(client, sp_id)["id"], clock=engine.clock)
    secrets = {"BaseAddress": scim.url, "SecretToken": scim.token, "SyncAll": str(sync_all).lower()}
    body = {"value": [{"key": k, "value": v} for k, v in secrets.items()]}
    assert client.put(f"{job.sync}/secrets", json=body).status_code == 204
    assert client.post(f"{job.job_url}/start").status_code == 204
    return job


def _cycles_caused(jobs: dict[str, Provisioned], change: Any) -> set[str]:
    """Which jobs ran a cycle because of `change` (each woken one is waited for)."""
    before = {name: job.ended() for name, job in jobs.items()}
    next(iter(jobs.values())).clock.advance(timedelta(seconds=1))  # each cycle ends at its own time
    change()
    time.sleep(SETTLE_SECONDS)
    cycled = set()
    for name, job in jobs.items():
        row = job.job_row()
        if row["lease_owner"] is not None or job.ended() != before[name]:
            job.wait_cycle(before[name])
            cycled.add(name)
    _quiet(jobs)
    return cycled


def _quiet(jobs: dict[str, Provisioned]) -> None:
    """Every job has run a cycle, none runs and none is due (jobs no change touched stay
    behind the change log until their interval: `wait_idle` would wait for them forever)."""

    def quiet() -> bool:
        for job in jobs.values():
            row = job.job_row()
            due = row["cycle_due_at"]
            if row["lease_owner"] is not None or job.ended() is None:
                return False
            if due is not None and due <= job.clock.now() + timedelta(seconds=5):
                return False
        return True

    wait_for(quiet, 60, "every job to be quiet")


def test_a_change_wakes_only_the_jobs_whose_scope_it_touches(
    manual_engine: ManualEngine, scim_target: ScimTarget, second_target: ScimTarget
) -> None:
    engine = manual_engine
    # "assigned": a group of three users assigned; "outsider": one user assigned directly;
    # "nothing": nothing assigned; "all": SyncAll (every user and group in scope), own app.
    assigned = provision(engine.server, scim_target, users=3)
    assigned.clock = engine.clock
    client = assigned.client
    outsider = make_user(client, "outsider")
    lone = make_user(client, "lone")
    jobs = {
        "assigned": assigned,
        "outsider": _job(engine, scim_target, "Outsider app", sync_all=False),
        "nothing": _job(engine, scim_target, "Nothing app", sync_all=False),
        "all": _job(engine, second_target, "All app", sync_all=True),
    }
    jobs["outsider"].assign(outsider["id"])
    _quiet(jobs)

    user0 = assigned.users["user0@contoso.example"]
    patch = {"jobTitle": "Engineer"}
    # A member of the assigned group: its job, and the job that syncs everyone.
    assert _cycles_caused(jobs, lambda: client.patch(f"/users/{user0['id']}", json=patch)) == {
        "assigned",
        "all",
    }
    # A user assigned directly to one app.
    assert _cycles_caused(jobs, lambda: client.patch(f"/users/{outsider['id']}", json=patch)) == {
        "outsider",
        "all",
    }
    # A user nobody is assigned: only SyncAll sees it.
    assert _cycles_caused(jobs, lambda: client.patch(f"/users/{lone['id']}", json=patch)) == {"all"}
    # A new assignment wakes the job of that service principal only.
    assert _cycles_caused(jobs, lambda: jobs["nothing"].assign(lone["id"])) == {"nothing"}
    # A group membership change of an assigned group: the member comes into that job's scope.
    group_id = assigned.groups["Engineering"]["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{outsider['id']}"}
    assert _cycles_caused(
        jobs, lambda: client.post(f"/groups/{group_id}/members/$ref", json=ref).raise_for_status()
    ) == {"assigned", "all"}  # not "outsider": that group is not assigned to its app
    assert "outsider@contoso.example" in assigned.target_users()
    # Leaving the group and being deleted: the jobs that manage the user see it.
    assert _cycles_caused(jobs, lambda: client.delete(f"/users/{user0['id']}").raise_for_status()) == {
        "assigned",
        "all",
    }
