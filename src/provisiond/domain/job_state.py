"""A synchronization job's state as typed objects, and the one place its transitions happen.

What it holds: the schedule (state, interval, expiration), the status (code, executions,
progress, quarantine, steady state, counts) and when the next cycle may run. What changes it:
the transitions below, each a method of `JobState` that returns the next state. Nothing else
builds or edits a status; callers read the job, apply one transition and write the result in
the same transaction.

- start, pause, disable, restart: `started`, `paused`, `disabled`, `restarted` (called by
  services/synchronization.py, which owns the API's use cases and their transactions);
- a cycle's facts: `cycle_began`, `cycle_progressed`, `cycle_completed` (Succeeded, or EntryLevelErrors when
  objects were escrowed under the thresholds; a quarantine is lifted), `cycle_quarantined`
  (TooManyDeletes, an escrow threshold, a quarantine exception), `cycle_failed` (the cycle could
  not start its work) and `cycle_failed_unexpectedly` (called by engine/status.py). Whether a
  cycle runs is the scheduler's lease; `cycle_began` only starts the progress at zero, so a
  reader of the job sees when the running cycle began.

Where this lives, and why. DESIGN's State section places the owner "in `services`", but the
engine, which sits below services, reports the cycles' facts, and imports point down only. So
the objects and their transitions are their own layer at the bottom (`provisiond.domain`):
pure (no I/O, no clock, no Graph wire names), imported by services and the engine (the
transitions), by the store (which keeps the status as versioned JSON of these objects,
store/job_state.py) and by graph (which builds `synchronizationStatus` and the job's wire shape
from them, graph/job_state.py). The policy stays the engine's: when a quarantined job tries
again, how an unexpected failure backs off, which threshold quarantines. The engine computes
those and passes them in as facts (times, or a function of the series' start).

The enums' members are Graph's names, since Entra's semantics are the domain's vocabulary;
they are separate from the wire enums in graph/enums.py so that the wire can follow Graph
(new members, renames, case folding on input) without the domain noticing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

NEVER = datetime(1, 1, 1, tzinfo=UTC)
"""A time not reached yet (Graph writes it `0001-01-01T00:00:00Z`)."""

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class StatusCode(enum.StrEnum):
    """Graph's synchronizationStatusCode."""

    NotConfigured = "NotConfigured"
    NotRun = "NotRun"
    Active = "Active"
    Paused = "Paused"
    Quarantine = "Quarantine"


class ScheduleState(enum.StrEnum):
    """Graph's synchronizationScheduleState."""

    Active = "Active"
    Disabled = "Disabled"
    Paused = "Paused"


class ExecutionResult(enum.StrEnum):
    """Graph's synchronizationTaskExecutionResult."""

    Succeeded = "Succeeded"
    Failed = "Failed"
    EntryLevelErrors = "EntryLevelErrors"


class QuarantineReason(enum.StrEnum):
    """Graph's quarantineReason: why a job is quarantined."""

    EncounteredBaseEscrowThreshold = "EncounteredBaseEscrowThreshold"
    EncounteredTotalEscrowThreshold = "EncounteredTotalEscrowThreshold"
    EncounteredEscrowProportionThreshold = "EncounteredEscrowProportionThreshold"
    EncounteredQuarantineException = "EncounteredQuarantineException"
    Unknown = "Unknown"
    QuarantinedOnDemand = "QuarantinedOnDemand"
    TooManyDeletes = "TooManyDeletes"
    IngestionInterrupted = "IngestionInterrupted"


@dataclass(frozen=True)
class JobError:
    code: str | None
    message: str | None
    tenant_actionable: bool = True


@dataclass(frozen=True)
class Execution:
    """One cycle's outcome and counters (a synchronizationTaskExecution)."""

    result: ExecutionResult
    began: datetime
    ended: datetime
    error: JobError | None = None
    activity_identifier: str | None = None
    entitled: int = 0
    entitled_for_provisioning: int = 0
    escrowed: int = 0
    escrowed_raw: int = 0
    exported: int = 0
    exports: int = 0
    imported: int = 0
    imported_deltas: int = 0
    imported_reference_deltas: int = 0


