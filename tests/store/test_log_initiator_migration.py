"""Migration 0011: the provisioning log's initiator columns, filled in for entries written
before them (provision on demand from the Import step's details, the rest the provisioning
service), on SQLite and on PostgreSQL; and dropped again on downgrade."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from tests.store.test_job_status_migration import _alembic
from tests.store.test_log_steps_migration import _row

from provisiond.store.db import Database


def test_existing_entries_get_their_initiator_and_downgrade_drops_it(db: Database) -> None:
    _alembic(db, command.downgrade, "0010")
    on_demand = _row("e-on-demand")
    on_demand["steps"] = [
        {
            "name": "EntryImport",
            "kind": "import",
            "status": "success",
            "description": "Read",
            "details": {"InitiatedBy": "admin-1", "InitiatedByType": "user"},
        }
    ]
    cycle = _row("e-cycle")
    cycle["steps"] = [
        {"name": "EntryImport", "kind": "import", "status": "success", "description": "Read", "details": {}}
    ]
    json_logs = sa.table(
        "provisioning_logs",
        *(sa.column(n, sa.JSON if n in ("steps", "modified_properties") else None) for n in _row("x")),
    )
    with db.engine.begin() as conn:
        conn.execute(json_logs.insert(), [on_demand, cycle])
    _alembic(db, command.upgrade, "head")

    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, initiated_by_id, initiated_by_display_name, initiated_by_type "
                "FROM provisioning_logs ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("e-cycle", "", "Azure AD Provisioning Service", "system"),
        ("e-on-demand", "admin-1", None, "user"),
    ]

    _alembic(db, command.downgrade, "0010")
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("provisioning_logs")}
    assert not columns & {"initiated_by_id", "initiated_by_display_name", "initiated_by_type"}
    _alembic(db, command.upgrade, "head")
