"""The `provisiond` command: `serve` runs the API, `token` prints a bearer token for it,
`console-link` a one-time sign-in link for the admin console."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import uvicorn

from provisiond.config import ADMIN_SCOPES, DEFAULT_PORT, Settings

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


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="PROVISIOND_HOST", help="Interface to bind; loopback unless told.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PROVISIOND_PORT", help="TCP port.")] = DEFAULT_PORT,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler",
            help="Run no cycles here (an API tier beside `provisiond worker`s); "
            "also PROVISIOND_SCHEDULER=off.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(envvar="PROVISIOND_WORKERS", help="API processes; more than 1 needs PostgreSQL."),
    ] = 1,
    log_level: Annotated[str, typer.Option(envvar="PROVISIOND_LOG_LEVEL")] = "info",
    certfile: Annotated[
        Path | None,
        typer.Option(
            "--certfile", envvar="PROVISIOND_TLS_CERTFILE", help="Serve https: the certificate (PEM)."
        ),
    ] = None,
    keyfile: Annotated[
        Path | None,
        typer.Option(
            "--keyfile", envvar="PROVISIOND_TLS_KEYFILE", help="Serve https: its private key (PEM)."
        ),
    ] = None,
) -> None:
    """Apply migrations and serve the Graph API, and run the jobs unless --no-scheduler.

    `--workers N` runs N API processes on one port (PostgreSQL only). `--certfile` and
    `--keyfile` serve https instead of http (the Graph SDKs send tokens only over https).
    """
    from provisiond.clock import SystemClock
    from provisiond.tls import TlsConfigError, checked

    _line_buffered()
    if workers < 1:
        _fail(f"--workers {workers}: at least 1")
    try:
        tls = checked(certfile, keyfile)
    except TlsConfigError as exc:
        _fail(str(exc))
    certs = (str(tls.certfile), str(tls.keyfile)) if tls else (None, None)
    settings = _settings(
        data_dir=data_dir, database_url=database_url, scheduler=False if no_scheduler else None
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = _open_database(settings)
    if workers > 1 and not db.is_postgresql:
        db.dispose()
        _fail(
            f"--workers {workers} needs PostgreSQL (--database-url postgresql+psycopg://...): "
            "on SQLite one process serves best"
        )
    scheme = "https" if tls else "http"
    base = f"{scheme}://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    typer.echo(f"provisiond is serving the Graph API at {base}/v1.0 and {base}/beta")
    typer.echo(f"  database: {_redacted(settings.resolved_database_url)}")
    data_flag = f" --data-dir {settings.data_dir}" if data_dir else ""
    typer.echo(f"  get a token:  provisiond token{data_flag}")
    typer.echo(
        f'  try it:       curl -H "Authorization: Bearer $(provisiond token{data_flag})" {base}/v1.0/users'
    )
    if workers > 1:
        db.dispose()
        _serve_processes(settings, host, port, workers, log_level, certs)
        return
    from provisiond.api.app import create_app
    from provisiond.runtime import build_runtime

    runtime = build_runtime(settings, db, SystemClock(), scheduler=settings.scheduler)
    engine = runtime.scheduler
    typer.echo(
        f"  scheduler:    {engine.owner}"
        if engine is not None
        else "  scheduler:    off (--no-scheduler): this process runs no cycles"
    )
    application = create_app(settings, db, runtime.clock, scheduler=engine, domain=runtime.services)
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        ssl_certfile=certs[0],
        ssl_keyfile=certs[1],
    )
    GracefulServer(config).run()
    db.dispose()


def _serve_processes(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    certs: tuple[str | None, str | None],
) -> None:
    """uvicorn's supervisor with `workers` processes, each built by `provisiond.asgi:create`
    from the environment set here, each with its own scheduler unless it is turned off.

    Refused on SQLite (the caller checks): SQLite lets one writer in at a time across all
    processes, so N processes would queue on the file's lock (busy timeouts, `database is
    locked` under load) instead of adding throughput, and it has no LISTEN/NOTIFY, so a change
    written by one process would wake the schedulers of the others only at their next poll.
    On PostgreSQL every process migrates under an advisory lock (one migrates, the others find
    the schema current), jobs are shared through leases, and NOTIFY wakes every scheduler.
    """
    import os

    settings.hs256_secret()  # the keys exist before any child reads them
    settings.secrets_encryption_key()
    os.environ.update(
        {
            "PROVISIOND_DATA_DIR": str(settings.data_dir.absolute()),
            "PROVISIOND_DATABASE_URL": settings.resolved_database_url,
            "PROVISIOND_SCHEDULER": "on" if settings.scheduler else "off",
        }
    )
    typer.echo(f"  processes:    {workers}, {'each with' if settings.scheduler else 'no'} scheduler")
    uvicorn.run(
        "provisiond.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        lifespan="on",
        ssl_certfile=certs[0],
        ssl_keyfile=certs[1],
    )


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    log_level: Annotated[str, typer.Option(envvar="PROVISIOND_LOG_LEVEL")] = "info",
) -> None:
    """Run the scheduler alone (no API): more workers on one PostgreSQL database share the jobs."""
    import threading

    from provisiond.clock import SystemClock
    from provisiond.runtime import build_scheduler

    _line_buffered()
    settings = _settings(data_dir=data_dir, database_url=database_url)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = _open_database(settings)
    scheduler = build_scheduler(settings, db, SystemClock())
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    scheduler.start()
    typer.echo(
        f"provisiond worker {scheduler.owner} is running jobs from {_redacted(settings.resolved_database_url)}"
    )
    while not done.wait(0.5):  # a timed wait: a signal delivered to another thread is seen too
        pass
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
    from provisiond.api.permissions import APPLICATION_ADMINISTRATOR

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


@app.command("console-link")
def console_link(
    host: Annotated[
        str, typer.Option(envvar="PROVISIOND_HOST", help="The interface the server listens on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="PROVISIOND_PORT", help="The server's TCP port.")
    ] = DEFAULT_PORT,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print a one-time link that signs in to the admin console as the local administrator.

    The link works once, within 15 minutes, on any server sharing this database; its token is
    stored only as a hash.
    """
    from provisiond.api.console.identity import signin_link
    from provisiond.clock import SystemClock
    from provisiond.services.console import ConsoleService

    settings = _settings(data_dir=data_dir, database_url=database_url)
    db = _open_database(settings)
    try:
        shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
        typer.echo(signin_link(ConsoleService(db, SystemClock()), f"http://{shown}:{port}"))
    finally:
        db.dispose()


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
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve https with a self-signed certificate (its path is printed).")
    ] = False,
) -> None:
    """Try it: a sample directory provisioned into a local SCIM app, then serve the API.

    Starts the service on SQLite with a generated directory (users, groups, a manager chain,
    assignments) and a local SCIM app (scim2-server), creates and starts a job, shows the
    initial cycle, then keeps serving and prints a token and commands to try. Ctrl-C stops it.
    """
    from provisiond.demo import DemoOptions, run_demo

    options = DemoOptions(
        host=host,
        port=port,
        scim_port=scim_port,
        data_dir=data_dir,
        users=users,
        log_level=log_level,
        tls=tls,
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


def _open_database(settings: Settings) -> Database:
    """The migrated database; on failure one line says what failed and the command exits 1."""
    from provisiond.runtime import StartupError, open_database

    try:
        return open_database(settings)
    except StartupError as exc:
        _fail(str(exc))


def _line_buffered() -> None:
    """Each line out at once, also into a file or pipe: the start-up lines (the scheduler's
    owner id) must reach a log file when they are printed, not when a buffer fills."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
