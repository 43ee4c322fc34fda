"""The job's `status` (synchronizationStatus) as the engine changes it: progress during a
cycle, the executions and counters at its end, steady state, quarantine, the next cycle.

Every write re-reads the status inside a guarded transaction and changes only the engine's
fields, so a pause or restart the API commits meanwhile is never overwritten.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from provisiond.clock import Clock
from provisiond.connectors.scim_client import ScimError
from provisiond.engine.context import Counters, CycleContext
from provisiond.engine.policy import (
    EngineSettings,
    escrow_quarantine,
    failed_cycle_retry_at,
    quarantine_next_attempt,
)
from provisiond.graph.base import format_datetime, parse_duration
from provisiond.store import engine_state as state
from provisiond.store.db import Database
from provisiond.store.engine_state import GenerationChanged

ENTRY_TYPES = {"User": "user", "Group": "group"}


class CycleFacts(Protocol):
    """What the status reads of a cycle; outbound (CycleContext) and inbound cycles both have it."""

    settings: EngineSettings
    counters: Counters
    began: datetime
    total_units: int


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class StatusWriter:
    def __init__(self, db: Database, clock: Clock, job_id: str, generation: int, owner: str) -> None:
        self.db = db
        self.clock = clock
        self.job_id = job_id
        self.generation = generation
        self.owner = owner

    def _update(self, change: Any, extra: dict[str, Any] | None = None) -> None:
        try:
            with state.guarded(self.db, self.job_id, self.generation) as conn:
                job = state.get_job(conn, self.job_id)
                assert job is not None
                status = copy.deepcopy(job["status"])
                values = dict(extra or {})
                change(status, job, values)
                values["status"] = status
                state.update_job(conn, self.job_id, values)
        except GenerationChanged:
            pass  # a restart owns the status now

    def progress(self, ctx: CycleFacts) -> None:
        now = self.clock.now()

        def change(status: dict[str, Any], job: dict[str, Any], values: dict[str, Any]) -> None:
            status["progress"] = [
                {
                    "completedUnits": ctx.counters.imported,
                    "totalUnits": max(ctx.counters.imported, ctx.total_units),
                    "units": "objects",
                    "progressObservationDateTime": format_datetime(now),
                }
            ]

        self._update(change)

    def finish(
        self,
        ctx: CycleFacts,
        held: int,
        *,
        held_what: str = "disables and deletes",
        reason: str | None = None,
    ) -> bool:
        """End a completed cycle: quarantined for TooManyDeletes when it held `held` staged
        deletes (`reason` says why), for escrows when failures cross the thresholds (reference
        §3), else succeeded. True when the cycle succeeded.

        countEscrowed is the escrows pending once the cycle is over (new failures and earlier
        ones still waiting for their retry), not only this cycle's new failures."""
        with self.db.read() as conn:
            object_failures, reference_failures = state.escrow_counts(conn, self.job_id)
        ctx.counters.escrowed = object_failures
        ctx.counters.reference_failures = reference_failures
        verdict = escrow_quarantine(
            ctx.settings, object_failures, reference_failures, max(ctx.counters.imported, 1)
        )
        if held:
            self.finish_quarantined(
                ctx,
                "TooManyDeletes",
                reason
                or f"{held} {held_what} in one cycle exceed the threshold of {ctx.settings.delete_threshold}; "
                "they are staged. Restart with resetScope ForceDeletes to let them run.",
            )
            return False
        if verdict is not None:
            self.finish_quarantined(ctx, verdict.reason, verdict.message)
            return False
        self.finish_succeeded(ctx)
        return True

    def finish_succeeded(self, ctx: CycleFacts) -> None:
        now = self.clock.now()
        counters = ctx.counters
        outcome = "EntryLevelErrors" if counters.escrowed or counters.reference_failures else "Succeeded"
        execution = counters.execution(outcome, ctx.began, now, None)

        def change(status: dict[str, Any], job: dict[str, Any], values: dict[str, Any]) -> None:
            status["lastExecution"] = execution
            if outcome == "Succeeded":
                status["lastSuccessfulExecution"] = execution
            if counters.exported:
                status["lastSuccessfulExecutionWithExports"] = execution
            if counters.exports_expected == 0:
                if status.get("steadyStateFirstAchievedTime", "").startswith("0001"):
                    status["steadyStateFirstAchievedTime"] = format_datetime(now)
                status["steadyStateLastAchievedTime"] = format_datetime(now)
            status["quarantine"] = None
            status["countSuccessiveCompleteFailures"] = 0
            status["progress"] = []
            status["synchronizedEntryCountByType"] = self._entry_counts()
            if job["schedule_state"] == "Active":
                status["code"] = "Active"
            values["cycle_due_at"] = self._next_cycle_or_escrow_retry(job, now)

        self._update(change)

    def _next_cycle_or_escrow_retry(self, job: dict[str, Any], now: datetime) -> datetime | None:
        """The next cycle: after the interval, or sooner when an escrow's retry falls due before
        (the time its provisioning log entry announces)."""
        due = _next_cycle(job, now)
        if due is None:
            return None
        with self.db.read() as conn:
            earliest = state.escrows_due(conn, self.job_id, due, limit=1)
        if earliest:
            due = min(due, max(earliest[0]["next_retry_date_time"], now))
        return due

    def finish_quarantined(self, ctx: CycleFacts, reason: str, message: str, *, failed: bool = False) -> None:
        now = self.clock.now()
        settings = ctx.settings
        error = {"code": reason, "message": message, "tenantActionable": True}
        execution = ctx.counters.execution("Failed" if failed else "EntryLevelErrors", ctx.began, now, error)
        self._quarantine(now, reason, error, execution, settings, failed=failed)

    def quarantine_exception(self, ctx: CycleContext, exc: ScimError) -> None:
        now = self.clock.now()
        error = {"code": exc.code, "message": exc.message, "tenantActionable": True}
        execution = ctx.counters.execution("Failed", ctx.began, now, error)
        self._quarantine(now, "EncounteredQuarantineException", error, execution, ctx.settings, failed=True)

    def _quarantine(
        self,
        now: datetime,
        reason: str,
        error: dict[str, Any],
        execution: dict[str, Any],
        settings: EngineSettings,
        *,
        failed: bool,
    ) -> None:
        def change(status: dict[str, Any], job: dict[str, Any], values: dict[str, Any]) -> None:
            previous = status.get("quarantine") or {}
            series_began = _parse(previous.get("seriesBegan")) or now
            next_attempt = quarantine_next_attempt(series_began, now)
            status["quarantine"] = {
                "currentBegan": format_datetime(now),
                "error": error,
                "nextAttempt": format_datetime(next_attempt),
                "reason": reason,
                "seriesBegan": format_datetime(series_began),
                "seriesCount": int(previous.get("seriesCount") or 0) + 1,
            }
            status["lastExecution"] = execution
            status["progress"] = []
            status["synchronizedEntryCountByType"] = self._entry_counts()
            if failed:
                status["countSuccessiveCompleteFailures"] = (
                    int(status.get("countSuccessiveCompleteFailures") or 0) + 1
                )
            if now - series_began > settings.quarantine_disable_after:
                # Quarantined for more than four weeks: the job stops running (reference §3).
                values["schedule_state"] = "Disabled"
                values["cycle_due_at"] = None
                status["code"] = "Paused"
            else:
                status["code"] = "Quarantine" if job["schedule_state"] == "Active" else status.get("code")
                values["cycle_due_at"] = next_attempt if job["schedule_state"] == "Active" else None

        self._update(change)

    def finish_failed(self, began: datetime, code: str, message: str, settings: EngineSettings) -> None:
        """A cycle that could not start its work (no endpoint configured, a broken schema)."""
        now = self.clock.now()
        error = {"code": code, "message": message, "tenantActionable": True}

        def change(status: dict[str, Any], job: dict[str, Any], values: dict[str, Any]) -> None:
            status["lastExecution"] = {
                **_empty_execution(),
                "error": error,
                "state": "Failed",
                "timeBegan": format_datetime(began),
                "timeEnded": format_datetime(now),
            }
            status["countSuccessiveCompleteFailures"] = (
                int(status.get("countSuccessiveCompleteFailures") or 0) + 1
            )
            values["cycle_due_at"] = _next_cycle(job, now)

        self._update(change)

    def failed_unexpectedly(self, began: datetime, exc: BaseException) -> tuple[int, datetime | None]:
        """A cycle ended by an error the engine does not expect (a fault of ours, not of the
        target): Failed with the error, one more successive complete failure, and the next
        attempt backed off exponentially instead of at once. Returns (successive failures,
        next attempt)."""
        now = self.clock.now()
        message = f"{type(exc).__name__}: {exc}"[:1000]
        error = {
            "code": "InternalError",
            "message": f"The cycle failed with an unexpected error ({message}); it is retried with backoff.",
            "tenantActionable": False,
        }
        result: list[Any] = [0, None]

        def change(status: dict[str, Any], job: dict[str, Any], values: dict[str, Any]) -> None:
            failures = int(status.get("countSuccessiveCompleteFailures") or 0) + 1
            status["countSuccessiveCompleteFailures"] = failures
            status["lastExecution"] = {
                **_empty_execution(),
                "error": error,
                "state": "Failed",
                "timeBegan": format_datetime(began),
                "timeEnded": format_datetime(now),
            }
            status["progress"] = []
            due = None
            if job["schedule_state"] == "Active":
                due = failed_cycle_retry_at(failures, _interval(job), now)
            values["cycle_due_at"] = due
            result[:] = [failures, due]

        self._update(change)
        return int(result[0]), result[1]

    def stopped(self, ctx: CycleFacts) -> None:
        """Paused or shutting down: keep the progress, schedule nothing (start resumes)."""
        self.progress(ctx)

    def _entry_counts(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            counts = state.cds_counts(conn, self.job_id)
        return [{"key": ENTRY_TYPES.get(k, k.lower()), "value": v} for k, v in sorted(counts.items())]


def _empty_execution() -> dict[str, Any]:
    return {
        "activityIdentifier": None,
        "countEntitled": 0,
        "countEntitledForProvisioning": 0,
        "countEscrowed": 0,
        "countEscrowedRaw": 0,
        "countExported": 0,
        "countExports": 0,
        "countImported": 0,
        "countImportedDeltas": 0,
        "countImportedReferenceDeltas": 0,
    }


def _next_cycle(job: dict[str, Any], now: datetime) -> datetime | None:
    if job["schedule_state"] != "Active":
        return None
    try:
        return now + _interval(job)
    except OverflowError:  # an interval of TimeSpan.MaxValue: no next cycle in this calendar
        return datetime.max.replace(tzinfo=UTC)


def _interval(job: dict[str, Any]) -> timedelta:
    try:
        return parse_duration(job["schedule_interval"])
    except ValueError:
        return timedelta(minutes=40)
