"""The transitions of a job's state: start, pause, restart and the facts cycles report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisiond.domain.job_state import (
    FAR_FUTURE,
    NEVER,
    Execution,
    ExecutionResult,
    JobError,
    JobState,
    JobStatus,
    Progress,
    QuarantineReason,
    Schedule,
    ScheduleState,
    StatusCode,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ERROR = JobError("E", "m")


def _job(state: ScheduleState = ScheduleState.Active, **status: object) -> JobState:
    return JobState(
        Schedule(state, timedelta(minutes=40)), JobStatus(**{"code": StatusCode.Active, **status})
    )  # type: ignore[arg-type]


def _run(
    result: ExecutionResult = ExecutionResult.Succeeded, *, at: datetime = T0, **counts: int
) -> Execution:
    return Execution(result, at - timedelta(seconds=5), at, **counts)


def _retry(series_began: datetime, now: datetime) -> datetime:
    return now + 6 * HOUR


def test_a_new_job_is_paused_until_started_and_not_run_until_a_cycle_ran() -> None:
    job = JobState(Schedule(ScheduleState.Disabled))
    assert job.status.code is StatusCode.Paused and job.next_cycle is None
    started = job.started(T0)
    assert started.status.code is StatusCode.NotRun
    assert started.schedule.state is ScheduleState.Active and started.next_cycle == T0
    ran = started.cycle_completed(_run(exports=0), (("User", 1),))
    assert ran.status.code is StatusCode.Active
    assert ran.next_cycle == T0 + timedelta(minutes=40)
    assert ran.status.steady_state_first_achieved == ran.status.steady_state_last_achieved == T0


def test_pause_keeps_progress_and_quarantine_and_start_lifts_the_quarantine() -> None:
    job = _job(progress=(Progress(1, 2, T0),)).cycle_quarantined(
        _run(ExecutionResult.Failed),
        QuarantineReason.Unknown,
        ERROR,
        (),
        failed=True,
        next_attempt=_retry,
        disable_after=HOUR * 24,
    )
    paused = job.paused()
    assert paused.status.code is StatusCode.Paused and paused.next_cycle is None
    assert paused.status.quarantine == job.status.quarantine
    assert paused.disabled().schedule.state is ScheduleState.Disabled
    started = paused.started(T0 + HOUR)
    assert started.status.quarantine is None and started.status.code is StatusCode.Active
    assert started.next_cycle == T0 + HOUR


def test_restart_lifts_a_quarantine_by_its_flags() -> None:
    quarantined = _job().cycle_quarantined(
        _run(),
        QuarantineReason.TooManyDeletes,
        ERROR,
        (),
        failed=False,
        next_attempt=_retry,
        disable_after=HOUR * 24,
    )
    assert quarantined.status.code is StatusCode.Quarantine
    kept = quarantined.restarted(T0, escrows=False, quarantine=False, force_deletes=False)
    assert kept.status.code is StatusCode.Quarantine and kept.next_cycle == T0
    assert (
        quarantined.restarted(T0, escrows=False, quarantine=False, force_deletes=True).status.quarantine
        is None
    )
    lifted = quarantined.restarted(T0, escrows=True, quarantine=True, force_deletes=False)
    assert lifted.status.quarantine is None and lifted.status.code is StatusCode.Active
    other = _job().cycle_quarantined(
        _run(),
        "EncounteredBaseEscrowThreshold",
        ERROR,
        (),
        failed=False,
        next_attempt=_retry,
        disable_after=HOUR,
    )
    assert (
        other.restarted(T0, escrows=False, quarantine=False, force_deletes=True).status.quarantine is not None
    )


def test_a_quarantine_series_keeps_its_start_and_stops_the_job_after_the_limit() -> None:
    first = _job().cycle_quarantined(
        _run(ExecutionResult.Failed),
        QuarantineReason.Unknown,
        ERROR,
        (),
        failed=True,
        next_attempt=_retry,
        disable_after=HOUR * 10,
    )
    assert first.next_cycle == T0 + 6 * HOUR
    second = first.cycle_quarantined(
        _run(ExecutionResult.Failed, at=T0 + 6 * HOUR),
        QuarantineReason.Unknown,
        ERROR,
        (),
        failed=True,
        next_attempt=_retry,
        disable_after=HOUR * 10,
    )
    assert second.status.quarantine is not None and second.status.quarantine.series_began == T0
    assert second.status.quarantine.series_count == 2 and second.status.successive_failures == 2
    third = second.cycle_quarantined(
        _run(ExecutionResult.Failed, at=T0 + 12 * HOUR),
        QuarantineReason.Unknown,
        ERROR,
        (),
        failed=True,
        next_attempt=_retry,
        disable_after=HOUR * 10,
    )
    assert third.schedule.state is ScheduleState.Disabled and third.status.code is StatusCode.Paused
    assert third.next_cycle is None


def test_a_completed_cycle_lifts_the_quarantine_and_an_escrow_retry_brings_the_next_cycle_forward() -> None:
    job = _job(successive_failures=3).cycle_quarantined(
        _run(),
        QuarantineReason.Unknown,
        ERROR,
        (),
        failed=False,
        next_attempt=_retry,
        disable_after=HOUR * 24,
    )
    done = job.cycle_completed(
        _run(ExecutionResult.EntryLevelErrors, exported=1, exports=2),
        (),
        escrow_retry=T0 + 60 * timedelta(seconds=1),
    )
    assert done.status.quarantine is None and done.status.successive_failures == 0
    assert done.status.last_successful_execution is None  # EntryLevelErrors is no success
    assert done.status.last_successful_execution_with_exports == done.status.last_execution
    assert done.status.steady_state_last_achieved == NEVER  # exports were still to make
    assert done.next_cycle == T0 + timedelta(minutes=1)
    past = job.cycle_completed(_run(), (), escrow_retry=T0 - HOUR)
    assert past.next_cycle == T0


def test_failures_count_up_and_back_off_only_while_active() -> None:
    failed = _job().cycle_failed(_run(ExecutionResult.Failed))
    assert failed.status.successive_failures == 1 and failed.next_cycle == T0 + timedelta(minutes=40)
    again = failed.cycle_failed_unexpectedly(_run(ExecutionResult.Failed), lambda n: T0 + n * HOUR)
    assert again.status.successive_failures == 2 and again.next_cycle == T0 + 2 * HOUR
    paused = _job(ScheduleState.Paused).cycle_failed_unexpectedly(_run(ExecutionResult.Failed), lambda n: T0)
    assert paused.next_cycle is None


def test_an_endless_interval_schedules_no_cycle_in_this_calendar() -> None:
    schedule = Schedule(ScheduleState.Active, timedelta.max)
    assert schedule.next_cycle(T0) == FAR_FUTURE
    assert Schedule(ScheduleState.Paused).next_cycle(T0) is None


def test_a_cycle_that_began_starts_its_progress_at_zero_and_its_end_clears_it() -> None:
    began = _job().cycle_began(T0)
    assert began.status.progress == (Progress(0, 0, T0),)
    assert began.status.code is StatusCode.Active and began.next_cycle is None
    assert began.cycle_completed(_run(at=T0 + HOUR), ()).status.progress == ()
