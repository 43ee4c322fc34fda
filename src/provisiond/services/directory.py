"""Directory use cases: users, groups, memberships, managers, and the deleted-items bin.

Every write appends to the change log in the same transaction, so the engine's watermark can
never observe a directory state without the change that produced it.

Every write reads the object it changes with a row lock (`for_update`), so a check of its state
(live, soft-deleted) and the change made on it are one step: of ten concurrent restores of one
deleted user, one restores it and records one `restored` change, and the nine others find it no
longer deleted (404), on PostgreSQL as on SQLite (where writers are serialised anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, String, Table
from sqlalchemy.exc import IntegrityError

from provisiond.clock import Clock
from provisiond.graph.base import camel_name, valid_upn
from provisiond.graph.directory import (
    USER_LIST_PROPERTIES,
    GroupCreate,
    GroupUpdate,
    UserCreate,
    UserUpdate,
    referenced_id,
)
from provisiond.graph.odata import FilterNode, OrderBy
from provisiond.services.errors import BadRequest, NotFound
from provisiond.services.writes import WritingService
from provisiond.store import directory as repo
from provisiond.store.db import Database
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import groups, users

Record = dict[str, Any]

KIND_TABLES: dict[str, Table] = {"user": users, "group": groups}


@dataclass
class Page:
    records: list[Record]
    next_after: str | None
    count: int | None = None
    # The keyset position after the last record, for an ordered listing (`$orderby`).
    next_key: list[Any] | None = None


def ordered_page(
    conn: Connection, table: Table, where: Any, order: OrderBy, after_key: tuple[Any, ...] | None, limit: int
) -> Page:
    """A page in `order`, after the (sort value, id) position of a `$skiptoken`.

    Timestamps travel in the token as ISO text and come back as datetimes.
    """
    after: tuple[Any, str] | None = None
    if after_key is not None:
        value, last_id = after_key
        is_text = isinstance(repo.columns_for_filter(table)[order.prop].type, String)
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            if not is_text:
                value = datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest("Invalid $skiptoken value.") from None
        after = (value, str(last_id))
    rows = repo.page_ordered(
        conn, table, prop=order.prop, descending=order.descending, where=where, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = None
    if more:
        record, value = rows[-1]
        next_key = [value.isoformat() if isinstance(value, datetime) else value, record["id"]]
    return Page([record for record, _ in rows], None, next_key=next_key)


def new_id() -> str:
    return str(uuid.uuid4())


class DirectoryService(WritingService):
    def __init__(self, db: Database, clock: Clock, changed: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.clock = clock
        self.changed = changed

    # Users

    def create_user(self, body: UserCreate) -> Record:
        values = body.changes()
        values.pop("password_profile", None)  # accepted as Graph requires it; no passwords are kept
        now = self.clock.now()
        record: Record = {name: None for name in _user_columns()}
        record.update({name: [] for name in USER_LIST_PROPERTIES})
        record.update(values)
        record.update(
            id=new_id(),
            upn_key=values["user_principal_name"].lower(),
            created_date_time=now,
            user_type=values.get("user_type") or "Member",
        )
        _check_upn(values["user_principal_name"])
        with _upn_unique(), self._write() as conn:
            if repo.upn_taken(conn, record["user_principal_name"]):
                raise _upn_conflict()
            repo.insert(conn, users, record)
            self._changed(conn, "user", record["id"], "created")
        return record

    def get_user(self, key: str) -> Record:
        with self.db.read() as conn:
            return self._live_user(conn, key)

    def update_user(self, key: str, body: UserUpdate) -> None:
        values = body.changes()
        values.pop("password_profile", None)
        for name in USER_LIST_PROPERTIES:
            if name in values and values[name] is None:
                values[name] = []
        if "account_enabled" in values and values["account_enabled"] is None:
            raise BadRequest("Invalid value for property 'accountEnabled': null is not allowed.")
        with _upn_unique(), self._write() as conn:
            if values and "user_principal_name" not in values:
                # The common PATCH in one statement: the UPDATE finds, locks and changes the row.
                user_id = repo.update_live_user(conn, key, values)
                if user_id is None:
                    raise NotFound.resource(key)
                self._changed(conn, "user", user_id, "updated")
                return
            user = self._live_user(conn, key, lock=True, columns=(users.c.id,))
            if "user_principal_name" in values:
                upn = values["user_principal_name"]
                if upn is None:
                    raise BadRequest("Invalid value for property 'userPrincipalName': null is not allowed.")
                _check_upn(upn)
                if repo.upn_taken(conn, upn, excluding=user["id"]):
                    raise _upn_conflict()
                values["upn_key"] = upn.lower()
            repo.update_fields(conn, users, user["id"], values)
            self._changed(conn, "user", user["id"], "updated")

    def delete_user(self, key: str) -> None:
        with self._write() as conn:
            user = self._live_user(conn, key, lock=True, columns=(users.c.id,))
            repo.soft_delete(conn, users, user["id"], self.clock.now())
            self._changed(conn, "user", user["id"], "softDeleted")

    # Manager

    def get_manager(self, key: str) -> Record:
        with self.db.read() as conn:
            user = self._live_user(conn, key)
            manager = repo.get(conn, users, user["manager_id"]) if user["manager_id"] else None
            if manager is None:
                raise NotFound.resource("manager")
            return manager

    def set_manager(self, key: str, manager_id: str) -> None:
        with self._write() as conn:
            user = self._live_user(conn, key, lock=True)
            manager = repo.get(conn, users, manager_id)
            if manager is None:
                raise NotFound.resource(manager_id)
            if manager["id"] == user["id"]:
                raise BadRequest("A user cannot be their own manager.")
            if user["manager_id"] != manager["id"]:
                repo.update_fields(conn, users, user["id"], {"manager_id": manager["id"]})
                self._changed(conn, "user", user["id"], "managerChanged", related_id=manager["id"])

    def remove_manager(self, key: str) -> None:
        with self._write() as conn:
            user = self._live_user(conn, key, lock=True)
            if user["manager_id"] is None:
                raise NotFound.resource("manager")
            repo.update_fields(conn, users, user["id"], {"manager_id": None})
            self._changed(conn, "user", user["id"], "managerChanged")

    # Groups

    def create_group(self, body: GroupCreate) -> Record:
        values = body.changes()
        member_refs = values.pop("members_odata_bind", None) or []
        owner_refs = values.pop("owners_odata_bind", None) or []
        record: Record = {
            "id": new_id(),
            "description": None,
            "mail": None,
            "group_types": [],
            "created_date_time": self.clock.now(),
            "deleted_date_time": None,
        }
        record.update({k: v for k, v in values.items() if v is not None})
        with self._write() as conn:
            repo.insert(conn, groups, record)
            self._changed(conn, "group", record["id"], "created")
            for ref in member_refs:
                self._add_member(conn, record["id"], referenced_id(ref))
            for ref in owner_refs:
                owner_id = referenced_id(ref)
                kind = repo.object_kind(conn, owner_id)
                if kind not in ("user", "servicePrincipal"):
                    raise NotFound.resource(owner_id)
                repo.add_owner(conn, record["id"], owner_id, kind)
        return record

    def get_group(self, group_id: str) -> Record:
        with self.db.read() as conn:
            return self._live(conn, groups, group_id)

    def update_group(self, group_id: str, body: GroupUpdate) -> None:
        values = body.changes()
        for required in ("display_name", "mail_nickname", "mail_enabled", "security_enabled"):
            if required in values and values[required] is None:
                raise BadRequest(f"Invalid value for property '{camel_name(required)}': null is not allowed.")
        if "group_types" in values and values["group_types"] is None:
            values["group_types"] = []
        with self._write() as conn:
            self._live(conn, groups, group_id, lock=True)
            repo.update_fields(conn, groups, group_id, values)
            self._changed(conn, "group", group_id, "updated")

    def delete_group(self, group_id: str) -> None:
        with self._write() as conn:
            self._live(conn, groups, group_id, lock=True)
            repo.soft_delete(conn, groups, group_id, self.clock.now())
            self._changed(conn, "group", group_id, "softDeleted")

    def add_member(self, group_id: str, member_id: str) -> None:
        with self._write() as conn:
            self._live(conn, groups, group_id, lock=True)
            self._add_member(conn, group_id, member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        with self._write() as conn:
            self._live(conn, groups, group_id, lock=True)
            if not repo.remove_member(conn, group_id, member_id):
                raise NotFound.resource(member_id)
            self._changed(conn, "group", group_id, "memberRemoved", related_id=member_id)

    def _add_member(self, conn: Connection, group_id: str, member_id: str) -> None:
        kind = repo.object_kind(conn, member_id)
        if kind not in ("user", "group"):
            raise NotFound.resource(member_id)
        if member_id == group_id:
            raise BadRequest("A group cannot be a member of itself.")
        if not repo.add_member(conn, group_id, member_id, kind):
            raise BadRequest(
                "One or more added object references already exist for the following modified properties: 'members'.",
                code="Request_BadRequest",
            )
        self._changed(conn, "group", group_id, "memberAdded", related_id=member_id)

    # Deleted items

    def get_deleted(self, object_id: str) -> tuple[str, Record]:
        with self.db.read() as conn:
            return self._deleted(conn, object_id)

    def restore(self, object_id: str) -> tuple[str, Record]:
        with _upn_unique(), self._write() as conn:
            kind, record = self._deleted(conn, object_id, lock=True)
            if kind == "user" and repo.upn_taken(conn, record["user_principal_name"], excluding=object_id):
                raise _upn_conflict()
            repo.update_fields(conn, KIND_TABLES[kind], object_id, {"deleted_date_time": None})
            self._changed(conn, kind, object_id, "restored")
            record["deleted_date_time"] = None
            return kind, record

    def purge(self, object_id: str) -> None:
        """Permanent delete: the object, its memberships, owners, assignments and manager links go."""
        with self._write() as conn:
            kind, _ = self._deleted(conn, object_id, lock=True)
            for group_id in repo.memberships_of(conn, object_id):
                self._changed(conn, "group", group_id, "memberRemoved", related_id=object_id)
            repo.drop_memberships(conn, object_id)
            repo.drop_owners(conn, object_id)
            for assignment in repo.drop_assignments_of(conn, object_id):
                self._changed(
                    conn,
                    "appRoleAssignment",
                    assignment["principal_id"],
                    "unassigned",
                    related_id=assignment["resource_id"],
                )
            if kind == "user":
                for report_id in repo.unset_manager_of_reports(conn, object_id):
                    self._changed(conn, "user", report_id, "managerChanged")
            repo.remove(conn, KIND_TABLES[kind], object_id)
            self._changed(conn, kind, object_id, "hardDeleted")

    # Helpers

    def _live_user(
        self, conn: Connection, key: str, *, lock: bool = False, columns: Sequence[Column[Any]] = ()
    ) -> Record:
        """The live user whose id or userPrincipalName is `key` (`columns` of it, all when empty)."""
        record = repo.get(conn, users, key, for_update=lock, columns=columns) or (
            repo.get_user_by_upn(conn, key, for_update=lock, columns=columns) if "@" in key else None
        )
        if record is None:
            raise NotFound.resource(key)
        return record

    @staticmethod
    def _live(conn: Connection, table: Table, object_id: str, *, lock: bool = False) -> Record:
        record = repo.get(conn, table, object_id, for_update=lock)
        if record is None:
            raise NotFound.resource(object_id)
        return record

    @staticmethod
    def _deleted(conn: Connection, object_id: str, *, lock: bool = False) -> tuple[str, Record]:
        for kind, table in KIND_TABLES.items():
            record = repo.get(conn, table, object_id, deleted=True, for_update=lock)
            if record is not None:
                return kind, record
        raise NotFound.resource(object_id)

    # Listing: users and groups alike, live or deleted (`kind` is "user" or "group")

    def list_objects(
        self,
        kind: str,
        node: FilterNode | None,
        after: str | None,
        limit: int,
        with_count: bool = False,
        *,
        deleted: bool = False,
        order: OrderBy | None = None,
        after_key: tuple[Any, ...] | None = None,
    ) -> Page:
        table = KIND_TABLES[kind]
        where = compile_filter(node, repo.columns_for_filter(table)) if node is not None else None
        if order is not None:
            with self.db.read() as conn:
                page = ordered_page(conn, table, where, order, after_key, limit)
                page.count = repo.count(conn, table, where=where) if with_count else None
            return page
        with self.db.read() as conn:
            rows = repo.page(conn, table, where=where, after_id=after, limit=limit + 1, deleted=deleted)
            total = repo.count(conn, table, where=where, deleted=deleted) if with_count else None
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1]["id"] if more else None, total)

    def count_objects(self, kind: str, node: FilterNode | None) -> int:
        table = KIND_TABLES[kind]
        where = compile_filter(node, repo.columns_for_filter(table)) if node is not None else None
        with self.db.read() as conn:
            return repo.count(conn, table, where=where, deleted=False)


def _user_columns() -> list[str]:
    return [c.name for c in users.columns]


def _check_upn(upn: str) -> None:
    if not valid_upn(upn):
        raise BadRequest(
            "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
            code="Request_BadRequest",
        )


@contextmanager
def _upn_unique() -> Iterator[None]:
    """Two concurrent writers can both pass the check; the unique index stops the second."""
    try:
        yield
    except IntegrityError as exc:
        if "upn_key" in str(exc.orig):
            raise _upn_conflict() from None
        raise


def _upn_conflict() -> BadRequest:
    return BadRequest(
        "Another object with the same value for property userPrincipalName already exists.",
        code="Request_BadRequest",
        details=[{"code": "ObjectConflict", "target": "userPrincipalName"}],
    )
