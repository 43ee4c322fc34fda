"""How a job's state is kept: the schedule in its columns, the status as versioned JSON of the
domain objects (provisiond.domain.job_state), never as Graph's wire shape.

`JobStatusColumn` is the `sync_jobs.status` column's type: it writes a `JobStatus` and reads
one back, so every reader of a job row gets the typed status. The JSON is
`{"version": 1, ...}` with the domain's field names and ISO 8601 times at full precision;
migration 0005 brought the older rows (Graph's synchronizationStatus, as the API showed it)
to it. A new version adds a reader here and a migration.

`job_state` and `state_values` carry a job between its row and the transitions: read the row,
apply one transition, write back the columns that changed, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, TypeDecorator

from provisiond.domain.job_state import (
    Execution,
    ExecutionResult,
    JobError,
    JobState,
    JobStatus,
    Progress,
    Quarantine,
    QuarantineReason,
    Schedule,
    ScheduleState,
    StatusCode,
    entry_counts,
)
from provisiond.graph.base import parse_duration

VERSION = 1
DEFAULT_INTERVAL = timedelta(minutes=40)


class UnknownStatusVersion(ValueError):
    """A status written by a newer (or unmigrated older) provisiond."""


def job_state(row: Mapping[str, Any]) -> JobState:
    """The state the transitions work on, from a `sync_jobs` row."""
    schedule = Schedule(
        state=ScheduleState(row["schedule_state"]),
        interval=interval(row["schedule_interval"]),
        expiration=row["schedule_expiration"],
    )
    return JobState(schedule, row["status"], row["cycle_due_at"])


def interval(text: str) -> timedelta:
    """The schedule interval of the column (ISO 8601); a value that does not parse runs as 40 minutes."""
    try:
        return parse_duration(text)
    except ValueError:
        return DEFAULT_INTERVAL


def state_values(before: JobState, after: JobState) -> dict[str, Any]:
    """The `sync_jobs` column values that a transition from `before` to `after` changed."""
    values: dict[str, Any] = {}
    if after.schedule.state is not before.schedule.state:
        values["schedule_state"] = after.schedule.state.value
    if after.status != before.status:
        values["status"] = after.status
    if after.next_cycle != before.next_cycle:
        values["cycle_due_at"] = after.next_cycle
    return values


class JobStatusColumn(TypeDecorator[JobStatus]):
    """A `JobStatus` stored as versioned JSON."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: JobStatus | None, dialect: Any) -> dict[str, Any] | None:
        return None if value is None else status_to_json(value)

    def process_result_value(self, value: Any, dialect: Any) -> JobStatus | None:
        return None if value is None else status_from_json(value)


# Version 1


def status_to_json(status: JobStatus) -> dict[str, Any]:
    return {
        "version": VERSION,
        "code": status.code.value,
        "successive_failures": status.successive_failures,
        "escrows_pruned": status.escrows_pruned,
        "last_execution": _execution_json(status.last_execution),
        "last_successful_execution": _execution_json(status.last_successful_execution),
        "last_successful_execution_with_exports": _execution_json(
            status.last_successful_execution_with_exports
        ),
        "progress": [
            {"completed": p.completed, "total": p.total, "units": p.units, "observed": _time(p.observed)}
            for p in status.progress
        ],
        "quarantine": _quarantine_json(status.quarantine),
        "steady_state_first_achieved": _time(status.steady_state_first_achieved),
        "steady_state_last_achieved": _time(status.steady_state_last_achieved),
        "entry_counts": dict(status.entry_counts),
        "troubleshooting_url": status.troubleshooting_url,
    }


def status_from_json(data: Mapping[str, Any]) -> JobStatus:
    if data.get("version") != VERSION:
        raise UnknownStatusVersion(
            f"a job status of version {data.get('version')!r}; this provisiond reads version {VERSION} "
            "(run the migrations)"
        )
    return JobStatus(
        code=StatusCode(data["code"]),
        successive_failures=int(data["successive_failures"]),
        escrows_pruned=bool(data["escrows_pruned"]),
        last_execution=_execution(data["last_execution"]),
        last_successful_execution=_execution(data["last_successful_execution"]),
        last_successful_execution_with_exports=_execution(data["last_successful_execution_with_exports"]),
        progress=tuple(
            Progress(
                completed=int(p["completed"]),
                total=int(p["total"]),
                units=p["units"],
                observed=_parse(p["observed"]),
            )
            for p in data["progress"]
        ),
        quarantine=_quarantine(data["quarantine"]),
        steady_state_first_achieved=_parse(data["steady_state_first_achieved"]),
        steady_state_last_achieved=_parse(data["steady_state_last_achieved"]),
        entry_counts=entry_counts({str(k): int(v) for k, v in data["entry_counts"].items()}),
        troubleshooting_url=data["troubleshooting_url"],
    )


_COUNTS = (
    "entitled",
    "entitled_for_provisioning",
    "escrowed",
    "escrowed_raw",
    "exported",
    "exports",
    "imported",
    "imported_deltas",
    "imported_reference_deltas",
)


def _execution_json(execution: Execution | None) -> dict[str, Any] | None:
    if execution is None:
        return None
    return {
        "result": execution.result.value,
        "began": _time(execution.began),
        "ended": _time(execution.ended),
        "error": _error_json(execution.error),
        "activity_identifier": execution.activity_identifier,
        **{name: getattr(execution, name) for name in _COUNTS},
    }


def _execution(data: Mapping[str, Any] | None) -> Execution | None:
    if data is None:
        return None
    return Execution(
        result=ExecutionResult(data["result"]),
        began=_parse(data["began"]),
        ended=_parse(data["ended"]),
        error=_error(data["error"]),
        activity_identifier=data["activity_identifier"],
        **{name: int(data[name]) for name in _COUNTS},
    )


def _error_json(error: JobError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code, "message": error.message, "tenant_actionable": error.tenant_actionable}


def _error(data: Mapping[str, Any] | None) -> JobError | None:
    if data is None:
        return None
    return JobError(data["code"], data["message"], bool(data["tenant_actionable"]))


def _quarantine_json(quarantine: Quarantine | None) -> dict[str, Any] | None:
    if quarantine is None:
        return None
    return {
        "reason": quarantine.reason.value,
        "error": _error_json(quarantine.error),
        "current_began": _time(quarantine.current_began),
        "next_attempt": _time(quarantine.next_attempt),
        "series_began": _time(quarantine.series_began),
        "series_count": quarantine.series_count,
    }


def _quarantine(data: Mapping[str, Any] | None) -> Quarantine | None:
    if data is None:
        return None
    return Quarantine(
        reason=QuarantineReason(data["reason"]),
        error=_error(data["error"]),
        current_began=_parse(data["current_began"]),
        next_attempt=_parse(data["next_attempt"]),
        series_began=_parse(data["series_began"]),
        series_count=int(data["series_count"]),
    )


def _time(value: datetime) -> str:
    return value.isoformat()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
