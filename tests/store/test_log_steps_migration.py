"""Migration 0006: provisioning log steps and property changes stored with Graph's names become
the domain's, read back as typed objects that the API shows as before, and downgrade to what
they were; on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from tests.store.test_job_status_migration import _alembic

from provisiond.domain.provisioning_log import LogStep, PropertyChange, StepKind
from provisiond.graph.provisioning import property_wire, step_wire
from provisiond.store.db import Database
from provisiond.store.tables import provisioning_logs

STEPS = [
    {
        "name": "EntryImport",
        "provisioningStepType": "import",
        "status": "success",
        "description": "Retrieved User 'Ada' from the directory",
        "details": {"InitiatedBy": "admin", "InitiatedByType": "user"},
    },
    {
        "name": "EntryExportUpdate",
        "provisioningStepType": "referenceResolution",
        "status": "success",
        "description": "Updated manager",
        "details": {},
    },
]
CHANGES = [
    {"displayName": "manager", "oldValue": None, "newValue": "m-1"},
    {"displayName": "title", "oldValue": "Engineer", "newValue": "Principal"},
]
# What 0005 knew of the table: steps and changes as plain JSON.
logs = sa.table(
    "provisioning_logs",
    *(
        sa.column(c.name, sa.JSON if c.name in ("steps", "modified_properties") else c.type)
        for c in provisioning_logs.c
    ),
)


def _row(entry_id: str) -> dict[str, Any]:
    return {
        "id": entry_id,
        "job_id": "scim.0000.app",
        "service_principal_id": "sp",
        "cycle_id": "c1",
        "change_id": f"change-{entry_id}",
        "activity_date_time": datetime(2026, 5, 1, tzinfo=UTC),
        "duration_ms": 5,
        "action": "update",
        "status": "success",
        "source_id": "u1",
        "source_type": "User",
        "steps": copy.deepcopy(STEPS),
        "modified_properties": copy.deepcopy(CHANGES),
    }


def _raw(db: Database) -> list[tuple[Any, Any]]:
    with db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(logs.c.steps, logs.c.modified_properties).order_by(logs.c.id))
        ]


def test_log_steps_in_graphs_shape_are_migrated_to_the_domains_names_and_back(db: Database) -> None:
    _alembic(db, command.downgrade, "0005")
    with db.engine.begin() as conn:
        # More rows than one page of the migration, so paging is exercised.
        conn.execute(logs.insert(), [_row(f"e{i:04d}") for i in range(501)])
    _alembic(db, command.upgrade, "head")

    steps, changes = _raw(db)[0]
    assert steps[0]["kind"] == "import" and "provisioningStepType" not in steps[0]
    assert changes[1] == {"name": "title", "old": "Engineer", "new": "Principal"}
    with db.read() as conn:
        rows = list(conn.execute(sa.select(provisioning_logs).order_by(provisioning_logs.c.id)).mappings())
    assert len(rows) == 501
    last = rows[-1]
    assert last["steps"][1] == LogStep(
        "EntryExportUpdate", StepKind.ReferenceResolution, "success", "Updated manager"
    )
    assert last["modified_properties"][0] == PropertyChange("manager", None, "m-1")
    # The API shows what it showed before the migration, key for key.
    assert [step_wire(s) for s in last["steps"]] == STEPS
    assert [property_wire(p) for p in last["modified_properties"]] == CHANGES

    _alembic(db, command.downgrade, "0005")
    assert set(map(repr, _raw(db))) == {repr((STEPS, CHANGES))}
    _alembic(db, command.upgrade, "head")
