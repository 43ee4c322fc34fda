"""Reading a relationship of many directory objects at once: `manager`, `directReports`,
`memberOf`, `members`, `owners`, `appRoleAssignedTo`, for `$expand`; and one object's
relationship a page at a time, for the listings (`/owners`, `/memberOf`, `/directReports`).

Graph returns at most 20 related objects per object when expanding a directory relationship and
offers no next link for them ("$expand on relationships of directory objects" in Graph's known
issues); `EXPAND_LIMIT` is that cap. Each parent costs one indexed range read of at most that
many rows, so a page of 100 groups with a million members each stays cheap. Soft-deleted
objects are not related to anything until they are restored, as in Entra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from provisiond.services.applications import assignment_view
from provisiond.services.errors import NotFound
from provisiond.store import directory as repo
from provisiond.store.db import Database
from provisiond.store.tables import applications, groups, service_principals, users

Record = dict[str, Any]
# (kind, record): kind is user, group, servicePrincipal or appRoleAssignment.
Related = tuple[str, Record]

EXPAND_LIMIT = 20

_TABLES = {
    "user": users,
    "group": groups,
    "servicePrincipal": service_principals,
    "application": applications,
}

# Which relationships each kind of object has.
RELATIONSHIPS: dict[str, frozenset[str]] = {
    "user": frozenset({"manager", "directReports", "memberOf", "transitiveMemberOf"}),
    "group": frozenset({"members", "owners", "memberOf", "transitiveMembers", "transitiveMemberOf"}),
    "servicePrincipal": frozenset({"owners", "appRoleAssignedTo"}),
    "application": frozenset({"owners"}),
}


class RelationshipService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def related(
        self, kind: str, relationship: str, parent_ids: Sequence[str], limit: int = EXPAND_LIMIT
    ) -> dict[str, list[Related]]:
        """For each parent id, its related objects in a stable order (at most `limit`)."""
        if relationship not in RELATIONSHIPS.get(kind, frozenset()):
            raise ValueError(f"{kind} has no relationship {relationship}")
        with self.db.read() as conn:
            if relationship == "manager":
                return self._managers(conn, parent_ids)
            if relationship == "appRoleAssignedTo":
                return self._assignments(conn, parent_ids, limit)
            read = _REFERENCES[relationship]
            return _resolved(conn, {parent: read(conn, parent, limit, None) for parent in parent_ids})

    def page(
        self, kind: str, relationship: str, object_id: str, after: str | None, limit: int
    ) -> tuple[list[Related], str | None]:
        """One page of a live object's relationship in id order, and the id to continue after."""
        if relationship not in _REFERENCES or relationship not in RELATIONSHIPS.get(kind, frozenset()):
            raise ValueError(f"{kind} has no listable relationship {relationship}")
        with self.db.read() as conn:
            if repo.get(conn, _TABLES[kind], object_id) is None:
                raise NotFound.resource(object_id)
            refs = _REFERENCES[relationship](conn, object_id, limit + 1, after)
            more = len(refs) > limit
            refs = refs[:limit]
            related = _resolved(conn, {object_id: refs})[object_id]
        return related, refs[-1][0] if more else None

    @staticmethod
    def _managers(conn: Connection, user_ids: Sequence[str]) -> dict[str, list[Related]]:
        manager_of = repo.managers_of(conn, user_ids)
        managers = repo.by_ids(conn, users, [m for m in manager_of.values() if m])
        out: dict[str, list[Related]] = {}
        for user_id in user_ids:
            manager = managers.get(manager_of.get(user_id) or "")
            live = manager is not None and manager["deleted_date_time"] is None
            out[user_id] = [("user", manager)] if live and manager is not None else []
        return out

    @staticmethod
    def _assignments(conn: Connection, sp_ids: Sequence[str], limit: int) -> dict[str, list[Related]]:
        sps = repo.by_ids(conn, service_principals, sp_ids)
        out: dict[str, list[Related]] = {}
        for sp_id in sp_ids:
            rows = repo.assignment_rows(conn, sp_id, limit=limit)
            names = repo.display_names(conn, [r["principal_id"] for r in rows])
            resource_name = sps[sp_id]["display_name"] if sp_id in sps else None
            out[sp_id] = [
                ("appRoleAssignment", assignment_view(r, names.get(r["principal_id"]), resource_name))
                for r in rows
            ]
        return out


# The relationships read as (id, kind) references, then resolved to records together.
# Each reads (connection, object id, limit, after id) in id order.
_REFERENCES: dict[str, Callable[[Connection, str, int, str | None], list[tuple[str, str]]]] = {
    "owners": repo.live_owners,
    "members": repo.first_live_members,
    "memberOf": repo.first_live_groups_of,
    "directReports": repo.first_live_reports,
    "transitiveMembers": repo.transitive_members,
    "transitiveMemberOf": repo.transitive_groups_of,
}


def _resolved(conn: Connection, refs: dict[str, list[tuple[str, str]]]) -> dict[str, list[Related]]:
    """(id, kind) references read as records, one query per kind for all parents together."""
    wanted: dict[str, set[str]] = {}
    for pairs in refs.values():
        for object_id, kind in pairs:
            wanted.setdefault(kind, set()).add(object_id)
    records = {kind: repo.by_ids(conn, _TABLES[kind], sorted(ids)) for kind, ids in wanted.items()}
    return {
        parent: [(kind, records[kind][object_id]) for object_id, kind in pairs if object_id in records[kind]]
        for parent, pairs in refs.items()
    }
