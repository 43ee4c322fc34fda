"""`GET /users/delta`, `/groups/delta` and `/servicePrincipals/delta` (also called as `delta()`).

Query options: `$select` (kept in the tokens, so every page and later round has the same
shape), `$top` or `Prefer: odata.maxpagesize=N` for the page size, and the `$skiptoken` /
`$deltatoken` of the links this route returns. A token carries everything, so the links hold
nothing else. See `provisiond.services.delta` for the semantics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import DEFAULT_PAGE_SIZE, api_version, odata_context
from provisiond.api.context import services
from provisiond.api.errors import bad_request
from provisiond.api.wire import group_wire, service_principal_wire, user_wire
from provisiond.graph.odata import ODataError, ResourceQuerySpec, apply_select, parse_query_options
from provisiond.services.delta import DeltaItem, DeltaService, Position, decode_token, encode_token

router = APIRouter()

MAX_PAGE_SIZE = 999
MEMBER_TYPES = {"user": "#microsoft.graph.user", "group": "#microsoft.graph.group"}
_MAXPAGESIZE = re.compile(r"(?:^|[,;\s])odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
# `members` is selectable on group delta only: it asks for members@delta.
GROUP_DELTA = ResourceQuerySpec(
    type_name=resources.GROUP.type_name,
    properties=[*resources.GROUP.properties, "members"],
    filterable={},
)


@router.get("/users/delta")
def users_delta(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.USER_READ)
    spec = resources.USER_V1 if api_version(request) == "v1.0" else resources.USER
    return _delta(request, "user", spec, user_wire)


@router.get("/groups/delta")
def groups_delta(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.GROUP_READ)
    return _delta(request, "group", GROUP_DELTA, group_wire)


@router.get("/servicePrincipals/delta")
def service_principals_delta(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.APP_READ, owns_target=lambda: True)
    return _delta(request, "servicePrincipal", resources.SERVICE_PRINCIPAL, service_principal_wire)


def _delta(
    request: Request, kind: str, spec: ResourceQuerySpec, wire: Callable[[dict[str, Any]], dict[str, Any]]
) -> JSONResponse:
    service = DeltaService(services(request).directory.db)
    tokens: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for key, value in request.query_params.multi_items():
        name = key.lower().removeprefix("$")
        if name in ("skiptoken", "deltatoken"):
            if name in tokens:
                raise bad_request(f"Query option '${name}' was specified more than once.")
            tokens[name] = value
        else:
            others.append((key, value))
    if len(tokens) > 1:
        raise bad_request("Specify either $skiptoken or $deltatoken, not both.")
    try:
        options = parse_query_options(others, resource=spec)
    except ODataError as exc:
        raise bad_request(str(exc)) from None
    if options.filter is not None or options.count or options.orderby is not None or options.expand:
        raise bad_request("Query options $filter, $count, $orderby and $expand are not supported on delta.")
    page_size = _page_size(request, options.top)
    if "skiptoken" in tokens:
        position = service.resume(decode_token(tokens["skiptoken"], kind=kind, delta=False))
    elif "deltatoken" in tokens and tokens["deltatoken"].lower() != "latest":
        position = service.resume(decode_token(tokens["deltatoken"], kind=kind, delta=True))
    else:
        asked = tuple(options.select) if options.select is not None else None
        position = service.start(kind, asked, page_size or DEFAULT_PAGE_SIZE, latest="deltatoken" in tokens)
    if page_size is not None:
        position = replace(position, page_size=page_size)
    select = _checked_select(position, spec)
    page = service.page(position)
    items = [_item(item, select, spec, wire) for item in page.items]
    context = f"{kind}s" + (f"({','.join(select)})" if select else "")
    body: dict[str, Any] = {"@odata.context": odata_context(request, context)}
    link = str(request.url).split("?")[0]
    if page.next is not None:
        body["@odata.nextLink"] = f"{link}?$skiptoken={encode_token(page.next)}"
    if page.delta is not None:
        body["@odata.deltaLink"] = f"{link}?$deltatoken={encode_token(page.delta)}"
    body["value"] = items
    headers = (
        {"Preference-Applied": f"odata.maxpagesize={page_size}"} if page_size and not options.top else {}
    )
    return JSONResponse(body, headers=headers)


def _page_size(request: Request, top: int | None) -> int | None:
    if top is not None:
        return top
    match = _MAXPAGESIZE.search(request.headers.get("prefer", ""))
    if match is None:
        return None
    return max(1, min(int(match.group(1)), MAX_PAGE_SIZE))


def _checked_select(position: Position, spec: ResourceQuerySpec) -> list[str] | None:
    """A token's `$select`, validated again: the checksum is no signature."""
    if position.select is None:
        return None
    try:
        return parse_query_options([("$select", ",".join(position.select))], resource=spec).select
    except ODataError:
        raise bad_request("Invalid $skiptoken or $deltatoken value: the token is malformed.") from None


def _item(
    item: DeltaItem,
    select: list[str] | None,
    spec: ResourceQuerySpec,
    wire: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    if item.record is None:
        return {"id": item.id, "@removed": {"reason": item.removed}}
    properties = [name for name in select if name != "members"] if select is not None else None
    shaped = apply_select(wire(item.record), properties, spec)
    if properties is not None and "id" not in shaped:
        shaped = {"id": item.id, **shaped}
    if item.members is not None and (select is None or "members" in select):
        shaped["members@delta"] = [_member(m.id, m.kind, m.removed) for m in item.members]
    return shaped


def _member(member_id: str, kind: str | None, removed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind is not None:
        out["@odata.type"] = MEMBER_TYPES[kind]
    out["id"] = member_id
    if removed:
        out["@removed"] = {"reason": "deleted"}
    return out
