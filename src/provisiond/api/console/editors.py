"""The mapping editors' pages (an attribute mapping's expression, an object mapping's scoping
filter), rendered for the routes that open them, refuse their input, or go back to them from
a review (mappings.py, scoping.py, review.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import filters
from provisiond.api.console.identity import Console
from provisiond.api.console.jobs import JobView
from provisiond.api.console.pages import page


def attribute_editor(
    console: Console,
    view: JobView,
    positions: tuple[int, int, int],
    attribute: dict[str, Any],
    expression: str,
    sample: str = "",
    status: int = 200,
    **more: Any,
) -> Response:
    """One attribute mapping's expression with its Test box (sample input, or a user of the
    directory when the mapping reads users and the identity may read them) and Save."""
    schema = console.services.synchronization.job_schema(view.job)
    rules = schema.get("synchronizationRules") or []
    mapping = rules[positions[0]]["objectMappings"][positions[1]]
    reads_users = str(mapping.get("sourceObjectName") or "").casefold() == "user"
    return page(
        console.request,
        "mapping_edit.html",
        console,
        status=status,
        view=view,
        positions=dict(zip(("rule", "object", "attr"), positions, strict=True)),
        attribute=attribute,
        expression=expression,
        sample=sample,
        user_test=reads_users and console.may(perm.USER_READ),
        **more,
    )


def source_attributes(schema: dict[str, Any], rule: int, obj: int) -> list[str]:
    """The attribute names of the object mapping's source object (for the clause suggestions)."""
    rules = schema.get("synchronizationRules") or []
    mapping = rules[rule]["objectMappings"][obj]
    folded = str(rules[rule].get("sourceDirectoryName") or "").casefold()
    for directory in schema.get("directories") or []:
        if str(directory.get("name") or "").casefold() != folded:
            continue
        for definition in directory.get("objects") or []:
            if (
                str(definition.get("name") or "").casefold()
                == str(mapping.get("sourceObjectName")).casefold()
            ):
                return [str(a["name"]) for a in definition.get("attributes") or [] if a.get("name")]
    return []


def scope_editor(
    console: Console,
    view: JobView,
    rule: int,
    obj: int,
    groups: list[dict[str, Any]],
    status: int = 200,
    focus: str | None = None,
    **more: Any,
) -> Response:
    """One object mapping's scoping filter (`scope.groups`) as editable groups of clauses; the
    caller has checked that the mapping exists."""
    schema = console.services.synchronization.job_schema(view.job)
    mapping = schema["synchronizationRules"][rule]["objectMappings"][obj]
    return page(
        console.request,
        "scoping_edit.html",
        console,
        status=status,
        view=view,
        rule=rule,
        object=obj,
        mapping=mapping,
        groups=filters.editor_groups(groups),
        operators=filters.operators(),
        attributes=source_attributes(schema, rule, obj),
        others=[s for s in filters.scope_view(mapping.get("scope")) if s["key"] != "groups"],
        focus=focus,
        **more,
    )
