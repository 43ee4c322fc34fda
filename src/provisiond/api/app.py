"""The ASGI application: the Graph routes under `/v1.0` and `/beta`, wrapped in Graph's HTTP
conventions."""

from __future__ import annotations

from fastapi import FastAPI

from provisiond.api.auth import TokenVerifier
from provisiond.api.context import Services
from provisiond.api.errors import install_error_handlers
from provisiond.api.middleware import GraphProtocolMiddleware
from provisiond.api.routes import applications, directory, synchronization
from provisiond.clock import Clock, SystemClock
from provisiond.config import MAX_BODY_BYTES, Settings
from provisiond.services.applications import ApplicationService
from provisiond.services.directory import DirectoryService
from provisiond.services.synchronization import SynchronizationService
from provisiond.store.db import Database
from provisiond.store.secretbox import SecretBox

VERSIONS = ("/v1.0", "/beta")


def build_services(settings: Settings, db: Database, clock: Clock) -> Services:
    tenant_id = db.tenant_id()
    return Services(
        directory=DirectoryService(db, clock),
        applications=ApplicationService(db, clock, tenant_id),
        synchronization=SynchronizationService(
            db, clock, tenant_id, SecretBox(settings.secrets_encryption_key())
        ),
        verifier=TokenVerifier(settings),
        tenant_id=tenant_id,
    )


def create_app(settings: Settings, db: Database, clock: Clock | None = None) -> FastAPI:
    """The API over an already-migrated database."""
    app = FastAPI(title="provisiond", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = build_services(settings, db, clock or SystemClock())
    for prefix in VERSIONS:
        for module in (directory, applications, synchronization):
            app.include_router(module.router, prefix=prefix)
    install_error_handlers(app)
    app.add_middleware(GraphProtocolMiddleware, max_body_bytes=MAX_BODY_BYTES)
    return app
