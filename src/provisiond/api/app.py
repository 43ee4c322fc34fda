"""The ASGI application: the Graph routes under `/v1.0` and `/beta`, wrapped in Graph's HTTP
conventions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from provisiond import runtime
from provisiond.api import console
from provisiond.api.alternate_keys import AlternateKeyMiddleware
from provisiond.api.auth import TokenVerifier
from provisiond.api.context import Services
from provisiond.api.errors import install_error_handlers
from provisiond.api.middleware import GraphProtocolMiddleware
from provisiond.api.routes import (
    applications,
    bulk_upload,
    delta,
    directory,
    discover,
    job_schema,
    on_demand,
    preview,
    provisioning_logs,
    schema,
    synchronization,
    templates,
)
from provisiond.clock import Clock, SystemClock
from provisiond.config import MAX_BODY_BYTES, Settings
from provisiond.engine.scheduler import Scheduler
from provisiond.runtime import DomainServices
from provisiond.store.db import Database

VERSIONS = ("/v1.0", "/beta")


def build_services(
    settings: Settings, db: Database, clock: Clock, notify: Callable[[], None] | None = None
) -> Services:
    """The runtime's services and the token verifier; tokens must carry the database's tenant."""
    domain = runtime.build_services(settings, db, clock, notify)
    return Services.of(domain, TokenVerifier(settings, domain.tenant_id))


def create_app(
    settings: Settings,
    db: Database,
    clock: Clock | None = None,
    *,
    scheduler: Scheduler | None = None,
    domain: DomainServices | None = None,
) -> FastAPI:
    """The API over an already-migrated database; with a scheduler, the engine runs alongside.
    `domain` is the runtime's services (`provisiond.runtime.build_runtime`); without it they
    are built here, waking `scheduler`."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            app.state.services.preview.stop()

    app = FastAPI(title="provisiond", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    if domain is None:
        app.state.services = build_services(
            settings, db, clock or SystemClock(), scheduler.notify if scheduler else None
        )
    else:
        app.state.services = Services.of(domain, TokenVerifier(settings, domain.tenant_id))
    for prefix in VERSIONS:
        for module in (
            delta,  # before directory and applications: /users/delta is not /users/{key}
            directory,
            applications,
            synchronization,
            templates,
            job_schema,
            schema,
            discover,
            bulk_upload,
            on_demand,
            preview,
            provisioning_logs,
        ):
            app.include_router(module.router, prefix=prefix)
    console.install(app, settings, db, app.state.services.synchronization.clock)
    install_error_handlers(app)
    # Inside the protocol middleware: it sees the normalized path, and its errors get request ids.
    app.add_middleware(AlternateKeyMiddleware, resolve=app.state.services.applications.object_id_by_app_id)
    app.add_middleware(
        GraphProtocolMiddleware,
        max_body_bytes=MAX_BODY_BYTES,
        max_in_flight=settings.max_requests_in_flight,
    )
    return app
