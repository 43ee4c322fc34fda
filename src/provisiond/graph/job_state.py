"""The wire shapes of a job's state, built from the domain objects (provisiond.domain.job_state):
`synchronizationStatus` with its executions, progress and quarantine, and the job's `schedule`.

The only place these camelCase shapes are made. Keys come in the order Graph's models
declare them (graph/synchronization.py), except a progress entry's, which keeps the order the
service has always written; times are `format_datetime`'s (UTC, `Z`, milliseconds when there
is a fraction), durations `format_duration`'s.
"""

from __future__ import annotations

from typing import Any

from provisiond.domain.job_state import (
    Execution,
    ExecutionResult,
    JobError,
    JobStatus,
    Progress,
    Quarantine,
    QuarantineReason,
    Schedule,
    StatusCode,
    entry_counts,
)
from provisiond.graph.base import format_datetime, format_duration
from provisiond.graph.synchronization import (
    SynchronizationError,
    SynchronizationStatus,
    SynchronizationTaskExecution,
)

# The object types of the connector data store as synchronizedEntryCountByType names them.
ENTRY_TYPES = {"User": "user", "Group": "group"}


def status_wire(status: JobStatus) -> dict[str, Any]:
    """A synchronizationStatus."""
    return {
        "code": status.code.value,
        "countSuccessiveCompleteFailures": status.successive_failures,
        "escrowsPruned": status.escrows_pruned,
        "lastExecution": execution_wire(status.last_execution),
        "lastSuccessfulExecution": execution_wire(status.last_successful_execution),
        "lastSuccessfulExecutionWithExports": execution_wire(status.last_successful_execution_with_exports),
        "progress": [progress_wire(p) for p in status.progress],
        "quarantine": quarantine_wire(status.quarantine),
        "steadyStateFirstAchievedTime": format_datetime(status.steady_state_first_achieved),
        "steadyStateLastAchievedTime": format_datetime(status.steady_state_last_achieved),
        "synchronizedEntryCountByType": [
            {"key": ENTRY_TYPES.get(kind, kind.lower()), "value": count}
            for kind, count in status.entry_counts
        ],
        "troubleshootingUrl": status.troubleshooting_url,
    }


def execution_wire(execution: Execution | None) -> dict[str, Any] | None:
    """A synchronizationTaskExecution."""
    if execution is None:
        return None
    return {
        "activityIdentifier": execution.activity_identifier,
        "countEntitled": execution.entitled,
        "countEntitledForProvisioning": execution.entitled_for_provisioning,
        "countEscrowed": execution.escrowed,
        "countEscrowedRaw": execution.escrowed_raw,
        "countExported": execution.exported,
        "countExports": execution.exports,
        "countImported": execution.imported,
        "countImportedDeltas": execution.imported_deltas,
        "countImportedReferenceDeltas": execution.imported_reference_deltas,
        "error": error_wire(execution.error),
        "state": execution.result.value,
        "timeBegan": format_datetime(execution.began),
        "timeEnded": format_datetime(execution.ended),
    }


def error_wire(error: JobError | None) -> dict[str, Any] | None:
    """A synchronizationError."""
    if error is None:
        return None
    return {"code": error.code, "message": error.message, "tenantActionable": error.tenant_actionable}


def progress_wire(progress: Progress) -> dict[str, Any]:
    """A synchronizationProgress."""
    return {
        "completedUnits": progress.completed,
        "totalUnits": progress.total,
        "units": progress.units,
        "progressObservationDateTime": format_datetime(progress.observed),
    }


def quarantine_wire(quarantine: Quarantine | None) -> dict[str, Any] | None:
    """A synchronizationQuarantine."""
    if quarantine is None:
        return None
    return {
        "currentBegan": format_datetime(quarantine.current_began),
        "error": error_wire(quarantine.error),
        "nextAttempt": format_datetime(quarantine.next_attempt),
        "reason": quarantine.reason.value,
        "seriesBegan": format_datetime(quarantine.series_began),
        "seriesCount": quarantine.series_count,
    }


def schedule_wire(schedule: Schedule) -> dict[str, Any]:
    """A synchronizationSchedule."""
    return {
        "expiration": format_datetime(schedule.expiration) if schedule.expiration else None,
        "interval": format_duration(schedule.interval),
        "state": schedule.state.value,
    }


def status_from_wire(body: dict[str, Any]) -> JobStatus:
    """A synchronizationStatus body (validated by Graph's model) as the domain's JobStatus: the
    inverse of `status_wire`, for callers that hold Graph's shape (tests, imports)."""
    wire = SynchronizationStatus.model_validate(body)
    return JobStatus(
        code=StatusCode(wire.code.value),
        successive_failures=wire.count_successive_complete_failures,
        escrows_pruned=wire.escrows_pruned,
        last_execution=_execution(wire.last_execution),
        last_successful_execution=_execution(wire.last_successful_execution),
        last_successful_execution_with_exports=_execution(wire.last_successful_execution_with_exports),
        progress=tuple(
            Progress(p.completed_units, p.total_units, p.progress_observation_date_time, p.units or "objects")
            for p in wire.progress
        ),
        quarantine=None
        if wire.quarantine is None
        else Quarantine(
            reason=QuarantineReason(wire.quarantine.reason.value),
            error=_error(wire.quarantine.error),
            current_began=wire.quarantine.current_began,
            next_attempt=wire.quarantine.next_attempt,
            series_began=wire.quarantine.series_began,
            series_count=wire.quarantine.series_count,
        ),
        steady_state_first_achieved=wire.steady_state_first_achieved_time,
        steady_state_last_achieved=wire.steady_state_last_achieved_time,
        entry_counts=entry_counts(
            {
                _ENTRY_TYPE_OF.get(pair.key or "", pair.key or ""): pair.value
                for pair in wire.synchronized_entry_count_by_type
            }
        ),
        troubleshooting_url=wire.troubleshooting_url,
    )


_ENTRY_TYPE_OF = {name: kind for kind, name in ENTRY_TYPES.items()}


def _error(error: SynchronizationError | None) -> JobError | None:
    return None if error is None else JobError(error.code, error.message, error.tenant_actionable)


def _execution(execution: SynchronizationTaskExecution | None) -> Execution | None:
    if execution is None:
        return None
    return Execution(
        result=ExecutionResult(execution.state.value),
        began=execution.time_began,
        ended=execution.time_ended,
        error=_error(execution.error),
        activity_identifier=execution.activity_identifier,
        entitled=execution.count_entitled,
        entitled_for_provisioning=execution.count_entitled_for_provisioning,
        escrowed=execution.count_escrowed,
        escrowed_raw=execution.count_escrowed_raw,
        exported=execution.count_exported,
        exports=execution.count_exports,
        imported=execution.count_imported,
        imported_deltas=execution.count_imported_deltas,
        imported_reference_deltas=execution.count_imported_reference_deltas,
    )


def job_wire(
    job_id: str, template_id: str, schedule: Schedule, status: JobStatus, settings: list[dict[str, Any]]
) -> dict[str, Any]:
    """A synchronizationJob as GET returns it (`schema` and `bulkUpload` are separate segments)."""
    return {
        "id": job_id,
        "templateId": template_id,
        "schedule": schedule_wire(schedule),
        "status": status_wire(status),
        "synchronizationJobSettings": settings,
    }
