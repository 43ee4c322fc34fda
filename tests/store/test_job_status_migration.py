"""Migration 0005: a job status stored in Graph's shape becomes the versioned JSON of the typed
status, reads back as the same synchronizationStatus, and downgrades to what it was; on SQLite
and on PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from provisiond.domain.job_state import ExecutionResult, StatusCode
from provisiond.graph.job_state import status_wire
from provisiond.store import engine_state
from provisiond.store.db import MIGRATIONS_DIR, Database
from provisiond.store.job_state import VERSION

JOB_ID = "scim.0000.app"
EXECUTION = {
    "activityIdentifier": None,
    "countEntitled": 5,
    "countEntitledForProvisioning": 5,
    "countEscrowed": 1,
    "countEscrowedRaw": 2,
    "countExported": 4,
    "countExports": 5,
    "countImported": 6,
    "countImportedDeltas": 0,
    "countImportedReferenceDeltas": 1,
    "error": {"code": "TooManyDeletes", "message": "held", "tenantActionable": True},
    "state": "EntryLevelErrors",
    "timeBegan": "2026-05-01T12:00:00.123Z",
    "timeEnded": "2026-05-01T12:00:05Z",
}
LEGACY = {
    "code": "Quarantine",
    "countSuccessiveCompleteFailures": 1,
    "escrowsPruned": False,
    "lastExecution": EXECUTION,
    "lastSuccessfulExecution": None,
    "lastSuccessfulExecutionWithExports": {**EXECUTION, "error": None, "state": "Succeeded"},
    "progress": [
        {
            "completedUnits": 3,
            "totalUnits": 9,
            "units": "objects",
            "progressObservationDateTime": "2026-05-01T12:00:01.500Z",
        }
    ],
    "quarantine": {
        "currentBegan": "2026-05-01T12:00:05Z",
        "error": {"code": "TooManyDeletes", "message": "held", "tenantActionable": True},
        "nextAttempt": "2026-05-01T18:00:05Z",
        "reason": "TooManyDeletes",
        "seriesBegan": "2026-05-01T12:00:05Z",
        "seriesCount": 1,
    },
    "steadyStateFirstAchievedTime": "0001-01-01T00:00:00Z",
    "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
    "synchronizedEntryCountByType": [{"key": "group", "value": 1}, {"key": "user", "value": 4}],
    "troubleshootingUrl": None,
}
# What 0004 knew of the table: the status as plain JSON.
jobs = sa.table(
    "sync_jobs",
    sa.column("id", sa.String),
    sa.column("service_principal_id", sa.String),
    sa.column("template_id", sa.String),
    sa.column("schedule_interval", sa.String),
    sa.column("schedule_state", sa.String),
    sa.column("status", sa.JSON),
    sa.column("settings", sa.JSON),
    sa.column("schema_version", sa.Integer),
    sa.column("created_date_time", sa.DateTime(timezone=True)),
)


def _alembic(db: Database, action: Any, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        action(cfg, revision)


def _raw_status(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(jobs.c.status).where(jobs.c.id == JOB_ID)).scalar_one())


def test_a_status_in_graphs_shape_is_migrated_to_the_typed_form_and_back(db: Database) -> None:
    _alembic(db, command.downgrade, "0004")
    with db.engine.begin() as conn:
        conn.execute(
            jobs.insert().values(
                id=JOB_ID,
                service_principal_id="sp",
                template_id="scim",
                schedule_interval="PT40M",
                schedule_state="Active",
                status=copy.deepcopy(LEGACY),
                settings=[],
                schema_version=1,
                created_date_time=datetime(2026, 5, 1, tzinfo=UTC),
            )
        )
    _alembic(db, command.upgrade, "head")

    stored = _raw_status(db)
    assert stored["version"] == VERSION and "lastExecution" not in stored
    with db.read() as conn:
        row = engine_state.get_job(conn, JOB_ID)
    assert row is not None
    status = row["status"]
    assert status.code is StatusCode.Quarantine
    assert (
        status.last_execution is not None and status.last_execution.result is ExecutionResult.EntryLevelErrors
    )
    assert status.last_execution.began == datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert status.quarantine is not None
    assert status.quarantine.next_attempt - status.quarantine.series_began == timedelta(hours=6)
    assert status.entry_counts == (("Group", 1), ("User", 4))
    # The API shows what it showed before the migration, key for key.
    assert status_wire(status) == LEGACY
    assert list(status_wire(status)) == list(LEGACY)

    _alembic(db, command.downgrade, "0004")
    assert _raw_status(db) == LEGACY
    _alembic(db, command.upgrade, "head")
    with db.read() as conn:
        again = engine_state.get_job(conn, JOB_ID)
    assert again is not None and again["status"] == status
