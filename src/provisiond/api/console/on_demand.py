"""Provision on demand in the console: pick a user or a group (the page suggests matches as
you type), run it, and see the record's steps, changed properties and error.

The run is the API's provisionOnDemand use case (OnDemandService: the same rule checks, rate
limit and job lease) under the API's permission for it, with the job's first rule that
supports on demand, as the portal's button uses the job's rule.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.console import views
from provisiond.api.console.identity import Console, console_of, posted_form, signed_in
from provisiond.api.console.jobs import JobView, load_job
from provisiond.api.console.pages import page
from provisiond.engine.objects import GROUP, USER
from provisiond.engine.on_demand import Initiator, Subject
from provisiond.graph.odata import ODataError, parse_filter
from provisiond.services.errors import NotFound, ServiceError

router = APIRouter()

SUGGESTIONS = 10
KINDS = {"user": (USER, resources.USER, perm.USER_READ), "group": (GROUP, resources.GROUP, perm.GROUP_READ)}


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@router.get("/apps/{sp_id}/jobs/{job_id}/on-demand")
def on_demand_page(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    return page(request, "on_demand.html", console, view=view, kind="user", subject="")


@router.get("/apps/{sp_id}/jobs/{job_id}/subjects")
def subjects(
    sp_id: str,
    job_id: str,
    request: Request,
    q: str = "",
    kind: str = "user",
    console: Console = Depends(signed_in),
) -> Response:
    """Up to ten users (by display name or UPN) or groups (by display name) starting with `q`."""
    if kind not in KINDS or not console.may(KINDS[kind][2]):
        return JSONResponse([])
    try:
        load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    except ServiceError:
        return JSONResponse([])
    text = q.strip()
    if kind == "user":
        query = f"startswith(displayName,{_quoted(text)}) or startswith(userPrincipalName,{_quoted(text)})"
    else:
        query = f"startswith(displayName,{_quoted(text)})"
    try:
        node = parse_filter(query, KINDS[kind][1]) if text else None
    except ODataError:
        return JSONResponse([])
    found = console.services.directory.list_objects(kind, node, None, SUGGESTIONS).records
    if kind == "user":
        items = [{"value": r["user_principal_name"], "label": r.get("display_name") or ""} for r in found]
    else:
        items = [{"value": r["display_name"], "label": r.get("description") or "group"} for r in found]
    return JSONResponse(items)


def _subject_id(console: Console, kind: str, typed: str) -> str:
    """The object id of what was picked: a user by UPN or id, a group by display name or id."""
    directory = console.services.directory
    if kind == "user":
        return str(directory.get_user(typed)["id"])
    try:
        return str(directory.get_group(typed)["id"])
    except NotFound:
        node = parse_filter(f"displayName eq {_quoted(typed)}", resources.GROUP)
        found = directory.list_objects("group", node, None, 2).records
        if len(found) != 1:
            raise NotFound(
                f"No group is named {typed}."
                if not found
                else f"More than one group is named {typed}; use its id."
            ) from None
        return str(found[0]["id"])


def _rule_id(view: JobView) -> str:
    rules = (view.job.get("schema") or {}).get("synchronizationRules") or []
    for rule in rules:
        metadata = {m.get("key"): m.get("value") for m in rule.get("metadata") or []}
        if str(metadata.get("supportsProvisionOnDemand", "true")).lower() != "false":
            return str(rule["id"])
    return ""


@router.post("/apps/{sp_id}/jobs/{job_id}/on-demand")
def run_on_demand(
    sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)
) -> Response:
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    kind = str(form.get("kind") or "user")
    typed = str(form.get("subject") or "").strip()
    context: dict[str, Any] = {"view": view, "kind": kind, "subject": typed}
    if kind not in KINDS or not typed:
        return page(
            request, "on_demand.html", console, status=400, error="Pick a user or a group first.", **context
        )
    principal = console.principal
    initiator = (
        Initiator(principal.object_id, "user")
        if principal.delegated and principal.object_id
        else Initiator(principal.app_id or "", "application")
    )
    try:
        subject = Subject(_subject_id(console, kind, typed), KINDS[kind][0])
        result = console.services.on_demand.provision(view.sp, job_id, _rule_id(view), subject, initiator)
    except ServiceError as exc:
        return page(request, "on_demand.html", console, status=exc.status, error=exc.message, **context)
    record = result.record
    return page(
        request,
        "on_demand.html",
        console,
        record=record,
        members=result.members,
        hint=views.error_hint(record.get("error_code")),
        **context,
    )
