"""A job's schema (reference §1.2 S1 to S4) and its directory definitions; the directory views
are shared with the template schemas (`api/routes/templates.py`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import collection, entity, json_object, list_query, no_content, read_body
from provisiond.api.context import services
from provisiond.api.errors import GraphError
from provisiond.api.routes.targets import JOB, Target, sp_target
from provisiond.graph.odata import evaluate
from provisiond.services.errors import NotFound

router = APIRouter()


def _job_and_schema(request: Request, target: Target, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sync = services(request).synchronization
    job = sync.job(target.sp, job_id)
    return job, sync.job_schema(job)


@router.get(JOB + "/schema")
def get_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    _, schema = _job_and_schema(request, target, job_id)
    return entity(
        request,
        schema,
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/$entity",
    )


@router.put(JOB + "/schema")
def put_job_schema(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None
    services(request).synchronization.put_job_schema(target.sp, job_id, body)
    return no_content()


@router.delete(JOB + "/schema")
def delete_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.delete_job_schema(target.sp, target.application_id, job_id)
    return no_content()


@router.patch(JOB + "/schema")
def patch_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    """Graph answers PATCH on a schema with syncfabric's 404 (reference S2); so do we."""
    sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    message = {"Message": f"No HTTP resource was found that matches the request URI '{request.url}'."}
    raise GraphError(404, "UnknownError", json.dumps(message))


def directories_page(request: Request, schema: dict[str, Any], context: str) -> JSONResponse:
    query = list_query(request, resources.DIRECTORY_DEFINITION)
    items = list(schema.get("directories") or [])
    if query.options.filter is not None:
        items = [d for d in items if evaluate(query.options.filter, d)]
    return collection(request, items, context=context, query=query, spec=resources.DIRECTORY_DEFINITION)


def directory_of(schema: dict[str, Any], directory_id: str) -> dict[str, Any]:
    for directory in schema.get("directories") or []:
        if directory["id"] == directory_id or (directory.get("name") or "").lower() == directory_id.lower():
            return directory
    raise NotFound(f"The directory definition '{directory_id}' is not part of this schema.")


@router.get(JOB + "/schema/directories")
def list_jobdirectories_page(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    _, schema = _job_and_schema(request, target, job_id)
    return directories_page(
        request, schema, f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/directories"
    )


@router.get(JOB + "/schema/directories/{directory_id}")
def get_jobdirectory_of(
    sp_id: str, job_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    _, schema = _job_and_schema(request, target, job_id)
    return entity(
        request,
        directory_of(schema, directory_id),
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/directories/$entity",
    )
