"""Previews of a job's next cycle, our extension of Graph (services/preview.py), under both
parents and both versions:

- `POST .../synchronization/jobs/{jobId}/preview`, body optional:
  `{"criteria": {"resetScope": "..."}}` previews a restart, `{"schema": {...}}` a schema not
  yet saved, both or neither. 200 with the finished preview when it ran within the request;
  202 with the running preview and `Location` (its URL) when it runs in the background (large
  directories, or `Prefer: respond-async`).
- `GET .../jobs/{jobId}/previews/{previewId}`: its status, progress, counts and guard verdict.
- `GET .../jobs/{jobId}/previews/{previewId}/actions`: the planned actions, oldest first,
  `$top` (1-1000, default 100) and `$skiptoken` paging with `@odata.nextLink`, and
  `$filter=action eq 'create'` (or update, disable, delete, held, failed).

Permission: restart's (Synchronization.ReadWrite.All and the like) for all three: a preview
shows the attribute values a restart would write.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import json_object, odata_context, parse_model, read_body
from provisiond.api.context import services
from provisiond.api.errors import bad_request
from provisiond.api.routes.targets import Target, on_both_parents, target_of
from provisiond.engine.preview import LISTED
from provisiond.graph.odata import ODataError, decode_skiptoken, encode_skiptoken
from provisiond.graph.preview import PreviewRequest, action_wire, preview_wire
from provisiond.graph.synchronization import RestartRequest
from provisiond.services.errors import NotFound
from provisiond.services.preview import PreviewSpec
from provisiond.services.synchronization import restart_scope, validated_schema

router = APIRouter()

DEFAULT_TOP = 100
MAX_TOP = 1000
ACTION_FILTER = re.compile(r"^\s*action\s+eq\s+'([A-Za-z]+)'\s*$")


def _sp(target: Target) -> dict[str, Any]:
    if target.sp.get("id") is None:
        raise NotFound("The application has no service principal, so it has no synchronization jobs.")
    return target.sp


def _preview_url(request: Request, preview_id: str) -> str:
    base = str(request.url).split("?", 1)[0]
    return f"{base.removesuffix('/preview')}/previews/{preview_id}"


@on_both_parents(router, "POST", "/jobs/{job_id}/preview")
def preview_job(
    job_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_WRITE)
    body = parse_model(
        PreviewRequest,
        json_object(request, raw, required=False),
        type_name="microsoft.graph.provisiond.synchronizationPreviewRequest",
    )
    spec = PreviewSpec(
        reset_scope=restart_scope(RestartRequest(criteria=body.criteria)) if body.restart_previewed else None,
        schema=validated_schema(body.schema_) if body.schema_ is not None else None,
    )
    prefer_async = "respond-async" in request.headers.get("prefer", "").lower()
    record = services(request).preview.start(_sp(target), job_id, spec, prefer_async=prefer_async)
    url = _preview_url(request, record["id"])
    content = {
        "@odata.context": odata_context(request, "synchronizationPreview/$entity"),
        **preview_wire(record),
    }
    if record["status"] == "running":
        return JSONResponse(content, status_code=202, headers={"Location": url, "Retry-After": "1"})
    return JSONResponse(content, headers={"Content-Location": url})


@on_both_parents(router, "GET", "/jobs/{job_id}/previews/{preview_id}")
def get_preview(
    job_id: str, preview_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_WRITE)
    record = services(request).preview.get(_sp(target), job_id, preview_id)
    headers = {"Retry-After": "1"} if record["status"] == "running" else {}
    return JSONResponse(
        {"@odata.context": odata_context(request, "synchronizationPreview/$entity"), **preview_wire(record)},
        headers=headers,
    )


@on_both_parents(router, "GET", "/jobs/{job_id}/previews/{preview_id}/actions")
def preview_actions(
    job_id: str, preview_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_WRITE)
    top, after, action = _paging(request)
    rows = services(request).preview.actions(
        _sp(target), job_id, preview_id, after=after, limit=top + 1, action=action
    )
    content: dict[str, Any] = {
        "@odata.context": odata_context(request, "synchronizationPreviewActions"),
        "value": [action_wire(r) for r in rows[:top]],
    }
    if len(rows) > top:
        params = dict(request.query_params)
        params["$skiptoken"] = encode_skiptoken([rows[top - 1]["seq"]])
        content["@odata.nextLink"] = f"{str(request.url).split('?', 1)[0]}?{urlencode(params)}"
    return JSONResponse(content)


def _paging(request: Request) -> tuple[int, int | None, str | None]:
    """$top, the seq after which to continue ($skiptoken) and the action filter; 400 for any
    other query option or a malformed value."""
    top, after, action = DEFAULT_TOP, None, None
    for name, value in request.query_params.multi_items():
        if name == "$top":
            if not value.isdigit() or not 1 <= int(value) <= MAX_TOP:
                raise bad_request(f"Invalid value '{value}' for $top: a whole number from 1 to {MAX_TOP}.")
            top = int(value)
        elif name == "$skiptoken":
            try:
                key = decode_skiptoken(value)
            except ODataError as exc:
                raise bad_request(str(exc)) from None
            if len(key) != 1 or not isinstance(key[0], int):
                raise bad_request("The $skiptoken is not one this server issued.")
            after = key[0]
        elif name == "$filter":
            match = ACTION_FILTER.match(value)
            if match is None or match.group(1) not in LISTED:
                raise bad_request(
                    "Preview actions filter only on the action: $filter=action eq '<"
                    + "|".join(sorted(LISTED))
                    + ">'."
                )
            action = match.group(1)
        else:
            raise bad_request(f"The query option '{name}' is not supported on preview actions.")
    return top, after, action
