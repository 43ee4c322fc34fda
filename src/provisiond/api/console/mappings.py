"""Attribute mappings and job settings in the console.

- Mappings: every rule's object mappings and their attribute mappings, each source shown as
  an expression. Editing one gives a Test box (the API's parseExpression use case on sample
  input), a Preview of what the changed schema would do (PreviewService, nothing written) and
  Save (the API's PUT .../schema use case, which validates the whole schema and makes the next
  cycle re-evaluate every object).
- Settings: synchronizationJobSettings with each engine setting's meaning and allowed range,
  saved through the API's PATCH use case, which checks every value before anything changes.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console.identity import Console, console_of, posted_form, signed_in
from provisiond.api.console.jobs import JobView, load_job, refused, run_preview
from provisiond.api.console.pages import page, see_other
from provisiond.engine.policy import SETTINGS
from provisiond.graph.synchronization import JobPatchRequest, ParseExpressionRequest
from provisiond.mapping import expressions
from provisiond.mapping.errors import ExpressionError
from provisiond.services.errors import ServiceError
from provisiond.services.parse_expression import parse_expression
from provisiond.services.preview import PreviewSpec

router = APIRouter()


def _expression(source: dict[str, Any] | None) -> str:
    if not source:
        return ""
    try:
        return expressions.to_text(expressions.from_mapping_source(source))
    except (ExpressionError, ValueError, KeyError):
        return str(source.get("expression") or source.get("name") or "")


def mapping_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object mappings of every rule, each with its attribute mappings as expressions."""
    rows = []
    for r, rule in enumerate(schema.get("synchronizationRules") or []):
        for o, mapping in enumerate(rule.get("objectMappings") or []):
            attributes = [
                {
                    "index": a,
                    "target": attr.get("targetAttributeName"),
                    "expression": _expression(attr.get("source")),
                    "flow": attr.get("flowType"),
                    "matching": attr.get("matchingPriority") or 0,
                }
                for a, attr in enumerate(mapping.get("attributeMappings") or [])
            ]
            rows.append({"rule": r, "object": o, "mapping": mapping, "attributes": attributes})
    return rows


@router.get("/apps/{sp_id}/jobs/{job_id}/mappings")
def mappings_page(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    try:
        view = load_job(console, sp_id, job_id)
    except ServiceError as exc:
        return refused(console, exc)
    schema = console.services.synchronization.job_schema(view.job)
    return page(
        request,
        "mappings.html",
        console,
        view=view,
        rows=mapping_rows(schema),
        can_write=console.may(perm.SYNC_WRITE, sp_id),
    )


def _attribute(schema: dict[str, Any], rule: int, obj: int, attr: int) -> dict[str, Any]:
    """The attribute mapping at these positions of the schema; IndexError when there is none."""
    if min(rule, obj, attr) < 0:
        raise IndexError
    mapping = schema["synchronizationRules"][rule]["objectMappings"][obj]
    return dict(mapping["attributeMappings"][attr])


def _positions(source: Any) -> tuple[int, int, int]:
    try:
        return int(source.get("rule", "")), int(source.get("object", "")), int(source.get("attr", ""))
    except ValueError:
        raise IndexError from None


@router.get("/apps/{sp_id}/jobs/{job_id}/mappings/edit")
def edit_page(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    except ServiceError as exc:
        return refused(console, exc)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        positions = _positions(request.query_params)
        attribute = _attribute(schema, *positions)
    except (IndexError, KeyError, TypeError):
        return refused(console, ServiceError("There is no such attribute mapping."))
    return _edit(console, view, positions, attribute, _expression(attribute.get("source")), "")


def _edit(
    console: Console,
    view: JobView,
    positions: tuple[int, int, int],
    attribute: dict[str, Any],
    expression: str,
    sample: str,
    status: int = 200,
    **more: Any,
) -> Response:
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
        **more,
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


def _changed_schema(
    schema: dict[str, Any], positions: tuple[int, int, int], expression: str
) -> dict[str, Any]:
    """The schema with one attribute mapping's source replaced; ValueError when it does not parse."""
    try:
        source = expressions.to_mapping_source(expressions.parse(expression))
    except ExpressionError as exc:
        raise ValueError(f"The expression does not parse: {exc}") from None
    changed = copy.deepcopy(schema)
    rule, obj, attr = positions
    target = changed["synchronizationRules"][rule]["objectMappings"][obj]["attributeMappings"][attr]
    target["source"] = source
    return changed


@router.post("/apps/{sp_id}/jobs/{job_id}/mappings/edit")
def edit_action(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    """Test, Preview or Save one attribute mapping's expression (the button pressed says which)."""
    console = console_of(request)
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    except ServiceError as exc:
        return refused(console, exc)
    sync = console.services.synchronization
    schema = sync.job_schema(view.job)
    try:
        positions = _positions(form)
        attribute = _attribute(schema, *positions)
    except (IndexError, KeyError, TypeError):
        return refused(console, ServiceError("There is no such attribute mapping."))
    expression = str(form.get("expression") or "").strip()
    sample = str(form.get("sample") or "")
    action = str(form.get("action") or "test")
    try:
        if action == "test":
            return _edit(
                console,
                view,
                positions,
                attribute,
                expression,
                sample,
                test=_test(console, schema, expression, sample),
            )
        changed = _changed_schema(schema, positions, expression)
        if action == "preview":
            preview = run_preview(console, view, PreviewSpec(schema=changed))
            return _edit(console, view, positions, attribute, expression, sample, preview=preview)
        sync.put_job_schema(view.sp, job_id, changed)
    except ValueError as exc:
        return _edit(console, view, positions, attribute, expression, sample, status=400, error=str(exc))
    except ServiceError as exc:
        return _edit(
            console, view, positions, attribute, expression, sample, status=exc.status, error=exc.message
        )
    return see_other(f"{view.path}/mappings?notice=saved")


def _test(console: Console, schema: dict[str, Any], expression: str, sample: str) -> dict[str, Any]:
    """parseExpression's answer for the expression on the sample input (ValueError for bad input)."""
    body: dict[str, Any] = {"expression": expression}
    properties = _sample_properties(sample)
    if properties:
        body["testInputObject"] = {"definition": None, "properties": properties}
    try:
        request = ParseExpressionRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"])) from None
    return parse_expression(request, schema, console.services.synchronization.clock.now)


# Settings


@router.get("/apps/{sp_id}/jobs/{job_id}/settings")
def settings_page(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    try:
        view = load_job(console, sp_id, job_id)
    except ServiceError as exc:
        return refused(console, exc)
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
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_JOB_PATCH)
    except ServiceError as exc:
        return refused(console, exc)
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
