"""What routes reach through `request.app.state`: the services, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from provisiond.api.auth import TokenVerifier
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.services.applications import ApplicationService
from provisiond.services.directory import DirectoryService
from provisiond.services.inbound import InboundService
from provisiond.services.logs import LogService
from provisiond.services.synchronization import SynchronizationService


@dataclass
class Services:
    directory: DirectoryService
    applications: ApplicationService
    synchronization: SynchronizationService
    inbound: InboundService
    logs: LogService
    verifier: TokenVerifier
    tenant_id: str
    outbound: OutboundPolicy = ALLOW_EVERYTHING  # where jobs, validateCredentials and discover may connect


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
