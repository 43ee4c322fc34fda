"""The provisioningObjectSummary resource (GET /auditLogs/provisioning), from a log record.

v1.0 names the status `provisioningStatusInfo`; beta calls it `statusInfo`. Both are filterable
as `statusInfo/status` here. Actions and statuses use Graph's enum members (provisioningAction:
other, create, delete, disable, update, stagedDelete; provisioningResult: success, failure,
skipped, warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisiond.graph.base import format_datetime

ACTIONS = {"stageddelete": "stagedDelete"}
SOURCE_SYSTEM = "Azure Active Directory"
TARGET_SYSTEM = "customappsso"


def provisioning_summary(record: Mapping[str, Any], *, tenant_id: str, version: str) -> dict[str, Any]:
    status: dict[str, Any] = {"status": record["status"], "errorInformation": None}
    if record.get("error_code"):
        status["errorInformation"] = {
            "errorCode": record["error_code"],
            "reason": record.get("error_reason"),
            "additionalDetails": None,
            "errorCategory": record.get("error_category"),
            "recommendedAction": None,
        }
    sp_id = record["service_principal_id"]
    summary: dict[str, Any] = {
        "id": record["id"],
        "activityDateTime": format_datetime(record["activity_date_time"]),
        "tenantId": tenant_id,
        "jobId": record["job_id"],
        "cycleId": record["cycle_id"],
        "changeId": record["change_id"],
        "durationInMilliseconds": record["duration_ms"],
        "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
        "servicePrincipal": {"id": sp_id, "displayName": record.get("service_principal_display_name")},
        "sourceSystem": {"id": None, "displayName": SOURCE_SYSTEM, "details": []},
        "targetSystem": {"id": None, "displayName": TARGET_SYSTEM, "details": []},
        "sourceIdentity": {
            "id": record["source_id"],
            "displayName": record.get("source_display_name"),
            "identityType": record["source_type"],
            "details": None,
        },
        "targetIdentity": {
            "id": record.get("target_id"),
            "displayName": record.get("target_display_name"),
            "identityType": record.get("target_type"),
            "details": None,
        },
        "provisioningAction": ACTIONS.get(record["action"], record["action"]),
        "provisioningSteps": [
            {
                "name": step["name"],
                "provisioningStepType": step["provisioningStepType"],
                "status": step["status"],
                "description": step["description"],
                "details": dict(step.get("details") or {}),
            }
            for step in record.get("steps") or []
        ],
        "modifiedProperties": list(record.get("modified_properties") or []),
    }
    summary["statusInfo" if version == "beta" else "provisioningStatusInfo"] = status
    return summary
