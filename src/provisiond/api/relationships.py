"""Directory relationships on the wire: `$expand` on directory objects and the owners listing.

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

from provisiond.api import resources
from provisiond.api.context import services
from provisiond.api.wire import assignment_wire, directory_object_wire
from provisiond.graph.odata import Expand, ResourceQuerySpec, apply_select

SINGLE_VALUED = frozenset({"manager"})


def expansions(request: Request, kind: str, ids: Sequence[str], expand: Expand) -> dict[str, Any]:
    """parent id -> the value of the expanded property (absent for a missing manager)."""
    related = services(request).relationships.related(kind, expand.prop, ids)
    beta = request.url.path.startswith("/beta")
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


def context_suffix(select: list[str] | None, expand: Expand | None) -> str:
    """The `@odata.context` select list: `(a,b)`, with `nav()` or `nav(x,y)` for an expansion."""
    items = list(select or [])
    if expand is not None:
        items.append(f"{expand.prop}({','.join(expand.select or [])})")
    return f"({','.join(items)})" if items else ""


def _type_spec(kind: str, beta: bool) -> ResourceQuerySpec:
    if kind == "user":
        return resources.USER if beta else resources.USER_V1
    return {"group": resources.GROUP, "servicePrincipal": resources.SERVICE_PRINCIPAL}[kind]
