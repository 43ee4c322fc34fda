"""Repository of the admin console: sessions, one-time sign-in grants, and the reads the
console's pages need that no Graph resource exposes (a job's recent cycles, its held deletes).

Secrets arrive here already hashed (services/console.py); a grant is taken by deleting it, so
of two processes redeeming the same link at once exactly one sees its row go.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from provisiond.store.tables import console_grants, console_sessions, staged_deletes

Record = dict[str, Any]


# Sign-in grants


def insert_grant(
    conn: Connection, secret_hash: str, kind: str, data: Mapping[str, Any], now: datetime, expires: datetime
) -> None:
    conn.execute(
        console_grants.insert().values(
            secret_hash=secret_hash,
            kind=kind,
            data=dict(data),
            created_date_time=now,
            expires_date_time=expires,
        )
    )


def take_grant(conn: Connection, secret_hash: str, kind: str, now: datetime) -> Record | None:
    """The grant's data, removed so it cannot be used twice; None if unknown, used or expired."""
    row = (
        conn.execute(
            select(console_grants.c.data).where(
                console_grants.c.secret_hash == secret_hash,
                console_grants.c.kind == kind,
                console_grants.c.expires_date_time > now,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    taken = conn.execute(delete(console_grants).where(console_grants.c.secret_hash == secret_hash))
    return dict(row["data"]) if taken.rowcount == 1 else None


# Sessions


def insert_session(
    conn: Connection,
    id_hash: str,
    identity: Mapping[str, Any],
    csrf_token: str,
    now: datetime,
    expires: datetime,
) -> None:
    conn.execute(
        console_sessions.insert().values(
            id_hash=id_hash,
            identity=dict(identity),
            csrf_token=csrf_token,
            created_date_time=now,
            last_seen_date_time=now,
            expires_date_time=expires,
        )
    )


def get_session(conn: Connection, id_hash: str) -> Record | None:
    row = (
        conn.execute(select(console_sessions).where(console_sessions.c.id_hash == id_hash)).mappings().first()
    )
    return dict(row) if row else None


def touch_session(conn: Connection, id_hash: str, now: datetime) -> None:
    conn.execute(
        update(console_sessions).where(console_sessions.c.id_hash == id_hash).values(last_seen_date_time=now)
    )


def delete_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == id_hash))


def purge_expired(conn: Connection, now: datetime) -> None:
    """Sessions and grants past their absolute expiry (idle sessions go when next seen)."""
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_date_time <= now))
    conn.execute(delete(console_grants).where(console_grants.c.expires_date_time <= now))


# Reads for the job page


def held_delete_count(conn: Connection, job_id: str) -> int:
    """Disables and deletes the accidental-deletion guard holds for ForceDeletes."""
    query = select(func.count()).where(staged_deletes.c.job_id == job_id, staged_deletes.c.state == "held")
    return int(conn.execute(query).scalar_one())
