"""The applications list and a job's page: its state, quarantine, live progress, statistics and
recent cycles; start, pause, restart, delete; its secrets and Test connection.

Every read and action goes through the API's own target lookup (`sp_target`, which runs the
API's permission check for the signed-in identity) and the same service call the API route
makes, so a rule holds in the console exactly as it does on the wire. A refused or failed
action shows the service's message on the page and has changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import views
from provisiond.api.console.changes import signed_change
from provisiond.api.console.identity import (
    Console,
    Refused,
    console_of,
    console_service,
    posted_form,
    signed_in,
)
from provisiond.api.console.pages import error_page, page, see_other
from provisiond.api.routes.targets import Target, sp_target
from provisiond.domain.job_state import JobState
from provisiond.graph.synchronization import RestartRequest, SecretsPutRequest, ValidateCredentialsRequest
from provisiond.services.errors import NotFound, ServiceError
from provisiond.services.outbound import check_secrets
from provisiond.services.preview import PreviewSpec
from provisiond.services.synchronization import SynchronizationService, restart_scope

router = APIRouter()

APPS_PAGE = 200
PREVIEW_ACTIONS = 20  # the first planned changes a preview shows


def job_path(sp_id: str, job_id: str) -> str:
    return f"/console/apps/{sp_id}/jobs/{job_id}"


@dataclass
class JobView:
    """One job as its pages show it."""

    target: Target
    job: dict[str, Any]
    state: JobState
    running: bool

    @property
    def sp(self) -> dict[str, Any]:
        return self.target.sp

    @property
    def path(self) -> str:
        return job_path(self.sp["id"], self.job["id"])

    @property
    def label(self) -> tuple[str, str]:
        return views.state_label(self.state, self.running)

    @property
    def progress(self) -> views.LiveProgress | None:
        return views.live_progress(self.state, self.running)


def load_job(
    console: Console, sp_id: str, job_id: str, requirement: perm.Requirement = perm.SYNC_READ
) -> JobView:
    """The job, after the API's permission check for `requirement`; Refused (its page) when the
    API would answer Forbidden or NotFound."""
    try:
        target = sp_target(console.request, console.principal, sp_id, requirement)
        job = console.services.synchronization.job(target.sp, job_id)
    except ServiceError as exc:
        raise Refused(exc.status, exc.message) from None
    state = SynchronizationService.state_of(job)
    owner = job.get("lease_owner") or ""
    running = bool(state.status.progress) or (bool(owner) and not owner.startswith("provisionOnDemand"))
    return JobView(target, job, state, running)


def refused(console: Console, exc: ServiceError) -> Response:
    return error_page(console.request, console, exc.status, exc.message)


# Applications


@router.get("")
def applications(request: Request, console: Console = Depends(signed_in)) -> Response:
    """Every service principal with synchronization jobs, each job with its state."""
    if not console.may(perm.SYNC_READ):
        return error_page(request, console, 403, "This identity may not read synchronization jobs.")
    rows = []
    services = console.services
    after: str | None = None
    while True:
        batch = services.applications.list_objects("servicePrincipal", None, after, APPS_PAGE, False)
        for sp in batch.records:
            for job in services.synchronization.jobs(sp):
                state = SynchronizationService.state_of(job)
                label, css = views.state_label(state, bool(state.status.progress))
                last = state.status.last_execution
                rows.append(
                    {
                        "sp": sp,
                        "job": job,
                        "state": state,
                        "label": label,
                        "css": css,
                        "last": last,
                        "counts": state.status.entry_counts,
                        "path": job_path(sp["id"], job["id"]),
                    }
                )
        after = batch.next_after
        if after is None:
            break
    return page(request, "applications.html", console, rows=rows)


# The job page


@router.get("/apps/{sp_id}/jobs/{job_id}")
def job_page(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    try:
        view = load_job(console, sp_id, job_id)
        secrets = console.services.synchronization.masked_secrets(view.sp)
    except ServiceError as exc:
        return refused(console, exc)
    return page(request, "job.html", console, **_job_context(console, view), secrets=_secret_fields(secrets))


@router.get("/apps/{sp_id}/jobs/{job_id}/live")
def job_live(sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)) -> Response:
    """The live part of the job page (state, quarantine, progress), which the page polls."""
    view = load_job(console, sp_id, job_id)
    return page(request, "_live.html", console, **_job_context(console, view, chart=False))


def _job_context(console: Console, view: JobView, chart: bool = True) -> dict[str, Any]:
    service = console_service(console.request)
    quarantine = view.state.status.quarantine
    context: dict[str, Any] = {
        "view": view,
        "job_status": view.state.status,
        "schedule": view.state.schedule,
        "quarantine": quarantine,
        "hint": views.quarantine_hint(quarantine) if quarantine else None,
        "held": service.held_deletes(view.job["id"]),
        "can_write": console.may(perm.SYNC_WRITE, view.sp["id"]),
        "can_read_logs": console.may(perm.PROVISIONING_LOG_READ),
        "can_patch": console.may(perm.SYNC_JOB_PATCH),
    }
    if chart:
        context["cycles"] = service.recent_cycles(view.job["id"])
        context["chart"] = views.cycle_chart(context["cycles"])
        context["flags"] = views.restart_flags_view(views.DEFAULT_FLAGS)
        context["preview_available"] = True
    return context


def _secret_fields(secrets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BaseAddress and the other configuration values are shown; credentials are write-only."""
    shown = {s["key"]: s["value"] for s in secrets}
    fields = [{"key": "BaseAddress", "value": shown.get("BaseAddress", ""), "sensitive": False}]
    fields.append({"key": "SecretToken", "value": "", "sensitive": True, "set": "SecretToken" in shown})
    return fields


