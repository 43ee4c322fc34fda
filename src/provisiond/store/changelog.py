"""The directory change log: appended in the writing transaction, read by seq.

On PostgreSQL a sequence value is taken at insert time but becomes visible at commit, so two
concurrent writers could commit seq 11 before seq 10; a reader that moved its watermark to 11
would then never see 10. Every append therefore takes one transaction-scoped advisory lock:
writers commit in seq order, and a watermark never skips a change. SQLite serialises writers
already (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, func, select

from provisiond.store import notifications
from provisiond.store.tables import directory_changes

CHANGE_LOG_LOCK = 7493002


def append_change(
    conn: Connection,
    *,
    object_type: str,
    object_id: str,
    change_type: str,
    at: datetime,
    related_id: str | None = None,
) -> int:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHANGE_LOG_LOCK})")
    result = conn.execute(
        directory_changes.insert()
        .values(
            object_type=object_type,
            object_id=object_id,
            change_type=change_type,
            related_id=related_id,
            changed_date_time=at,
        )
        .returning(directory_changes.c.seq)
    )
    seq = int(result.scalar_one())
    notifications.announce(conn)
    return seq


def changes_after(conn: Connection, seq: int, *, limit: int = 1000) -> Sequence[Row]:
    """The next `limit` changes after `seq`, oldest first (an index range scan on the key)."""
    return conn.execute(
        select(directory_changes)
        .where(directory_changes.c.seq > seq)
        .order_by(directory_changes.c.seq)
        .limit(limit)
    ).all()


def last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(directory_changes.c.seq), 0))).scalar_one())
