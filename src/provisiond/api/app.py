"""The ASGI application: the Graph routes under `/v1.0` and `/beta`, wrapped in Graph's HTTP
conventions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from provisiond.api.auth import TokenVerifier
from provisiond.api.context import Services
from provisiond.api.errors import install_error_handlers
from provisiond.api.middleware import GraphProtocolMiddleware
from provisiond.api.routes import (
    applications,
    bulk_upload,
    directory,
    discover,
    on_demand,
    provisioning_logs,
    schema,
    synchronization,
)
from provisiond.clock import Clock, SystemClock
from provisiond.config import MAX_BODY_BYTES, Settings
from provisiond.connectors.outbound import OutboundPolicy
from provisiond.engine.cycle import CycleRunner
from provisiond.engine.scheduler import Scheduler
from provisiond.services.applications import ApplicationService
from provisiond.services.directory import DirectoryService
from provisiond.services.inbound import InboundService
from provisiond.services.logs import LogService
from provisiond.services.synchronization import SynchronizationService
from provisiond.store import synchronization as sync_repo
from provisiond.store.db import Database
from provisiond.store.secretbox import SecretBox

VERSIONS = ("/v1.0", "/beta")


def build_services(
    settings: Settings, db: Database, clock: Clock, notify: Callable[[], None] | None = None
) -> Services:
    """The API's services. The tenant id is the database's (written from settings on first
    start; TenantMismatch when the settings name another); tokens must carry it."""
    tenant_id = db.tenant_id(settings.tenant_id)
    changed = notify or (lambda: None)
    return Services(
        directory=DirectoryService(db, clock, changed),
        applications=ApplicationService(db, clock, tenant_id, changed),
        synchronization=SynchronizationService(
            db, clock, tenant_id, SecretBox(settings.secrets_encryption_key()), changed
        ),
        inbound=InboundService(db, clock, changed),
        logs=LogService(db),
        verifier=TokenVerifier(settings, tenant_id),
        tenant_id=tenant_id,
        outbound=OutboundPolicy.parse(settings.outbound_allow),
    )


def build_scheduler(settings: Settings, db: Database, clock: Clock) -> Scheduler:
    """The engine, reading synchronization secrets with the same key the API writes them with."""
    box = SecretBox(settings.secrets_encryption_key())

    def secrets(service_principal_id: str) -> dict[str, str]:
        with db.read() as conn:
            return {k: box.open(v) for k, v in sync_repo.secrets(conn, service_principal_id).items()}

    return Scheduler(
        db,
        clock,
        CycleRunner(db, clock, secrets, outbound=OutboundPolicy.parse(settings.outbound_allow)),
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
    )


def create_app(
    settings: Settings, db: Database, clock: Clock | None = None, *, scheduler: Scheduler | None = None
) -> FastAPI:
    """The API over an already-migrated database; with a scheduler, the engine runs alongside."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    app = FastAPI(title="provisiond", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.services = build_services(
        settings, db, clock or SystemClock(), scheduler.notify if scheduler else None
    )
    for prefix in VERSIONS:
        for module in (
            directory,
            applications,
            synchronization,
            schema,
            discover,
            bulk_upload,
            on_demand,
            provisioning_logs,
        ):
            app.include_router(module.router, prefix=prefix)
    install_error_handlers(app)
    app.add_middleware(GraphProtocolMiddleware, max_body_bytes=MAX_BODY_BYTES)
    return app
