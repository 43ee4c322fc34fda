"""indexes for $filter on provisioning logs: lower() of the source and target display names and
of the job id (with the time), and the service principal id

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_provisioning_logs_source_name", "provisioning_logs", [sa.text("lower(source_display_name)")]
    )
    op.create_index(
        "ix_provisioning_logs_target_name", "provisioning_logs", [sa.text("lower(target_display_name)")]
    )
    op.create_index(
        "ix_provisioning_logs_job_lower_time",
        "provisioning_logs",
        [sa.text("lower(job_id)"), "activity_date_time"],
    )
    op.create_index("ix_provisioning_logs_service_principal", "provisioning_logs", ["service_principal_id"])


def downgrade() -> None:
    for name in (
        "ix_provisioning_logs_service_principal",
        "ix_provisioning_logs_job_lower_time",
        "ix_provisioning_logs_target_name",
        "ix_provisioning_logs_source_name",
    ):
        op.drop_index(name, table_name="provisioning_logs")
