"""Repository of engine state: leases, checkpoints, connector data store, escrows, staged
deletes and provisioning logs.

Every write a cycle makes goes through `guarded`, which proves inside the same transaction
that the job still has the generation the cycle started under (a restart or schema change
bumps it). So a cycle that lost the race to a restart can never write state the restart
meant to clear.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, func, or_, select, update

from provisiond.domain.job_state import StatusCode
from provisiond.store.db import Database
from provisiond.store.tables import (
    connector_data_store,
    deletion_exports,
    escrows,
    provisioning_logs,
    staged_deletes,
    sync_job_executions,
    sync_jobs,
)

Record = dict[str, Any]


class GenerationChanged(Exception):
    """The job was restarted (or deleted) since the cycle began: stop at this safe point."""


@contextmanager
def guarded(db: Database, job_id: str, generation: int) -> Iterator[Connection]:
    """A transaction in which the job is known to still be at `generation`."""
    with db.transaction() as conn:
        query = select(sync_jobs.c.generation).where(sync_jobs.c.id == job_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        current = conn.execute(query).scalar()
        if current != generation:
            raise GenerationChanged(job_id)
        yield conn


# Leases


def claim_due_job(conn: Connection, owner: str, now: datetime, lease_until: datetime) -> Record | None:
    """Take the lease of one job that is due, if any; `FOR UPDATE SKIP LOCKED` on PostgreSQL."""
    due = and_(
        sync_jobs.c.schedule_state == "Active",
        sync_jobs.c.cycle_due_at.is_not(None),
        sync_jobs.c.cycle_due_at <= now,
        or_(sync_jobs.c.lease_expires_at.is_(None), sync_jobs.c.lease_expires_at < now),
    )
    query = select(sync_jobs.c.id).where(due).order_by(sync_jobs.c.cycle_due_at).limit(1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = conn.execute(query).scalar()
    if job_id is None:
        return None
    result = conn.execute(
        update(sync_jobs)
        .where(and_(sync_jobs.c.id == job_id, due))
        .values(lease_owner=owner, lease_expires_at=lease_until)
    )
    if result.rowcount != 1:
        return None
    row = conn.execute(select(sync_jobs).where(sync_jobs.c.id == job_id)).mappings().first()
    return dict(row) if row else None


def take_lease(conn: Connection, job_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
    """Take the lease of this job whatever its schedule, if nobody holds it (provision on demand)."""
    result = conn.execute(
        update(sync_jobs)
        .where(
            and_(
                sync_jobs.c.id == job_id,
                or_(sync_jobs.c.lease_expires_at.is_(None), sync_jobs.c.lease_expires_at < now),
            )
        )
        .values(lease_owner=owner, lease_expires_at=lease_until)
    )
    return bool(result.rowcount)


def renew_lease(conn: Connection, job_id: str, owner: str, lease_until: datetime) -> bool:
    result = conn.execute(
        update(sync_jobs)
        .where(and_(sync_jobs.c.id == job_id, sync_jobs.c.lease_owner == owner))
        .values(lease_expires_at=lease_until)
    )
    return bool(result.rowcount)


def release_lease(conn: Connection, job_id: str, owner: str, values: Mapping[str, Any]) -> None:
    conn.execute(
        update(sync_jobs)
        .where(and_(sync_jobs.c.id == job_id, sync_jobs.c.lease_owner == owner))
        .values(lease_owner=None, lease_expires_at=None, **values)
    )


def update_job(conn: Connection, job_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(sync_jobs).where(sync_jobs.c.id == job_id).values(**values))


def get_job(conn: Connection, job_id: str) -> Record | None:
    row = conn.execute(select(sync_jobs).where(sync_jobs.c.id == job_id)).mappings().first()
    return dict(row) if row else None


def next_due(conn: Connection) -> datetime | None:
    """When the next active job can be claimed: its due time, or the end of the lease it is
    running under, whichever is later."""
    query = select(sync_jobs.c.cycle_due_at, sync_jobs.c.lease_expires_at).where(
        and_(sync_jobs.c.schedule_state == "Active", sync_jobs.c.cycle_due_at.is_not(None))
    )
    times = [max(due, lease) if lease is not None else due for due, lease in conn.execute(query)]
    return min(times, default=None)


def mark_active_jobs_due(
    conn: Connection, due: datetime, behind_seq: int, only: Iterable[str] | None = None
) -> int:
    """Bring forward the next cycle of active jobs whose watermark is behind the change log
    (`only`: of these jobs, those a change can touch).

    Quarantined jobs keep their reduced retry schedule; jobs in an initial cycle pick the
    changes up in the incremental cycle that follows.
    """
    query = select(sync_jobs.c.id, sync_jobs.c.status, sync_jobs.c.cycle_due_at).where(
        and_(
            sync_jobs.c.schedule_state == "Active",
            sync_jobs.c.watermark.is_not(None),
            sync_jobs.c.watermark < behind_seq,
        )
    )
    if only is not None:
        query = query.where(sync_jobs.c.id.in_(list(only)))
    ids = [
        row.id
        for row in conn.execute(query)
        if row.status.code is not StatusCode.Quarantine
        and (row.cycle_due_at is None or row.cycle_due_at > due)
    ]
    if ids:
        conn.execute(update(sync_jobs).where(sync_jobs.c.id.in_(ids)).values(cycle_due_at=due))
    return len(ids)


# Connector data store


def _by_source(conn: Connection, table: Table, job_id: str, source_ids: Sequence[str]) -> dict[str, Record]:
    """The job's rows of a per-object table (keyed by job and source id) for these objects."""
    if not source_ids:
        return {}
    query = select(table).where(and_(table.c.job_id == job_id, table.c.source_id.in_(source_ids)))
    return {row["source_id"]: dict(row) for row in conn.execute(query).mappings()}


