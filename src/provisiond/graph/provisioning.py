"""The provisioningObjectSummary resource (GET /auditLogs/provisioning), from a log record.

v1.0 names the status `provisioningStatusInfo`; beta calls it `statusInfo`. Both are filterable
as `statusInfo/status` here. Actions and statuses use Graph's enum members (provisioningAction:
other, create, delete, disable, update, stagedDelete; provisioningResult: success, failure,
skipped, warning; provisioningStatusErrorCategory: failure, nonServiceFailure, success).

JSON types follow the CSDL: the complex properties (`initiatedBy`, `servicePrincipal`,
`sourceSystem`, `targetSystem`, `sourceIdentity`, `targetIdentity`, the status) are objects, and
so is every `details` (a `detailsInfo`, an open type: `{}` when there is nothing to say, never an
array or null); `provisioningSteps` and `modifiedProperties` are arrays; `durationInMilliseconds`
is a number and every other scalar a string. As in Graph's examples, `targetSystem.details` names
the service principal the job runs on (ApplicationId, ServicePrincipalId,
ServicePrincipalDisplayName).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisiond.domain.provisioning_log import PROVISIONING_SERVICE, LogStep, PropertyChange
from provisiond.graph.base import format_datetime

ACTIONS = {"stageddelete": "stagedDelete"}
SOURCE_SYSTEM = "Azure Active Directory"
TARGET_SYSTEM = "customappsso"
# API-driven inbound jobs (API2AAD) write into the directory from the uploads.
INBOUND_SYSTEMS = ("API", "Azure Active Directory")


def provisioning_summary(record: Mapping[str, Any], *, tenant_id: str, version: str) -> dict[str, Any]:
    status: dict[str, Any] = {"status": record["status"], "errorInformation": None}
    if record.get("error_code"):
        status["errorInformation"] = {
            "errorCode": record["error_code"],
            "reason": record.get("error_reason"),
            "additionalDetails": None,
            "errorCategory": _enum_member(record.get("error_category")),
            "recommendedAction": None,
        }
    sp_id = record["service_principal_id"]
    sp_name = record.get("service_principal_display_name")
    sp_details = {
        "ApplicationId": record.get("service_principal_app_id"),
        "ServicePrincipalId": sp_id,
        "ServicePrincipalDisplayName": sp_name,
    }
    systems = (
        INBOUND_SYSTEMS
        if str(record["job_id"]).lower().startswith("api2aad.")
        else (SOURCE_SYSTEM, TARGET_SYSTEM)
    )
    summary: dict[str, Any] = {
        "id": record["id"],
        "activityDateTime": format_datetime(record["activity_date_time"]),
        "tenantId": tenant_id,
        "jobId": record["job_id"],
        "cycleId": record["cycle_id"],
        "changeId": record["change_id"],
        "durationInMilliseconds": record["duration_ms"],
        "initiatedBy": initiator(record),
        "servicePrincipal": {"id": sp_id, "displayName": sp_name},
        "sourceSystem": {"id": None, "displayName": systems[0], "details": {}},
        "targetSystem": {
            "id": None,
            "displayName": systems[1],
            "details": {key: value for key, value in sp_details.items() if value is not None},
        },
        "sourceIdentity": {
            "id": record["source_id"],
            "displayName": record.get("source_display_name"),
            "identityType": record["source_type"],
            "details": {},
        },
        "targetIdentity": {
            "id": record.get("target_id"),
            "displayName": record.get("target_display_name"),
            "identityType": record.get("target_type"),
            "details": {},
        },
        "provisioningAction": ACTIONS.get(record["action"], record["action"]),
        "provisioningSteps": [step_wire(step) for step in record.get("steps") or []],
        "modifiedProperties": [property_wire(p) for p in record.get("modified_properties") or []],
    }
    summary["statusInfo" if version == "beta" else "provisioningStatusInfo"] = status
    return summary


def _enum_member(value: str | None) -> str | None:
    """Graph's spelling of an enum member the engine stores capitalised (NonServiceFailure)."""
    return value[:1].lower() + value[1:] if value else value


def initiator(record: Mapping[str, Any]) -> dict[str, Any]:
    """The provisioning service for cycles; the caller for provision on demand."""
    if record.get("initiated_by_type") is None:
        who = PROVISIONING_SERVICE
        return {"id": who.id, "displayName": who.display_name, "initiatorType": who.initiator_type}
    return {
        "id": record.get("initiated_by_id") or "",
        "displayName": record.get("initiated_by_display_name"),
        "initiatorType": record["initiated_by_type"],
    }


def step_wire(step: LogStep) -> dict[str, Any]:
    """A provisioningStep."""
    return {
        "name": step.name,
        "provisioningStepType": step.kind.value,
        "status": step.status,
        "description": step.description,
        "details": dict(step.details),
    }


def property_wire(change: PropertyChange) -> dict[str, Any]:
    """A modifiedProperty."""
    return {"displayName": change.name, "oldValue": change.old, "newValue": change.new}
