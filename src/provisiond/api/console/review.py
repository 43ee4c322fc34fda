"""Saving a mapping change in two steps: Save shows what the change would do, Apply saves it.

- `review` (Save): the change is made on the job's current schema, validated as PUT
  .../schema validates it (a refusal goes back to the editor with the message, nothing run),
  and previewed (PreviewService with the unsaved schema: the next cycle's own stages, nothing
  written). The review page shows the change, the preview's counts, the deletion guard's
  verdict (prominently when it would trip) and the first planned changes, with "Apply this
  change" and "Back to editing". A preview of a large directory runs in the background: the
  browser goes to the preview's own page, which says plainly that it is still running and
  offers Apply once it has finished.
- `apply` (Apply this change): the edited mapping, posted again, is saved through the same
  schema PUT use case, provided the schema is still the one previewed; when someone saved
  another change meanwhile, a fresh preview of this change on the current schema is shown
  instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.console import editors
from provisiond.api.console.changes import SCOPE, PendingChange, attribute_mapping, object_mapping
from provisiond.api.console.identity import Console, console_of, posted_form
from provisiond.api.console.jobs import JobView, load_job, refused, run_preview
from provisiond.api.console.pages import page, see_other
from provisiond.services.errors import BadRequest, Conflict, NotFound, ServiceError
from provisiond.services.preview import PreviewSpec
from provisiond.services.synchronization import validated_schema

router = APIRouter()

NO_SUCH_MAPPING = "There is no such mapping in the job's schema (was it changed meanwhile?)."
CHANGED_MEANWHILE = (
    "The job's mappings were saved by someone else after your preview, so nothing was applied. "
    "This is a new preview of your change made on the current mappings."
)


def editor(
    console: Console, view: JobView, change: PendingChange, status: int = 200, **more: Any
) -> Response:
    """The editor the change came from, holding the change as it was edited."""
    schema = console.services.synchronization.job_schema(view.job)
    try:
        if change.kind == SCOPE:
            object_mapping(schema, change.rule, change.object)
            groups = list(change.groups)
            return editors.scope_editor(console, view, change.rule, change.object, groups, status, **more)
        attribute = attribute_mapping(schema, change.rule, change.object, change.attr)
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    positions = (change.rule, change.object, change.attr)
    return editors.attribute_editor(
        console, view, positions, attribute, change.expression, status=status, **more
    )


def review(console: Console, view: JobView, change: PendingChange, note: str | None = None) -> Response:
    """Save: validate the change as PUT .../schema would, preview it, and show the preview with
    Apply (or send the browser to a background preview's page)."""
    schema = console.services.synchronization.job_schema(view.job)
    change = change.with_version(int(view.job["schema_version"]))
    try:
        candidate = validated_schema(change.apply(schema))
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    except ValueError as exc:
        return editor(console, view, change, status=400, error=str(exc))
    except ServiceError as exc:
        return editor(console, view, change, status=exc.status, error=exc.message)
    preview: dict[str, Any] | None = None
    preview_error: str | None = None
    try:
        preview = run_preview(console, view, PreviewSpec(schema=candidate))
    except ServiceError as exc:
        preview_error = exc.message
    if preview is not None and preview["record"]["status"] == "running":
        record_id = preview["record"]["id"]
        return see_other(f"{preview['url']}?{change.query(console.session.csrf_token, record_id)}")
    return page(
        console.request,
        "mapping_review.html",
        console,
        view=view,
        change=change.describe(schema),
        fields=change.fields(),
        preview=preview,
        preview_error=preview_error,
        note=note,
    )


@router.post("/apps/{sp_id}/jobs/{job_id}/mappings/apply")
def apply(sp_id: str, job_id: str, request: Request, form: FormData = Depends(posted_form)) -> Response:
    """Apply this change (or go back to editing it)."""
    console = console_of(request)
    try:
        view = load_job(console, sp_id, job_id, perm.SYNC_WRITE)
        change = PendingChange.from_fields(form)
    except ValueError as exc:
        return refused(console, BadRequest(str(exc)))
    except ServiceError as exc:
        return refused(console, exc)
    if form.get("step") == "back":
        return editor(console, view, change)
    if change.version != int(view.job["schema_version"]):
        return review(console, view, change, note=CHANGED_MEANWHILE)
    sync = console.services.synchronization
    try:
        sync.put_job_schema(
            view.sp, job_id, change.apply(sync.job_schema(view.job)), expected_version=change.version
        )
    except Conflict:
        return review(
            console, load_job(console, sp_id, job_id, perm.SYNC_WRITE), change, note=CHANGED_MEANWHILE
        )
    except IndexError:
        return refused(console, NotFound(NO_SUCH_MAPPING))
    except ValueError as exc:
        return editor(console, view, change, status=400, error=str(exc))
    except ServiceError as exc:
        return editor(console, view, change, status=exc.status, error=exc.message)
    return see_other(f"{view.path}/mappings?notice=mappings-saved")
