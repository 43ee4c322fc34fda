"""previews of a job's next cycle (POST .../jobs/{jobId}/preview) and their planned actions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_previews",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("service_principal_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reset_scope", sa.Integer(), nullable=True),
        sa.Column("schema_changed", sa.Boolean(), nullable=False),
        sa.Column("full_pass", sa.Boolean(), nullable=True),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("guard", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_date_time", TS, nullable=False),
        sa.Column("updated_date_time", TS, nullable=False),
        sa.Column("completed_date_time", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_previews")),
    )
    op.create_index(op.f("ix_sync_previews_job_id"), "sync_previews", ["job_id"], unique=False)
    op.create_index(
        op.f("ix_sync_previews_created_date_time"), "sync_previews", ["created_date_time"], unique=False
    )
    op.create_table(
        "sync_preview_actions",
        sa.Column("preview_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("target_id", sa.String(length=256), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("preview_id", "seq", name=op.f("pk_sync_preview_actions")),
    )


def downgrade() -> None:
    op.drop_table("sync_preview_actions")
    op.drop_index(op.f("ix_sync_previews_created_date_time"), table_name="sync_previews")
    op.drop_index(op.f("ix_sync_previews_job_id"), table_name="sync_previews")
    op.drop_table("sync_previews")
