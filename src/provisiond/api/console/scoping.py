"""Editing an object mapping's scoping filter in the console.

The filter's groups (OR-ed) of clauses (AND-ed) are form fields: attribute, one of the engine's
operators, values one per line. Adding or removing a group or a clause posts the form and shows
it again with the change (no script needed). Save goes through the same review as an attribute
mapping (review.py): validated as PUT .../schema validates it (a refusal shows its message on
this page and changes nothing), previewed, then applied or taken back here.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import editors, filters
from provisiond.api.console.changes import SCOPE, PendingChange, object_mapping
from provisiond.api.console.identity import Console, console_of, posted_form, signed_in
from provisiond.api.console.jobs import load_job, refused
from provisiond.api.console.review import NO_SUCH_MAPPING, review
from provisiond.services.errors import NotFound

router = APIRouter()


def _positions(source: FormData | dict[str, str]) -> tuple[int, int]:
    try:
        return int(str(source.get("rule", ""))), int(str(source.get("object", "")))
    except ValueError:
        raise IndexError from None


@router.get("/apps/{sp_id}/jobs/{job_id}/mappings/scope")
def scope_page(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        rule, obj = _positions(dict(request.query_params))
        mapping = object_mapping(schema, rule, obj)
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    groups = list((mapping.get("scope") or {}).get("groups") or [])
    return editors.scope_editor(console, view, rule, obj, groups)


@router.post("/apps/{sp_id}/jobs/{job_id}/mappings/scope")
def scope_action(
    sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)
) -> Response:
    """Add or remove a group or a clause, or Save (which shows the preview first)."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        rule, obj = _positions(form)
        object_mapping(schema, rule, obj)
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    try:
        groups = filters.groups_from_form(form)
    except ValueError as exc:
        return editors.scope_editor(console, view, rule, obj, [], status=400, error=str(exc))
    op = str(form.get("op") or "save")
    if op == "save":
        return review(console, view, PendingChange(SCOPE, rule, obj, groups=tuple(groups)))
    try:
        groups, focus = filters.restructure(groups, op)
    except ValueError as exc:
        return editors.scope_editor(console, view, rule, obj, groups, status=400, error=str(exc))
    return editors.scope_editor(console, view, rule, obj, groups, focus=focus)
