"""Repository of provisioning log records: by time (newest first by default), keyset-paged,
filtered by OData."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from provisiond.graph.odata import FilterNode
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import provisioning_logs, service_principals

Record = dict[str, Any]

t = provisioning_logs
FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": t.c.id,
    "jobId": t.c.job_id,
    "cycleId": t.c.cycle_id,
    "changeId": t.c.change_id,
    "activityDateTime": t.c.activity_date_time,
    "provisioningAction": t.c.action,
    "statusInfo/status": t.c.status,
    "provisioningStatusInfo/status": t.c.status,
    "sourceIdentity/id": t.c.source_id,
    "sourceIdentity/displayName": t.c.source_display_name,
    "sourceIdentity/identityType": t.c.source_type,
    "targetIdentity/id": t.c.target_id,
    "targetIdentity/displayName": t.c.target_display_name,
    "targetIdentity/identityType": t.c.target_type,
    "servicePrincipal/id": t.c.service_principal_id,
    # The name lives on the service principal: a correlated subquery (by primary key), NULL once
    # the service principal is gone, so the filter's NULL rules hold as for a column.
    "servicePrincipal/displayName": select(service_principals.c.display_name)
    .where(service_principals.c.id == t.c.service_principal_id)
    .scalar_subquery(),
}


def page(
    conn: Connection,
    node: FilterNode | None,
    after: tuple[datetime, str] | None,
    limit: int,
    *,
    descending: bool = True,
) -> list[Record]:
    """Entries by activityDateTime (newest first unless `descending` is false), then by id;
    `after` is the (time, id) of the last entry of the previous page."""
    query = select(t)
    if node is not None:
        query = query.where(compile_filter(node, FILTER_COLUMNS))
    time_column = t.c.activity_date_time
    if after is not None:
        time, log_id = after
        beyond = time_column < time if descending else time_column > time
        query = query.where(or_(beyond, and_(time_column == time, t.c.id > log_id)))
    query = query.order_by(time_column.desc() if descending else time_column.asc(), t.c.id).limit(limit)
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
