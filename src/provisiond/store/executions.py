"""Each job's finished cycles (table sync_job_executions): appended by the status writer as a
cycle ends, the newest `KEPT` per job kept, read newest first for the console's chart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select

from provisiond.domain.job_state import Execution
from provisiond.store.tables import staged_deletes, sync_job_executions

KEPT = 100
Record = dict[str, Any]


def record(conn: Connection, job_id: str, execution: Execution) -> None:
    """Append a finished cycle, with the disables and deletes held at its end; forget the job's
    cycles beyond the newest `KEPT`."""
    held = conn.execute(
        select(func.count()).where(staged_deletes.c.job_id == job_id, staged_deletes.c.state == "held")
    ).scalar_one()
    conn.execute(
        sync_job_executions.insert().values(
            job_id=job_id,
            began=execution.began,
            ended=execution.ended,
            result=execution.result.value,
            imported=execution.imported,
            exported=execution.exported,
            escrowed=execution.escrowed_raw,
            held=int(held),
            error_code=execution.error.code if execution.error else None,
        )
    )
    t = sync_job_executions
    oldest_kept = (
        select(t.c.seq).where(t.c.job_id == job_id).order_by(t.c.seq.desc()).offset(KEPT - 1).limit(1)
    ).scalar_subquery()
    conn.execute(delete(t).where(t.c.job_id == job_id, t.c.seq < oldest_kept))


def recent(conn: Connection, job_id: str, limit: int) -> list[Record]:
    """The job's newest finished cycles, newest first."""
    t = sync_job_executions
    query = select(t).where(t.c.job_id == job_id).order_by(t.c.seq.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]
