"""The directory as a synchronization source.

Source objects are dicts keyed by the attribute names of the "Azure Active Directory"
directory definition (`objectId`, `userPrincipalName`, `accountEnabled`, `manager`, ...), the
names attribute mappings use. Reads come in pages and id batches, never the whole directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping

from provisiond.graph.base import camel_name
from provisiond.store import changelog
from provisiond.store import directory as repo
from provisiond.store.db import Database
from provisiond.store.tables import groups, users

SourceObject = dict[str, Any]

DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"


@dataclass
class Assignments:
    """Who is assigned to a service principal: users directly or through a group (direct
    members only; nested groups do not count, as in Entra), and the assigned groups."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    roles: dict[str, list[str]] = field(default_factory=dict)


_USER_SKIP = {"upn_key", "manager_id", "deleted_date_time"}
_GROUP_SKIP = {"deleted_date_time"}


def user_source(row: Mapping[str, Any] | RowMapping) -> SourceObject:
    obj = {camel_name(k): v for k, v in row.items() if k not in _USER_SKIP}
    obj["objectId"] = row["id"]
    obj["manager"] = row["manager_id"]
    obj["isDeleted"] = row["deleted_date_time"] is not None
    return obj


def group_source(row: Mapping[str, Any] | RowMapping) -> SourceObject:
    obj = {camel_name(k): v for k, v in row.items() if k not in _GROUP_SKIP}
    obj["objectId"] = row["id"]
    obj["isDeleted"] = row["deleted_date_time"] is not None
    return obj


class DirectorySource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def assignments(self, service_principal_id: str) -> Assignments:
        out = Assignments()
        with self.db.read() as conn:
            direct = repo.assigned_principals(conn, service_principal_id)
            assigned_groups = [pid for pid, ptype, _ in direct if ptype == "Group"]
            live_groups = repo.by_ids(conn, groups, assigned_groups)
            out.groups = {g for g, row in live_groups.items() if row["deleted_date_time"] is None}
            for principal_id, principal_type, role in direct:
                if principal_type == "User":
                    out.users.add(principal_id)
                    out.roles.setdefault(principal_id, []).append(role)
            for members in repo.live_members(conn, sorted(out.groups)).values():
                for member_id, kind in members:
                    if kind == "user":
                        out.users.add(member_id)
                        out.roles.setdefault(member_id, []).append(DEFAULT_ACCESS_ROLE)
        return out

    def user_page(self, after: str | None, limit: int) -> list[SourceObject]:
        with self.db.read() as conn:
            return [user_source(r) for r in repo.page_any(conn, users, after, limit)]

    def group_page(self, after: str | None, limit: int) -> list[SourceObject]:
        with self.db.read() as conn:
            return [group_source(r) for r in repo.page_any(conn, groups, after, limit)]

    def users(self, ids: Sequence[str]) -> dict[str, SourceObject]:
        with self.db.read() as conn:
            return {i: user_source(r) for i, r in repo.by_ids(conn, users, ids).items()}

    def groups(self, ids: Sequence[str]) -> dict[str, SourceObject]:
        with self.db.read() as conn:
            return {i: group_source(r) for i, r in repo.by_ids(conn, groups, ids).items()}

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids name a user or group, live or soft-deleted."""
        with self.db.read() as conn:
            return repo.existing_ids(conn, users, ids) | repo.existing_ids(conn, groups, ids)

    def managers(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        """The manager id of each of these users (live or soft-deleted), without reading the rest
        of the user: reference resolution needs nothing else."""
        with self.db.read() as conn:
            return repo.managers_of(conn, user_ids)

    def members(self, group_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        with self.db.read() as conn:
            return repo.live_members(conn, group_ids)

    def groups_of(self, member_ids: Sequence[str]) -> dict[str, list[str]]:
        with self.db.read() as conn:
            return repo.groups_of_members(conn, member_ids)

    def reports_of(self, manager_ids: Sequence[str]) -> list[str]:
        """The users whose manager is one of these."""
        if not manager_ids:
            return []
        with self.db.read() as conn:
            return list(repo.reports_of(conn, list(manager_ids)))

    def size(self) -> int:
        """How many users and groups a full pass reads (soft-deleted ones included)."""
        with self.db.read() as conn:
            return repo.count(conn, users, deleted=None) + repo.count(conn, groups, deleted=None)

    def last_seq(self) -> int:
        with self.db.read() as conn:
            return changelog.last_seq(conn)

    def changes(self, after: int, limit: int) -> list[Any]:
        with self.db.read() as conn:
            return list(changelog.changes_after(conn, after, limit=limit))
