"""Directory relationships on the wire: `$expand` on directory objects, and the listings of one
object's relationship (`/members`, `/owners`, `/memberOf`, `/directReports`, ...).

Related objects are shaped as Graph shows them: `@odata.type` first, then the type's default
properties or those of the (nested) `$select` that the object's type has.

`manager` is one object, left out when there is none (as Graph does); the other relationships
are arrays of at most `EXPAND_LIMIT` objects with no next link
(`provisiond.services.relationships`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from provisiond.api import resources
from provisiond.api.common import Expander, api_version, collection, list_query
from provisiond.api.context import services
from provisiond.api.wire import assignment_wire, directory_object_wire
from provisiond.graph.odata import Expand, ResourceQuerySpec, apply_select

SINGLE_VALUED = frozenset({"manager"})
# What `$select` may name on each listing.
LISTING_SPECS = {
    "owners": resources.OWNERS,
    "members": resources.MEMBERS,
    "memberOf": resources.GROUP,
    "transitiveMemberOf": resources.GROUP,
    "transitiveMembers": resources.MEMBERS,
    "directReports": resources.USER,
}


def expansions(request: Request, kind: str, ids: Sequence[str], expand: Expand) -> dict[str, Any]:
    """parent id -> the value of the expanded property (absent for a missing manager)."""
    related = services(request).relationships.related(kind, expand.prop, ids)
    beta = api_version(request) == "beta"
    out: dict[str, Any] = {}
    for parent in ids:
        shaped = [related_wire(k, r, expand.select, beta=beta) for k, r in related.get(parent, [])]
        if expand.prop not in SINGLE_VALUED:
            out[parent] = shaped
        elif shaped:
            out[parent] = shaped[0]
    return out


def related_wire(
    kind: str, record: dict[str, Any], select: list[str] | None, *, beta: bool
) -> dict[str, Any]:
    """One related object: its type's default shape, or the selected properties its type has."""
    if kind == "appRoleAssignment":
        return apply_select(assignment_wire(record), select, resources.ASSIGNMENT)
    spec = _type_spec(kind, beta)
    own = [name for name in select if name in spec.properties] if select is not None else None
    return apply_select(directory_object_wire(kind, record), own, spec)


def expander(request: Request, kind: str) -> Expander:
    """What `collection` and `selected_entity` call to expand objects of `kind`."""
    return lambda ids, expand: expansions(request, kind, ids, expand)


def related_collection(request: Request, kind: str, relationship: str, object_id: str) -> JSONResponse:
    """`GET /{kind}s/{id}/{relationship}`: live related objects in id order, paged by `$top` and
    `$skiptoken`, each with its `@odata.type` and shaped by `$select`."""
    query = list_query(request, LISTING_SPECS[relationship])
    related, next_after = services(request).relationships.page(
        kind, relationship, object_id, query.after, query.limit
    )
    beta = api_version(request) == "beta"
    items = [related_wire(k, r, query.options.select, beta=beta) for k, r in related]
    return collection(request, items, context="directoryObjects", query=query, next_after=next_after)


def _type_spec(kind: str, beta: bool) -> ResourceQuerySpec:
    if kind == "user":
        return resources.USER if beta else resources.USER_V1
    return {"group": resources.GROUP, "servicePrincipal": resources.SERVICE_PRINCIPAL}[kind]
