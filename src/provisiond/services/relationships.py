"""Reading a relationship of many directory objects at once: `manager`, `members`, `owners`,
`appRoleAssignedTo`, for `$expand` and the owners listing.

Graph returns at most 20 related objects per object when expanding a directory relationship and
offers no next link for them ("$expand on relationships of directory objects" in Graph's known
issues); `EXPAND_LIMIT` is that cap. Each parent costs one indexed range read of at most that
many rows, so a page of 100 groups with a million members each stays cheap. Soft-deleted
objects are not related to anything until they are restored, as in Entra.
"""

from __future__ import annotations

from collections.abc import Sequence
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

_TABLES = {"user": users, "group": groups, "servicePrincipal": service_principals}
_OWNED = {"application": applications, "servicePrincipal": service_principals, "group": groups}

# Which relationships each kind of object has.
RELATIONSHIPS: dict[str, frozenset[str]] = {
    "user": frozenset({"manager"}),
    "group": frozenset({"members", "owners"}),
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
            refs = {
                parent: (
                    repo.first_live_members(conn, parent, limit)
                    if relationship == "members"
                    else repo.live_owners(conn, parent, limit)
                )
                for parent in parent_ids
            }
            return _resolved(conn, refs)

    def owners(self, kind: str, object_id: str) -> list[Related]:
        """Every live owner of an application, service principal or group, in id order."""
        with self.db.read() as conn:
            if repo.get(conn, _OWNED[kind], object_id) is None:
                raise NotFound.resource(object_id)
            return _resolved(conn, {object_id: repo.live_owners(conn, object_id)})[object_id]

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
