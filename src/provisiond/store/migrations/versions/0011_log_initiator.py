"""provisioning log initiator columns (initiatedBy), filled in for the entries already written

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 03:30:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SERVICE_NAME = "Azure AD Provisioning Service"


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite 3.35+ drops columns too): a batch copy of
    # the table would lose migration 0010's expression indexes on SQLite.
    op.add_column("provisioning_logs", sa.Column("initiated_by_id", sa.String(length=256), nullable=True))
    op.add_column(
        "provisioning_logs", sa.Column("initiated_by_display_name", sa.String(length=256), nullable=True)
    )
    op.add_column("provisioning_logs", sa.Column("initiated_by_type", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_provisioning_logs_initiator_name",
        "provisioning_logs",
        [sa.text("lower(initiated_by_display_name)")],
    )
    logs = sa.table(
        "provisioning_logs",
        sa.column("id", sa.String),
        sa.column("steps", sa.JSON),
        sa.column("initiated_by_id", sa.String),
        sa.column("initiated_by_display_name", sa.String),
        sa.column("initiated_by_type", sa.String),
    )
    conn = op.get_bind()
    # Entries of provision on demand named their caller in the Import step's details; the
    # rest are the provisioning service's.
    on_demand = conn.execute(
        sa.select(logs.c.id, logs.c.steps).where(sa.cast(logs.c.steps, sa.Text).like("%InitiatedBy%"))
    ).all()
    for log_id, steps in on_demand:
        steps = json.loads(steps) if isinstance(steps, str) else steps
        for step in steps or []:
            details = step.get("details") or {}
            if step.get("kind") == "import" and details.get("InitiatedBy") is not None:
                conn.execute(
                    logs.update()
                    .where(logs.c.id == log_id)
                    .values(
                        initiated_by_id=details["InitiatedBy"],
                        initiated_by_type=details.get("InitiatedByType"),
                    )
                )
                break
    conn.execute(
        logs.update()
        .where(logs.c.initiated_by_type.is_(None))
        .values(initiated_by_id="", initiated_by_display_name=SERVICE_NAME, initiated_by_type="system")
    )


def downgrade() -> None:
    op.drop_index("ix_provisioning_logs_initiator_name", table_name="provisioning_logs")
    for column in ("initiated_by_type", "initiated_by_display_name", "initiated_by_id"):
        op.drop_column("provisioning_logs", column)
