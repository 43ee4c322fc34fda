"""Where a synchronization route acts: the service principal (and its application) its path
names, found after the caller's permission is checked; and the registration of a route under
both parents Graph serves it from (`/servicePrincipals/{id}/synchronization` and
`/applications/{id}/synchronization`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal
from provisiond.api.context import services
from provisiond.services.errors import NotFound

SP = "/servicePrincipals/{sp_id}/synchronization"
APP = "/applications/{app_object_id}/synchronization"
JOB = SP + "/jobs/{job_id}"


class Target:
    """The service principal (and its application) a synchronization route acts on."""

    def __init__(self, request: Request, sp: dict[str, Any], application: dict[str, Any] | None) -> None:
        self.request = request
        self.sp = sp
        self.application = application

    @property
    def application_id(self) -> str | None:
        return self.application["id"] if self.application else None


def sp_target(request: Request, caller: Principal, sp_id: str, requirement: perm.Requirement) -> Target:
    apps = services(request).applications
    perm.check(caller, requirement, owns_target=lambda: apps.is_owned_by_app(sp_id, caller.app_id))
    sp = apps.get_service_principal(sp_id)
    return Target(request, sp, apps.application_of(sp))


def app_target(
    request: Request, caller: Principal, app_object_id: str, requirement: perm.Requirement
) -> Target:
    apps = services(request).applications
    perm.check(caller, requirement, owns_target=lambda: apps.is_owned_by_app(app_object_id, caller.app_id))
    application = apps.get_application(app_object_id)
    try:
        sp = apps.service_principal_by_app_id(application["app_id"])
    except NotFound:
        sp = {
            "id": None,
            "app_id": application["app_id"],
            "application_template_id": application["application_template_id"],
        }
    return Target(request, sp, application)


def target_of(request: Request, caller: Principal, requirement: perm.Requirement) -> Target:
    """The target of a route registered under both parents (`on_both_parents`), from its path."""
    params = request.path_params
    if "sp_id" in params:
        return sp_target(request, caller, params["sp_id"], requirement)
    return app_target(request, caller, params["app_object_id"], requirement)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def on_both_parents(router: APIRouter, method: str, suffix: str) -> Callable[[Handler], Handler]:
    """Register a handler under the service principal's and the application's synchronization
    (Graph serves templates under both); the handler finds its target with `target_of`."""

    def register(handler: Handler) -> Handler:
        for root in (SP, APP):
            router.add_api_route(root + suffix, handler, methods=[method])
        return handler

    return register


def context_root(request: Request, target: Target) -> str:
    if request.url.path.split("/")[2] == "applications":
        return f"applications('{target.application_id}')/synchronization"
    return f"servicePrincipals('{target.sp['id']}')/synchronization"
