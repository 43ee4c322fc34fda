"""each job's finished cycles (sync_job_executions): the history the console charts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_job_executions",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("began", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("exported", sa.Integer(), nullable=False),
        sa.Column("escrowed", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sync_job_executions")),
    )
    op.create_index("ix_sync_job_executions_job_seq", "sync_job_executions", ["job_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_job_executions_job_seq", table_name="sync_job_executions")
    op.drop_table("sync_job_executions")
