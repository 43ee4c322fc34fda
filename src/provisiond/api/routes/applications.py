"""Applications, service principals, the custom SCIM application template, owners (of
applications, service principals and groups) and app role assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import (
    check_orderby,
    collection,
    entity,
    json_object,
    list_query,
    no_content,
    parse_model,
    read_body,
    selected_entity,
)
from provisiond.api.context import services
from provisiond.api.relationships import expander, related_collection
from provisiond.api.wire import application_wire, assignment_wire, service_principal_wire
from provisiond.graph.directory import (
    ApplicationCreate,
    ApplicationUpdate,
    AppRoleAssignmentCreate,
    InstantiateRequest,
    ReferenceRequest,
    ServicePrincipalCreate,
    ServicePrincipalUpdate,
)

router = APIRouter()


def caller_as_owner(request: Request, caller: Principal) -> tuple[str, str] | None:
    """Who becomes owner of what the caller creates: the signed-in user, or the calling app."""
    if caller.delegated and caller.object_id:
        return (caller.object_id, "user")
    return services(request).applications.caller_object(caller.app_id)


def owns(request: Request, caller: Principal, object_id: str) -> bool:
    return services(request).applications.is_owned_by_app(object_id, caller.app_id)


@router.post("/applicationTemplates/{template_id}/instantiate")
def instantiate(
    template_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> JSONResponse:
    perm.check(caller, perm.APP_CREATE)
    body = parse_model(
        InstantiateRequest, json_object(request, raw), type_name="microsoft.graph.applicationTemplate"
    )
    app, sp = services(request).applications.instantiate(template_id, body, caller_as_owner(request, caller))
    return entity(
        request,
        {"application": application_wire(app), "servicePrincipal": service_principal_wire(sp)},
        context="microsoft.graph.applicationServicePrincipal",
        status=201,
    )


# Applications


@router.get("/applications")
def list_applications(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: True)
    return _list(request, "application", resources.APPLICATION, application_wire)


@router.post("/applications")
def create_application(
    request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    perm.check(caller, perm.APP_CREATE)
    body = parse_model(ApplicationCreate, json_object(request, raw), type_name="microsoft.graph.application")
    app = services(request).applications.create_application(body, caller_as_owner(request, caller))
    return entity(request, application_wire(app), context="applications/$entity", status=201)


@router.get("/applications/{object_id}")
def get_application(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: owns(request, caller, object_id))
    app = services(request).applications.get_application(object_id)
    return selected_entity(
        request,
        application_wire(app),
        context="applications/$entity",
        spec=resources.APPLICATION,
        expander=expander(request, "application"),
    )


@router.patch("/applications/{object_id}")
def update_application(
    object_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    body = parse_model(ApplicationUpdate, json_object(request, raw), type_name="microsoft.graph.application")
    services(request).applications.update_application(object_id, body)
    return no_content()


@router.delete("/applications/{object_id}")
def delete_application(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    services(request).applications.delete_application(object_id)
    return no_content()


# Service principals


@router.get("/servicePrincipals")
def list_service_principals(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: True)
    return _list(request, "servicePrincipal", resources.SERVICE_PRINCIPAL, service_principal_wire)


@router.post("/servicePrincipals")
def create_service_principal(
    request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    perm.check(caller, perm.APP_CREATE)
    body = parse_model(
        ServicePrincipalCreate, json_object(request, raw), type_name="microsoft.graph.servicePrincipal"
    )
    sp = services(request).applications.create_service_principal(body, caller_as_owner(request, caller))
    return entity(request, service_principal_wire(sp), context="servicePrincipals/$entity", status=201)


@router.get("/servicePrincipals/{object_id}")
def get_service_principal(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: owns(request, caller, object_id))
    sp = services(request).applications.get_service_principal(object_id)
    return selected_entity(
        request,
        service_principal_wire(sp),
        context="servicePrincipals/$entity",
        spec=resources.SERVICE_PRINCIPAL,
        expander=expander(request, "servicePrincipal"),
    )


@router.patch("/servicePrincipals/{object_id}")
def update_service_principal(
    object_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    body = parse_model(
        ServicePrincipalUpdate, json_object(request, raw), type_name="microsoft.graph.servicePrincipal"
    )
    services(request).applications.update_service_principal(object_id, body)
    return no_content()


@router.delete("/servicePrincipals/{object_id}")
def delete_service_principal(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    services(request).applications.delete_service_principal(object_id)
    return no_content()


# Owners (of applications and service principals alike)


@router.get("/applications/{object_id}/owners")
def list_application_owners(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: owns(request, caller, object_id))
    return related_collection(request, "application", "owners", object_id)


@router.get("/servicePrincipals/{object_id}/owners")
def list_service_principal_owners(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: owns(request, caller, object_id))
    return related_collection(request, "servicePrincipal", "owners", object_id)


@router.get("/groups/{object_id}/owners")
def list_group_owners(
    object_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.GROUP_READ)
    return related_collection(request, "group", "owners", object_id)


@router.post("/applications/{object_id}/owners/$ref")
@router.post("/servicePrincipals/{object_id}/owners/$ref")
def add_owner(
    object_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    ref = parse_model(
        ReferenceRequest, json_object(request, raw), type_name="microsoft.graph.directoryObject"
    )
    services(request).applications.add_owner(object_id, ref.object_id())
    return no_content()


@router.delete("/applications/{object_id}/owners/{owner_id}/$ref")
@router.delete("/servicePrincipals/{object_id}/owners/{owner_id}/$ref")
def remove_owner(
    object_id: str, owner_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    perm.check(caller, perm.APP_WRITE, owns_target=lambda: owns(request, caller, object_id))
    services(request).applications.remove_owner(object_id, owner_id)
    return no_content()


# App role assignments


@router.get("/servicePrincipals/{sp_id}/appRoleAssignedTo")
def list_assignments(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.ASSIGNMENT_READ, owns_target=lambda: owns(request, caller, sp_id))
    query = list_query(request, resources.ASSIGNMENT)
    page = services(request).applications.assignments(sp_id, query.after, query.limit)
    items = [assignment_wire(r) for r in page.records]
    return collection(
        request,
        items,
        context=f"servicePrincipals('{sp_id}')/appRoleAssignedTo",
        query=query,
        spec=resources.ASSIGNMENT,
        next_after=page.next_after,
    )


@router.post("/servicePrincipals/{sp_id}/appRoleAssignedTo")
def assign(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    perm.check(caller, perm.ASSIGNMENT_WRITE, owns_target=lambda: owns(request, caller, sp_id))
    body = parse_model(
        AppRoleAssignmentCreate, json_object(request, raw), type_name="microsoft.graph.appRoleAssignment"
    )
    record = services(request).applications.assign(sp_id, body)
    return entity(
        request,
        assignment_wire(record),
        context=f"servicePrincipals('{sp_id}')/appRoleAssignedTo/$entity",
        status=201,
    )


@router.delete("/servicePrincipals/{sp_id}/appRoleAssignedTo/{assignment_id}")
def unassign(
    sp_id: str, assignment_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    perm.check(caller, perm.ASSIGNMENT_WRITE, owns_target=lambda: owns(request, caller, sp_id))
    services(request).applications.unassign(sp_id, assignment_id)
    return no_content()


def _list(request: Request, kind: str, spec: Any, wire: Any) -> JSONResponse:
    query = list_query(request, spec)
    check_orderby(request, query.options, resources.ORDERBY_BY_DEFAULT.get(spec.type_name, frozenset()))
    page = services(request).applications.list_objects(
        kind,
        query.options.filter,
        query.after,
        query.limit,
        query.options.count,
        order=query.options.orderby,
        after_key=query.after_key,
    )
    return collection(
        request,
        [wire(r) for r in page.records],
        context="applications" if kind == "application" else "servicePrincipals",
        query=query,
        spec=spec,
        next_after=page.next_after,
        next_key=page.next_key,
        count=page.count,
        expander=expander(request, kind),
    )
