"""The synchronization entity, its secrets and its jobs (reference §1.1, §1.4) under
`/servicePrincipals/{id}/synchronization`; templates, job schemas, provisionOnDemand and
bulkUpload have modules of their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import (
    collection,
    entity,
    json_object,
    list_query,
    no_content,
    parse_model,
    read_body,
    selected_entity,
)
from provisiond.api.context import services
from provisiond.api.errors import GraphError
from provisiond.api.routes.targets import JOB, SP, on_both_parents, sp_target, target_of
from provisiond.graph.job_state import job_wire as graph_job_wire
from provisiond.graph.odata import evaluate
from provisiond.graph.synchronization import (
    CreateJobRequest,
    JobPatchRequest,
    RestartRequest,
    SecretsPutRequest,
    ValidateCredentialsRequest,
)
from provisiond.services.errors import NotImplementedYet
from provisiond.services.outbound import check_secrets
from provisiond.services.synchronization import SynchronizationService

router = APIRouter()


def job_wire(job: dict[str, Any]) -> dict[str, Any]:
    """The job's typed state (schedule, status) as Graph's synchronizationJob."""
    state = SynchronizationService.state_of(job)
    return graph_job_wire(job["id"], job["template_id"], state.schedule, state.status, job["settings"])


# The synchronization entity and its secrets


@router.get(SP)
def get_synchronization(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    secrets = services(request).synchronization.masked_secrets(target.sp)
    return entity(
        request,
        {"id": target.sp["id"], "secrets": secrets},
        context=f"servicePrincipals('{sp_id}')/synchronization/$entity",
    )


@router.put(SP)
def put_synchronization(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    """The entity PUT the SDK generates (reference R4): its `secrets` are merged like a secrets PUT."""
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None
    unknown = set(body) - {"id", "secrets", "jobs", "templates"} - {k for k in body if "@odata." in k}
    if unknown:
        raise GraphError(
            400,
            "BadRequest",
            f"Invalid property '{sorted(unknown)[0]}' on type 'microsoft.graph.synchronization'.",
        )
    if body.get("jobs") or body.get("templates"):
        raise GraphError(
            400,
            "BadRequest",
            "jobs and templates are changed through their own endpoints, not the synchronization PUT.",
        )
    secrets = parse_model(
        SecretsPutRequest, {"value": body.get("secrets") or []}, type_name="microsoft.graph.synchronization"
    )
    _check_outbound(request, secrets)
    services(request).synchronization.put_secrets(target.sp, secrets)
    return no_content()


@router.get(SP + "/secrets")
def get_secrets(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    secrets = services(request).synchronization.masked_secrets(target.sp)
    return collection(request, secrets, context=f"servicePrincipals('{sp_id}')/synchronization/secrets")


@router.get(SP + "/secrets/$count")
def count_secrets(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    return PlainTextResponse(str(len(services(request).synchronization.masked_secrets(target.sp))))


@router.put(SP + "/secrets")
def put_secrets(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = parse_model(
        SecretsPutRequest,
        json_object(request, raw),
        type_name="microsoft.graph.synchronizationSecretKeyStringValuePair",
    )
    _check_outbound(request, body)
    services(request).synchronization.put_secrets(target.sp, body)
    return no_content()


def _check_outbound(request: Request, body: SecretsPutRequest) -> None:
    """A BaseAddress outside the operator's outbound policy is refused before it is stored
    (resolving its name may take a while, so off the event loop)."""
    pairs = [(p.key.value, p.value) for p in body.value]
    check_secrets(services(request).outbound, pairs)


# Jobs


@router.get(SP + "/jobs")
def list_jobs(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    query = list_query(request, resources.JOB)
    items = [job_wire(j) for j in services(request).synchronization.jobs(target.sp)]
    if query.options.filter is not None:
        items = [j for j in items if evaluate(query.options.filter, j)]
    return collection(
        request,
        items,
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs",
        query=query,
        spec=resources.JOB,
    )


@router.get(SP + "/jobs/$count")
def count_jobs(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    return PlainTextResponse(str(len(services(request).synchronization.jobs(target.sp))))


@router.post(SP + "/jobs")
def create_job(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = parse_model(
        CreateJobRequest, json_object(request, raw), type_name="microsoft.graph.synchronizationJob"
    )
    job = services(request).synchronization.create_job(target.sp, target.application_id, body)
    return entity(
        request,
        job_wire(job),
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs/$entity",
        status=201,
    )


@router.post(SP + "/jobs/validateCredentials")
def validate_credentials_without_job(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = parse_model(
        ValidateCredentialsRequest, json_object(request, raw), type_name="microsoft.graph.synchronizationJob"
    )
    template_id = body.template_id or "scim"
    sync = services(request).synchronization
    sync.template(target.sp, target.application_id, template_id)
    # Off the event loop: the SCIM app may take its whole time limit to answer.
    sync.validate_credentials(target.sp, template_id, body, services(request).outbound)
    return no_content()


@router.get(JOB)
def get_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_READ)
    job = services(request).synchronization.job(target.sp, job_id)
    return selected_entity(
        request,
        job_wire(job),
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs/$entity",
        spec=resources.JOB,
    )


@router.patch(JOB)
def patch_job(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_JOB_PATCH)
    body = parse_model(
        JobPatchRequest, json_object(request, raw), type_name="microsoft.graph.synchronizationJob"
    )
    services(request).synchronization.patch_job(target.sp, job_id, body)
    return no_content()


@router.delete(JOB)
def delete_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.delete_job(target.sp, job_id)
    return no_content()


@router.post(JOB + "/start")
def start_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.start(target.sp, job_id)
    return no_content()


@router.post(JOB + "/pause")
def pause_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.pause(target.sp, job_id)
    return no_content()


@router.post(JOB + "/restart")
def restart_job(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    criteria = json_object(request, raw, required=False)
    body = parse_model(
        RestartRequest, criteria, type_name="microsoft.graph.synchronizationJobRestartCriteria"
    )
    services(request).synchronization.restart(target.sp, job_id, body, caller.describe())
    return no_content()


@router.post(JOB + "/validateCredentials")
def validate_credentials(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = parse_model(
        ValidateCredentialsRequest,
        json_object(request, raw, required=False),
        type_name="microsoft.graph.synchronizationJob",
    )
    sync = services(request).synchronization
    job = sync.job(target.sp, job_id)
    sync.validate_credentials(target.sp, job["template_id"], body, services(request).outbound)
    return no_content()


# provisionOnDemand: api/routes/on_demand.py


# Graph routes that are not built


def _not_built(name: str, requirement: perm.Requirement, message: str) -> Any:
    """A route that exists in Graph and answers 501 here, after the same checks a real call gets."""

    def handler(request: Request, caller: Principal = Depends(authenticate)) -> Response:
        target = target_of(request, caller, requirement)
        if "job_id" in request.path_params:
            services(request).synchronization.job(target.sp, request.path_params["job_id"])
        raise NotImplementedYet(message)

    return handler


_NO_CODE_GRANT = (
    "acquireAccessToken (the OAuth authorization-code grant) is not supported: provisiond's SCIM targets use a bearer "
    "SecretToken, and Graph has deprecated this action."
)
on_both_parents(router, "POST", "/acquireAccessToken")(
    _not_built("acquireAccessToken", perm.SYNC_WRITE, _NO_CODE_GRANT)
)

_NO_PING_SHAPE = (
    "Ping() is not implemented: Graph declares this beta function (returning Edm.String) but does not document "
    "it, and with no published response to match provisiond does not invent one."
)
router.add_api_route(SP + "/Ping", _not_built("Ping", perm.SYNC_READ, _NO_PING_SHAPE), methods=["GET"])
