"""A job's provisioning logs in the console: filters (time range, status, action, identity,
cycle), paging newest first, and one entry's steps, changed properties and error with a hint.

The filters become the OData `$filter` the API's `GET /auditLogs/provisioning` takes, parsed
with the same specification and read through the same LogService, so the console filters
exactly as the API does. The permission is the API's (AuditLog.Read.All or
ProvisioningLog.Read.All), plus reading the job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import views
from provisiond.api.console.identity import Console, signed_in
from provisiond.api.console.jobs import load_job
from provisiond.api.console.pages import error_page, page
from provisiond.api.routes.provisioning_logs import SPEC
from provisiond.graph.odata import ODataError, parse_filter
from provisiond.services.errors import NotFound

router = APIRouter()

PAGE_SIZE = 50
STATUSES = ("success", "failure", "skipped", "warning")
ACTIONS = ("create", "update", "disable", "delete", "stageddelete", "other")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _instant(text: str, field: str) -> datetime:
    """A datetime-local field's value (the browser's yyyy-mm-ddThh:mm), read as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field} must be a date and time such as 2026-01-31T13:45.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def log_filter(console: Console, job_id: str, filters: dict[str, str]) -> str:
    """The OData filter for the form's fields; ValueError naming a field that is not valid."""
    clauses = [f"jobId eq {_quoted(job_id)}"]
    for field, op in (("from", "ge"), ("to", "le")):
        if filters.get(field):
            instant = _instant(filters[field], field)
            clauses.append(f"activityDateTime {op} {instant.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if filters.get("status"):
        if filters["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}.")
        clauses.append(f"statusInfo/status eq {_quoted(filters['status'])}")
    if filters.get("action"):
        if filters["action"] not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}.")
        clauses.append(f"provisioningAction eq {_quoted(filters['action'])}")
    if filters.get("identity"):
        clauses.append(f"sourceIdentity/id eq {_quoted(_source_id(console, filters['identity'].strip()))}")
    if filters.get("cycle"):
        clauses.append(f"cycleId eq {_quoted(filters['cycle'].strip())}")
    return " and ".join(clauses)


def _source_id(console: Console, identity: str) -> str:
    """A user's id from its id or user principal name (as typed); anything else as given."""
    if "@" not in identity:
        return identity
    try:
        return str(console.services.directory.get_user(identity)["id"])
    except NotFound:
        raise ValueError(f"No user has the user principal name {identity}.") from None


@router.get("/apps/{sp_id}/jobs/{job_id}/logs")
def logs_page(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    view = load_job(console, sp_id, job_id)
    if not console.may(perm.PROVISIONING_LOG_READ):
        return error_page(
            request,
            console,
            403,
            "Reading provisioning logs needs AuditLog.Read.All or ProvisioningLog.Read.All.",
        )
    params = request.query_params
    filters = {k: params.get(k, "") for k in ("from", "to", "status", "action", "identity", "cycle")}
    context: dict[str, Any] = {
        "view": view,
        "filters": filters,
        "statuses": STATUSES,
        "actions": ACTIONS,
        "entries": [],
        "next_url": None,
    }
    try:
        node = parse_filter(log_filter(console, view.job["id"], filters), SPEC)
        after = _after(params.get("after_time"), params.get("after_id"))
    except (ValueError, ODataError) as exc:
        return page(request, "logs.html", console, status=400, error=str(exc), **context)
    rows, last = console.services.logs.page(node, after, PAGE_SIZE)
    context["entries"] = rows
    if last is not None:
        more = {k: v for k, v in filters.items() if v}
        more.update(after_time=last[0].isoformat(), after_id=last[1])
        context["next_url"] = f"{view.path}/logs?{urlencode(more)}"
    context["first_url"] = f"{view.path}/logs?{urlencode({k: v for k, v in filters.items() if v})}"
    context["paged"] = after is not None
    return page(request, "logs.html", console, **context)


def _after(time: str | None, entry_id: str | None) -> tuple[datetime, str] | None:
    if not time or not entry_id:
        return None
    try:
        return datetime.fromisoformat(time), entry_id
    except ValueError:
        raise ValueError("The page link is not valid; start from the first page.") from None


@router.get("/apps/{sp_id}/jobs/{job_id}/logs/{entry_id}")
def log_entry(
    sp_id: str, job_id: str, entry_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    view = load_job(console, sp_id, job_id)
    if not console.may(perm.PROVISIONING_LOG_READ):
        return error_page(
            request,
            console,
            403,
            "Reading provisioning logs needs AuditLog.Read.All or ProvisioningLog.Read.All.",
        )
    node = parse_filter(f"jobId eq {_quoted(view.job['id'])} and id eq {_quoted(entry_id)}", SPEC)
    rows, _ = console.services.logs.page(node, None, 1)
    if not rows:
        return error_page(request, console, 404, f"No provisioning log entry {entry_id} for this job.")
    entry = rows[0]
    return page(
        request,
        "log_entry.html",
        console,
        view=view,
        entry=entry,
        hint=views.error_hint(entry.get("error_code")),
    )
