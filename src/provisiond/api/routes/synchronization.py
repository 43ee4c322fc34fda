"""The synchronization API (reference §1.1 to §1.4) under `/servicePrincipals/{id}/synchronization`
and the template routes under `/applications/{id}/synchronization`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from provisiond.api import permissions as perm
from provisiond.api import resources
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import (
    api_version,
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
from provisiond.graph.enums import metadata_key_for_version
from provisiond.graph.job_state import job_wire as graph_job_wire
from provisiond.graph.odata import evaluate
from provisiond.graph.synchronization import (
    CreateJobRequest,
    JobPatchRequest,
    RestartRequest,
    SecretsPutRequest,
    ValidateCredentialsRequest,
)
from provisiond.services.errors import NotFound, NotImplementedYet
from provisiond.services.outbound import check_secrets
from provisiond.store.job_state import job_state

router = APIRouter()

SP = "/servicePrincipals/{sp_id}/synchronization"
APP = "/applications/{app_object_id}/synchronization"
JOB = SP + "/jobs/{job_id}"


class Target:
    """The service principal (and its application) a synchronization route acts on."""

    def __init__(self, request: Request, sp: dict[str, Any], application: dict[str, Any] | None) -> None:
        self.request = request
        self.sp = sp
        self.application = application

    @property
    def application_id(self) -> str | None:
        return self.application["id"] if self.application else None


def _sp_target(request: Request, caller: Principal, sp_id: str, requirement: perm.Requirement) -> Target:
    apps = services(request).applications
    perm.check(caller, requirement, owns_target=lambda: apps.is_owned_by_app(sp_id, caller.app_id))
    sp = apps.get_service_principal(sp_id)
    return Target(request, sp, apps.application_of(sp))


def _app_target(
    request: Request, caller: Principal, app_object_id: str, requirement: perm.Requirement
) -> Target:
    apps = services(request).applications
    perm.check(caller, requirement, owns_target=lambda: apps.is_owned_by_app(app_object_id, caller.app_id))
    application = apps.get_application(app_object_id)
    try:
        sp = apps.service_principal_by_app_id(application["app_id"])
    except NotFound:
        sp = {
            "id": None,
            "app_id": application["app_id"],
            "application_template_id": application["application_template_id"],
        }
    return Target(request, sp, application)


def _target(request: Request, caller: Principal, requirement: perm.Requirement) -> Target:
    """The target of a route registered under both parents (`on_both_parents`), from its path."""
    params = request.path_params
    if "sp_id" in params:
        return _sp_target(request, caller, params["sp_id"], requirement)
    return _app_target(request, caller, params["app_object_id"], requirement)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def on_both_parents(router: APIRouter, method: str, suffix: str) -> Callable[[Handler], Handler]:
    """Register a handler under the service principal's and the application's synchronization
    (Graph serves templates under both); the handler finds its target with `_target`."""

    def register(handler: Handler) -> Handler:
        for root in (SP, APP):
            router.add_api_route(root + suffix, handler, methods=[method])
        return handler

    return register


def _context_root(request: Request, target: Target) -> str:
    if request.url.path.split("/")[2] == "applications":
        return f"applications('{target.application_id}')/synchronization"
    return f"servicePrincipals('{target.sp['id']}')/synchronization"


def job_wire(job: dict[str, Any]) -> dict[str, Any]:
    """The job's typed state (schedule, status) as Graph's synchronizationJob."""
    state = job_state(job)
    return graph_job_wire(job["id"], job["template_id"], state.schedule, state.status, job["settings"])


def template_wire(request: Request, template: dict[str, Any]) -> dict[str, Any]:
    version = api_version(request)
    out = dict(template)
    out["metadata"] = [
        {**entry, "key": metadata_key_for_version(entry["key"], version)}
        for entry in template.get("metadata") or []
    ]
    return out


# The synchronization entity and its secrets


@router.get(SP)
def get_synchronization(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
    secrets = services(request).synchronization.masked_secrets(target.sp)
    return collection(request, secrets, context=f"servicePrincipals('{sp_id}')/synchronization/secrets")


@router.get(SP + "/secrets/$count")
def count_secrets(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
    return PlainTextResponse(str(len(services(request).synchronization.masked_secrets(target.sp))))


@router.put(SP + "/secrets")
def put_secrets(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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


# Templates


def _templates_list(request: Request, target: Target) -> JSONResponse:
    query = list_query(request, resources.TEMPLATE)
    items = [
        template_wire(request, t)
        for t in services(request).synchronization.templates(target.sp, target.application_id)
    ]
    if query.options.filter is not None:
        items = [t for t in items if evaluate(query.options.filter, t)]
    return collection(
        request,
        items,
        context=_context_root(request, target) + "/templates",
        query=query,
        spec=resources.TEMPLATE,
    )


@on_both_parents(router, "GET", "/templates")
def list_templates(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    return _templates_list(request, _target(request, caller, perm.SYNC_READ))


@on_both_parents(router, "GET", "/templates/$count")
def count_templates(request: Request, caller: Principal = Depends(authenticate)) -> Response:
    target = _target(request, caller, perm.SYNC_READ)
    return PlainTextResponse(
        str(len(services(request).synchronization.templates(target.sp, target.application_id)))
    )


def _template(request: Request, target: Target, template_id: str) -> JSONResponse:
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return selected_entity(
        request,
        template_wire(request, template),
        context=_context_root(request, target) + "/templates/$entity",
        spec=resources.TEMPLATE,
    )


@on_both_parents(router, "GET", "/templates/{template_id}")
def get_template(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    return _template(request, _target(request, caller, perm.SYNC_READ), template_id)


@router.patch(APP + "/templates/{template_id}")
@router.put(APP + "/templates/{template_id}")
def replace_app_template(
    app_object_id: str,
    template_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = _app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None and target.application_id is not None
    services(request).synchronization.replace_template(target.sp, target.application_id, template_id, body)
    return no_content()


def _template_schema(request: Request, target: Target, template_id: str) -> JSONResponse:
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return entity(
        request,
        template["schema"],
        context=_context_root(request, target) + f"/templates('{template['id']}')/schema/$entity",
    )


@on_both_parents(router, "GET", "/templates/{template_id}/schema")
def get_template_schema(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    return _template_schema(request, _target(request, caller, perm.SYNC_READ), template_id)


@router.put(APP + "/templates/{template_id}/schema")
def put_app_template_schema(
    app_object_id: str,
    template_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = _app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None and target.application_id is not None
    services(request).synchronization.put_template_schema(target.sp, target.application_id, template_id, body)
    return no_content()


@router.delete(APP + "/templates/{template_id}/schema")
def delete_app_template_schema(
    app_object_id: str, template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = _app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    assert target.application_id is not None
    services(request).synchronization.delete_template_schema(target.sp, target.application_id, template_id)
    return no_content()


# Jobs


@router.get(SP + "/jobs")
def list_jobs(sp_id: str, request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
    return PlainTextResponse(str(len(services(request).synchronization.jobs(target.sp))))


@router.post(SP + "/jobs")
def create_job(
    sp_id: str, request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_JOB_PATCH)
    body = parse_model(
        JobPatchRequest, json_object(request, raw), type_name="microsoft.graph.synchronizationJob"
    )
    services(request).synchronization.patch_job(target.sp, job_id, body)
    return no_content()


@router.delete(JOB)
def delete_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.delete_job(target.sp, job_id)
    return no_content()


@router.post(JOB + "/start")
def start_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.start(target.sp, job_id)
    return no_content()


@router.post(JOB + "/pause")
def pause_job(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
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


# Job schema


def _job_and_schema(request: Request, target: Target, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sync = services(request).synchronization
    job = sync.job(target.sp, job_id)
    return job, sync.job_schema(job)


@router.get(JOB + "/schema")
def get_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
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
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None
    services(request).synchronization.put_job_schema(target.sp, job_id, body)
    return no_content()


@router.delete(JOB + "/schema")
def delete_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    services(request).synchronization.delete_job_schema(target.sp, target.application_id, job_id)
    return no_content()


@router.patch(JOB + "/schema")
def patch_job_schema(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    """Graph answers PATCH on a schema with syncfabric's 404 (reference S2); so do we."""
    _sp_target(request, caller, sp_id, perm.SYNC_WRITE)
    message = {"Message": f"No HTTP resource was found that matches the request URI '{request.url}'."}
    raise GraphError(404, "UnknownError", json.dumps(message))


