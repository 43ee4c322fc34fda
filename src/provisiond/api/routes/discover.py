"""`POST .../schema/directories/{directoryId}/discover` (reference S5) on the three schema parents:
a job, a service principal's template, an application's template. 200 with the refreshed
directoryDefinition; the permission is Directory.ReadWrite.All (reference §5.1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import entity
from provisiond.api.context import services
from provisiond.api.routes.targets import (
    JOB,
    context_root,
    on_both_parents,
    sp_target,
    target_of,
)
from provisiond.services.discovery import DiscoveryService

router = APIRouter()

DISCOVER = "/schema/directories/{directory_id}/discover"


def _discovery(request: Request) -> DiscoveryService:
    return services(request).discovery


# Plain `def` handlers: discovery waits on the app's HTTP answers, so they run in the threadpool.


@router.post(JOB + DISCOVER)
def discover_job_directory(
    sp_id: str, job_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = sp_target(request, caller, sp_id, perm.SYNC_DISCOVER)
    directory = _discovery(request).discover_job_directory(target.sp, job_id, directory_id)
    return entity(
        request,
        directory,
        context=f"servicePrincipals('{sp_id}')/synchronization/jobs('{job_id}')/schema/directories/$entity",
    )


@on_both_parents(router, "POST", "/templates/{template_id}" + DISCOVER)
def discover_template_directory(
    template_id: str, directory_id: str, request: Request, caller: Principal = Depends(authenticate)
) -> JSONResponse:
    target = target_of(request, caller, perm.SYNC_DISCOVER)
    directory = _discovery(request).discover_template_directory(
        target.sp, target.application_id, template_id, directory_id
    )
    return entity(
        request,
        directory,
        context=context_root(request, target) + f"/templates('{template_id}')/schema/directories/$entity",
    )
