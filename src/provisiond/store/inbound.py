"""Repository of inbound staging: the SCIM user records bulkUpload accepted for a job.

Rows are appended in the upload's transaction (so they are durable before the 202) and read
by the job's cycles in `seq` order, oldest first; a cycle deletes the rows it applied in the
same transaction as the directory writes they caused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from provisiond.store.tables import escrows, inbound_records, staged_deletes

Record = dict[str, Any]

RECORD = "record"
REFERENCE = "reference"


def stage(conn: Connection, job_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append records (upload_id, bulk_id, external_id, kind, data, received_date_time)."""
    if rows:
        conn.execute(
            inbound_records.insert(),
            [{"job_id": job_id, "escrowed": False, **row} for row in rows],
        )


def count(conn: Connection, job_id: str, kind: str | None = None) -> int:
    query = select(func.count()).select_from(inbound_records).where(inbound_records.c.job_id == job_id)
    if kind is not None:
        query = query.where(inbound_records.c.kind == kind)
    return int(conn.execute(query).scalar_one())


def pending(
    conn: Connection, job_id: str, now: datetime, limit: int, *, upto: int, after: int = 0
) -> list[Record]:
    """The records of up to `limit` externalIds a cycle may apply now, oldest first.

    Only records up to seq `upto` (those present when the cycle began) count, and only
    externalIds whose oldest such record is after `after` (a cursor through one cycle's pages).
    An externalId is ready unless its records are escrowed with a retry not yet due, or one
    of its disables is held by the deletion guard. A new record for an escrowed externalId
    makes it ready at once: the client may have sent the fix.
    """
    base = and_(
        inbound_records.c.job_id == job_id,
        inbound_records.c.kind == RECORD,
        inbound_records.c.seq <= upto,
    )
    held = select(staged_deletes.c.source_id).where(
        and_(staged_deletes.c.job_id == job_id, staged_deletes.c.state == "held")
    )
    waiting = select(escrows.c.source_id).where(
        and_(escrows.c.job_id == job_id, escrows.c.next_retry_date_time > now)
    )
    fresh = select(inbound_records.c.external_id).where(and_(base, inbound_records.c.escrowed.is_(False)))
    first = func.min(inbound_records.c.seq)
    ready = (
        select(inbound_records.c.external_id)
        .where(
            and_(
                base,
                inbound_records.c.external_id.not_in(held),
                or_(inbound_records.c.external_id.not_in(waiting), inbound_records.c.external_id.in_(fresh)),
            )
        )
        .group_by(inbound_records.c.external_id)
        .having(first > after)
        .order_by(first)
        .limit(limit)
    )
    ids = [row[0] for row in conn.execute(ready)]
    if not ids:
        return []
    query = (
        select(inbound_records)
        .where(and_(base, inbound_records.c.external_id.in_(ids)))
        .order_by(inbound_records.c.seq)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def max_seq(conn: Connection, job_id: str) -> int | None:
    value = conn.execute(
        select(func.max(inbound_records.c.seq)).where(inbound_records.c.job_id == job_id)
    ).scalar()
    return int(value) if value is not None else None


def references(conn: Connection, job_id: str) -> list[Record]:
    """Manager links still waiting for their manager, oldest first."""
    query = (
        select(inbound_records)
        .where(and_(inbound_records.c.job_id == job_id, inbound_records.c.kind == REFERENCE))
        .order_by(inbound_records.c.seq)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def remove(conn: Connection, seqs: Iterable[int]) -> None:
    ids = list(seqs)
    if ids:
        conn.execute(delete(inbound_records).where(inbound_records.c.seq.in_(ids)))


def remove_references_of(conn: Connection, job_id: str, external_ids: Iterable[str]) -> None:
    """A newer manager value supersedes a link still waiting for the old one."""
    ids = list(external_ids)
    if ids:
        conn.execute(
            delete(inbound_records).where(
                and_(
                    inbound_records.c.job_id == job_id,
                    inbound_records.c.kind == REFERENCE,
                    inbound_records.c.external_id.in_(ids),
                )
            )
        )


def mark_escrowed(conn: Connection, seqs: Iterable[int]) -> None:
    ids = list(seqs)
    if ids:
        conn.execute(update(inbound_records).where(inbound_records.c.seq.in_(ids)).values(escrowed=True))


def has_fresh(conn: Connection, job_id: str) -> bool:
    """Whether records arrived that no cycle has tried yet."""
    query = (
        select(inbound_records.c.seq)
        .where(
            and_(
                inbound_records.c.job_id == job_id,
                inbound_records.c.kind == RECORD,
                inbound_records.c.escrowed.is_(False),
            )
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def purge(conn: Connection, job_id: str, *, keep_external_ids: Iterable[str] = ()) -> int:
    """Drop the job's staged records (restart of an idle job, job deletion)."""
    keep = list(keep_external_ids)
    condition = inbound_records.c.job_id == job_id
    if keep:
        condition = and_(condition, inbound_records.c.external_id.not_in(keep))
    result = conn.execute(delete(inbound_records).where(condition))
    return int(result.rowcount or 0)
