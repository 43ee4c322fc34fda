"""Attribute mappings and job settings in the console.

- Mappings: every rule's object mappings, each with its scoping filter as readable clauses
  (edited in scoping.py) and its attribute mappings, each source shown as an expression.
  Editing one gives a Test box (the API's parseExpression use case on sample input, or on a
  chosen user's source object as a cycle of the job maps it) and Save,
  which shows the preview of the changed schema before anything is saved (review.py: Apply
  saves it through the API's PUT .../schema use case, which validates the whole schema and
  makes the next cycle re-evaluate every object).
- Settings: synchronizationJobSettings with each engine setting's meaning and allowed range,
  saved through the API's PATCH use case, which checks every value before anything changes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import editors, filters
from provisiond.api.console.changes import ATTRIBUTE, PendingChange, attribute_mapping, expression_text
from provisiond.api.console.identity import Console, console_of, posted_form, signed_in
from provisiond.api.console.jobs import JobView, load_job, refused
from provisiond.api.console.pages import page, see_other
from provisiond.api.console.review import NO_SUCH_MAPPING, review
from provisiond.engine.policy import SETTINGS
from provisiond.graph.synchronization import JobPatchRequest, ParseExpressionRequest
from provisiond.services.errors import Forbidden, NotFound, ServiceError
from provisiond.services.parse_expression import parse_expression

router = APIRouter()


def mapping_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object mappings of every rule, each with its attribute mappings as expressions and
    its scoping filter as readable clauses."""
    rows = []
    for r, rule in enumerate(schema.get("synchronizationRules") or []):
        for o, mapping in enumerate(rule.get("objectMappings") or []):
            attributes = [
                {
                    "index": a,
                    "target": attr.get("targetAttributeName"),
                    "expression": expression_text(attr.get("source")),
                    "flow": attr.get("flowType"),
                    "matching": attr.get("matchingPriority") or 0,
                }
                for a, attr in enumerate(mapping.get("attributeMappings") or [])
            ]
            rows.append(
                {
                    "rule": r,
                    "object": o,
                    "mapping": mapping,
                    "attributes": attributes,
                    "scope": filters.scope_view(mapping.get("scope")),
                }
            )
    return rows