# Actions


def _act(console: Console, sp_id: str, job_id: str, action: str) -> Response:
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
        sync = console.services.synchronization
        if action == "start":
            sync.start(view.sp, job_id)
        elif action == "pause":
            sync.pause(view.sp, job_id)
        else:
            sync.delete_job(view.sp, job_id)
            return see_other("/console?notice=deleted")
    except ServiceError as exc:
        return refused(console, exc)
    return see_other(f"{view.path}?notice={'started' if action == 'start' else 'paused'}")


@router.post("/apps/{sp_id}/jobs/{job_id}/start")
def start(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    return _act(console_of(request), sp_id, job_id, "start")


@router.post("/apps/{sp_id}/jobs/{job_id}/pause")
def pause(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    return _act(console_of(request), sp_id, job_id, "pause")


@router.post("/apps/{sp_id}/jobs/{job_id}/delete")
def delete(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    console = console_of(request)
    if form.get("confirm") != "yes":
        return error_page(
            request, console, 400, "Deleting a job needs its confirmation box ticked; nothing was deleted."
        )
    return _act(console, sp_id, job_id, "delete")


# Restart


@router.get("/apps/{sp_id}/jobs/{job_id}/restart")
def restart_form(
    sp_id: str, job_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    """The restart dialog as a page of its own (the job page opens it as a dialog)."""
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    return _restart_page(console, view, views.DEFAULT_FLAGS)


def _restart_page(
    console: Console,
    view: JobView,
    checked: frozenset[str],
    *,
    confirm: bool = False,
    error: str | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    held = console_service(console.request).held_deletes(view.job["id"])
    return page(
        console.request,
        "restart.html",
        console,
        status=400 if error else 200,
        view=view,
        flags=views.restart_flags_view(checked),
        held=held,
        confirm=confirm,
        error=error,
        preview=preview,
        preview_available=True,
    )


def scope_of(form: FormData) -> frozenset[str]:
    """The resetScope flags ticked in a restart form (unknown names are refused by the caller)."""
    return frozenset(str(v) for v in form.getlist("scope"))


def _restart_request(form: FormData) -> tuple[frozenset[str], RestartRequest]:
    """The ticked flags and the restart they ask for; ValueError naming an unknown flag."""
    checked = scope_of(form)
    known = {flag.name for flag, _ in views.RESTART_FLAGS}
    if not checked <= known:
        raise ValueError(f"Unknown resetScope flag: {sorted(checked - known)[0]}.")
    # Nothing ticked is an explicit "None": clear nothing (an empty resetScope would mean the default).
    scope = ", ".join(flag.name for flag, _ in views.RESTART_FLAGS if flag.name in checked) or "None"
    try:
        return checked, RestartRequest.model_validate({"criteria": {"resetScope": scope}})
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"])) from None


@router.post("/apps/{sp_id}/jobs/{job_id}/restart")
def restart(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    try:
        checked, body = _restart_request(form)
    except ValueError as exc:
        return _restart_page(console, view, scope_of(form), error=str(exc))
    held = console_service(request).held_deletes(job_id)
    if "ForceDeletes" in checked and held and form.get("confirm_force") != "yes":
        return _restart_page(console, view, checked, confirm=True)
    try:
        console.services.synchronization.restart(view.sp, job_id, body, console.principal.describe())
    except ServiceError as exc:
        return refused(console, exc)
    return see_other(f"{view.path}?notice=restarted")


@router.post("/apps/{sp_id}/jobs/{job_id}/restart/preview")
def restart_preview(
    sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)
) -> Response:
    """What a restart with the ticked flags would do (PreviewService: the cycle's own stages on a
    scratch copy, nothing written), shown above the same form; the permission is restart's."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    try:
        checked, body = _restart_request(form)
    except ValueError as exc:
        return _restart_page(console, view, scope_of(form), error=str(exc))
    try:
        preview = run_preview(console, view, PreviewSpec(reset_scope=restart_scope(body)))
    except ServiceError as exc:
        return _restart_page(console, view, checked, error=f"The preview could not run: {exc.message}")
    return _restart_page(console, view, checked, preview=preview)


def run_preview(console: Console, view: JobView, spec: PreviewSpec) -> dict[str, Any]:
    """A preview and its first planned actions (for `_preview.html`)."""
    service = console.services.preview
    record = service.start(view.sp, view.job["id"], spec)
    actions = []
    if record["status"] == "succeeded":
        actions = service.actions(
            view.sp, view.job["id"], record["id"], after=None, limit=PREVIEW_ACTIONS, action=None
        )
    return {"record": record, "actions": actions, "url": f"{view.path}/previews/{record['id']}"}


@router.get("/apps/{sp_id}/jobs/{job_id}/previews/{preview_id}")
def preview_page(
    sp_id: str, job_id: str, preview_id: str, request: Request, console: Console = Depends(signed_in)
) -> Response:
    """A preview that runs in the background (a large directory), until it is done; with the
    mapping change it previews (signed by this session) when it comes from a mapping's Save."""
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
        service = console.services.preview
        record = service.get(view.sp, job_id, preview_id)
        actions = []
        if record["status"] == "succeeded":
            actions = service.actions(
                view.sp, job_id, preview_id, after=None, limit=PREVIEW_ACTIONS, action=None
            )
    except ServiceError as exc:
        return refused(console, exc)
    preview: dict[str, Any] = {
        "record": record,
        "actions": actions,
        "url": f"{view.path}/previews/{preview_id}",
    }
    # A mapping change's Save whose preview runs in the background: this page offers its Apply.
    pending = signed_change(request.query_params, console.session.csrf_token, preview_id)
    if pending is None:
        unsigned = bool(request.query_params.get("kind"))
        return page(request, "preview.html", console, view=view, preview=preview, unsigned=unsigned)
    schema = console.services.synchronization.job_schema(view.job)
    try:
        change = pending.describe(schema)
    except IndexError:
        return refused(
            console, NotFound("The mapping this preview changes is no longer in the job's schema.")
        )
    preview["url"] += "?" + request.url.query
    return page(
        request,
        "preview.html",
        console,
        view=view,
        preview=preview,
        pending=True,
        change=change,
        fields=pending.fields(),
    )


# Secrets and Test connection


@router.post("/apps/{sp_id}/jobs/{job_id}/secrets")
def put_secrets(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    """BaseAddress is replaced by what the form shows; a token only when one is typed (blank
    keeps the saved one, since the form never shows it)."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    pairs = [{"key": "BaseAddress", "value": str(form.get("BaseAddress") or "").strip()}]
    token = str(form.get("SecretToken") or "")
    if token:
        pairs.append({"key": "SecretToken", "value": token})
    try:
        body = SecretsPutRequest.model_validate({"value": pairs})
        check_secrets(console.services.outbound, [(p.key.value, p.value) for p in body.value])
        console.services.synchronization.put_secrets(view.sp, body)
    except ServiceError as exc:
        return _job_with_message(console, view, exc.message, status=exc.status)
    return see_other(f"{view.path}?notice=saved#secrets")


@router.post("/apps/{sp_id}/jobs/{job_id}/test-connection")
def test_connection(
    sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)
) -> Response:
    """validateCredentials with the saved secrets, as the portal's Test Connection."""
    console = console_of(request)
    view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
    try:
        body = ValidateCredentialsRequest.model_validate({"useSavedCredentials": True})
        sync = console.services.synchronization
        sync.validate_credentials(view.sp, view.job["template_id"], body, console.services.outbound)
    except ServiceError as exc:
        return _job_with_message(console, view, f"Test connection failed: {exc.message}", status=exc.status)
    return see_other(f"{view.path}?notice=connected#secrets")


def _job_with_message(console: Console, view: JobView, error: str, status: int) -> Response:
    secrets = console.services.synchronization.masked_secrets(view.sp)
    return page(
        console.request,
        "job.html",
        console,
        status=status,
        error=error,
        **_job_context(console, view),
        secrets=_secret_fields(secrets),
    )