def cds_get(conn: Connection, job_id: str, source_ids: Sequence[str]) -> dict[str, Record]:
    return _by_source(conn, connector_data_store, job_id, source_ids)


RowChange = tuple[str, Mapping[str, Any] | None]
"""(source id, the row it now has, or None for no row), in the order the changes happened."""


def _apply_changes(conn: Connection, table: Table, job_id: str, changes: Iterable[RowChange]) -> None:
    """Two statements for a whole batch: delete every touched source id, insert the final rows."""
    final: dict[str, Mapping[str, Any] | None] = {}
    for source_id, row in changes:
        final[source_id] = row
    if not final:
        return
    conn.execute(delete(table).where(and_(table.c.job_id == job_id, table.c.source_id.in_(sorted(final)))))
    rows = [{"job_id": job_id, **row} for row in final.values() if row is not None]
    if rows:
        conn.execute(table.insert(), rows)


def cds_apply(conn: Connection, job_id: str, changes: Iterable[RowChange]) -> None:
    _apply_changes(conn, connector_data_store, job_id, changes)


def escrows_apply(conn: Connection, job_id: str, changes: Iterable[RowChange]) -> None:
    _apply_changes(conn, escrows, job_id, changes)


def staged_apply(conn: Connection, job_id: str, changes: Iterable[RowChange]) -> None:
    _apply_changes(conn, staged_deletes, job_id, changes)


def cds_references_page(conn: Connection, job_id: str, after: str | None, limit: int) -> list[Record]:
    """Rows in source id order after `after`, with only source_id, object_type, state and
    references: what deciding whether a manager or members changed needs (the few rows that
    changed are read whole afterwards)."""
    table = connector_data_store
    query = select(table.c.source_id, table.c.object_type, table.c.state, table.c.references).where(
        table.c.job_id == job_id
    )
    if after is not None:
        query = query.where(table.c.source_id > after)
    rows = conn.execute(query.order_by(table.c.source_id).limit(limit)).mappings()
    return [dict(r) for r in rows]


def cds_keys_page(conn: Connection, job_id: str, after: str | None, limit: int) -> list[tuple[str, str]]:
    """(source id, object type) of rows in source id order after `after`: no JSON decoded, for
    the sweep that only asks which source ids are gone."""
    table = connector_data_store
    query = select(table.c.source_id, table.c.object_type).where(table.c.job_id == job_id)
    if after is not None:
        query = query.where(table.c.source_id > after)
    rows = conn.execute(query.order_by(table.c.source_id).limit(limit))
    return [(r.source_id, r.object_type) for r in rows]


def cds_links(conn: Connection, job_id: str, source_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """source id -> (target id, state) of these rows: what reference resolution needs of the
    objects a manager or member points at, without decoding their JSON columns."""
    if not source_ids:
        return {}
    table = connector_data_store
    query = select(table.c.source_id, table.c.target_id, table.c.state).where(
        and_(table.c.job_id == job_id, table.c.source_id.in_(source_ids))
    )
    return {r.source_id: (r.target_id, r.state) for r in conn.execute(query)}


def cds_sources_of_targets(
    conn: Connection, job_id: str, object_type: str, target_ids: Sequence[str]
) -> dict[str, str]:
    """target id -> source id of the managed objects of this type among these target ids (an
    app may number users and groups apart, so the same id can name one of each)."""
    if not target_ids:
        return {}
    table = connector_data_store
    query = select(table.c.target_id, table.c.source_id).where(
        and_(
            table.c.job_id == job_id,
            table.c.object_type == object_type,
            table.c.target_id.in_(target_ids),
        )
    )
    return {r.target_id: r.source_id for r in conn.execute(query)}


def cds_counts(conn: Connection, job_id: str) -> dict[str, int]:
    query = (
        select(connector_data_store.c.object_type, func.count())
        .where(connector_data_store.c.job_id == job_id)
        .group_by(connector_data_store.c.object_type)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query)}


def cds_clear(conn: Connection, job_id: str) -> None:
    conn.execute(delete(connector_data_store).where(connector_data_store.c.job_id == job_id))


# Escrows


def escrows_get(conn: Connection, job_id: str, source_ids: Sequence[str]) -> dict[str, Record]:
    return _by_source(conn, escrows, job_id, source_ids)


