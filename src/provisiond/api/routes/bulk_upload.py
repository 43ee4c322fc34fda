"""`POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/bulkUpload` (reference §7.2):
API-driven inbound provisioning. 202 with an empty body once the records are staged, and a
`Location` header pointing at the job's provisioning logs."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import api_version, read_body
from provisiond.api.context import services
from provisiond.api.routes.targets import JOB, sp_target

router = APIRouter()


def provisioning_logs_location(request: Request, job_id: str) -> str:
    """As Graph writes it: `.../auditLogs/provisioning/?$filter=jobid%20eq%20'<jobId>'`."""
    base = str(request.base_url).rstrip("/")
    query = quote(f"jobid eq '{job_id}'", safe="'")
    return f"{base}/{api_version(request)}/auditLogs/provisioning/?$filter={query}"


@router.post(JOB + "/bulkUpload")
def bulk_upload(
    sp_id: str,
    job_id: str,
    request: Request,
    caller: Principal = Depends(authenticate),
    raw: bytes = Depends(read_body),
) -> Response:
    target = sp_target(request, caller, sp_id, perm.SYNC_BULK_UPLOAD)
    job = services(request).synchronization.job(target.sp, job_id)
    services(request).inbound.bulk_upload(job, request.headers.get("content-type", ""), raw)
    return Response(status_code=202, headers={"Location": provisioning_logs_location(request, job["id"])})
