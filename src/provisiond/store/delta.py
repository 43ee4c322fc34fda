"""What delta queries read: the change log between two positions, and the objects it names.

A delta round is bounded by two change-log positions (`after_seq`, `upto_seq`]: everything the
client needs is what the log recorded in between, so a token naming those positions answers the
same on any API process and after any restart.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select

from provisiond.store.tables import directory_changes, groups, users

MEMBER_CHANGES = ("memberAdded", "memberRemoved")


def changed_ids(
    conn: Connection,
    object_type: str,
    after_seq: int,
    upto_seq: int,
    *,
    after_id: str | None,
    limit: int,
) -> list[str]:
    """Distinct ids of `object_type` objects changed in (after_seq, upto_seq], in id order after
    `after_id`: keyset paging over the objects, each reported once however often it changed."""
    c = directory_changes.c
    query = (
        select(c.object_id)
        .where(and_(c.seq > after_seq, c.seq <= upto_seq, c.object_type == object_type))
        .group_by(c.object_id)
        .order_by(c.object_id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(c.object_id > after_id)
    return list(conn.execute(query).scalars())


def touched_members(
    conn: Connection, group_ids: Sequence[str], after_seq: int, upto_seq: int
) -> dict[str, list[str]]:
    """group id -> ids of the members added to or removed from it in (after_seq, upto_seq]."""
    out: dict[str, list[str]] = {}
    if not group_ids:
        return out
    c = directory_changes.c
    query = (
        select(c.object_id, c.related_id)
        .where(
            and_(
                c.seq > after_seq,
                c.seq <= upto_seq,
                c.object_type == "group",
                c.object_id.in_(list(group_ids)),
                c.change_type.in_(MEMBER_CHANGES),
                c.related_id.is_not(None),
            )
        )
        .group_by(c.object_id, c.related_id)
        .order_by(c.object_id, c.related_id)
    )
    for row in conn.execute(query):
        out.setdefault(row.object_id, []).append(row.related_id)
    return out


def object_kinds(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """id -> "user" or "group" for those of `ids` that still exist, live or soft-deleted."""
    out: dict[str, str] = {}
    if not ids:
        return out
    for kind, table in (("user", users), ("group", groups)):
        for object_id in conn.execute(select(table.c.id).where(table.c.id.in_(list(ids)))).scalars():
            out[object_id] = kind
    return out
