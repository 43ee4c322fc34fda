"""`POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/provisionOnDemand` (graph-sync-api
§1.1 J9, §7.1), on v1.0 and beta.

The 200 answer is one stringKeyStringValuePair whose `key` is the JSON `{"result","details"}`
and whose `value` is the JSON provisioning record with its steps: the shape of the reference's
first example, the most documented of the three Entra has answered with.

Choices where the reference is silent:
- Exactly one `parameters` entry with exactly one subject: a user, or a group whose
  `links.members` lists at most five of its direct members (users). `links.manager` and
  `links.owners` are rejected, since a user's manager flows from the directory.
- `objectTypeName` is matched without regard to case (the reference shows `User` and `user`).
- An unknown subject is a 404 `Request_ResourceNotFound`; every other bad parameter is a 400
  `RequestParameterInvalid`, and a malformed body a 400 `BadRequest`.
- Results and statuses in the record use Entra's PascalCase (`Success`, `Skipped`,
  `Failure`, `Warning`; step types `Import`, `Scoping`, `Matching`, `Processing`,
  `ReferenceResolution`, `Export`); every step carries the record's end time. A group's
  record adds `linkedObjects`: the records of the members provisioned with it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import json_object, odata_context, parse_model, read_body
from provisiond.api.context import services
from provisiond.api.errors import bad_request
from provisiond.api.routes.targets import JOB, sp_target
from provisiond.domain.provisioning_log import StepKind
from provisiond.engine.objects import GROUP, USER
from provisiond.engine.on_demand import MAX_MEMBERS, Initiator, OnDemandResult, Subject
from provisiond.graph.base import format_datetime
from provisiond.graph.provisioning import SOURCE_SYSTEM, TARGET_SYSTEM, property_wire
from provisiond.graph.synchronization import ProvisionOnDemandRequest, SynchronizationJobSubject
from provisiond.services.on_demand import PARAMETER_INVALID, OnDemandService

router = APIRouter()

TYPES = {"user": USER, "group": GROUP}
ACTIONS = {
    "create": "Create",
    "update": "Update",
    "delete": "Delete",
    "disable": "Disable",
    "stageddelete": "StagedDelete",
    "other": "Other",
}
REDUNDANT = "The state of the {kind} in both the source and target systems already match."


def _invalid(message: str) -> Exception:
    return bad_request(message, PARAMETER_INVALID)


def _object_type(subject: SynchronizationJobSubject, where: str) -> str:
    name = subject.object_type_name or ""
    object_type = TYPES.get(name.strip().lower())
    if object_type is None:
        raise _invalid(f"{where}: objectTypeName '{name}' is not supported; use User or Group.")
    return object_type


def _object_id(subject: SynchronizationJobSubject, where: str) -> str:
    if not (subject.object_id or "").strip():
        raise _invalid(f"{where}: objectId is missing or empty.")
    return str(subject.object_id)


def subject_of(body: ProvisionOnDemandRequest) -> tuple[str, Subject]:
    """The rule id and the one subject of a request, or a 400 naming what is wrong."""
    if len(body.parameters) != 1:
        raise _invalid("Provision on demand takes exactly one entry in 'parameters'.")
    parameters = body.parameters[0]
    if parameters.rule_id is None:
        raise _invalid("parameters[0].ruleId is missing.")
    if len(parameters.subjects) != 1:
        raise _invalid("Provision on demand takes exactly one subject: one user, or one group.")
    subject = parameters.subjects[0]
    object_id = _object_id(subject, "subjects[0]")
    object_type = _object_type(subject, "subjects[0]")
    links = subject.links
    if links is not None and (links.manager is not None or links.owners):
        raise _invalid(
            "links.manager and links.owners are not supported; a user's manager flows from the directory."
        )
    members = links.members if links is not None else []
    if members and object_type != GROUP:
        raise _invalid("links.members is only allowed for a Group subject.")
    if len(members) > MAX_MEMBERS:
        raise _invalid(
            f"A group is provisioned on demand with at most {MAX_MEMBERS} members; {len(members)} were given."
        )
    ids: list[str] = []
    for i, member in enumerate(members):
        where = f"links.members[{i}]"
        if _object_type(member, where) != USER:
            raise _invalid(f"{where}: members provisioned on demand must be users.")
        if member.links is not None:
            raise _invalid(f"{where}: a member takes no links.")
        member_id = _object_id(member, where)
        if member_id in ids:
            raise _invalid(f"{where}: objectId '{member_id}' is listed twice.")
        ids.append(member_id)
    return parameters.rule_id, Subject(object_id, object_type, tuple(ids))


def _service(request: Request) -> OnDemandService:
    return services(request).on_demand  # one per process: its rate limiter is in memory


@router.post(JOB + "/provisionOnDemand")
def provision_on_demand(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.job(target.sp, job_id)  # an unknown job is a 404 first
    body = parse_model(
        ProvisionOnDemandRequest,
        json_object(request, raw),
        type_name="microsoft.graph.synchronizationJobApplicationParameters",
    )
    rule_id, subject = subject_of(body)
    if caller.delegated and caller.object_id:
        initiator = Initiator(caller.object_id, "user")
    else:
        initiator = Initiator(caller.app_id or "", "application")
    service = _service(request)
    result = service.provision(target.sp, job_id, rule_id, subject, initiator)
    key, value = key_value(result)
    return JSONResponse(
        {
            "@odata.context": odata_context(request, "microsoft.graph.stringKeyStringValuePair"),
            "key": json.dumps(key),
            "value": json.dumps(value),
        }
    )


def key_value(result: OnDemandResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """The §7.1 pair: `{"result","details"}` and the provisioning record."""
    record = result.record
    value = wire_record(record)
    if result.members:
        value["linkedObjects"] = [wire_record(m) for m in result.members]
    status = value["statusInfo"]["status"]
    details: dict[str, Any] = {}
    skip_reason = next(
        (
            s.details["SkipReason"]
            for s in record["steps"]
            if s.kind is StepKind.Export and s.details.get("SkipReason")
        ),
        None,
    )
    if record.get("error_code"):
        details = {"errorCode": record["error_code"], "errorMessage": record.get("error_reason")}
    elif skip_reason == "RedundantExport" and status == "Skipped":
        kind = "user" if record["source_type"] == USER else "group"
        details = {"errorCode": "RedundantExport", "errorMessage": REDUNDANT.format(kind=kind)}
    return {"result": status, "details": details}, value


def wire_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stored provisioning log record as the provisioning record of §7.1."""
    ended = record["activity_date_time"]
    started = ended - timedelta(milliseconds=record["duration_ms"])
    end_text = format_datetime(ended)
    return {
        "action": ACTIONS.get(record["action"], record["action"]),
        "changeId": record["change_id"],
        "cycleId": record["cycle_id"],
        "jobId": record["job_id"],
        "startTime": format_datetime(started),
        "endTime": end_text,
        "modifiedProperties": [property_wire(p) for p in record["modified_properties"]],
        "provisioningSteps": [
            {
                "name": s.name,
                # The record of §7.1 names the kinds in PascalCase (ReferenceResolution).
                "type": s.kind.value[:1].upper() + s.kind.value[1:],
                "status": s.status.capitalize(),
                "description": s.description,
                "timestamp": end_text,
                "details": dict(s.details),
            }
            for s in record["steps"]
        ],
        "reportableIdentifier": record.get("source_display_name") or record["source_id"],
        "statusInfo": {
            "status": record["status"].capitalize(),
            "errorCode": record.get("error_code"),
            "reason": record.get("error_reason"),
            "additionalDetails": None,
            "errorCategory": record.get("error_category"),
            "recommendedAction": None,
        },
        "sourceIdentity": {
            "id": record["source_id"],
            "type": record["source_type"],
            "displayName": record.get("source_display_name"),
            "details": None,
        },
        "sourceSystem": {"id": None, "name": SOURCE_SYSTEM, "details": None},
        "targetIdentity": {
            "id": record.get("target_id"),
            "type": record.get("target_type"),
            "displayName": record.get("target_display_name"),
            "details": None,
        },
        "targetSystem": {"id": None, "name": TARGET_SYSTEM, "details": None},
    }
