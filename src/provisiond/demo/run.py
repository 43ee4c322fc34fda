"""`provisiond demo` from start to finish: the SCIM app, the API with its scheduler, the set-up,
the initial cycle, the instructions; then serving until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import secrets
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from provisiond.config import Settings
from provisiond.demo.instructions import TOKEN_LIFETIME, instructions
from provisiond.demo.progress import target_counts, watch_initial_cycle
from provisiond.demo.setup import DemoError, Interrupted, Stop, set_up
from provisiond.tls import self_signed

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 7493
    scim_port: int = 0
    data_dir: Path | None = None
    users: int = 300
    log_level: str = "warning"
    tls: bool = False  # serve https with a self-signed certificate kept in the data dir


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run until Ctrl-C or SIGTERM; returns the exit code."""
    import sys

    stream = out or sys.stdout

    def say(text: str = "") -> None:
        stream.write(text + "\n")
        stream.flush()

    logging.basicConfig(
        level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = Stop()
    temporary = options.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="provisiond-demo-")) if temporary else options.data_dir
    assert data_dir is not None
    cleanups: list[Callable[[], None]] = []
    try:
        with stop.installed():
            return _run(options, data_dir, temporary, stop, say, stream, cleanups)
    except Interrupted:
        say("\nInterrupted; stopping.")
        return 0
    except DemoError as exc:
        say(str(exc))
        return 1
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception:  # pragma: no cover - best effort on the way out
                log.exception("while stopping the demo")
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(
    options: DemoOptions,
    data_dir: Path,
    temporary: bool,
    stop: Stop,
    say: Callable[[str], None],
    stream: TextIO,
    cleanups: list[Callable[[], None]],
) -> int:
    import uvicorn

    from provisiond.api.app import create_app
    from provisiond.clock import SystemClock
    from provisiond.runtime import build_runtime
    from provisiond.scim_target import serve_scim
    from provisiond.services.console import ConsoleService
    from provisiond.store.db import Database, redacted

    settings = Settings.from_env(data_dir=data_dir)
    say("provisiond demo")
    say(f"  data dir:   {data_dir}" + ("  (temporary, removed on exit)" if temporary else ""))
    say(f"  database:   {redacted(settings.resolved_database_url)}")

    scim_token = "scim-" + secrets.token_urlsafe(24)
    try:
        scim = serve_scim(scim_token, host="127.0.0.1", port=options.scim_port)
    except OSError as exc:
        say(f"Cannot serve the SCIM app on 127.0.0.1:{options.scim_port}: {exc}")
        return 1
    cleanups.append(scim.stop)
    say(f"  SCIM app:   {scim.url}  (scim2-server, Entra-tolerant PATCH, bearer token)")

    db = Database(settings.resolved_database_url)
    cleanups.append(db.dispose)
    db.migrate()
    runtime = build_runtime(settings, db, SystemClock())
    services = runtime.services
    application = create_app(settings, db, runtime.clock, scheduler=runtime.scheduler, domain=services)
    tls = self_signed(data_dir / "tls") if options.tls else None
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            lifespan="on",
            ssl_certfile=str(tls.certfile) if tls else None,
            ssl_keyfile=str(tls.keyfile) if tls else None,
        )
    )
    thread = threading.Thread(target=server.run, name="provisiond-api", daemon=True)
    thread.start()

    def stop_server() -> None:
        server.should_exit = True
        thread.join(timeout=60)

    cleanups.append(stop_server)
    while not server.started:
        if not thread.is_alive():
            say(f"Cannot serve the Graph API on {options.host}:{options.port} (is the port in use?)")
            return 1
        stop.check()
        time.sleep(0.02)
    shown_host = options.host if options.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"{'https' if tls else 'http'}://{shown_host}:{options.port}"
    console = ConsoleService(db, runtime.clock)
    say(f"  console:    {_console_link(console, base)}  (one-time sign-in link)")
    say(f"  Graph API:  {base}/v1.0  (and {base}/beta)")
    if tls:
        say(f"  TLS certificate: {tls.certfile}  (self-signed; clients trust it through the variables below)")
    say("")

    state = set_up(services, options.users, scim.url, scim_token, stop, say)
    outcome = watch_initial_cycle(db, services, state, stop, say, stream)
    for line in outcome:
        say(line)
    target_users, target_groups = target_counts(scim.url, scim_token)
    say(f"The SCIM app now holds {target_users} users and {target_groups} groups.")
    say("")

    from provisiond.api.auth import mint_token
    from provisiond.api.permissions import APPLICATION_ADMINISTRATOR
    from provisiond.config import ADMIN_SCOPES

    token = mint_token(
        settings,
        scopes=ADMIN_SCOPES.split(),
        wids=[APPLICATION_ADMINISTRATOR],
        tenant_id=services.tenant_id,  # the database's, even one made before PROVISIOND_TENANT_ID
        expires_in=TOKEN_LIFETIME,
    )
    data_flag = f" --data-dir {shlex.quote(str(data_dir))}"
    link = _console_link(console, base)
    ca = tls.certfile if tls else None
    for line in instructions(base, scim.url, scim_token, token, state, data_dir, data_flag, link, ca=ca):
        say(line)
    while not stop.event.wait(1.0):
        pass
    say("\nStopping provisiond demo...")
    return 0


def _console_link(console: Any, base: str) -> str:
    """A one-time console sign-in link for the local administrator, valid as long as the demo's
    token (the demo is local, and its output may be read a while after it starts)."""
    from datetime import timedelta

    from provisiond.api.console.identity import local_administrator

    token = console.create_signin_link(
        local_administrator(), "local administrator", lifetime=timedelta(seconds=TOKEN_LIFETIME)
    )
    return f"{base}/console/signin?token={token}"