@dataclass(frozen=True)
class Progress:
    completed: int
    total: int
    observed: datetime
    units: str = "objects"


@dataclass(frozen=True)
class Quarantine:
    reason: QuarantineReason
    error: JobError | None
    current_began: datetime
    next_attempt: datetime
    series_began: datetime
    series_count: int


@dataclass(frozen=True)
class JobStatus:
    code: StatusCode
    successive_failures: int = 0
    escrows_pruned: bool = False
    last_execution: Execution | None = None
    last_successful_execution: Execution | None = None
    last_successful_execution_with_exports: Execution | None = None
    progress: tuple[Progress, ...] = ()
    quarantine: Quarantine | None = None
    steady_state_first_achieved: datetime = NEVER
    steady_state_last_achieved: datetime = NEVER
    # Objects the job manages in the target by object type ("User", "Group"), in type order.
    entry_counts: tuple[tuple[str, int], ...] = ()
    troubleshooting_url: str | None = None

    @classmethod
    def initial(cls) -> JobStatus:
        """A job just created (reference §8.2): Paused until it is started."""
        return cls(code=StatusCode.Paused)

    def running_code(self) -> StatusCode:
        """The code of a job that runs: Active once a cycle has run, NotRun before."""
        return (
            StatusCode.Active if self.last_successful_execution or self.last_execution else StatusCode.NotRun
        )


def entry_counts(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items()))


@dataclass(frozen=True)
class Schedule:
    state: ScheduleState
    interval: timedelta = timedelta(minutes=40)
    expiration: datetime | None = None

    def next_cycle(self, now: datetime) -> datetime | None:
        """When the next cycle of an active schedule runs: one interval after `now`."""
        if self.state is not ScheduleState.Active:
            return None
        try:
            return now + self.interval
        except OverflowError:  # an interval of TimeSpan.MaxValue: no next cycle in this calendar
            return FAR_FUTURE


