"""The `provisiond` command: `serve` runs the API, `token` prints a bearer token for it."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import uvicorn

from provisiond.config import DEFAULT_PORT, Settings

if TYPE_CHECKING:
    from provisiond.store.db import Database

app = typer.Typer(
    help="provisiond: identity provisioning with the Microsoft Graph synchronization API.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="PROVISIOND_DATA_DIR", help="Where the database and keys live."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="PROVISIOND_DATABASE_URL",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; default: SQLite in the data dir.",
    ),
]

ADMIN_SCOPES = (
    "Synchronization.ReadWrite.All User.ReadWrite.All Group.ReadWrite.All GroupMember.ReadWrite.All "
    "Directory.ReadWrite.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All AuditLog.Read.All "
    "SynchronizationData-User.Upload"
)
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="PROVISIOND_HOST", help="Interface to bind; loopback unless told.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PROVISIOND_PORT", help="TCP port.")] = DEFAULT_PORT,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    log_level: Annotated[str, typer.Option(envvar="PROVISIOND_LOG_LEVEL")] = "info",
) -> None:
    """Apply migrations and serve the Graph API."""
    from provisiond.api.app import build_scheduler, create_app
    from provisiond.clock import SystemClock

    settings = _settings(data_dir=data_dir, database_url=database_url)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = open_database(settings)
    clock = SystemClock()
    application = create_app(settings, db, clock, scheduler=build_scheduler(settings, db, clock))
    base = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    typer.echo(f"provisiond is serving the Graph API at {base}/v1.0 and {base}/beta")
    typer.echo(f"  database: {_redacted(settings.resolved_database_url)}")
    data_flag = f" --data-dir {settings.data_dir}" if data_dir else ""
    typer.echo(f"  get a token:  provisiond token{data_flag}")
    typer.echo(
        f'  try it:       curl -H "Authorization: Bearer $(provisiond token{data_flag})" {base}/v1.0/users'
    )
    config = uvicorn.Config(application, host=host, port=port, log_level=log_level, lifespan="on")
    GracefulServer(config).run()
    db.dispose()


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    log_level: Annotated[str, typer.Option(envvar="PROVISIOND_LOG_LEVEL")] = "info",
) -> None:
    """Run the scheduler alone (no API): more workers on one PostgreSQL database share the jobs."""
    import threading

    from provisiond.api.app import build_scheduler
    from provisiond.clock import SystemClock

    settings = _settings(data_dir=data_dir, database_url=database_url)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = open_database(settings)
    scheduler = build_scheduler(settings, db, SystemClock())
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    scheduler.start()
    typer.echo(
        f"provisiond worker {scheduler.owner} is running jobs from {_redacted(settings.resolved_database_url)}"
    )
    done.wait()
    scheduler.stop()
    db.dispose()


@app.command()
def token(
    data_dir: DataDir = None,
    scopes: Annotated[
        str | None,
        typer.Option(envvar="PROVISIOND_TOKEN_SCOPES", help="Delegated permissions (scp), space-separated."),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(
            envvar="PROVISIOND_TOKEN_ROLES", help="Application permissions (roles), space-separated."
        ),
    ] = None,
    wids: Annotated[
        str | None, typer.Option(envvar="PROVISIOND_TOKEN_WIDS", help="Directory role template ids.")
    ] = None,
    app_id: Annotated[
        str | None,
        typer.Option("--app-id", envvar="PROVISIOND_TOKEN_APP_ID", help="The calling app (appid)."),
    ] = None,
    oid: Annotated[
        str | None, typer.Option(envvar="PROVISIOND_TOKEN_OID", help="The caller's object id.")
    ] = None,
    expires_in: Annotated[
        int, typer.Option("--expires-in", envvar="PROVISIOND_TOKEN_EXPIRES_IN", help="Lifetime in seconds.")
    ] = 3600,
) -> None:
    """Print a bearer token the server using the same data dir (or JWT secret) accepts.

    Without --scopes or --roles it is a delegated administrator token (Application
    Administrator, with every permission the API knows).
    """
    from provisiond.api.auth import mint_token

    settings = _settings(data_dir=data_dir)
    if scopes is None and roles is None:
        scopes, wids = ADMIN_SCOPES, wids or APPLICATION_ADMINISTRATOR
    typer.echo(
        mint_token(
            settings,
            scopes=(scopes or "").split(),
            roles=(roles or "").split(),
            wids=(wids or "").split(),
            app_id=app_id,
            object_id=oid,
            expires_in=expires_in,
        )
    )


@app.command()
def demo(
    port: Annotated[
        int, typer.Option(envvar="PROVISIOND_PORT", help="TCP port of the Graph API.")
    ] = DEFAULT_PORT,
    scim_port: Annotated[
        int, typer.Option("--scim-port", help="TCP port of the local SCIM app; default: a free one.")
    ] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="PROVISIOND_DATA_DIR",
            help="Where the database and keys live; default: a temporary dir, removed on exit.",
        ),
    ] = None,
    users: Annotated[
        int, typer.Option(min=1, max=100_000, help="How many people the sample directory has.")
    ] = 300,
    host: Annotated[
        str, typer.Option(envvar="PROVISIOND_HOST", help="Interface to bind; loopback unless told.")
    ] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(envvar="PROVISIOND_LOG_LEVEL")] = "warning",
) -> None:
    """Try it: a sample directory provisioned into a local SCIM app, then serve the API.

    Starts the service on SQLite with a generated directory (users, groups, a manager chain,
    assignments) and a local SCIM app (scim2-server), creates and starts a job, shows the
    initial cycle, then keeps serving and prints a token and commands to try. Ctrl-C stops it.
    """
    from provisiond.demo import DemoOptions, run_demo

    options = DemoOptions(
        host=host, port=port, scim_port=scim_port, data_dir=data_dir, users=users, log_level=log_level
    )
    raise typer.Exit(run_demo(options))


class GracefulServer(uvicorn.Server):
    """uvicorn's server, finishing in-flight requests on SIGINT/SIGTERM and then exiting 0.

    uvicorn re-raises the signal after its graceful shutdown, which makes the process die
    "by signal"; a service manager should see a clean exit instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _redacted(url: str) -> str:
    from provisiond.store.db import redacted

    return redacted(url)


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit 1: a configuration problem needs no traceback."""
    typer.echo(f"provisiond: {message}", err=True)
    raise typer.Exit(1)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env(**overrides)
        from provisiond.connectors.outbound import OutboundPolicy

        OutboundPolicy.parse(settings.outbound_allow)  # refuse a bad policy before serving anything
        return settings
    except ValueError as exc:
        _fail(str(exc))


def open_database(settings: Settings) -> Database:
    """The migrated database, its tenant checked against the settings; on failure one line says
    what failed (the password shown as ***) and the command exits 1."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from provisiond.store.db import Database, TenantMismatch, describe_error

    url = settings.resolved_database_url
    try:
        shown = _redacted(url)
    except ArgumentError:
        _fail(
            "the database URL cannot be parsed; expected e.g. postgresql+psycopg://user@host/db "
            "or sqlite+pysqlite:///path/provisiond.db"
        )
    try:
        db = Database(url)
    except NoSuchModuleError:
        _fail(
            f"cannot use the database {shown}: the scheme '{shown.split('://', 1)[0]}' is not supported "
            "(use postgresql+psycopg or sqlite+pysqlite)"
        )
    except (ArgumentError, ImportError, OSError) as exc:
        _fail(f"cannot use the database {shown}: {describe_error(exc, url)}")
    try:
        db.check_tenant(settings.tenant_id)  # the first connection: fails before migrations log
        db.migrate()
        db.tenant_id(settings.tenant_id)
    except TenantMismatch as exc:
        db.dispose()
        _fail(f"cannot serve the database {shown}: {exc}")
    except (SQLAlchemyError, OSError) as exc:
        db.dispose()
        _fail(f"cannot open the database {shown}: {describe_error(exc, url)}")
    return db
