"""Previewing a job's next cycle: `POST .../synchronization/jobs/{jobId}/preview` (our
extension of Graph) and the console's restart and mapping dialogs.

A preview answers "what would the next cycle do", optionally after a restart with a given
resetScope and/or with a schema (mappings, scoping filters) not yet saved: counts per object
type of creates, updates, disables, deletes, unchanged and out-of-scope objects, what the
accidental-deletion guard would hold, and the planned actions with each object's attribute
changes (old → new). It runs the cycle's own stages on a scratch copy of the job's engine
state and never writes to the app (engine/preview.py); it changes no engine state, no
provisioning log, nothing in the directory. What it stores is itself: the preview's row and
its listed actions (tables sync_previews and sync_preview_actions), kept for `RETENTION`, so
that its status and pages can be read from any API process.

Call it as: `start(sp, job_id, PreviewSpec(reset_scope=..., schema=...), prefer_async=...)`,
which returns the preview's record (`status` running, succeeded or failed); then `get(...)`
for its state and `actions(...)` for the pages of planned actions.

Choices where nothing is documented (this is not a Graph API):
- Directories of at most `inline_limit` users and groups are previewed within the request
  (the answer is the finished preview); larger ones, and any request that says
  `Prefer: respond-async`, run in the background and the answer is the running preview, whose
  URL the client polls (the API's 202 with Location).
- The same checks as the real actions: a resetScope is read exactly as restart reads it (an
  empty or null one is the portal's default), a schema is validated as PUT .../schema
  validates it, the BaseAddress must pass the outbound policy. A preview of an inbound
  (API-driven) job is refused: its source is the staged uploads, which it would consume.
- At most `max_running` background previews run at once in a process (429 with Retry-After
  beyond), so previews cannot starve the cycles of CPU.
- A running preview not heard from for `STALE_AFTER` (its process died) reads as failed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from provisiond.connectors.directory import DirectorySource
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.engine.preview import (
    PlannedAction,
    PreviewCancelled,
    PreviewFailed,
    PreviewOutcome,
    PreviewRunner,
    preview_owner,
)
from provisiond.graph.enums import SynchronizationJobRestartScope as Scope
from provisiond.services import inbound
from provisiond.services.errors import BadRequest, NotFound, TooManyRequests
from provisiond.services.outbound import check_base_address
from provisiond.services.synchronization import SynchronizationService, reset_engine_state
from provisiond.store import engine_state
from provisiond.store import previews as repo
from provisiond.store.scratch import scratch_state

Record = dict[str, Any]
log = logging.getLogger("provisiond.preview")

RETENTION = timedelta(hours=1)
STALE_AFTER = timedelta(minutes=5)
PROGRESS_EVERY_SECONDS = 1.0  # how often a running preview writes its progress
INLINE_LIMIT = 2000


@dataclass(frozen=True)
class PreviewSpec:
    """The what-if: a restart with this resetScope (None: no restart), a schema (None: the
    job's own), both or neither (the next cycle as things stand)."""

    reset_scope: Scope | None = None
    schema: Record | None = None


class PreviewService:
    # Directories larger than this (users and groups) are previewed in the background.
    inline_limit: int = INLINE_LIMIT

    def __init__(
        self,
        sync: SynchronizationService,
        *,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
        max_running: int = 2,
    ) -> None:
        self.sync = sync
        self.db = sync.db
        self.clock = sync.clock
        self.outbound = outbound
        self.max_running = max_running
        self._running = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self, sp: Record, job_id: str, spec: PreviewSpec, *, prefer_async: bool = False) -> Record:
        job = self.sync.job(sp, job_id)
        if inbound.is_inbound(job["template_id"]):
            raise BadRequest(
                "Preview is for jobs that provision into an application; this job provisions "
                "from uploads into the directory (API-driven inbound)."
            )
        secrets = self.sync.secrets(sp)
        check_base_address(self.outbound, secrets.get("BaseAddress") or "")
        now = self.clock.now()
        record: Record = {
            "id": str(uuid.uuid4()),
            "job_id": job["id"],
            "service_principal_id": job["service_principal_id"],
            "status": "running",
            "reset_scope": None if spec.reset_scope is None else int(spec.reset_scope),
            "schema_changed": spec.schema is not None,
            "full_pass": None,
            "processed": 0,
            "total": None,
            "counts": None,
            "guard": None,
            "error_code": None,
            "error_message": None,
            "created_date_time": now,
            "updated_date_time": now,
            "completed_date_time": None,
        }
        background = prefer_async or DirectorySource(self.db).size() > self.inline_limit
        if background:
            self._admit()
        with self.db.transaction() as conn:
            repo.prune(conn, now - RETENTION)
            repo.insert(conn, record)
        if not background:
            self._run(record["id"], job["id"], spec, secrets)
            return self.get(sp, job_id, record["id"])
        thread = threading.Thread(
            target=self._run_released,
            args=(record["id"], job["id"], spec, secrets),
            name=f"preview-{record['id'][:8]}",
            daemon=True,
        )
        thread.start()
        return record

    def get(self, sp: Record, job_id: str, preview_id: str) -> Record:
        job = self.sync.job(sp, job_id)
        with self.db.read() as conn:
            record = repo.get(conn, job["id"], preview_id)
        if record is None:
            raise NotFound(f"Preview '{preview_id}' of job '{job_id}' does not exist (or expired).")
        if record["status"] == "running" and self.clock.now() - record["updated_date_time"] > STALE_AFTER:
            record.update(
                status="failed",
                error_code="PreviewAbandoned",
                error_message="The process running the preview stopped before it finished; start another.",
            )
        return record

    def actions(
        self, sp: Record, job_id: str, preview_id: str, *, after: int | None, limit: int, action: str | None
    ) -> list[Record]:
        self.get(sp, job_id, preview_id)
        with self.db.read() as conn:
            return repo.actions(conn, preview_id, after=after, limit=limit, action=action)

    def stop(self) -> None:
        """The process is shutting down: running previews stop at their next safe point."""
        self._stopping.set()

    # Running one

    def _admit(self) -> None:
        with self._lock:
            if self._running >= self.max_running:
                raise TooManyRequests(
                    f"{self.max_running} previews are running in this process; try again shortly.",
                    retry_after_seconds=5,
                )
            self._running += 1

    def _run_released(self, preview_id: str, job_id: str, spec: PreviewSpec, secrets: dict[str, str]) -> None:
        try:
            self._run(preview_id, job_id, spec, secrets)
        finally:
            with self._lock:
                self._running -= 1

    def _run(self, preview_id: str, job_id: str, spec: PreviewSpec, secrets: dict[str, str]) -> None:
        recorder = _Recorder(self, preview_id)
        try:
            outcome = self._preview(job_id, spec, secrets, recorder)
        except PreviewFailed as exc:
            recorder.finish({"status": "failed", "error_code": exc.code, "error_message": exc.message})
        except PreviewCancelled:
            recorder.finish(
                {
                    "status": "failed",
                    "error_code": "PreviewCancelled",
                    "error_message": "The server shut down before the preview finished; start another.",
                }
            )
        except Exception as exc:  # a preview must end in a state, whatever went wrong
            log.exception("preview %s failed", preview_id)
            recorder.finish({"status": "failed", "error_code": "InternalError", "error_message": str(exc)})
        else:
            # Every object of the pass was considered, those of unmapped types included.
            recorder.processed = max(recorder.processed, recorder.known_total or 0)
            recorder.finish(
                {
                    "status": "succeeded",
                    "full_pass": outcome.full_pass,
                    "counts": outcome.counts,
                    "guard": asdict(outcome.guard) if outcome.guard else None,
                }
            )

    def _preview(
        self, job_id: str, spec: PreviewSpec, secrets: dict[str, str], recorder: _Recorder
    ) -> PreviewOutcome:
        with scratch_state() as scratch:
            try:
                row = scratch.copy_job(self.db, job_id)
            except LookupError:
                raise PreviewFailed("JobDeleted", "The job was deleted while the preview started.") from None
            owner = preview_owner(self.clock.now())
            with scratch.db.transaction() as conn:
                values: Record = {"schedule_state": "Active", "lease_owner": owner}
                if spec.reset_scope is not None:
                    values.update(reset_engine_state(conn, row, spec.reset_scope))
                if spec.schema is not None:
                    # As a saved schema would (SynchronizationService._reevaluate): a full pass.
                    values.update(schema=spec.schema, watermark=None, initial_seq=None, initial_cursor=None)
                engine_state.update_job(conn, job_id, values)
                job = engine_state.get_job(conn, job_id)
            assert job is not None
            full_pass = job["watermark"] is None or job["initial_cursor"] is not None
            runner = PreviewRunner(
                self.db, scratch, self.clock, secrets, stopping=self._stopping.is_set, outbound=self.outbound
            )
            recorder.total(runner.source.size() if full_pass else None)
            return asyncio.run(
                runner.preview(job, owner, on_progress=recorder.progress, on_actions=recorder.actions)
            )