@dataclass(frozen=True)
class JobState:
    """What the transitions change: the schedule's state, the status and the next cycle's time
    (None: no cycle is scheduled)."""

    schedule: Schedule
    status: JobStatus = field(default_factory=JobStatus.initial)
    next_cycle: datetime | None = None

    @property
    def active(self) -> bool:
        return self.schedule.state is ScheduleState.Active

    # The API's use cases

    def started(self, now: datetime) -> JobState:
        """start: the schedule Active, a cycle due now, a quarantine lifted; NotRun until a
        cycle has run, Active after."""
        status = replace(self.status, quarantine=None)
        status = replace(status, code=status.running_code())
        return JobState(replace(self.schedule, state=ScheduleState.Active), status, now)

    def paused(self) -> JobState:
        """pause: no cycles; the progress, executions and quarantine are kept."""
        return self._stopped(ScheduleState.Paused)

    def disabled(self) -> JobState:
        """The schedule Disabled (PATCH schedule.state): no cycles, the status Paused."""
        return self._stopped(ScheduleState.Disabled)

    def _stopped(self, state: ScheduleState) -> JobState:
        status = replace(self.status, code=StatusCode.Paused)
        return JobState(replace(self.schedule, state=state), status, None)

    def restarted(self, now: datetime, *, escrows: bool, quarantine: bool, force_deletes: bool) -> JobState:
        """restart with these resetScope flags: the schedule Active and a cycle due now. Escrows
        cleared means none were pruned; the quarantine is lifted by QuarantineState, and a
        TooManyDeletes quarantine also by ForceDeletes (the held deletes are released)."""
        status = self.status
        if escrows:
            status = replace(status, escrows_pruned=False)
        held = status.quarantine
        if quarantine or (
            force_deletes and held is not None and held.reason is QuarantineReason.TooManyDeletes
        ):
            status = replace(status, quarantine=None)
        code = StatusCode.Quarantine if status.quarantine else status.running_code()
        return JobState(replace(self.schedule, state=ScheduleState.Active), replace(status, code=code), now)

    # A cycle's facts

    def cycle_began(self, now: datetime) -> JobState:
        """A cycle took the job: its progress starts at zero, observed now (the previous
        cycle's progress was cleared when it ended). Nothing else changes until it ends."""
        return self.cycle_progressed(Progress(completed=0, total=0, observed=now))

    def cycle_progressed(self, progress: Progress) -> JobState:
        return replace(self, status=replace(self.status, progress=(progress,)))

    def cycle_completed(
        self,
        execution: Execution,
        counts: tuple[tuple[str, int], ...],
        *,
        escrow_retry: datetime | None = None,
    ) -> JobState:
        """A cycle that did all its work: Succeeded, or EntryLevelErrors when it escrowed objects
        without crossing a threshold. A quarantine is lifted; with no exports left to make the
        job is in steady state. The next cycle runs after the interval, or at `escrow_retry` when
        an escrowed object's retry falls due before."""
        now = execution.ended
        status = self.status
        changes: dict[str, object] = {
            "last_execution": execution,
            "quarantine": None,
            "successive_failures": 0,
            "progress": (),
            "entry_counts": counts,
        }
        if execution.result is ExecutionResult.Succeeded:
            changes["last_successful_execution"] = execution
        if execution.exported:
            changes["last_successful_execution_with_exports"] = execution
        if execution.exports == 0:
            if status.steady_state_first_achieved == NEVER:
                changes["steady_state_first_achieved"] = now
            changes["steady_state_last_achieved"] = now
        if self.active:
            changes["code"] = StatusCode.Active
        due = self.schedule.next_cycle(now)
        if due is not None and escrow_retry is not None:
            due = min(due, max(escrow_retry, now))
        return replace(self, status=replace(status, **changes), next_cycle=due)  # type: ignore[arg-type]

    def cycle_quarantined(
        self,
        execution: Execution,
        reason: QuarantineReason,
        error: JobError,
        counts: tuple[tuple[str, int], ...],
        *,
        failed: bool,
        next_attempt: Callable[[datetime, datetime], datetime],
        disable_after: timedelta,
    ) -> JobState:
        """A cycle that ended in quarantine (`failed`: it could not finish, one more successive
        complete failure). A series of quarantines keeps its start; `next_attempt(series began,
        now)` is the retry. Quarantined for longer than `disable_after`, the job stops: its
        schedule Disabled and its status Paused (reference §3)."""
        now = execution.ended
        previous = self.status.quarantine
        series_began = previous.series_began if previous else now
        retry = next_attempt(series_began, now)
        quarantine = Quarantine(
            reason=reason,
            error=error,
            current_began=now,
            next_attempt=retry,
            series_began=series_began,
            series_count=(previous.series_count if previous else 0) + 1,
        )
        status = replace(
            self.status,
            quarantine=quarantine,
            last_execution=execution,
            progress=(),
            entry_counts=counts,
            successive_failures=self.status.successive_failures + (1 if failed else 0),
        )
        if now - series_began > disable_after:
            schedule = replace(self.schedule, state=ScheduleState.Disabled)
            return JobState(schedule, replace(status, code=StatusCode.Paused), None)
        if self.active:
            return JobState(self.schedule, replace(status, code=StatusCode.Quarantine), retry)
        return JobState(self.schedule, status, None)

    def cycle_failed(self, execution: Execution) -> JobState:
        """A cycle that could not start its work (no endpoint configured, a broken schema):
        one more successive complete failure, the next cycle after the interval."""
        status = replace(
            self.status, last_execution=execution, successive_failures=self.status.successive_failures + 1
        )
        return replace(self, status=status, next_cycle=self.schedule.next_cycle(execution.ended))

    def cycle_failed_unexpectedly(
        self, execution: Execution, retry_at: Callable[[int], datetime]
    ) -> JobState:
        """A cycle ended by a fault of ours: one more successive complete failure, and the next
        attempt at `retry_at(successive failures)` (a backoff) while the schedule is active."""
        failures = self.status.successive_failures + 1
        status = replace(self.status, last_execution=execution, successive_failures=failures, progress=())
        return replace(self, status=status, next_cycle=retry_at(failures) if self.active else None)
