"""Repository of provisioning log records: newest first, keyset-paged, filtered by OData."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, and_, or_, select

from provisiond.graph.odata import FilterNode
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import provisioning_logs, service_principals

Record = dict[str, Any]

t = provisioning_logs
FILTER_COLUMNS: dict[str, Column[Any]] = {
    "id": t.c.id,
    "jobId": t.c.job_id,
    "cycleId": t.c.cycle_id,
    "changeId": t.c.change_id,
    "activityDateTime": t.c.activity_date_time,
    "provisioningAction": t.c.action,
    "statusInfo/status": t.c.status,
    "provisioningStatusInfo/status": t.c.status,
    "sourceIdentity/id": t.c.source_id,
    "targetIdentity/id": t.c.target_id,
    "servicePrincipal/id": t.c.service_principal_id,
}


def page(
    conn: Connection, node: FilterNode | None, after: tuple[datetime, str] | None, limit: int
) -> list[Record]:
    query = select(t)
    if node is not None:
        query = query.where(compile_filter(node, FILTER_COLUMNS))
    if after is not None:
        time, log_id = after
        query = query.where(
            or_(t.c.activity_date_time < time, and_(t.c.activity_date_time == time, t.c.id > log_id))
        )
    query = query.order_by(t.c.activity_date_time.desc(), t.c.id).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def get(conn: Connection, log_id: str) -> Record | None:
    row = conn.execute(select(t).where(t.c.id == log_id)).mappings().first()
    return dict(row) if row is not None else None


def service_principals_of(conn: Connection, ids: Iterable[str]) -> dict[str, tuple[str | None, str]]:
    """(displayName, appId) of each service principal the entries name, by id."""
    ids = list(ids)
    if not ids:
        return {}
    sp = service_principals.c
    rows = conn.execute(select(sp.id, sp.display_name, sp.app_id).where(sp.id.in_(ids)))
    return {r.id: (r.display_name, r.app_id) for r in rows}
