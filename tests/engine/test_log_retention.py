"""Provisioning-log retention: a job keeps its logs for ProvisioningLogRetentionDays (30 by
default); the logs of a deleted job stay as audit history until the default retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import provision

from provisiond.store import engine_state
from provisiond.store.tables import provisioning_logs


def _log_ids(server: LiveServer) -> set[str]:
    with server.db.read() as conn:
        return {row.id for row in conn.execute(select(provisioning_logs.c.id))}


def _copy_log(server: LiveServer, job_id: str, new_id: str, age: timedelta) -> None:
    """An entry like a real one of the job, but `age` old."""
    with server.db.transaction() as conn:
        row: dict[str, Any] = dict(
            conn.execute(
                select(provisioning_logs)
                .where(provisioning_logs.c.job_id == job_id)
                .order_by(provisioning_logs.c.activity_date_time.desc())
            )
            .mappings()
            .first()
            or {}
        )
        assert row, "the job has written no log yet"
        row.update(id=new_id, job_id=job_id, activity_date_time=row["activity_date_time"] - age)
        conn.execute(provisioning_logs.insert().values(**row))


def test_a_cycle_prunes_its_jobs_logs_older_than_the_retention_setting(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2, settings={"ProvisioningLogRetentionDays": "7"})
    first = setup.wait_cycle(None)
    _copy_log(engine_server, setup.job_id, "eight-days-old", timedelta(days=8))
    _copy_log(engine_server, setup.job_id, "six-days-old", timedelta(days=6))
    user = next(iter(setup.users.values()))
    assert setup.client.patch(f"/users/{user['id']}", json={"jobTitle": "Pruner"}).status_code == 204
    setup.wait_cycle(first["status"]["lastExecution"]["timeEnded"])
    ids = _log_ids(engine_server)
    assert "eight-days-old" not in ids
    assert "six-days-old" in ids


def test_logs_of_a_deleted_job_stay_until_the_default_retention(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=1)
    setup.wait_cycle(None)
    _copy_log(engine_server, setup.job_id, "orphan-old", timedelta(days=31))
    _copy_log(engine_server, setup.job_id, "orphan-recent", timedelta(days=29))
    with engine_server.db.transaction() as conn:
        conn.execute(
            provisioning_logs.update()
            .where(provisioning_logs.c.id.in_(["orphan-old", "orphan-recent"]))
            .values(job_id="a-deleted-job")
        )
    with engine_server.db.transaction() as conn:
        removed = engine_state.logs_prune_orphans(conn, datetime.now(UTC) - timedelta(days=30))
    assert removed == 1
    ids = _log_ids(engine_server)
    assert "orphan-old" not in ids and "orphan-recent" in ids
