"""Wire shapes of the preview extension (`POST .../jobs/{jobId}/preview`): the request, the
preview resource and its planned actions. Not Graph types: they follow Graph's conventions
(camelCase, ISO timestamps, `@odata.nextLink` paging, modifiedProperty for changes) so that a
Graph client's plumbing reads them as it reads the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from provisiond.domain.provisioning_log import PropertyChange
from provisiond.graph.base import GraphModel, format_datetime
from provisiond.graph.enums import SynchronizationJobRestartScope
from provisiond.graph.flags import format_flags
from provisiond.graph.provisioning import property_wire
from provisiond.graph.synchronization import SynchronizationJobRestartCriteria

PREVIEW_TYPE = "#microsoft.graph.provisiond.synchronizationPreview"
ACTION_TYPE = "#microsoft.graph.provisiond.synchronizationPreviewAction"


class PreviewRequest(GraphModel):
    """`criteria`, when present (even null or empty), previews a restart read as restart reads
    it; `schema` previews a job schema not yet saved."""

    criteria: SynchronizationJobRestartCriteria | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @property
    def restart_previewed(self) -> bool:
        return "criteria" in self.model_fields_set


def preview_wire(record: Mapping[str, Any]) -> dict[str, Any]:
    scope = record["reset_scope"]
    error = None
    if record["error_code"]:
        error = {"code": record["error_code"], "message": record["error_message"]}
    counts = record["counts"] or {}
    guard = record["guard"]
    return {
        "@odata.type": PREVIEW_TYPE,
        "id": record["id"],
        "status": record["status"],
        "createdDateTime": format_datetime(record["created_date_time"]),
        "lastModifiedDateTime": format_datetime(record["updated_date_time"]),
        "completedDateTime": (
            format_datetime(record["completed_date_time"]) if record["completed_date_time"] else None
        ),
        "resetScope": None if scope is None else format_flags(SynchronizationJobRestartScope(scope)),
        "schemaChanged": record["schema_changed"],
        "fullPass": record["full_pass"],
        "progress": {"processed": record["processed"], "total": record["total"]},
        "counts": [{"objectType": object_type, **n} for object_type, n in counts.items()],
        "deletionGuard": None
        if guard is None
        else {
            "wouldTrip": guard["would_trip"],
            "plannedDisablesAndDeletes": guard["planned"],
            "exportedInWindow": guard["in_window"],
            "threshold": guard["threshold"],
            "message": guard["message"],
        },
        "error": error,
    }


def action_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    changes: list[PropertyChange] = row["changes"]
    return {
        "@odata.type": ACTION_TYPE,
        "objectType": row["object_type"],
        "sourceId": row["source_id"],
        "displayName": row["display_name"],
        "targetId": row["target_id"],
        "action": row["action"],
        "reason": row["reason"],
        "modifiedProperties": [property_wire(c) for c in changes],
    }
