"""Repository of synchronization state: jobs, secrets, template overrides, restart records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from provisiond.store import engine_state, inbound, notifications
from provisiond.store.tables import sync_job_restarts, sync_jobs, sync_secrets, sync_template_overrides

Record = dict[str, Any]


def insert_job(conn: Connection, record: Mapping[str, Any]) -> None:
    conn.execute(sync_jobs.insert().values(**record))


def get_job(
    conn: Connection, service_principal_id: str, job_id: str, *, for_update: bool = False
) -> Record | None:
    query = select(sync_jobs).where(
        and_(sync_jobs.c.service_principal_id == service_principal_id, sync_jobs.c.id == job_id)
    )
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def job_exists(conn: Connection, job_id: str) -> bool:
    return conn.execute(select(sync_jobs.c.id).where(sync_jobs.c.id == job_id)).first() is not None


def list_jobs(conn: Connection, service_principal_id: str) -> list[Record]:
    query = (
        select(sync_jobs)
        .where(sync_jobs.c.service_principal_id == service_principal_id)
        .order_by(sync_jobs.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def update_job(conn: Connection, job_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(sync_jobs).where(sync_jobs.c.id == job_id).values(**values))
    if values.get("cycle_due_at") is not None:
        notifications.announce(conn)


def delete_job(conn: Connection, job_id: str) -> None:
    """The job and all its state (connector data store, escrows, staged deletes, restarts)."""
    engine_state.delete_job_state(conn, job_id)
    inbound.purge(conn, job_id)
    conn.execute(delete(sync_job_restarts).where(sync_job_restarts.c.job_id == job_id))
    conn.execute(delete(sync_jobs).where(sync_jobs.c.id == job_id))


def record_restart(conn: Connection, job_id: str, reset_scope: int, at: Any, requested_by: str) -> int:
    result = conn.execute(
        sync_job_restarts.insert()
        .values(job_id=job_id, reset_scope=reset_scope, requested_date_time=at, requested_by=requested_by)
        .returning(sync_job_restarts.c.id)
    )
    return int(result.scalar_one())


def restarts(conn: Connection, job_id: str) -> list[Record]:
    query = (
        select(sync_job_restarts).where(sync_job_restarts.c.job_id == job_id).order_by(sync_job_restarts.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def secrets(conn: Connection, service_principal_id: str) -> dict[str, str]:
    """Encrypted secret values by key."""
    query = select(sync_secrets.c.key, sync_secrets.c.value_encrypted).where(
        sync_secrets.c.service_principal_id == service_principal_id
    )
    return {row.key: row.value_encrypted for row in conn.execute(query)}


def put_secret(conn: Connection, service_principal_id: str, key: str, value_encrypted: str) -> None:
    conn.execute(
        delete(sync_secrets).where(
            and_(sync_secrets.c.service_principal_id == service_principal_id, sync_secrets.c.key == key)
        )
    )
    conn.execute(
        sync_secrets.insert().values(
            service_principal_id=service_principal_id, key=key, value_encrypted=value_encrypted
        )
    )


def template_override(conn: Connection, application_id: str, template_id: str) -> Record | None:
    query = select(sync_template_overrides).where(
        and_(
            sync_template_overrides.c.application_id == application_id,
            sync_template_overrides.c.template_id == template_id,
        )
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def put_template_override(
    conn: Connection, application_id: str, template_id: str, *, template: Any = ..., schema: Any = ...
) -> None:
    """Set the customised template body and/or schema; `...` leaves a part as it is, None resets it."""
    current = template_override(conn, application_id, template_id)
    values = {
        "template": current["template"] if current else None,
        "schema": current["schema"] if current else None,
    }
    if template is not ...:
        values["template"] = template
    if schema is not ...:
        values["schema"] = schema
    conn.execute(
        delete(sync_template_overrides).where(
            and_(
                sync_template_overrides.c.application_id == application_id,
                sync_template_overrides.c.template_id == template_id,
            )
        )
    )
    if values["template"] is not None or values["schema"] is not None:
        conn.execute(
            sync_template_overrides.insert().values(
                application_id=application_id, template_id=template_id, **values
            )
        )


def delete_template_overrides(conn: Connection, application_id: str) -> None:
    conn.execute(
        delete(sync_template_overrides).where(sync_template_overrides.c.application_id == application_id)
    )


def delete_synchronization(conn: Connection, service_principal_id: str) -> None:
    """Everything synchronization keeps for a service principal: jobs, their state, secrets."""
    for job in list_jobs(conn, service_principal_id):
        delete_job(conn, job["id"])
    conn.execute(delete(sync_secrets).where(sync_secrets.c.service_principal_id == service_principal_id))
