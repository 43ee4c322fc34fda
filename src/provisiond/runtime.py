"""Wiring: the services, the engine and the scheduler a process runs, built once.

`provisiond serve` and `provisiond worker` both start here; the API (`provisiond.api.app`) is
a layer on top that adds what only HTTP needs (the token verifier, routes, middleware). This
module imports no web framework, so a worker process never loads FastAPI or Starlette (a test
checks `sys.modules`).

- `build_services`: the domain services over one database: directory writes, applications,
  job lifecycle, inbound staging, logs, provisioning on demand (one per process, because its
  rate limiter lives in memory) and schema discovery. `notify` is called after each committed
  write that may make work due (the in-process scheduler's wake-up; on PostgreSQL the store
  also sends `NOTIFY`, so schedulers in other processes wake too).
- `build_scheduler`: the engine, reading synchronization secrets with the key the services
  write them with.
- `build_runtime`: both, with the scheduler optional (`serve --no-scheduler`: an API tier
  that does no provisioning work; the writes it makes still wake the workers through the
  database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from provisiond.clock import Clock
from provisiond.config import Settings
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.engine.cycle import CycleRunner
from provisiond.engine.scheduler import Scheduler
from provisiond.services.applications import ApplicationService
from provisiond.services.directory import DirectoryService
from provisiond.services.discovery import DiscoveryService
from provisiond.services.inbound import InboundService
from provisiond.services.logs import LogService
from provisiond.services.on_demand import OnDemandService
from provisiond.services.preview import PreviewService
from provisiond.services.relationships import RelationshipService
from provisiond.services.synchronization import SynchronizationService
from provisiond.store import synchronization as sync_repo
from provisiond.store.db import Database, redacted
from provisiond.store.secretbox import SecretBox


class StartupError(Exception):
    """A configuration or database problem that stops start-up; its text is one line for the
    operator (a password in a URL shown as ***)."""


def open_database(settings: Settings) -> Database:
    """The migrated database, its tenant checked against the settings.

    Every process calls this, several at once when `serve --workers N` starts: on PostgreSQL
    `Database.migrate` takes an advisory lock, so one process migrates and the others find the
    schema current."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from provisiond.store.db import TenantMismatch, describe_error

    url = settings.resolved_database_url
    try:
        shown = redacted(url)
    except ArgumentError:
        raise StartupError(
            "the database URL cannot be parsed; expected e.g. postgresql+psycopg://user@host/db "
            "or sqlite+pysqlite:///path/provisiond.db"
        ) from None
    try:
        db = Database(url)
    except NoSuchModuleError:
        raise StartupError(
            f"cannot use the database {shown}: the scheme '{shown.split('://', 1)[0]}' is not supported "
            "(use postgresql+psycopg or sqlite+pysqlite)"
        ) from None
    except (ArgumentError, ImportError, OSError) as exc:
        raise StartupError(f"cannot use the database {shown}: {describe_error(exc, url)}") from None
    try:
        db.check_tenant(settings.tenant_id)  # the first connection: fails before migrations log
        db.migrate()
        db.tenant_id(settings.tenant_id)
    except TenantMismatch as exc:
        db.dispose()
        raise StartupError(f"cannot serve the database {shown}: {exc}") from None
    except (SQLAlchemyError, OSError) as exc:
        db.dispose()
        raise StartupError(f"cannot open the database {shown}: {describe_error(exc, url)}") from None
    return db


@dataclass(kw_only=True)
class DomainServices:
    """The use cases one process offers, over one database and clock."""

    directory: DirectoryService
    applications: ApplicationService
    relationships: RelationshipService
    synchronization: SynchronizationService
    inbound: InboundService
    logs: LogService
    on_demand: OnDemandService
    preview: PreviewService
    discovery: DiscoveryService
    tenant_id: str
    outbound: OutboundPolicy = ALLOW_EVERYTHING  # where jobs, validateCredentials and discover may connect

    def as_fields(self) -> dict[str, Any]:
        """The services by field name, for a subclass that adds its own (the API's verifier)."""
        return {f.name: getattr(self, f.name) for f in fields(DomainServices)}


def build_services(
    settings: Settings, db: Database, clock: Clock, notify: Callable[[], None] | None = None
) -> DomainServices:
    """The tenant id is the database's (written from settings on first start; TenantMismatch
    when the settings name another)."""
    tenant_id = db.tenant_id(settings.tenant_id)
    changed = notify or (lambda: None)
    outbound = OutboundPolicy.parse(settings.outbound_allow)
    synchronization = SynchronizationService(
        db, clock, tenant_id, SecretBox(settings.secrets_encryption_key()), changed
    )
    return DomainServices(
        directory=DirectoryService(db, clock, changed),
        applications=ApplicationService(db, clock, tenant_id, changed),
        relationships=RelationshipService(db),
        synchronization=synchronization,
        inbound=InboundService(db, clock, changed),
        logs=LogService(db, tenant_id),
        on_demand=OnDemandService(synchronization, outbound=outbound),
        preview=PreviewService(synchronization, outbound=outbound),
        discovery=DiscoveryService(synchronization, outbound=outbound),
        tenant_id=tenant_id,
        outbound=outbound,
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


@dataclass
class Runtime:
    """What one process runs: the services, and the scheduler unless it is an API-only tier."""

    settings: Settings
    db: Database
    clock: Clock
    services: DomainServices
    scheduler: Scheduler | None


def build_runtime(settings: Settings, db: Database, clock: Clock, *, scheduler: bool = True) -> Runtime:
    engine = build_scheduler(settings, db, clock) if scheduler else None
    services = build_services(settings, db, clock, engine.notify if engine is not None else None)
    return Runtime(settings, db, clock, services, engine)
