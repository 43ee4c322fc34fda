"""The reads that decide which jobs a batch of directory changes can touch (engine.wakeups
decides; this module only answers): the active jobs behind the change log, the service
principals an object is assigned to (directly, or through a group it is a direct member of),
and which jobs manage an object (hold it in their connector data store)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Connection, and_, select

from provisiond.store.tables import app_role_assignments, connector_data_store, group_members, sync_jobs

CHUNK = 500  # ids per IN list

T = TypeVar("T")


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def active_jobs_behind(conn: Connection, head: int) -> dict[str, tuple[str, int]]:
    """job id -> (service principal id, watermark) of the active jobs past their initial cycle
    whose watermark is behind `head`."""
    query = select(sync_jobs.c.id, sync_jobs.c.service_principal_id, sync_jobs.c.watermark).where(
        and_(
            sync_jobs.c.schedule_state == "Active",
            sync_jobs.c.watermark.is_not(None),
            sync_jobs.c.watermark < head,
        )
    )
    return {row.id: (row.service_principal_id, int(row.watermark)) for row in conn.execute(query)}


def assigned_resources(conn: Connection, object_ids: Collection[str]) -> set[str]:
    """The service principals these objects are assigned to, directly or through a group they
    are a direct member of (nested groups do not count, as in Entra)."""
    out: set[str] = set()
    for ids in _chunks(sorted(object_ids)):
        direct = select(app_role_assignments.c.resource_id).where(
            app_role_assignments.c.principal_id.in_(ids)
        )
        via_group = (
            select(app_role_assignments.c.resource_id)
            .join(group_members, group_members.c.group_id == app_role_assignments.c.principal_id)
            .where(group_members.c.member_id.in_(ids))
        )
        out.update(conn.execute(direct.union(via_group)).scalars())
    return out


def jobs_managing(conn: Connection, job_ids: Sequence[str], object_ids: Collection[str]) -> set[str]:
    """Which of these jobs hold one of these objects in their connector data store."""
    out: set[str] = set()
    if not job_ids:
        return out
    for ids in _chunks(sorted(object_ids)):
        query = (
            select(connector_data_store.c.job_id)
            .where(
                and_(
                    connector_data_store.c.job_id.in_(list(job_ids)),
                    connector_data_store.c.source_id.in_(ids),
                )
            )
            .distinct()
        )
        out.update(conn.execute(query).scalars())
    return out
