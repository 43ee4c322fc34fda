"""job status as versioned JSON of the domain objects: `sync_jobs.status` held Graph's
synchronizationStatus as the API showed it (camelCase, times at millisecond precision); it now
holds `{"version": 1, ...}` (store/job_state.py). Downgrade writes Graph's shape back.

Self-contained on purpose: a migration must convert the same way whatever the code becomes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:30:00.000000
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEVER = "0001-01-01T00:00:00Z"
COUNTS = {
    "countEntitled": "entitled",
    "countEntitledForProvisioning": "entitled_for_provisioning",
    "countEscrowed": "escrowed",
    "countEscrowedRaw": "escrowed_raw",
    "countExported": "exported",
    "countExports": "exports",
    "countImported": "imported",
    "countImportedDeltas": "imported_deltas",
    "countImportedReferenceDeltas": "imported_reference_deltas",
}
EXECUTIONS = {
    "lastExecution": "last_execution",
    "lastSuccessfulExecution": "last_successful_execution",
    "lastSuccessfulExecutionWithExports": "last_successful_execution_with_exports",
}
ENTRY_TYPES = {"user": "User", "group": "Group"}

jobs = sa.table("sync_jobs", sa.column("id", sa.String), sa.column("status", sa.JSON))


def _to_v1_time(text: str | None) -> str:
    return datetime.fromisoformat((text or NEVER).replace("Z", "+00:00")).astimezone(UTC).isoformat()


def _to_graph_time(text: str) -> str:
    value = datetime.fromisoformat(text).astimezone(UTC)
    out = value.replace(tzinfo=None).isoformat(timespec="seconds")
    if value.microsecond:
        out += f".{value.microsecond // 1000:03d}"
    return out + "Z"


def _error_v1(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "code": error.get("code"),
        "message": error.get("message"),
        "tenant_actionable": bool(error.get("tenantActionable")),
    }


def _error_graph(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "code": error["code"],
        "message": error["message"],
        "tenantActionable": error["tenant_actionable"],
    }


def _execution_v1(execution: dict[str, Any] | None) -> dict[str, Any] | None:
    if execution is None:
        return None
    return {
        "result": execution["state"],
        "began": _to_v1_time(execution.get("timeBegan")),
        "ended": _to_v1_time(execution.get("timeEnded")),
        "error": _error_v1(execution.get("error")),
        "activity_identifier": execution.get("activityIdentifier"),
        **{name: int(execution.get(key) or 0) for key, name in COUNTS.items()},
    }


def _execution_graph(execution: dict[str, Any] | None) -> dict[str, Any] | None:
    if execution is None:
        return None
    return {
        "activityIdentifier": execution["activity_identifier"],
        **{key: execution[name] for key, name in COUNTS.items()},
        "error": _error_graph(execution["error"]),
        "state": execution["result"],
        "timeBegan": _to_graph_time(execution["began"]),
        "timeEnded": _to_graph_time(execution["ended"]),
    }


def to_v1(status: dict[str, Any]) -> dict[str, Any]:
    if status.get("version") is not None:
        return status
    quarantine = status.get("quarantine")
    return {
        "version": 1,
        "code": status["code"],
        "successive_failures": int(status.get("countSuccessiveCompleteFailures") or 0),
        "escrows_pruned": bool(status.get("escrowsPruned")),
        **{name: _execution_v1(status.get(key)) for key, name in EXECUTIONS.items()},
        "progress": [
            {
                "completed": int(p.get("completedUnits") or 0),
                "total": int(p.get("totalUnits") or 0),
                "units": p.get("units"),
                "observed": _to_v1_time(p.get("progressObservationDateTime")),
            }
            for p in status.get("progress") or []
        ],
        "quarantine": None
        if quarantine is None
        else {
            "reason": quarantine["reason"],
            "error": _error_v1(quarantine.get("error")),
            "current_began": _to_v1_time(quarantine.get("currentBegan")),
            "next_attempt": _to_v1_time(quarantine.get("nextAttempt")),
            "series_began": _to_v1_time(quarantine.get("seriesBegan")),
            "series_count": int(quarantine.get("seriesCount") or 0),
        },
        "steady_state_first_achieved": _to_v1_time(status.get("steadyStateFirstAchievedTime")),
        "steady_state_last_achieved": _to_v1_time(status.get("steadyStateLastAchievedTime")),
        "entry_counts": {
            ENTRY_TYPES.get(pair["key"], pair["key"]): int(pair.get("value") or 0)
            for pair in status.get("synchronizedEntryCountByType") or []
        },
        "troubleshooting_url": status.get("troubleshootingUrl"),
    }


def to_graph(status: dict[str, Any]) -> dict[str, Any]:
    if status.get("version") is None:
        return status
    quarantine = status["quarantine"]
    return {
        "code": status["code"],
        "countSuccessiveCompleteFailures": status["successive_failures"],
        "escrowsPruned": status["escrows_pruned"],
        **{key: _execution_graph(status[name]) for key, name in EXECUTIONS.items()},
        "progress": [
            {
                "completedUnits": p["completed"],
                "totalUnits": p["total"],
                "units": p["units"],
                "progressObservationDateTime": _to_graph_time(p["observed"]),
            }
            for p in status["progress"]
        ],
        "quarantine": None
        if quarantine is None
        else {
            "currentBegan": _to_graph_time(quarantine["current_began"]),
            "error": _error_graph(quarantine["error"]),
            "nextAttempt": _to_graph_time(quarantine["next_attempt"]),
            "reason": quarantine["reason"],
            "seriesBegan": _to_graph_time(quarantine["series_began"]),
            "seriesCount": quarantine["series_count"],
        },
        "steadyStateFirstAchievedTime": _to_graph_time(status["steady_state_first_achieved"]),
        "steadyStateLastAchievedTime": _to_graph_time(status["steady_state_last_achieved"]),
        "synchronizedEntryCountByType": [
            {"key": kind.lower(), "value": count} for kind, count in sorted(status["entry_counts"].items())
        ],
        "troubleshootingUrl": status["troubleshooting_url"],
    }


def _convert(convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    conn = op.get_bind()
    for job_id, status in conn.execute(sa.select(jobs.c.id, jobs.c.status)).all():
        if status is not None:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(status=convert(status)))


def upgrade() -> None:
    _convert(to_v1)


def downgrade() -> None:
    _convert(to_graph)
