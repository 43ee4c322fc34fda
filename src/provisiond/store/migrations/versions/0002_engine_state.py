"""engine state: leases, connector data store, escrows, staged deletes, provisioning logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:46:58.310633
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "connector_data_store",
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("exported", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "source_id", name=op.f("pk_connector_data_store")),
    )
    op.create_table(
        "escrows",
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_retry_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "source_id", name=op.f("pk_escrows")),
    )
    op.create_table(
        "provisioning_logs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("service_principal_id", sa.String(length=64), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("activity_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("error_category", sa.String(length=64), nullable=True),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_display_name", sa.String(length=256), nullable=True),
        sa.Column("target_id", sa.String(length=256), nullable=True),
        sa.Column("target_type", sa.String(length=128), nullable=True),
        sa.Column("target_display_name", sa.String(length=256), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("modified_properties", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_logs")),
    )
    with op.batch_alter_table("provisioning_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisioning_logs_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index("ix_provisioning_logs_job_time", ["job_id", "activity_date_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_provisioning_logs_source_id"), ["source_id"], unique=False)
        batch_op.create_index("ix_provisioning_logs_time", ["activity_date_time"], unique=False)

    op.create_table(
        "staged_deletes",
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("staged_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "source_id", name=op.f("pk_staged_deletes")),
    )
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("initial_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("initial_cursor", sa.JSON(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_column("initial_cursor")
        batch_op.drop_column("initial_seq")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("generation")

    op.drop_table("staged_deletes")
    with op.batch_alter_table("provisioning_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_logs_time")
        batch_op.drop_index(batch_op.f("ix_provisioning_logs_source_id"))
        batch_op.drop_index("ix_provisioning_logs_job_time")
        batch_op.drop_index(batch_op.f("ix_provisioning_logs_cycle_id"))

    op.drop_table("provisioning_logs")
    op.drop_table("escrows")
    op.drop_table("connector_data_store")
