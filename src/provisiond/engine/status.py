"""The engine's reports of a cycle's facts to the job's state: its beginning and progress; at
its end the execution and counters, quarantine or success, and the next cycle.

The transitions themselves are the domain's (provisiond.domain.job_state); this module reads
the job, applies one transition and writes the columns it changed, inside a guarded
transaction, so a pause or restart the API commits meanwhile is never overwritten. Policy is
the engine's (engine/policy.py): the escrow thresholds, when a quarantine tries again, how an
unexpected failure backs off. The Graph wire shape is built only in graph/job_state.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from provisiond.clock import Clock
from provisiond.connectors.scim_client import ScimError
from provisiond.domain.job_state import (
    Execution,
    ExecutionResult,
    JobError,
    JobState,
    Progress,
    QuarantineReason,
    entry_counts,
)
from provisiond.engine.context import Counters, CycleContext
from provisiond.engine.policy import (
    EngineSettings,
    escrow_quarantine,
    failed_cycle_retry_at,
    quarantine_next_attempt,
)
from provisiond.store import engine_state as state
from provisiond.store import executions
from provisiond.store.db import Database
from provisiond.store.engine_state import GenerationChanged
from provisiond.store.job_state import job_state, state_values

Transition = Callable[[JobState, Connection], JobState]


class CycleFacts(Protocol):
    """What the status reads of a cycle; outbound (CycleContext) and inbound cycles both have it."""

    settings: EngineSettings
    counters: Counters
    began: datetime
    total_units: int


class StatusWriter:
    def __init__(self, db: Database, clock: Clock, job_id: str, generation: int, owner: str) -> None:
        self.db = db
        self.clock = clock
        self.job_id = job_id
        self.generation = generation
        self.owner = owner

    def _update(self, transition: Transition) -> JobState | None:
        """Apply one transition to the job's state; None when a restart owns the job now."""
        try:
            with state.guarded(self.db, self.job_id, self.generation) as conn:
                job = state.get_job(conn, self.job_id)
                assert job is not None
                before = job_state(job)
                after = transition(before, conn)
                values = state_values(before, after)
                if values:
                    state.update_job(conn, self.job_id, values)
                ended = after.status.last_execution
                if ended is not None and ended != before.status.last_execution:
                    executions.record(conn, self.job_id, ended)  # the cycle's line in the history
                return after
        except GenerationChanged:
            return None

    def began(self) -> None:
        self._update(lambda job, conn: job.cycle_began(self.clock.now()))

    def progress(self, ctx: CycleFacts) -> None:
        counters = ctx.counters
        progress = Progress(
            completed=counters.imported,
            total=max(counters.imported, ctx.total_units),
            observed=self.clock.now(),
        )
        self._update(lambda job, conn: job.cycle_progressed(progress))

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
                QuarantineReason.TooManyDeletes,
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
        """A cycle that did its work: Succeeded, or EntryLevelErrors with escrows pending. The
        next cycle runs after the interval, or sooner when an escrow's retry falls due before
        (the time its provisioning log entry announces)."""
        now = self.clock.now()
        counters = ctx.counters
        failed = counters.escrowed or counters.reference_failures
        result = ExecutionResult.EntryLevelErrors if failed else ExecutionResult.Succeeded
        execution = counters.execution(result, ctx.began, now, None)

        def transition(job: JobState, conn: Connection) -> JobState:
            due = job.schedule.next_cycle(now)
            earliest = state.escrows_due(conn, self.job_id, due, limit=1) if due is not None else []
            retry = earliest[0]["next_retry_date_time"] if earliest else None
            return job.cycle_completed(execution, _entry_counts(conn, self.job_id), escrow_retry=retry)

        self._update(transition)

    def finish_quarantined(
        self, ctx: CycleFacts, reason: QuarantineReason, message: str, *, failed: bool = False
    ) -> None:
        now = self.clock.now()
        error = JobError(reason.value, message, tenant_actionable=True)
        result = ExecutionResult.Failed if failed else ExecutionResult.EntryLevelErrors
        execution = ctx.counters.execution(result, ctx.began, now, error)
        self._quarantine(execution, reason, error, ctx.settings, failed=failed)

    def quarantine_exception(self, ctx: CycleContext, exc: ScimError) -> None:
        now = self.clock.now()
        error = JobError(exc.code, exc.message, tenant_actionable=True)
        execution = ctx.counters.execution(ExecutionResult.Failed, ctx.began, now, error)
        reason = QuarantineReason.EncounteredQuarantineException
        self._quarantine(execution, reason, error, ctx.settings, failed=True)

    def _quarantine(
        self,
        execution: Execution,
        reason: QuarantineReason,
        error: JobError,
        settings: EngineSettings,
        *,
        failed: bool,
    ) -> None:
        def transition(job: JobState, conn: Connection) -> JobState:
            return job.cycle_quarantined(
                execution,
                reason,
                error,
                _entry_counts(conn, self.job_id),
                failed=failed,
                next_attempt=quarantine_next_attempt,
                # Quarantined for more than four weeks: the job stops running (reference §3).
                disable_after=settings.quarantine_disable_after,
            )

        self._update(transition)

    def finish_failed(self, began: datetime, code: str, message: str, settings: EngineSettings) -> None:
        """A cycle that could not start its work (no endpoint configured, a broken schema)."""
        error = JobError(code, message, tenant_actionable=True)
        execution = Execution(ExecutionResult.Failed, began, self.clock.now(), error)
        self._update(lambda job, conn: job.cycle_failed(execution))

    def failed_unexpectedly(self, began: datetime, exc: BaseException) -> tuple[int, datetime | None]:
        """A cycle ended by an error the engine does not expect (a fault of ours, not of the
        target): Failed with the error, one more successive complete failure, and the next
        attempt backed off exponentially instead of at once. Returns (successive failures,
        next attempt)."""
        now = self.clock.now()
        message = f"{type(exc).__name__}: {exc}"[:1000]
        error = JobError(
            "InternalError",
            f"The cycle failed with an unexpected error ({message}); it is retried with backoff.",
            tenant_actionable=False,
        )
        execution = Execution(ExecutionResult.Failed, began, now, error)

        def transition(job: JobState, conn: Connection) -> JobState:
            return job.cycle_failed_unexpectedly(
                execution, lambda failures: failed_cycle_retry_at(failures, job.schedule.interval, now)
            )

        after = self._update(transition)
        if after is None:
            return 0, None
        return after.status.successive_failures, after.next_cycle

    def stopped(self, ctx: CycleFacts) -> None:
        """Paused or shutting down: keep the progress, schedule nothing (start resumes)."""
        self.progress(ctx)


def _entry_counts(conn: Connection, job_id: str) -> tuple[tuple[str, int], ...]:
    return entry_counts(state.cds_counts(conn, job_id))
