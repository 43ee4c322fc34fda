"""The provisioning log's $filter indexes (migration 0010) exist on both databases, and SQLite's
planner uses them for the comparisons store/odata_sql.py writes (lower() on both sides); on
PostgreSQL, contains() can read the trigram indexes of migration 0012."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from provisiond.store.db import Database

INDEXES = {
    "ix_provisioning_logs_source_name",
    "ix_provisioning_logs_target_name",
    "ix_provisioning_logs_job_lower_time",
    "ix_provisioning_logs_service_principal",
}


def test_the_filter_indexes_exist(db: Database) -> None:
    query = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'provisioning_logs'"
        if db.is_postgresql
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'provisioning_logs'"
    )
    with db.read() as conn:
        assert {row[0] for row in conn.execute(text(query))} >= INDEXES


def test_a_display_name_comparison_reads_its_index_on_sqlite(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    database.migrate()
    with database.read() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT id FROM provisioning_logs "
                "WHERE lower(source_display_name) = lower(:name) ORDER BY activity_date_time DESC LIMIT 50"
            ),
            {"name": "user1@contoso.example"},
        ).all()
    database.dispose()
    assert "ix_provisioning_logs_source_name" in " ".join(str(step) for step in plan)


def test_contains_on_a_display_name_can_use_the_trigram_index_on_postgresql(postgres_url: str) -> None:
    database = Database(postgres_url)
    with database.read() as conn:
        available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
    if available is None:
        database.dispose()
        pytest.skip("this PostgreSQL server has no pg_trgm extension (the contrib package)")
    database.migrate()
    with database.read() as conn:
        indexes = {row[0] for row in conn.execute(text("SELECT indexname FROM pg_indexes"))}
        assert {"ix_provisioning_logs_source_name_trgm", "ix_provisioning_logs_target_name_trgm"} <= indexes
        # The table is empty, so make the planner show whether the index can serve the LIKE
        # that store/odata_sql.py writes for contains().
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.execute(
            text(
                "EXPLAIN SELECT id FROM provisioning_logs "
                "WHERE lower(source_display_name) LIKE lower(:pattern) ESCAPE '\\'"
            ),
            {"pattern": "%99999@%"},
        ).all()
    database.dispose()
    assert "ix_provisioning_logs_source_name_trgm" in " ".join(str(step) for step in plan)
