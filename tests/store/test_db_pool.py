"""The PostgreSQL pool pings a connection only after it sat idle (store/db.py): one the server
dropped while idle is replaced without a failed request; one dropped while in use moments ago
fails one statement as a disconnect, which invalidates the pool, and the next request works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from provisiond.store import db as db_module
from provisiond.store.db import UNAVAILABLE_ERRORS, Database


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    database.dispose()


def _backend_pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(db: Database, pids: set[int]) -> None:
    """Drop these server processes, from a connection outside the pool (as a restart would)."""
    admin = sa.create_engine(db.url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for pid in pids:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def test_a_connection_dropped_while_idle_is_pinged_and_replaced(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg)
    _terminate(pg, {dropped})
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", -1.0)  # every checkout counts as idle
    pids = {_backend_pid(pg) for _ in range(3)}
    assert dropped not in pids


def test_a_connection_used_moments_ago_is_not_pinged_and_a_drop_costs_one_request(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    pings: list[object] = []
    real_ping = pg.engine.dialect.do_ping
    monkeypatch.setattr(pg.engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    # Two connections in the pool, both used just now.
    with pg.transaction() as conn, pg.read() as other:
        pids = {
            int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()),
            int(other.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()),
        }
    _terminate(pg, pids)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(_backend_pid(pg) not in pids)
        except UNAVAILABLE_ERRORS:
            outcomes.append(False)
    assert pings == []
    assert outcomes == [False, True, True]
