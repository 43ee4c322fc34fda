"""Synchronization templates (reference §1.3) under both parents, the service principal's and
the application's: list, get, their schemas and directory definitions; an application's
templates and their schemas can be replaced (what Graph calls customising a template)."""

from __future__ import annotations

from typing import Any

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
    read_body,
    selected_entity,
)
from provisiond.api.context import services
from provisiond.api.routes.job_schema import directories_page, directory_of
from provisiond.api.routes.targets import APP, Target, app_target, context_root, on_both_parents, target_of
from provisiond.graph.enums import metadata_key_for_version
from provisiond.graph.odata import evaluate

router = APIRouter()


def template_wire(request: Request, template: dict[str, Any]) -> dict[str, Any]:
    version = api_version(request)
    out = dict(template)
    out["metadata"] = [
        {**entry, "key": metadata_key_for_version(entry["key"], version)}
        for entry in template.get("metadata") or []
    ]
    return out


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
        context=context_root(request, target) + "/templates",
        query=query,
        spec=resources.TEMPLATE,
    )


@on_both_parents(router, "GET", "/templates")
def list_templates(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    return _templates_list(request, target_of(request, caller, perm.SYNC_READ))


@on_both_parents(router, "GET", "/templates/$count")
def count_templates(request: Request, caller: Principal = Depends(authenticate)) -> Response:
    target = target_of(request, caller, perm.SYNC_READ)
    return PlainTextResponse(
        str(len(services(request).synchronization.templates(target.sp, target.application_id)))
    )


def _template(request: Request, target: Target, template_id: str) -> JSONResponse:
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return selected_entity(
        request,
        template_wire(request, template),
        context=context_root(request, target) + "/templates/$entity",
        spec=resources.TEMPLATE,
    )


@on_both_parents(router, "GET", "/templates/{template_id}")
def get_template(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    return _template(request, target_of(request, caller, perm.SYNC_READ), template_id)


@router.patch(APP + "/templates/{template_id}")
@router.put(APP + "/templates/{template_id}")
def replace_app_template(
    app_object_id: str,
    template_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None and target.application_id is not None
    services(request).synchronization.replace_template(target.sp, target.application_id, template_id, body)
    return no_content()


def _template_schema(request: Request, target: Target, template_id: str) -> JSONResponse:
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return entity(
        request,
        template["schema"],
        context=context_root(request, target) + f"/templates('{template['id']}')/schema/$entity",
    )


@on_both_parents(router, "GET", "/templates/{template_id}/schema")
def get_template_schema(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    return _template_schema(request, target_of(request, caller, perm.SYNC_READ), template_id)


@router.put(APP + "/templates/{template_id}/schema")
def put_app_template_schema(
    app_object_id: str,
    template_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    body = json_object(request, raw)
    assert body is not None and target.application_id is not None
    services(request).synchronization.put_template_schema(target.sp, target.application_id, template_id, body)
    return no_content()


@router.delete(APP + "/templates/{template_id}/schema")
def delete_app_template_schema(
    app_object_id: str, template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> Response:
    target = app_target(request, caller, app_object_id, perm.SYNC_WRITE)
    assert target.application_id is not None
    services(request).synchronization.delete_template_schema(target.sp, target.application_id, template_id)
    return no_content()


@on_both_parents(router, "GET", "/templates/{template_id}/schema/directories")
def list_templatedirectories_page(
    template_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_READ)
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return directories_page(
        request,
        template["schema"],
        context_root(request, target) + f"/templates('{template['id']}')/schema/directories",
    )


@on_both_parents(router, "GET", "/templates/{template_id}/schema/directories/{directory_id}")
def get_templatedirectory_of(
    template_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_READ)
    template = services(request).synchronization.template(target.sp, target.application_id, template_id)
    return entity(
        request,
        directory_of(template["schema"], directory_id),
        context=context_root(request, target) + f"/templates('{template['id']}')/schema/directories/$entity",
    )
