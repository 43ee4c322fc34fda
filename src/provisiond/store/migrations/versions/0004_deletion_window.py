"""deletion window: the disables and deletes each job exported, for the rolling-window guard;
connector data store rows by target id, for re-matched references

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletion_exports",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("exported_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_deletion_exports")),
    )
    with op.batch_alter_table("deletion_exports", schema=None) as batch_op:
        batch_op.create_index("ix_deletion_exports_job_time", ["job_id", "exported_date_time"], unique=False)
    with op.batch_alter_table("connector_data_store", schema=None) as batch_op:
        batch_op.create_index("ix_connector_data_store_job_target", ["job_id", "target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connector_data_store", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_data_store_job_target")
    with op.batch_alter_table("deletion_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_deletion_exports_job_time")
    op.drop_table("deletion_exports")
