"""trigram indexes for contains() on the provisioning log's display names (PostgreSQL, when the
pg_trgm extension can be installed)

`contains(sourceIdentity/displayName,'...')` compiles to `lower(name) LIKE '%...%'`, which no
B-tree serves: without these indexes a selective `contains` scans the log. pg_trgm's GIN
indexes answer it from the index. Installing an extension needs a role allowed to create it;
where the database refuses, the migration goes on without the indexes (contains still works,
by scanning) and says so in the log. SQLite has no such index: there `contains` scans.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 03:50:00.000000
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("provisiond.store.migrations")

INDEXES = {
    "ix_provisioning_logs_source_name_trgm": "source_display_name",
    "ix_provisioning_logs_target_name_trgm": "target_display_name",
}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning("pg_trgm is not available (%s): contains() on log display names will scan", exc.orig)
        return
    savepoint.commit()
    for name, column in INDEXES.items():
        conn.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {name} ON provisioning_logs USING gin (lower({column}) gin_trgm_ops)"
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
