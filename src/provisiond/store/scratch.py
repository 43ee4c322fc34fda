"""A private, throw-away copy of one job's engine state: what a preview runs a cycle against.

The copy lives in a SQLite file of its own in a temporary directory, with the same tables as
the real store, so the cycle's own code (connector data store reads, guarded batches, the
deletion window, provisioning logs) runs unchanged and writes only there. Rows are copied in
pages, so a large connector data store never sits in memory at once, and JSON columns as the
text they are stored as. `close()` deletes the file; nothing of it outlives the preview.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Table, Text, cast, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.sql.expression import TableClause

from provisiond.store.db import Database
from provisiond.store.tables import (
    connector_data_store,
    deletion_exports,
    escrows,
    metadata,
    provisioning_logs,
    staged_deletes,
    sync_jobs,
)

COPY_PAGE = 2000
# The job's engine state: what a cycle reads and writes besides the directory.
STATE_TABLES: tuple[Table, ...] = (connector_data_store, escrows, staged_deletes, deletion_exports)


class ScratchState:
    """A scratch database holding a copy of one job's row and engine state."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="provisiond-preview-"))
        self.db = Database(f"sqlite:///{self._dir / 'state.db'}")
        metadata.create_all(self.db.engine, tables=[sync_jobs, *STATE_TABLES, provisioning_logs])

    def copy_job(self, source: Database, job_id: str) -> dict[str, Any]:
        """Copy the job's row and its engine state from `source`; returns the job's row."""
        with source.read() as src:
            job = src.execute(sync_jobs.select().where(sync_jobs.c.id == job_id)).mappings().first()
            if job is None:
                raise LookupError(job_id)
            with self.db.transaction() as dst:
                dst.execute(sync_jobs.insert(), [dict(job)])
            for table in STATE_TABLES:
                insert = _as_text(table).insert()
                for page in _pages(src, table, job_id):
                    with self.db.transaction() as dst:
                        dst.execute(insert, page)
        return dict(job)

    def log_outlines(self, cycle_id: str, after: str | None, limit: int = COPY_PAGE) -> list[dict[str, Any]]:
        """The cycle's provisioning log entries (one per object) in pages by entry id, without
        their steps and changes: what deciding an entry's action needs, at a fraction of the cost."""
        log = provisioning_logs.c
        query = select(log.id, log.source_id, log.source_type, log.action, log.status, log.error_code)
        query = query.where(log.cycle_id == cycle_id)
        if after is not None:
            query = query.where(log.id > after)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(query.order_by(log.id).limit(limit)).mappings()]

    def logs(self, ids: list[str]) -> list[dict[str, Any]]:
        """Whole entries, by entry id, in that order."""
        with self.db.read() as conn:
            rows = conn.execute(provisioning_logs.select().where(provisioning_logs.c.id.in_(ids))).mappings()
            by_id = {r["id"]: dict(r) for r in rows}
        return [by_id[i] for i in ids]

    def close(self) -> None:
        self.db.engine.dispose()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextmanager
def scratch_state() -> Iterator[ScratchState]:
    scratch = ScratchState()
    try:
        yield scratch
    finally:
        scratch.close()


def _as_text(table: Table) -> TableClause:
    """`table` with its JSON columns as text: JSON is copied as the text it is stored as, not
    decoded and encoded again (most of a large connector data store's copying cost)."""
    return sa_table(
        table.name, *(sa_column(c.name, Text if isinstance(c.type, JSON) else c.type) for c in table.columns)
    )


def _pages(conn: Any, table: Table, job_id: str) -> Iterator[list[dict[str, Any]]]:
    """The job's rows of `table` in pages of `COPY_PAGE`, by their key within the job (keyset
    paging: every state table has one such column, source_id or seq)."""
    [key] = [c for c in table.primary_key.columns if c.name != "job_id"]
    last: Any = None
    columns = [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.columns]
    while True:
        query = select(*columns).where(table.c.job_id == job_id)
        if last is not None:
            query = query.where(key > last)
        rows = [dict(r) for r in conn.execute(query.order_by(key).limit(COPY_PAGE)).mappings()]
        if not rows:
            return
        yield rows
        last = rows[-1][key.name]
