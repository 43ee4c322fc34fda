"""Previews of a job's next cycle and the actions they listed (tables sync_previews and
sync_preview_actions). A preview's row is written when it starts, moved as it progresses and
completed once; its actions are appended in pages while it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from provisiond.store.tables import sync_preview_actions, sync_previews

Record = dict[str, Any]


def insert(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(sync_previews.insert().values(**values))


def update(conn: Connection, preview_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(sync_previews.update().where(sync_previews.c.id == preview_id).values(**values))


def get(conn: Connection, job_id: str, preview_id: str) -> Record | None:
    row = (
        conn.execute(
            select(sync_previews).where(sync_previews.c.id == preview_id, sync_previews.c.job_id == job_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def append_actions(
    conn: Connection, preview_id: str, first_seq: int, rows: Sequence[Mapping[str, Any]]
) -> None:
    conn.execute(
        sync_preview_actions.insert(),
        [{"preview_id": preview_id, "seq": first_seq + i, **row} for i, row in enumerate(rows)],
    )


def actions(
    conn: Connection, preview_id: str, *, after: int | None, limit: int, action: str | None = None
) -> list[Record]:
    """The listed actions in the order they were planned, after `after` (a seq)."""
    query = select(sync_preview_actions).where(sync_preview_actions.c.preview_id == preview_id)
    if after is not None:
        query = query.where(sync_preview_actions.c.seq > after)
    if action is not None:
        query = query.where(sync_preview_actions.c.action == action)
    query = query.order_by(sync_preview_actions.c.seq).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def prune(conn: Connection, created_before: datetime) -> int:
    """Forget previews created before `created_before`, with their actions."""
    old = select(sync_previews.c.id).where(sync_previews.c.created_date_time < created_before)
    conn.execute(delete(sync_preview_actions).where(sync_preview_actions.c.preview_id.in_(old)))
    return conn.execute(
        delete(sync_previews).where(sync_previews.c.created_date_time < created_before)
    ).rowcount
