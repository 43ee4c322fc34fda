"""The scheduler: claims due jobs under a lease and runs their cycles.

One cycle per job at a time across every process and machine (DESIGN invariant 3): a job is
claimed by writing an expiring lease into its row (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
the lease is renewed while the cycle runs, and a process that dies simply stops renewing, so
another takes the job over once the lease expires.

A cycle is due right after start and restart, `schedule.interval` after the previous one,
and — unlike Entra's fixed 40 minutes — about a second after a directory change that can touch
the job's scope (`engine.wakeups`): every tick weighs the changes since the last one.
`notify()` wakes the loop at once for changes made in this process; on PostgreSQL a `LISTEN` thread
(`store.notifications`) calls it for changes and starts committed by other processes too.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from provisiond.clock import Clock
from provisiond.engine import wakeups
from provisiond.engine.cycle import CycleRunner, JobSecrets
from provisiond.engine.policy import EngineSettings
from provisiond.engine.status import StatusWriter
from provisiond.store import changelog, notifications
from provisiond.store import engine_state as state
from provisiond.store import wakeups as wakeups_store
from provisiond.store.db import Database

log = logging.getLogger("provisiond.engine")

TICK_SPACING_SECONDS = 0.1  # real time between two ticks at least; far below the debounce


class _Unread(enum.Enum):
    UNREAD = enum.auto()


UNREAD = _Unread.UNREAD
NextDue = datetime | None | _Unread  # the earliest due time, or UNREAD when this tick has not read it


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        runner: CycleRunner,
        *,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        debounce_seconds: float = 0.5,
        max_concurrent_jobs: int = 4,
    ) -> None:
        self.db = db
        self.clock = clock
        self.runner = runner
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.debounce = timedelta(seconds=debounce_seconds)
        self.max_concurrent_jobs = max_concurrent_jobs
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._seen_seq = -1
        self._orphans_pruned_at: datetime | None = None
        self._tick_failures = 0
        self._tick_logged_at: datetime | None = None
        self._listener = notifications.Listener(db.engine.url, self.notify) if db.is_postgresql else None
        runner.stopping = self._stopping.is_set

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="provisiond-scheduler", daemon=True)
        self._thread.start()
        if self._listener is not None:
            self._listener.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; running cycles stop at their next safe point with progress kept."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.stop()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """Something changed (directory write, start, restart): look for due work now."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        running: dict[str, asyncio.Task[None]] = {}
        loop = self._loop
        while not self._stopping.is_set():
            tick_began = loop.time()
            self._wake.clear()  # before the tick: a wake-up during the tick is kept for the next
            due: NextDue = UNREAD
            try:
                self._bring_forward_changed_jobs()
                while len(running) < self.max_concurrent_jobs:
                    job, due = self._claim()
                    if job is None:
                        break
                    due = UNREAD
                    running[job["id"]] = asyncio.create_task(self._run(job))
            except Exception as exc:  # the database may be briefly unavailable; try again next tick
                self._tick_failed(exc)
            else:
                self._tick_failures = 0
            for job_id in [j for j, t in running.items() if t.done()]:
                running.pop(job_id)
            waiters: list[Any] = [asyncio.create_task(self._wake.wait()), *running.values()]
            await asyncio.wait(
                waiters, timeout=self._until_next_due(due), return_when=asyncio.FIRST_COMPLETED
            )
            waiters[0].cancel()
            # Wake-ups closer together than TICK_SPACING share one tick: a burst of API writes
            # costs the scheduler a few ticks a second, not one each (changes are debounced anyway).
            await asyncio.sleep(max(0.0, tick_began + TICK_SPACING_SECONDS - loop.time()))
        if running:
            await asyncio.wait(list(running.values()), timeout=60)

    def _tick_failed(self, exc: Exception) -> None:
        """One line for the first failed tick and then one a minute, not one per poll."""
        self._tick_failures += 1
        now = self.clock.now()
        if (
            self._tick_failures == 1
            or self._tick_logged_at is None
            or now - self._tick_logged_at >= timedelta(minutes=1)
        ):
            log.error("scheduler tick failed (%d in a row): %s", self._tick_failures, _one_line(exc))
            self._tick_logged_at = now

    def _until_next_due(self, due: NextDue = UNREAD) -> float:
        """Sleep until the earliest due cycle (a debounced change, a retry), at most one poll.
        `due`: the earliest due time this tick's last claim read, when it read one."""
        if due is UNREAD:
            try:
                with self.db.read() as conn:
                    due = state.next_due(conn)
            except Exception:
                return self.poll_seconds
        if due is None:
            return self.poll_seconds
        wait = (due - self.clock.now()).total_seconds()
        return min(self.poll_seconds, max(wait, 0.01))

    def _claim(self) -> tuple[dict[str, Any] | None, datetime | None]:
        """A due job claimed under a lease (None: none is due), and the earliest due time read
        on the way, which the tick's sleep reuses instead of reading it again."""
        now = self.clock.now()
        with self.db.read() as conn:  # most ticks find nothing due: no write transaction then
            due = state.next_due(conn)
        if due is None or due > now:
            return None, due
        with self.db.transaction() as conn:
            return state.claim_due_job(conn, self.owner, now, now + self.lease), due

    def _bring_forward_changed_jobs(self) -> None:
        """The jobs the changes since the last look can touch become due (engine.wakeups); on
        the first look, each job weighs every change past its watermark."""
        with self.db.read() as conn:
            head = changelog.last_seq(conn)
        if head == self._seen_seq:
            return
        self._wake_touched(self._seen_seq, head)
        self._seen_seq = head

    def _wake_touched(self, after: int, head: int, job_id: str | None = None) -> None:
        # Weighed on a read; the write (which re-checks each job) only when a job is touched,
        # so a change no job can see takes no write lock from the API's writers.
        with self.db.read() as conn:
            jobs = wakeups_store.active_jobs_behind(conn, head)
            if job_id is not None:
                jobs = {job_id: jobs[job_id]} if job_id in jobs else {}
            touched = wakeups.jobs_to_wake(conn, after, head, jobs, self._sync_all) if jobs else set()
        if touched:
            with self.db.transaction() as conn:
                state.mark_active_jobs_due(conn, self.clock.now() + self.debounce, head, only=touched)

    def _sync_all(self, service_principal_id: str) -> bool:
        """Whether the job syncs all users and groups (its SyncAll secret); when that cannot be
        read, True: waking a job is always safe."""
        try:
            return JobSecrets(self.runner.secrets(service_principal_id)).flag("SyncAll")
        except Exception:
            return True

    async def _run(self, job: dict[str, Any]) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(job["id"]))
        began = self.clock.now()
        try:
            await self.runner.run(job, self.owner)
        except Exception as exc:
            self._failed(job, began, exc)
        finally:
            heartbeat.cancel()
            # Before the lease goes: whoever sees the cycle finished sees its retention applied.
            self._prune_logs(job)
            try:
                with self.db.transaction() as conn:
                    state.release_lease(conn, job["id"], self.owner, {})
            except Exception as exc:  # the lease expires by itself
                log.error("could not release the lease of job %s: %s", job["id"], _one_line(exc))
            # Changes that arrived during the cycle were seen by the ticks but not acted on for
            # this job (during an initial cycle it has no watermark yet; a running cycle's end
            # sets its next due time): weigh the changes past its new watermark now.
            try:
                with self.db.read() as conn:
                    head = changelog.last_seq(conn)
                self._wake_touched(-1, head, job["id"])
            except Exception as exc:  # the interval heartbeat reconciles it
                log.error("could not look at the changes for job %s: %s", job["id"], _one_line(exc))
            self.notify()

    def _failed(self, job: dict[str, Any], began: datetime, exc: Exception) -> None:
        """A cycle that raised an unexpected error: recorded in the job's status and retried
        with exponential backoff, with one log line per failure (the traceback at debug
        level), so a fault of ours never turns into a busy loop or a stream of tracebacks."""
        where = _innermost_frame(exc)
        try:
            writer = StatusWriter(self.db, self.clock, job["id"], job["generation"], self.owner)
            failures, retry_at = writer.failed_unexpectedly(began, exc)
        except Exception as status_exc:
            log.error(
                "cycle of job %s failed (%s at %s), and recording the failure failed too (%s); "
                "the job is retried when its lease expires",
                job["id"],
                _one_line(exc),
                where,
                _one_line(status_exc),
            )
            return
        log.error(
            "cycle of job %s failed (%d in a row): %s at %s; next attempt at %s",
            job["id"],
            failures,
            _one_line(exc),
            where,
            retry_at.isoformat() if retry_at else "the next start",
        )
        log.debug("traceback of the failed cycle of job %s", job["id"], exc_info=exc)

    def _prune_logs(self, job: dict[str, Any]) -> None:
        """Provisioning-log retention: the job's own setting after each of its cycles, and the
        default for the logs of deleted jobs at most once an hour."""
        now = self.clock.now()
        retention = EngineSettings.from_job(job.get("settings") or [], {}).log_retention
        try:
            with self.db.transaction() as conn:
                state.logs_prune(conn, job["id"], now - retention)
                if self._orphans_pruned_at is None or now - self._orphans_pruned_at > timedelta(hours=1):
                    state.logs_prune_orphans(conn, now - EngineSettings().log_retention)
                    self._orphans_pruned_at = now
        except Exception:  # retention is housekeeping: never let it fail a cycle
            log.exception("pruning the provisioning logs of job %s failed", job["id"])

    async def _heartbeat(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            with self.db.transaction() as conn:
                if not state.renew_lease(conn, job_id, self.owner, self.clock.now() + self.lease):
                    log.warning("lost the lease of job %s", job_id)
                    return


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _innermost_frame(exc: BaseException) -> str:
    """file:line of the frame that raised, for a log line that points at the fault."""
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
