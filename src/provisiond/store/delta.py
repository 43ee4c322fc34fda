"""What delta queries read: the change log between two positions, and the objects it names.

A delta round is bounded by two change-log positions (`after_seq`, `upto_seq`]: everything the
client needs is what the log recorded in between, so a token naming those positions answers the
same on any API process and after any restart.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select, union

from provisiond.store.tables import directory_changes, group_members, groups, users

MEMBER_CHANGES = ("memberAdded", "memberRemoved")
# A soft-deleted member leaves its groups' member lists (its rows stay, hidden) and a restored
# one comes back: for delta, each is a membership change of every group it belongs to. (The
# change log names only the member; a purge logs memberRemoved on each group itself.)
LIFE_CHANGES = ("softDeleted", "restored")


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
    `after_id`: keyset paging over the objects, each reported once however often it changed.
    A group also counts as changed when one of its members was soft-deleted or restored."""
    c = directory_changes.c
    in_range = and_(c.seq > after_seq, c.seq <= upto_seq)
    changed = select(c.object_id.label("id")).where(and_(in_range, c.object_type == object_type))
    if object_type == "group":
        members_changed = (
            select(group_members.c.group_id.label("id"))
            .join(directory_changes, c.object_id == group_members.c.member_id)
            .where(and_(in_range, c.change_type.in_(LIFE_CHANGES)))
        )
        changed = union(changed, members_changed).subquery().select()
    ids = changed.subquery()
    query = select(ids.c.id).group_by(ids.c.id).order_by(ids.c.id).limit(limit)
    if after_id is not None:
        query = query.where(ids.c.id > after_id)
    return list(conn.execute(query).scalars())


def touched_members(
    conn: Connection, group_ids: Sequence[str], after_seq: int, upto_seq: int
) -> dict[str, list[str]]:
    """group id -> ids of the members added to or removed from it in (after_seq, upto_seq]."""
    out: dict[str, list[str]] = {}
    if not group_ids:
        return out
    c = directory_changes.c
    in_range = and_(c.seq > after_seq, c.seq <= upto_seq)
    added_or_removed = select(c.object_id.label("group_id"), c.related_id.label("member_id")).where(
        and_(
            in_range,
            c.object_type == "group",
            c.object_id.in_(list(group_ids)),
            c.change_type.in_(MEMBER_CHANGES),
            c.related_id.is_not(None),
        )
    )
    deleted_or_restored = (
        select(group_members.c.group_id, group_members.c.member_id)
        .join(directory_changes, c.object_id == group_members.c.member_id)
        .where(and_(in_range, group_members.c.group_id.in_(list(group_ids)), c.change_type.in_(LIFE_CHANGES)))
    )
    touched = union(added_or_removed, deleted_or_restored).subquery()
    query = (
        select(touched.c.group_id, touched.c.member_id)
        .group_by(touched.c.group_id, touched.c.member_id)
        .order_by(touched.c.group_id, touched.c.member_id)
    )
    for row in conn.execute(query):
        out.setdefault(row.group_id, []).append(row.member_id)
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
