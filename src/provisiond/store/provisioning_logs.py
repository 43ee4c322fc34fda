"""Repository of provisioning log records: by time (newest first by default), keyset-paged,
filtered by OData."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, and_, case, func, literal, or_, select

from provisiond.graph.odata import FilterNode
from provisiond.graph.provisioning import INBOUND_SYSTEMS, SOURCE_SYSTEM, TARGET_SYSTEM
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import provisioning_logs, service_principals

Record = dict[str, Any]

t = provisioning_logs
# API-driven inbound jobs (API2AAD) read from the API and write into the directory; the others
# read the directory and write to the application (graph/provisioning.py shows the same).
_INBOUND = func.lower(t.c.job_id).like("api2aad.%")
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
    "initiatedBy/id": t.c.initiated_by_id,
    "initiatedBy/displayName": t.c.initiated_by_display_name,
    "initiatedBy/initiatorType": t.c.initiated_by_type,
    # The name lives on the service principal: a correlated subquery (by primary key), NULL once
    # the service principal is gone, so the filter's NULL rules hold as for a column.
    "servicePrincipal/displayName": select(service_principals.c.display_name)
    .where(service_principals.c.id == t.c.service_principal_id)
    .scalar_subquery(),
    "sourceSystem/displayName": case((_INBOUND, INBOUND_SYSTEMS[0]), else_=SOURCE_SYSTEM),
    "targetSystem/displayName": case((_INBOUND, INBOUND_SYSTEMS[1]), else_=TARGET_SYSTEM),
}


def page(
    conn: Connection,
    node: FilterNode | None,
    after: tuple[datetime, str] | None,
    limit: int,
    *,
    descending: bool = True,
    tenant_id: str = "",
) -> list[Record]:
    """Entries by activityDateTime (newest first unless `descending` is false), then by id;
    `after` is the (time, id) of the last entry of the previous page. Every entry belongs to
    the database's tenant, `tenant_id`, which `tenantId` in a filter compares with."""
    query = select(t)
    if node is not None:
        columns = {**FILTER_COLUMNS, "tenantId": literal(tenant_id, String)}
        query = query.where(compile_filter(node, columns))
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
