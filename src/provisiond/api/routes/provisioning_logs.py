"""`GET /auditLogs/provisioning` (newest first, or `$orderby=activityDateTime asc|desc`) and `GET /auditLogs/provisioning/{id}`: the
engine's provisioning logs."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import api_version, collection, list_query_options, selected_entity
from provisiond.api.context import services
from provisiond.api.errors import bad_request
from provisiond.api.resources import RANGE
from provisiond.graph.odata import (
    FilterableProperty,
    FilterOp,
    ODataError,
    ResourceQuerySpec,
    decode_skiptoken,
)
from provisiond.graph.provisioning import provisioning_summary

router = APIRouter()

# Every string property Graph documents as filterable on provisioningObjectSummary, with every
# comparison and function: Graph lists eq and contains (gt and lt on activityDateTime); the
# runbooks we serve also use ne, startswith and ranges, which cost nothing more in SQL.
TEXT_OPS: frozenset[FilterOp] = frozenset(
    {"eq", "ne", "gt", "ge", "lt", "le", "in", "startswith", "contains"}
)
TEXT_FILTERABLE = (
    "id",
    "jobId",
    "cycleId",
    "changeId",
    "provisioningAction",
    "statusInfo/status",
    "provisioningStatusInfo/status",
    "sourceIdentity/id",
    "sourceIdentity/displayName",
    "sourceIdentity/identityType",
    "targetIdentity/id",
    "targetIdentity/displayName",
    "targetIdentity/identityType",
    "servicePrincipal/id",
    "servicePrincipal/displayName",
    "initiatedBy/id",
    "initiatedBy/displayName",
    "initiatedBy/initiatorType",
    "sourceSystem/displayName",
    "targetSystem/displayName",
    "tenantId",
)

SPEC = ResourceQuerySpec(
    type_name="microsoft.graph.provisioningObjectSummary",
    properties=[
        "id",
        "activityDateTime",
        "tenantId",
        "jobId",
        "cycleId",
        "changeId",
        "durationInMilliseconds",
        "initiatedBy",
        "servicePrincipal",
        "sourceSystem",
        "targetSystem",
        "sourceIdentity",
        "targetIdentity",
        "provisioningAction",
        "provisioningStatusInfo",
        "statusInfo",
        "provisioningSteps",
        "modifiedProperties",
    ],
    filterable={
        **{name: FilterableProperty("string", TEXT_OPS) for name in TEXT_FILTERABLE},
        "activityDateTime": FilterableProperty("datetime", RANGE),
    },
    orderable=["activityDateTime"],
)


@router.get("/auditLogs/provisioning")
def list_provisioning_logs(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    perm.check(caller, perm.PROVISIONING_LOG_READ)
    options = list_query_options(request, SPEC)
    after = None
    if options.skiptoken is not None:
        try:
            key = decode_skiptoken(options.skiptoken)
            after = (datetime.fromisoformat(str(key[0])), str(key[1]))
        except (ODataError, ValueError, IndexError):
            raise bad_request("Invalid $skiptoken value.") from None
    descending = options.orderby is None or options.orderby.descending
    rows, last = services(request).logs.page(options.filter, after, options.top or 100, descending=descending)
    tenant = services(request).tenant_id
    items = [provisioning_summary(r, tenant_id=tenant, version=api_version(request)) for r in rows]
    next_key = [last[0].isoformat(), last[1]] if last else None
    return collection(
        request, items, context="auditLogs/provisioning", options=options, spec=SPEC, next_key=next_key
    )


@router.get("/auditLogs/provisioning/{log_id}")
def get_provisioning_log(
    log_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    perm.check(caller, perm.PROVISIONING_LOG_READ)
    if any(key.lower().removeprefix("$") == "orderby" for key in request.query_params):
        raise bad_request("Query option $orderby applies to collections, not to a single entity.")
    record = services(request).logs.get(log_id)
    item = provisioning_summary(record, tenant_id=services(request).tenant_id, version=api_version(request))
    return selected_entity(request, item, context="auditLogs/provisioning/$entity", spec=SPEC)
