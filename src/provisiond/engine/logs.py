"""Provisioning log entries (provisioningObjectSummary rows), built as the engine works.

One entry per processed object and cycle, with the steps Entra shows (import, scoping,
matching, processing, referenceResolution, export), the action, the status with error
information, and the properties that changed, old and new; steps and changes are the domain's
typed objects (provisiond.domain.provisioning_log).

What happens to an object later in the same cycle (the deletion guard holding or running its
planned disable, an update of its manager or members) is a continuation: its steps are folded
into the object's entry of that cycle (`merge_records`) rather than written as a second entry.

Every entry begins in `new_entry`, whoever writes it (outbound cycles, provision on demand,
inbound cycles): the job, service principal and cycle come from the caller's scope. The wire
shapes are built from the stored records only at the edge: graph/provisioning.py
(provisioningObjectSummary) and api/routes/on_demand.py (provisionOnDemand's record).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from provisiond.domain.provisioning_log import (
    PROVISIONING_SERVICE,
    Initiator,
    LogStep,
    PropertyChange,
    StepKind,
)


class EntryScope(Protocol):
    """Whose entries they are: an outbound or inbound cycle's context, or an on-demand call's."""

    @property
    def job_id(self) -> str: ...
    @property
    def service_principal_id(self) -> str: ...
    @property
    def cycle_id(self) -> str: ...


def new_entry(
    scope: EntryScope,
    started: datetime,
    source_type: str,
    source_id: str,
    source_display_name: str | None,
    *,
    target_type: str,
    target_id: str | None = None,
    target_display_name: str | None = None,
) -> LogEntry:
    """The entry of one object in this scope, begun at `started`: skipped, action other and no
    steps until the caller records what happens."""
    return LogEntry(
        job_id=scope.job_id,
        service_principal_id=scope.service_principal_id,
        cycle_id=scope.cycle_id,
        source_id=source_id,
        source_type=source_type,
        source_display_name=source_display_name,
        started=started,
        target_type=target_type,
        target_id=target_id,
        target_display_name=target_display_name,
    )


@dataclass
class LogEntry:
    job_id: str
    service_principal_id: str
    cycle_id: str
    source_id: str
    source_type: str
    source_display_name: str | None
    started: datetime
    target_type: str
    action: str = "other"
    status: str = "skipped"
    target_id: str | None = None
    target_display_name: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    error_category: str | None = None
    steps: list[LogStep] = field(default_factory=list)
    modified: list[PropertyChange] = field(default_factory=list)
    initiated_by: Initiator = PROVISIONING_SERVICE
    # None: a new entry. "staged" or "reference": a later result of the same cycle, folded
    # into the object's entry (see merge_records).
    continues: str | None = None

    def step(
        self,
        name: str,
        kind: StepKind | str,
        status: str,
        description: str,
        details: Mapping[str, str] | None = None,
    ) -> None:
        self.steps.append(LogStep(name, StepKind(kind), status, description, dict(details or {})))

    def fail(self, code: str, reason: str, *, category: str = "NonServiceFailure") -> None:
        self.status = "failure"
        self.error_code = code
        self.error_reason = reason
        self.error_category = category

    def record(self, ended: datetime) -> dict[str, Any]:
        # Stored at the precision the API shows (milliseconds), so that filtering on a shown
        # activityDateTime (`le`, `eq`) finds the entry it was read from.
        ended = ended.replace(microsecond=ended.microsecond // 1000 * 1000)
        return {
            "id": str(uuid.uuid4()),
            "job_id": self.job_id,
            "service_principal_id": self.service_principal_id,
            "cycle_id": self.cycle_id,
            "change_id": str(uuid.uuid4()),
            "activity_date_time": ended,
            "duration_ms": max(0, int((ended - self.started).total_seconds() * 1000)),
            "action": self.action,
            "status": self.status,
            "error_code": self.error_code,
            "error_reason": self.error_reason,
            "error_category": self.error_category,
            "source_id": self.source_id,
            "source_type": self.source_type,
            "source_display_name": self.source_display_name,
            "target_id": self.target_id,
            "target_type": self.target_type,
            "target_display_name": self.target_display_name,
            "steps": self.steps,
            "modified_properties": self.modified,
            "initiated_by_id": self.initiated_by.id,
            "initiated_by_display_name": self.initiated_by.display_name,
            "initiated_by_type": self.initiated_by.initiator_type,
        }


def merge_records(entry: dict[str, Any], later: dict[str, Any], continues: str) -> dict[str, Any]:
    """The object's entry with a later result of the same cycle folded in: steps and modified
    properties appended. A staged disable or delete (`continues="staged"`) decides the action and
    status; a reference update keeps the object's action, makes a skip an update when it
    succeeded, and makes the entry a warning when it failed."""
    merged = dict(entry)
    merged["steps"] = [*entry["steps"], *later["steps"]]
    merged["modified_properties"] = [*entry["modified_properties"], *later["modified_properties"]]
    merged["activity_date_time"] = later["activity_date_time"]
    merged["duration_ms"] = entry["duration_ms"] + later["duration_ms"]
    merged["target_id"] = later["target_id"] or entry["target_id"]
    error = ("error_code", "error_reason", "error_category")
    if continues == "staged":
        merged.update(action=later["action"], status=later["status"], **{k: later[k] for k in error})
    elif later["status"] == "failure":
        if entry["status"] != "failure":
            merged.update(status="warning", **{k: later[k] for k in error})
    elif later["status"] == "success" and entry["action"] == "other":
        merged.update(action="update", status="success")
        if entry["status"] == "skipped":
            merged.update({k: None for k in error})
    return merged
