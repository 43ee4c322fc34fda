"""Applications, service principals, owners and app role assignments.

Instantiating the non-gallery template creates an application and its service principal
together, as Graph does; the service principal is what synchronization jobs hang off, and
its app role assignments decide who is in scope for "sync only assigned users and groups".
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from provisiond.clock import Clock
from provisiond.graph.base import camel_name
from provisiond.graph.directory import (
    ApplicationCreate,
    ApplicationUpdate,
    AppRoleAssignmentCreate,
    InstantiateRequest,
    ServicePrincipalCreate,
    ServicePrincipalUpdate,
)
from provisiond.graph.odata import FilterNode, OrderBy
from provisiond.services.directory import Page, new_id, ordered_page
from provisiond.services.errors import BadRequest, Conflict, NotFound
from provisiond.services.templates import APPLICATION_TEMPLATE_CUSTOM_SCIM
from provisiond.services.writes import WritingService
from provisiond.store import directory as repo
from provisiond.store import synchronization as sync_repo
from provisiond.store.db import Database
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import app_role_assignments, applications, service_principals

Record = dict[str, Any]

DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
CUSTOM_APP_TAGS = [
    "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
    "WindowsAzureActiveDirectoryIntegratedApp",
]
PRINCIPAL_TYPES = {"user": "User", "group": "Group", "servicePrincipal": "ServicePrincipal"}


class ApplicationService(WritingService):
    def __init__(
        self, db: Database, clock: Clock, tenant_id: str, changed: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.clock = clock
        self.tenant_id = tenant_id
        self.changed = changed

    def instantiate(
        self, template_id: str, body: InstantiateRequest, owner: tuple[str, str] | None
    ) -> tuple[Record, Record]:
        """Create the application and service principal of an application template.

        `owner` is (object id, kind) of the caller, who becomes owner of both, as in Entra.
        """
        if template_id.lower() != APPLICATION_TEMPLATE_CUSTOM_SCIM:
            raise NotFound.resource(template_id)
        with self._write() as conn:
            app = self._insert_application(conn, body.display_name, None, APPLICATION_TEMPLATE_CUSTOM_SCIM)
            sp = self._insert_service_principal(conn, app, tags=CUSTOM_APP_TAGS)
            if owner is not None:
                repo.add_owner(conn, app["id"], *owner)
                repo.add_owner(conn, sp["id"], *owner)
        return app, sp

    def create_application(self, body: ApplicationCreate, owner: tuple[str, str] | None) -> Record:
        with self._write() as conn:
            app = self._insert_application(
                conn, body.display_name, body.description, None, body.sign_in_audience
            )
            if owner is not None:
                repo.add_owner(conn, app["id"], *owner)
            return app

    def create_service_principal(self, body: ServicePrincipalCreate, owner: tuple[str, str] | None) -> Record:
        with self._write() as conn:
            app = repo.application_by_app_id(conn, body.app_id)
            if app is None:
                raise BadRequest(
                    f"The appId '{body.app_id}' of the service principal does not reference a valid application object.",
                    code="Request_BadRequest",
                )
            if repo.app_id_taken(conn, service_principals, body.app_id):
                raise Conflict(
                    "Another object with the same value for property servicePrincipalNames already exists.",
                    code="Request_MultipleObjectsWithSameKeyValue",
                )
            sp = self._insert_service_principal(
                conn,
                app,
                tags=body.tags or [],
                account_enabled=body.account_enabled,
                assignment_required=body.app_role_assignment_required,
            )
            if owner is not None:
                repo.add_owner(conn, sp["id"], *owner)
            return sp

    def update_application(self, object_id: str, body: ApplicationUpdate) -> None:
        values = body.changes()
        _no_null(values, "display_name")
        with self._write() as conn:
            _must(repo.get(conn, applications, object_id, for_update=True), object_id)
            repo.update_fields(conn, applications, object_id, values)
            self._changed(conn, "application", object_id, "updated")

    def update_service_principal(self, object_id: str, body: ServicePrincipalUpdate) -> None:
        """A change here wakes the service principal's jobs (`provisiond.engine.wakeups`): turning
        on appRoleAssignmentRequired changes who is in scope."""
        values = body.changes()
        _no_null(values, "display_name", "account_enabled", "app_role_assignment_required")
        if "tags" in values and values["tags"] is None:
            values["tags"] = []
        with self._write() as conn:
            _must(repo.get(conn, service_principals, object_id, for_update=True), object_id)
            repo.update_fields(conn, service_principals, object_id, values)
            self._changed(conn, "servicePrincipal", object_id, "updated")

    def get_application(self, object_id: str) -> Record:
        with self.db.read() as conn:
            return _must(repo.get(conn, applications, object_id), object_id)

    def get_service_principal(self, object_id: str) -> Record:
        with self.db.read() as conn:
            return _must(repo.get(conn, service_principals, object_id), object_id)

    def service_principal_by_app_id(self, app_id: str) -> Record:
        with self.db.read() as conn:
            return _must(repo.service_principal_by_app_id(conn, app_id), app_id)

    def object_id_by_app_id(self, collection: str, app_id: str) -> str | None:
        """The object id of the live service principal or application (`collection`) with this
        appId, or None: what `servicePrincipals(appId='...')` addresses."""
        lookup = (
            repo.service_principal_by_app_id
            if collection == "servicePrincipals"
            else repo.application_by_app_id
        )
        with self.db.read() as conn:
            found = lookup(conn, app_id)
        return str(found["id"]) if found else None

    def application_of(self, sp: Record) -> Record | None:
        with self.db.read() as conn:
            return repo.application_by_app_id(conn, sp["app_id"])

    def list_objects(
        self,
        kind: str,
        node: FilterNode | None,
        after: str | None,
        limit: int,
        with_count: bool,
        *,
        order: OrderBy | None = None,
        after_key: tuple[Any, ...] | None = None,
    ) -> Page:
        table = applications if kind == "application" else service_principals
        where = compile_filter(node, repo.columns_for_filter(table)) if node is not None else None
        if order is not None:
            with self.db.read() as conn:
                page = ordered_page(conn, table, where, order, after_key, limit)
                page.count = repo.count(conn, table, where=where) if with_count else None
            return page
        with self.db.read() as conn:
            rows = repo.page(conn, table, where=where, after_id=after, limit=limit + 1)
            total = repo.count(conn, table, where=where) if with_count else None
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1]["id"] if more else None, total)

    def delete_application(self, object_id: str) -> None:
        """Deleting an application deletes its service principal and that one's synchronization state."""
        with self._write() as conn:
            app = _must(repo.get(conn, applications, object_id), object_id)
            sp = repo.service_principal_by_app_id(conn, app["app_id"])
            if sp is not None:
                self._delete_service_principal(conn, sp)
            sync_repo.delete_template_overrides(conn, app["id"])
            repo.drop_owners(conn, app["id"])
            repo.remove(conn, applications, app["id"])
            self._changed(conn, "application", app["id"], "hardDeleted")

    def delete_service_principal(self, object_id: str) -> None:
        with self._write() as conn:
            sp = _must(repo.get(conn, service_principals, object_id), object_id)
            self._delete_service_principal(conn, sp)

    # Owners

    def add_owner(self, object_id: str, owner_id: str) -> None:
        with self._write() as conn:
            self._owned_object(conn, object_id)
            kind = repo.object_kind(conn, owner_id)
            if kind not in ("user", "servicePrincipal"):
                raise NotFound.resource(owner_id)
            if not repo.add_owner(conn, object_id, owner_id, kind):
                raise BadRequest(
                    "One or more added object references already exist for the following modified properties: 'owners'.",
                    code="Request_BadRequest",
                )

    def remove_owner(self, object_id: str, owner_id: str) -> None:
        with self._write() as conn:
            self._owned_object(conn, object_id)
            if not repo.remove_owner(conn, object_id, owner_id):
                raise NotFound.resource(owner_id)

    def is_owned_by_app(self, object_id: str, caller_app_id: str | None) -> bool:
        """Whether the calling app (by appId) owns the service principal or application `object_id`,
        or the application behind that service principal (Application.ReadWrite.OwnedBy)."""
        if not caller_app_id:
            return False
        with self.db.read() as conn:
            caller = repo.service_principal_by_app_id(conn, caller_app_id)
            if caller is None:
                return False
            targets = [object_id]
            sp = repo.get(conn, service_principals, object_id)
            if sp is not None:
                app = repo.application_by_app_id(conn, sp["app_id"])
                if app is not None:
                    targets.append(app["id"])
            return repo.is_owned_by_any(conn, targets, [caller["id"]])

    def caller_object(self, app_id: str | None) -> tuple[str, str] | None:
        """The calling app's service principal as an owner reference, if it has one here."""
        if not app_id:
            return None
        with self.db.read() as conn:
            sp = repo.service_principal_by_app_id(conn, app_id)
            return (sp["id"], "servicePrincipal") if sp else None

    # App role assignments

    def assignments(self, sp_id: str, after: str | None, limit: int) -> Page:
        with self.db.read() as conn:
            sp = _must(repo.get(conn, service_principals, sp_id), sp_id)
            rows = repo.assignment_rows(conn, sp["id"], after_id=after, limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            names = repo.display_names(conn, [r["principal_id"] for r in rows])
            out = [assignment_view(r, names.get(r["principal_id"]), sp["display_name"]) for r in rows]
        return Page(out, rows[-1]["id"] if more else None)

    def assign(self, sp_id: str, body: AppRoleAssignmentCreate) -> Record:
        with self._write() as conn:
            sp = _must(repo.get(conn, service_principals, sp_id), sp_id)
            if body.resource_id != sp["id"]:
                raise BadRequest(
                    "resourceId must be the id of the service principal in the request URL.",
                    code="Request_BadRequest",
                )
            if body.app_role_id.lower() != DEFAULT_ACCESS_ROLE:
                raise BadRequest(
                    "Permission being assigned was not found on application: only the default access role "
                    f"'{DEFAULT_ACCESS_ROLE}' is defined.",
                    code="Request_BadRequest",
                )
            kind = repo.object_kind(conn, body.principal_id)
            if kind not in PRINCIPAL_TYPES:
                raise NotFound.resource(body.principal_id)
            if repo.assignment_exists(conn, body.principal_id, sp["id"], body.app_role_id):
                raise Conflict(
                    "Permission being assigned already exists on the object.", code="Request_BadRequest"
                )
            record = {
                "id": _assignment_id(),
                "principal_id": body.principal_id,
                "principal_type": PRINCIPAL_TYPES[kind],
                "resource_id": sp["id"],
                "app_role_id": body.app_role_id.lower(),
                "created_date_time": self.clock.now(),
            }
            repo.insert(conn, app_role_assignments, record)
            self._changed(conn, "appRoleAssignment", body.principal_id, "assigned", related_id=sp["id"])
            name = repo.display_names(conn, [body.principal_id]).get(body.principal_id)
            return assignment_view(record, name, sp["display_name"])

    def unassign(self, sp_id: str, assignment_id: str) -> None:
        with self._write() as conn:
            _must(repo.get(conn, service_principals, sp_id), sp_id)
            record = repo.get(conn, app_role_assignments, assignment_id, deleted=None)
            if record is None or record["resource_id"] != sp_id:
                raise NotFound.resource(assignment_id)
            repo.remove(conn, app_role_assignments, assignment_id)
            self._changed(conn, "appRoleAssignment", record["principal_id"], "unassigned", related_id=sp_id)

    # Helpers

    def _insert_application(
        self,
        conn: Connection,
        display_name: str,
        description: str | None,
        template_id: str | None,
        audience: str | None = None,
    ) -> Record:
        record: Record = {
            "id": new_id(),
            "app_id": str(uuid.uuid4()),
            "display_name": display_name,
            "description": description,
            "application_template_id": template_id,
            "sign_in_audience": audience or "AzureADMyOrg",
            "created_date_time": self.clock.now(),
            "deleted_date_time": None,
        }
        repo.insert(conn, applications, record)
        self._changed(conn, "application", record["id"], "created")
        return record

    def _insert_service_principal(
        self,
        conn: Connection,
        app: Record,
        *,
        tags: list[str],
        account_enabled: bool | None = None,
        assignment_required: bool | None = None,
    ) -> Record:
        record: Record = {
            "id": new_id(),
            "app_id": app["app_id"],
            "display_name": app["display_name"],
            "application_template_id": app["application_template_id"],
            "app_owner_organization_id": self.tenant_id,
            "service_principal_type": "Application",
            "account_enabled": True if account_enabled is None else account_enabled,
            "app_role_assignment_required": bool(assignment_required),
            "tags": tags,
            "created_date_time": self.clock.now(),
            "deleted_date_time": None,
        }
        repo.insert(conn, service_principals, record)
        self._changed(conn, "servicePrincipal", record["id"], "created")
        return record

    def _delete_service_principal(self, conn: Connection, sp: Record) -> None:
        sync_repo.delete_synchronization(conn, sp["id"])
        for assignment in repo.drop_assignments_of(conn, sp["id"]):
            self._changed(
                conn, "appRoleAssignment", assignment["principal_id"], "unassigned", related_id=sp["id"]
            )
        repo.drop_owners(conn, sp["id"])
        repo.remove(conn, service_principals, sp["id"])
        self._changed(conn, "servicePrincipal", sp["id"], "hardDeleted")

    @staticmethod
    def _owned_object(conn: Connection, object_id: str) -> Record:
        record = repo.get(conn, service_principals, object_id) or repo.get(conn, applications, object_id)
        return _must(record, object_id)


def _no_null(values: Record, *required: str) -> None:
    for name in required:
        if name in values and values[name] is None:
            raise BadRequest(f"Invalid value for property '{camel_name(name)}': null is not allowed.")


def _must(record: Record | None, object_id: str) -> Record:
    if record is None:
        raise NotFound.resource(object_id)
    return record


def _assignment_id() -> str:
    # Graph's assignment ids are URL-safe base64 text, not GUIDs.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:8]).decode().rstrip("=")


def assignment_view(record: Record, principal_name: str | None, resource_name: str | None) -> Record:
    return {
        **record,
        "principal_display_name": principal_name,
        "resource_display_name": resource_name,
        "deleted_date_time": None,
    }
