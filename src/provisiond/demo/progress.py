"""The initial cycle as it runs: progress from the job's status and the provisioning logs, a
live bar on a terminal, and what the SCIM app holds at the end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from provisiond.demo.setup import DemoState, Stop
from provisiond.graph.job_state import status_wire


@dataclass
class Progress:
    processed: int = 0
    total: int = 0
    created: int = 0
    errors: int = 0
    running: bool = False

    def line(self) -> str:
        total = f"/{self.total}" if self.total else ""
        return f"  {self.processed}{total} objects processed, {self.created} created, {self.errors} errors"


def _progress(db: Any, job_id: str, since: datetime, previous: str | None) -> tuple[Progress, dict[str, Any]]:
    """The cycle's progress from the job status, and its creates and errors from the logs since
    `since`; once a cycle that ended after `previous` is recorded, its count of objects."""
    from sqlalchemy import func, select

    from provisiond.store import engine_state
    from provisiond.store.tables import provisioning_logs as logs

    with db.read() as conn:
        job = engine_state.get_job(conn, job_id)
        counts = conn.execute(
            select(logs.c.action, logs.c.status, func.count())
            .where(logs.c.job_id == job_id, logs.c.activity_date_time >= since)
            .group_by(logs.c.action, logs.c.status)
        ).all()
    assert job is not None
    job = {**job, "status": status_wire(job["status"])}  # shown by Graph's names
    status = job["status"]
    progress = Progress(running=job["lease_owner"] is not None)
    if status.get("progress"):
        progress.processed = int(status["progress"][0].get("completedUnits") or 0)
        progress.total = int(status["progress"][0].get("totalUnits") or 0)
    elif (status.get("lastExecution") or {}).get("timeEnded") not in (None, previous):
        # At the end of the cycle the progress is cleared: the last execution has the count.
        progress.processed = progress.total = int(status["lastExecution"].get("countImported") or 0)
    for action, outcome, count in counts:
        if action == "create" and outcome == "success":
            progress.created += count
        if outcome == "failure":
            progress.errors += count
    return progress, job


def watch_initial_cycle(
    db: Any, services: Any, state: DemoState, stop: Stop, say: Callable[[str], None], stream: TextIO
) -> list[str]:
    """Show the cycle's progress until it ends; returns lines describing its outcome."""
    from provisiond.store import engine_state

    with db.read() as conn:
        job = engine_state.get_job(conn, state.job_id)
    assert job is not None
    previous = (status_wire(job["status"])["lastExecution"] or {}).get("timeEnded")
    since = services.synchronization.clock.now()
    began = time.monotonic()
    say("Initial cycle:")

    def finished(row: dict[str, Any]) -> bool:
        last = row["status"].get("lastExecution") or {}
        return bool(last.get("timeEnded")) and last["timeEnded"] != previous and row["lease_owner"] is None

    display = _RichProgress(stream) if stream.isatty() else None
    last_line, last_print = "", 0.0
    with display or contextlib.nullcontext():
        while True:
            stop.check()
            progress, row = _progress(db, state.job_id, since, previous)
            done = finished(row)
            if display is not None:
                display.update(progress)
            else:
                line = progress.line()
                now = time.monotonic()
                if line != last_line and (done or now - last_print >= 1.0):
                    say(line)
                    last_line, last_print = line, now
            if done:
                break
            stop.event.wait(0.25)
    if display is None and last_line != progress.line():
        say(progress.line())
    last = row["status"]["lastExecution"]
    counts = ", ".join(
        f"{c['value']} {c['key']}s" for c in row["status"].get("synchronizedEntryCountByType") or []
    )
    lines = [
        f"Initial cycle {last['state']} in {time.monotonic() - began:.1f} s "
        f"(status.lastExecution: countImported {last['countImported']}, countEntitled {last['countEntitled']}, "
        f"countExported {last['countExported']}, countEscrowed {last['countEscrowed']}).",
        f"Job status: {row['status'].get('code')}; synchronized: {counts or 'nothing'}; users in scope: {state.in_scope}.",
    ]
    if last.get("error"):
        lines.append(f"Error: {last['error'].get('code')}: {last['error'].get('message')}")
    return lines


class _RichProgress:
    """A live progress bar when the output is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("  objects"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[created]} created, {task.fields[errors]} errors"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self.task = self.progress.add_task("cycle", total=None, created=0, errors=0)

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, progress: Progress) -> None:
        self.progress.update(
            self.task,
            completed=progress.processed,
            total=progress.total or None,
            created=progress.created,
            errors=progress.errors,
        )


def target_counts(scim_url: str, scim_token: str) -> tuple[int, int]:
    """How many users and groups the SCIM app holds, read as the engine reads it (aiohttp)."""
    from provisiond.connectors.outbound import ALLOW_EVERYTHING
    from provisiond.connectors.scim import probe_get, probe_session, run_probe

    async def count() -> tuple[int, int]:
        async with probe_session(scim_token, 30, ALLOW_EVERYTHING) as session:
            counts = []
            for resource in ("Users", "Groups"):
                url = f"{scim_url.rstrip('/')}/{resource}"
                answer = await probe_get(session, url, 30, ALLOW_EVERYTHING, params={"count": "1"})
                counts.append(int(answer.json().get("totalResults") or 0))
        return counts[0], counts[1]

    return run_probe(count())


# What to try next