class _Recorder:
    """Writes a running preview's progress (at most once a second) and its listed actions."""

    def __init__(self, service: PreviewService, preview_id: str) -> None:
        self.service = service
        self.preview_id = preview_id
        self.next_seq = 0
        self.processed = 0
        self.known_total: int | None = None
        self._last_write = 0.0

    def _update(self, values: Record) -> None:
        with self.service.db.transaction() as conn:
            repo.update(conn, self.preview_id, {**values, "updated_date_time": self.service.clock.now()})

    def total(self, total: int | None) -> None:
        self.known_total = total
        self._update({"total": total})

    def progress(self, processed: int) -> None:
        self.processed = processed
        if time.monotonic() - self._last_write >= PROGRESS_EVERY_SECONDS:
            self._last_write = time.monotonic()
            self._update({"processed": processed})

    def actions(self, planned: list[PlannedAction]) -> None:
        rows = [
            {
                "object_type": a.object_type,
                "source_id": a.source_id,
                "display_name": a.display_name,
                "target_id": a.target_id,
                "action": a.action,
                "reason": a.reason,
                "changes": a.changes,
            }
            for a in planned
        ]
        with self.service.db.transaction() as conn:
            repo.append_actions(conn, self.preview_id, self.next_seq, rows)
        self.next_seq += len(rows)

    def finish(self, values: Record) -> None:
        self._update({**values, "processed": self.processed, "completed_date_time": self.service.clock.now()})