def _directories(request: Request, schema: dict[str, Any], context: str) -> JSONResponse:
    query = list_query(request, resources.DIRECTORY_DEFINITION)
    items = list(schema.get("directories") or [])
    if query.options.filter is not None:
        items = [d for d in items if evaluate(query.options.filter, d)]
    return collection(request, items, context=context, query=query, spec=resources.DIRECTORY_DEFINITION)


def _directory(schema: dict[str, Any], directory_id: str) -> dict[str, Any]:
    for directory in schema.get("directories") or []:
        if directory["id"] == directory_id or (directory.get("name") or "").lower() == directory_id.lower():
            return directory
    raise NotFound(f"The directory definition '{directory_id}' is not part of this schema.")


@router.get(JOB + "/schema/directories")
def list_job_directories(
    sp_id: str, job_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
    _, schema = _job_and_schema(request, target, job_id)
    return _directories(
        request, schema, f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/directories"
    )


@router.get(JOB + "/schema/directories/{directory_id}")
def get_job_directory(
    sp_id: str, job_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _sp_target(request, caller, sp_id, perm.SYNC_READ)
    _, schema = _job_and_schema(request, target, job_id)
    return entity(
        request,
        _directory(schema, directory_id),
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/directories/$entity",
    )


@on_both_parents(router, "GET", "/templates/{template_id}/schema/directories")
def list_template_directories(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _target(request, caller, perm.SYNC_READ)
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return _directories(
        request,
        template["schema"],
        _context_root(request, target) + f"/templates('{template['id']}')/schema/directories",
    )


@on_both_parents(router, "GET", "/templates/{template_id}/schema/directories/{directory_id}")
def get_template_directory(
    template_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = _target(request, caller, perm.SYNC_READ)
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return entity(
        request,
        _directory(template["schema"], directory_id),
        context=_context_root(request, target) + f"/templates('{template['id']}')/schema/directories/$entity",
    )


# Graph routes that are not built


def _not_built(name: str, requirement: perm.Requirement, message: str) -> Any:
    """A route that exists in Graph and answers 501 here, after the same checks a real call gets."""

    def handler(request: Request, caller: Principal = Depends(authenticate)) -> Response:
        target = _target(request, caller, requirement)
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
