"""Users, groups, their members and managers, and `/directory/deletedItems`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import (
    api_version,
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
from provisiond.api.wire import ODATA_TYPES, directory_object_wire, group_wire, user_wire
from provisiond.graph.directory import (
    GroupCreate,
    GroupUpdate,
    ReferenceRequest,
    UserCreate,
    UserUpdate,
)
from provisiond.graph.odata import ResourceQuerySpec

router = APIRouter()


def _user_spec(request: Request) -> ResourceQuerySpec:
    return resources.USER_V1 if api_version(request) == "v1.0" else resources.USER


# Users


def _count(request: Request, kind: str, spec: ResourceQuerySpec) -> Response:
    query = list_query(request, spec)
    return PlainTextResponse(str(services(request).directory.count_objects(kind, query.options.filter)))


def _list(
    request: Request, kind: str, spec: ResourceQuerySpec, wire: Callable[[dict[str, Any]], dict[str, Any]]
) -> JSONResponse:
    """A page of users or groups: the same OData options, paging and shape for both."""
    query = list_query(request, spec)
    check_orderby(request, query.options, resources.ORDERBY_BY_DEFAULT.get(spec.type_name, frozenset()))
    page = services(request).directory.list_objects(
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
        context=f"{kind}s",
        query=query,
        spec=spec,
        next_after=page.next_after,
        next_key=page.next_key,
        count=page.count,
        expander=expander(request, kind),
    )


@router.get("/users/$count")
def count_users(request: Request, caller: Principal = Depends(authenticate)) -> Response:
    perm.check(caller, perm.USER_READ)
    return _count(request, "user", resources.USER)


@router.get("/users")
def list_users(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.USER_READ)
    return _list(request, "user", _user_spec(request), user_wire)


@router.post("/users")
def create_user(
    request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    perm.check(caller, perm.USER_WRITE)
    body = parse_model(UserCreate, json_object(request, raw), type_name="microsoft.graph.user")
    record = services(request).directory.create_user(body)
    return entity(request, user_wire(record), context="users/$entity", status=201)


@router.get("/users/{key}")
def get_user(key: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.USER_READ)
    record = services(request).directory.get_user(key)
    return selected_entity(
        request,
        user_wire(record),
        context="users/$entity",
        spec=_user_spec(request),
        expander=expander(request, "user"),
    )


@router.patch("/users/{key}")
def update_user(
    key: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    perm.check(caller, perm.USER_WRITE)
    body = parse_model(UserUpdate, json_object(request, raw), type_name="microsoft.graph.user")
    services(request).directory.update_user(key, body)
    return no_content()


@router.delete("/users/{key}")
def delete_user(key: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    perm.check(caller, perm.USER_WRITE)
    services(request).directory.delete_user(key)
    return no_content()


@router.get("/users/{key}/manager")
def get_manager(key: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.USER_READ)
    manager = services(request).directory.get_manager(key)
    return entity(
        request,
        directory_object_wire("user", manager),
        context="directoryObjects/$entity",
    )


def _relationship_route(kind: str, relationship: str) -> None:
    """`GET /users/{id|upn}/{relationship}` or `GET /groups/{id}/{relationship}`: a page of the
    live related objects (`provisiond.api.relationships.related_collection`)."""
    permission = perm.USER_READ if kind == "user" else perm.GROUP_READ

    def route(key: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
        perm.check(caller, permission)
        object_id = services(request).directory.get_user(key)["id"] if kind == "user" else key
        return related_collection(request, kind, relationship, object_id)

    router.add_api_route(
        f"/{kind}s/{{key}}/{relationship}", route, methods=["GET"], name=f"list_{kind}_{relationship}"
    )


for _relationship in ("directReports", "memberOf", "transitiveMemberOf"):
    _relationship_route("user", _relationship)


@router.put("/users/{key}/manager/$ref")
def set_manager(
    key: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    perm.check(caller, perm.USER_WRITE)
    ref = parse_model(
        ReferenceRequest, json_object(request, raw), type_name="microsoft.graph.directoryObject"
    )
    services(request).directory.set_manager(key, ref.object_id())
    return no_content()


@router.delete("/users/{key}/manager/$ref")
def remove_manager(key: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    perm.check(caller, perm.USER_WRITE)
    services(request).directory.remove_manager(key)
    return no_content()


# Groups


@router.get("/groups/$count")
def count_groups(request: Request, caller: Principal = Depends(authenticate)) -> Response:
    perm.check(caller, perm.GROUP_READ)
    return _count(request, "group", resources.GROUP)


@router.get("/groups")
def list_groups(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.GROUP_READ)
    return _list(request, "group", resources.GROUP, group_wire)


@router.post("/groups")
def create_group(
    request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    perm.check(caller, perm.GROUP_WRITE)
    body = parse_model(GroupCreate, json_object(request, raw), type_name="microsoft.graph.group")
    record = services(request).directory.create_group(body)
    return entity(request, group_wire(record), context="groups/$entity", status=201)


@router.get("/groups/{group_id}")
def get_group(group_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.GROUP_READ)
    record = services(request).directory.get_group(group_id)
    return selected_entity(
        request,
        group_wire(record),
        context="groups/$entity",
        spec=resources.GROUP,
        expander=expander(request, "group"),
    )


@router.patch("/groups/{group_id}")
def update_group(
    group_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    perm.check(caller, perm.GROUP_WRITE)
    body = parse_model(GroupUpdate, json_object(request, raw), type_name="microsoft.graph.group")
    services(request).directory.update_group(group_id, body)
    return no_content()


@router.delete("/groups/{group_id}")
def delete_group(group_id: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    perm.check(caller, perm.GROUP_WRITE)
    services(request).directory.delete_group(group_id)
    return no_content()


for _relationship in ("members", "memberOf", "transitiveMemberOf", "transitiveMembers"):
    _relationship_route("group", _relationship)


@router.post("/groups/{group_id}/members/$ref")
def add_member(
    group_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    perm.check(caller, perm.GROUP_MEMBER_WRITE)
    ref = parse_model(
        ReferenceRequest, json_object(request, raw), type_name="microsoft.graph.directoryObject"
    )
    services(request).directory.add_member(group_id, ref.object_id())
    return no_content()


@router.delete("/groups/{group_id}/members/{member_id}/$ref")
def remove_member(
    group_id: str, member_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    perm.check(caller, perm.GROUP_MEMBER_WRITE)
    services(request).directory.remove_member(group_id, member_id)
    return no_content()


# Deleted items


@router.get("/directory/deletedItems/microsoft.graph.user")
def deleted_users(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    return _deleted_list(request, caller, "user")


@router.get("/directory/deletedItems/microsoft.graph.group")
def deleted_groups(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    return _deleted_list(request, caller, "group")


@router.get("/directory/deletedItems/{object_id}")
def get_deleted(object_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.DIRECTORY_READ)
    kind, record = services(request).directory.get_deleted(object_id)
    return entity(
        request, _directory_object({"kind": kind, **record}), context="directory/deletedItems/$entity"
    )


@router.post("/directory/deletedItems/{object_id}/restore")
def restore(object_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    _check_deleted_write(request, caller, object_id)
    kind, record = services(request).directory.restore(object_id)
    return entity(request, _directory_object({"kind": kind, **record}), context="directoryObjects/$entity")


@router.delete("/directory/deletedItems/{object_id}")
def purge(object_id: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    _check_deleted_write(request, caller, object_id)
    services(request).directory.purge(object_id)
    return no_content()


def _check_deleted_write(request: Request, caller: Principal, object_id: str) -> None:
    """Restoring or purging a user needs a user-write permission, a group a group-write one."""
    kind, _ = services(request).directory.get_deleted(object_id)
    perm.check(caller, perm.USER_WRITE if kind == "user" else perm.GROUP_WRITE)


def _deleted_list(request: Request, caller: Principal, kind: str) -> JSONResponse:
    perm.check(caller, perm.USER_READ if kind == "user" else perm.GROUP_READ)
    query = list_query(request, resources.DIRECTORY_OBJECT)
    page = services(request).directory.list_objects(kind, None, query.after, query.limit, deleted=True)
    items = [_directory_object({"kind": kind, **r}) for r in page.records]
    return collection(
        request, items, context=f"directory/deletedItems/{ODATA_TYPES[kind][1:]}", next_after=page.next_after
    )


def _directory_object(record: dict[str, Any]) -> dict[str, Any]:
    kind = record.pop("kind")
    return directory_object_wire(kind, record)
