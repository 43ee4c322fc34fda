"""The ASGI app factory `provisiond serve --workers N` hands to uvicorn's multi-process mode.

Each worker process calls `create()` with no arguments, so everything it needs comes from the
`PROVISIOND_*` environment the parent set up (`provisiond.config.Settings.from_env`). Each
opens and migrates the database itself (on PostgreSQL under an advisory lock, so concurrent
start-ups are safe), builds its own runtime and, unless `PROVISIOND_SCHEDULER=off`, runs its
own scheduler: the schedulers of all processes share the jobs through leases in the database.
"""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI

from provisiond.api.app import create_app
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.runtime import StartupError, build_runtime, open_database


def create() -> FastAPI:
    settings = Settings.from_env()
    try:
        db = open_database(settings)
    except StartupError as exc:
        print(f"provisiond: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    runtime = build_runtime(settings, db, SystemClock(), scheduler=settings.scheduler)
    scheduler = runtime.scheduler
    print(
        f"provisiond API process {os.getpid()}: "
        + (f"scheduler {scheduler.owner}" if scheduler is not None else "no scheduler"),
        flush=True,
    )
    return create_app(settings, db, runtime.clock, scheduler=scheduler, domain=runtime.services)