@router.get("/apps/{sp_id}/jobs/{job_id}/mappings")
def mappings_page(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    view = load_job(console, sp_id, job_id)
    schema = console.services.synchronization.job_schema(view.job)
    return page(
        request,
        "mappings.html",
        console,
        view=view,
        rows=mapping_rows(schema),
        can_write=console.may(perm.SYNC_WRITE, sp_id),
    )


def _positions(source: Any) -> tuple[int, int, int]:
    try:
        return int(source.get("rule", "")), int(source.get("object", "")), int(source.get("attr", ""))
    except ValueError:
        raise IndexError from None


@router.get("/apps/{sp_id}/jobs/{job_id}/mappings/edit")
def edit_page(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        positions = _positions(request.query_params)
        attribute = attribute_mapping(schema, *positions)
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    return editors.attribute_editor(
        console, view, positions, attribute, expression_text(attribute.get("source"))
    )


def _sample_properties(sample: str) -> list[dict[str, str]]:
    """`name=value` lines (as the Test box takes them); ValueError naming a line without `=`."""
    properties = []
    for number, line in enumerate(sample.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"Sample line {number} is not name=value.")
        properties.append({"key": name.strip(), "value": value.strip()})
    return properties


@router.post("/apps/{sp_id}/jobs/{job_id}/mappings/edit")
def edit_action(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    """Test one attribute mapping's expression (on the sample input, or on a chosen user), or
    Save it (which shows its preview first)."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        positions = _positions(form)
        attribute = attribute_mapping(schema, *positions)
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    expression = str(form.get("expression") or "").strip()
    sample = str(form.get("sample") or "")
    test_user = str(form.get("test_user") or "").strip()
    action = form.get("action")
    if action == "save":
        change = PendingChange(ATTRIBUTE, *positions, expression=expression)
        return review(console, view, change)
    more: dict[str, Any] = {"test_user": test_user}
    try:
        if action == "test-user":
            source, tested_on = _user_source(console, view, schema, test_user)
            test = _test(console, schema, expression, [{"key": k, "value": v} for k, v in source.items()])
            more["tested_on"] = tested_on
        else:
            test = _test(console, schema, expression, _sample_properties(sample))
    except ValueError as exc:
        return editors.attribute_editor(
            console, view, positions, attribute, expression, sample, status=400, error=str(exc), **more
        )
    except ServiceError as exc:
        return editors.attribute_editor(
            console,
            view,
            positions,
            attribute,
            expression,
            sample,
            status=exc.status,
            error=exc.message,
            **more,
        )
    return editors.attribute_editor(
        console, view, positions, attribute, expression, sample, test=test, **more
    )


def _test(
    console: Console, schema: dict[str, Any], expression: str, properties: list[dict[str, Any]]
) -> dict[str, Any]:
    """parseExpression's answer for the expression on these source properties (none: parse
    only); ValueError for a request the use case would refuse as malformed."""
    body: dict[str, Any] = {"expression": expression}
    if properties:
        body["testInputObject"] = {"definition": None, "properties": properties}
    try:
        request = ParseExpressionRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"])) from None
    return parse_expression(request, schema, console.services.synchronization.clock.now)


def _user_source(
    console: Console, view: JobView, schema: dict[str, Any], typed: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source object a cycle of this job maps for the user picked by UPN or id
    (`SynchronizationService.mapped_user`), and what to say about it."""
    if not console.may(perm.USER_READ):
        raise Forbidden("This identity may not read users (User.Read.All), so it cannot test on one.")
    if not typed:
        raise ValueError("Pick a user to test on first (type a name or user principal name).")
    sync = console.services.synchronization
    user_id = str(console.services.directory.get_user(typed)["id"])
    found, source, details = sync.mapped_user(view.sp, schema, user_id)
    tested_on = {
        "upn": found.get("userPrincipalName"),
        "display_name": found.get("displayName"),
        "details": details,
        "attributes": sorted((key, _shown(value)) for key, value in source.items()),
    }
    return source, tested_on


def _shown(value: Any) -> str:
    """A source value as the Test box lists it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


# Settings


@router.get("/apps/{sp_id}/jobs/{job_id}/settings")
def settings_page(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    view = load_job(console, sp_id, job_id)
    return _settings(console, view, {})


def _settings(
    console: Console, view: JobView, typed: dict[str, str], status: int = 200, **more: Any
) -> Response:
    current = {s["name"]: str(s["value"]) for s in view.job.get("settings") or []}
    fields = [
        {"name": name, "value": typed.get(name, current.get(name, "")), "allowed": spec.allowed()}
        for name, spec in SETTINGS.items()
    ]
    others = {k: v for k, v in current.items() if k not in SETTINGS}
    return page(
        console.request,
        "settings.html",
        console,
        status=status,
        view=view,
        fields=fields,
        others=others,
        can_patch=console.may(perm.SYNC_JOB_PATCH),
        **more,
    )


@router.post("/apps/{sp_id}/jobs/{job_id}/settings")
def save_settings(
    sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)
) -> Response:
    """The settings that changed, as one PATCH: a value set, or a blank one removed (the
    engine's default applies again)."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_JOB_PATCH)
    current = {s["name"]: str(s["value"]) for s in view.job.get("settings") or []}
    typed = {name: str(form.get(name) or "").strip() for name in SETTINGS}
    changes = [
        {"name": name, "value": value or None}
        for name, value in typed.items()
        if value != current.get(name, "") and (value or name in current)
    ]
    if changes:
        try:
            body = JobPatchRequest.model_validate({"synchronizationJobSettings": changes})
            console.services.synchronization.patch_job(view.sp, job_id, body)
        except ValidationError as exc:
            return _settings(console, view, typed, status=400, error=str(exc.errors()[0]["msg"]))
        except ServiceError as exc:
            return _settings(console, view, typed, status=exc.status, error=exc.message)
    return see_other(f"{view.path}/settings?notice=saved")
