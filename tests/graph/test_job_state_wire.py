"""The wire shapes of a job's state: what the API has always sent, and valid for Graph's models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisiond.domain.job_state import (
    Execution,
    ExecutionResult,
    JobError,
    JobStatus,
    Progress,
    Quarantine,
    QuarantineReason,
    Schedule,
    ScheduleState,
    StatusCode,
)
from provisiond.graph.base import TIMESPAN_MAX
from provisiond.graph.job_state import schedule_wire, status_wire
from provisiond.graph.synchronization import SynchronizationSchedule, SynchronizationStatus

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _execution(result: ExecutionResult, error: JobError | None = None) -> Execution:
    return Execution(
        result=result,
        began=T0,
        ended=T0 + timedelta(seconds=3),
        error=error,
        entitled=5,
        entitled_for_provisioning=5,
        escrowed=1,
        escrowed_raw=2,
        exported=4,
        exports=5,
        imported=6,
        imported_deltas=1,
        imported_reference_deltas=2,
    )


def _full_status() -> JobStatus:
    error = JobError("TooManyDeletes", "held", tenant_actionable=True)
    return JobStatus(
        code=StatusCode.Quarantine,
        successive_failures=2,
        escrows_pruned=True,
        last_execution=_execution(ExecutionResult.EntryLevelErrors, error),
        last_successful_execution=_execution(ExecutionResult.Succeeded),
        last_successful_execution_with_exports=_execution(ExecutionResult.Succeeded),
        progress=(Progress(completed=3, total=10, observed=T0),),
        quarantine=Quarantine(
            reason=QuarantineReason.TooManyDeletes,
            error=error,
            current_began=T0,
            next_attempt=T0 + timedelta(hours=6),
            series_began=T0 - timedelta(days=1),
            series_count=3,
        ),
        steady_state_first_achieved=T0,
        steady_state_last_achieved=T0 + timedelta(minutes=1),
        entry_counts=(("Group", 1), ("User", 4)),
    )


def test_a_new_jobs_status_is_what_graphs_model_writes() -> None:
    assert status_wire(JobStatus.initial()) == SynchronizationStatus.initial().to_wire()
    assert list(status_wire(JobStatus.initial())) == list(SynchronizationStatus.initial().to_wire())


def test_a_full_status_is_valid_for_graphs_model_and_round_trips_through_it() -> None:
    wire = status_wire(_full_status())
    model = SynchronizationStatus.model_validate(wire).to_wire()
    assert model == wire
    assert list(model) == list(wire)
    assert list(model["lastExecution"]) == list(wire["lastExecution"])
    assert list(model["quarantine"]) == list(wire["quarantine"])


def test_the_wire_names_times_counts_and_types_as_graph_does() -> None:
    wire = status_wire(_full_status())
    assert wire["code"] == "Quarantine"
    assert wire["steadyStateFirstAchievedTime"] == "2026-05-01T12:00:00.123Z"
    assert wire["synchronizedEntryCountByType"] == [{"key": "group", "value": 1}, {"key": "user", "value": 4}]
    assert wire["lastExecution"]["error"] == {
        "code": "TooManyDeletes",
        "message": "held",
        "tenantActionable": True,
    }
    assert wire["lastExecution"]["activityIdentifier"] is None
    assert wire["lastExecution"]["countEscrowedRaw"] == 2
    # A progress entry keeps the key order the service has always written.
    assert list(wire["progress"][0]) == [
        "completedUnits",
        "totalUnits",
        "units",
        "progressObservationDateTime",
    ]
    assert wire["quarantine"]["seriesBegan"] == "2026-04-30T12:00:00.123Z"


def test_schedule_wire_is_graphs() -> None:
    schedule = Schedule(ScheduleState.Active, timedelta(minutes=40), None)
    wire = schedule_wire(schedule)
    assert wire == {"expiration": None, "interval": "PT40M", "state": "Active"}
    assert SynchronizationSchedule.model_validate(wire).to_wire() == wire
    assert (
        schedule_wire(Schedule(ScheduleState.Disabled, TIMESPAN_MAX, T0))["interval"]
        == "P10675199DT2H48M5.4775807S"
    )


def test_job_wire_is_a_valid_synchronization_job() -> None:
    from provisiond.graph.job_state import job_wire
    from provisiond.graph.synchronization import SynchronizationJob

    settings = [{"name": "QuarantineTooManyDeletesThreshold", "value": "500"}]
    schedule = Schedule(ScheduleState.Paused, timedelta(minutes=40), None)
    wire = job_wire("scim.t.app", "scim", schedule, _full_status(), settings)
    assert list(wire) == ["id", "templateId", "schedule", "status", "synchronizationJobSettings"]
    assert SynchronizationJob.model_validate(wire).to_wire() == wire
