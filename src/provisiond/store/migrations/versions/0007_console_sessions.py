"""console sessions and one-time sign-in grants (the admin console at /console)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        op.f("ix_console_sessions_expires_date_time"), "console_sessions", ["expires_date_time"], unique=False
    )
    op.create_table(
        "console_grants",
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("secret_hash", name=op.f("pk_console_grants")),
    )
    op.create_index(
        op.f("ix_console_grants_expires_date_time"), "console_grants", ["expires_date_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_grants_expires_date_time"), table_name="console_grants")
    op.drop_table("console_grants")
    op.drop_index(op.f("ix_console_sessions_expires_date_time"), table_name="console_sessions")
    op.drop_table("console_sessions")
