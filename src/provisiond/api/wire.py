"""Directory records as Graph's wire representations, shared by every route that returns them
(lists, single entities, delta pages and expanded relationships)."""

from __future__ import annotations

from typing import Any

from provisiond.graph.directory import Application, AppRoleAssignment, Group, ServicePrincipal, User

ODATA_TYPES = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "servicePrincipal": "#microsoft.graph.servicePrincipal",
    "application": "#microsoft.graph.application",
}


def user_wire(record: dict[str, Any]) -> dict[str, Any]:
    return _without_live_deleted(User.model_validate(record).to_wire())


def group_wire(record: dict[str, Any]) -> dict[str, Any]:
    return _without_live_deleted(Group.model_validate(record).to_wire())


def application_wire(record: dict[str, Any]) -> dict[str, Any]:
    wire = Application.model_validate(record).to_wire()
    wire.pop("deletedDateTime", None)
    return wire


def service_principal_wire(record: dict[str, Any]) -> dict[str, Any]:
    wire = ServicePrincipal.model_validate(record).to_wire()
    wire.pop("deletedDateTime", None)
    return wire


def assignment_wire(record: dict[str, Any]) -> dict[str, Any]:
    return AppRoleAssignment.model_validate(record).to_wire()


WIRE = {
    "user": user_wire,
    "group": group_wire,
    "servicePrincipal": service_principal_wire,
    "application": application_wire,
}


def directory_object_wire(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A directory object where the type is not implied by the URL: `@odata.type` first."""
    return {"@odata.type": ODATA_TYPES[kind], **WIRE[kind](record)}


def _without_live_deleted(wire: dict[str, Any]) -> dict[str, Any]:
    if wire.get("deletedDateTime") is None:
        wire.pop("deletedDateTime", None)
    return wire
