"""The wire shapes of a job's state, built from the domain objects (provisiond.domain.job_state):
`synchronizationStatus` with its executions, progress and quarantine, and the job's `schedule`.

The only place these camelCase shapes are made. Keys come in the order Graph's models
declare them (graph/synchronization.py), except a progress entry's, which keeps the order the
service has always written; times are `format_datetime`'s (UTC, `Z`, milliseconds when there
is a fraction), durations `format_duration`'s.
"""

from __future__ import annotations

from typing import Any

from provisiond.domain.job_state import Execution, JobError, JobStatus, Progress, Quarantine, Schedule
from provisiond.graph.base import format_datetime, format_duration

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
        "activityIdentifier": None,
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
        "reason": quarantine.reason,
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