def escrows_due(conn: Connection, job_id: str, now: datetime, limit: int = 10_000) -> list[Record]:
    query = (
        select(escrows)
        .where(and_(escrows.c.job_id == job_id, escrows.c.next_retry_date_time <= now))
        .order_by(escrows.c.next_retry_date_time)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def escrow_counts(conn: Connection, job_id: str) -> tuple[int, int]:
    """(object failures, reference failures) currently escrowed."""
    query = (
        select(escrows.c.reference, func.count())
        .where(escrows.c.job_id == job_id)
        .group_by(escrows.c.reference)
    )
    counts = {bool(row[0]): int(row[1]) for row in conn.execute(query)}
    return counts.get(False, 0), counts.get(True, 0)


def escrows_clear(conn: Connection, job_id: str) -> None:
    conn.execute(delete(escrows).where(escrows.c.job_id == job_id))


# Staged deletes


def staged_remove(conn: Connection, job_id: str, source_id: str) -> None:
    conn.execute(
        delete(staged_deletes).where(
            and_(staged_deletes.c.job_id == job_id, staged_deletes.c.source_id == source_id)
        )
    )


def staged_get(conn: Connection, job_id: str, source_ids: Sequence[str]) -> dict[str, Record]:
    return _by_source(conn, staged_deletes, job_id, source_ids)


def staged_in_states(conn: Connection, job_id: str, states: Iterable[str]) -> list[Record]:
    query = (
        select(staged_deletes)
        .where(and_(staged_deletes.c.job_id == job_id, staged_deletes.c.state.in_(list(states))))
        .order_by(staged_deletes.c.source_id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def staged_set_state(conn: Connection, job_id: str, from_states: Iterable[str], to_state: str) -> int:
    result = conn.execute(
        update(staged_deletes)
        .where(and_(staged_deletes.c.job_id == job_id, staged_deletes.c.state.in_(list(from_states))))
        .values(state=to_state)
    )
    return int(result.rowcount or 0)


# The deletion window


def deletion_exports_record(conn: Connection, job_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Remember exported disables and deletes ({source_id, action, exported_date_time})."""
    if rows:
        conn.execute(deletion_exports.insert(), [{"job_id": job_id, **row} for row in rows])


def deletion_exports_count(conn: Connection, job_id: str, since: datetime) -> int:
    """Disables and deletes the job exported after `since` (the start of its window)."""
    query = select(func.count()).where(
        and_(deletion_exports.c.job_id == job_id, deletion_exports.c.exported_date_time > since)
    )
    return int(conn.execute(query).scalar() or 0)


def deletion_exports_prune(conn: Connection, job_id: str, before: datetime) -> None:
    conn.execute(
        delete(deletion_exports).where(
            and_(deletion_exports.c.job_id == job_id, deletion_exports.c.exported_date_time <= before)
        )
    )


def deletion_exports_clear(conn: Connection, job_id: str) -> None:
    """ForceDeletes: the administrator approved what was held, so the window starts again."""
    conn.execute(delete(deletion_exports).where(deletion_exports.c.job_id == job_id))


# Provisioning logs


def logs_insert(conn: Connection, records: Sequence[Mapping[str, Any]]) -> None:
    if records:
        conn.execute(provisioning_logs.insert(), list(records))


def logs_of_cycle(conn: Connection, cycle_id: str, source_ids: Sequence[str]) -> dict[str, Record]:
    """The entries a cycle already wrote for these objects, by source id."""
    if not source_ids:
        return {}
    query = select(provisioning_logs).where(
        and_(provisioning_logs.c.cycle_id == cycle_id, provisioning_logs.c.source_id.in_(source_ids))
    )
    return {row["source_id"]: dict(row) for row in conn.execute(query).mappings()}


def logs_replace(conn: Connection, records: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite existing entries (by id) with the values they now have, in one statement."""
    if not records:
        return
    columns = [c.name for c in provisioning_logs.columns if c.name != "id"]
    statement = (
        update(provisioning_logs)
        .where(provisioning_logs.c.id == bindparam("entry_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )
    conn.execute(
        statement,
        [{"entry_id": r["id"], **{f"new_{name}": r[name] for name in columns}} for r in records],
    )


def logs_prune(conn: Connection, job_id: str, older_than: datetime) -> int:
    """Drop a job's provisioning logs older than its retention."""
    result = conn.execute(
        delete(provisioning_logs).where(
            and_(provisioning_logs.c.job_id == job_id, provisioning_logs.c.activity_date_time < older_than)
        )
    )
    return int(result.rowcount or 0)


def logs_prune_orphans(conn: Connection, older_than: datetime) -> int:
    """Drop old provisioning logs of jobs that no longer exist (kept meanwhile as audit history)."""
    result = conn.execute(
        delete(provisioning_logs).where(
            and_(
                provisioning_logs.c.activity_date_time < older_than,
                provisioning_logs.c.job_id.not_in(select(sync_jobs.c.id)),
            )
        )
    )
    return int(result.rowcount or 0)


def delete_job_state(conn: Connection, job_id: str) -> None:
    """Everything the engine keeps for a job (its provisioning logs stay, as audit history)."""
    for table in (connector_data_store, escrows, staged_deletes, deletion_exports, sync_job_executions):
        conn.execute(delete(table).where(table.c.job_id == job_id))
