"""Cross-process wake-ups on PostgreSQL: `NOTIFY` when work may have become due, `LISTEN` in
every scheduler.

A directory change or a start/restart written by one process (say `provisiond serve`) wakes
the schedulers of the others (`provisiond worker`) at once, instead of at their next poll.
The notification is sent inside the writing transaction, so PostgreSQL delivers it only after
commit, when the change is visible. It carries no payload: a woken scheduler looks at the
database, which stays the only source of truth, and polling remains the fallback when a
notification is lost (a listener reconnecting, say). SQLite is single-host and in-process:
there the services' own callback wakes the scheduler and this module does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection
from sqlalchemy.engine import URL

log = logging.getLogger("provisiond.engine")

CHANNEL = "provisiond_work_due"


def announce(conn: Connection) -> None:
    """Tell every listening scheduler, on commit, that work may be due."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {CHANNEL}")


def libpq_url(url: URL) -> str:
    """The SQLAlchemy URL as psycopg's own connection string."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """A thread that calls `on_notify` for every notification on CHANNEL, and once after each
    (re)connection, to catch up with whatever was sent while it was not listening."""

    def __init__(self, url: URL, on_notify: Callable[[], None], *, reconnect_seconds: float = 1.0) -> None:
        self._dsn = libpq_url(url)
        self._on_notify = on_notify
        self._reconnect_seconds = reconnect_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="provisiond-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._on_notify()
                    while not self._stopping.is_set():
                        # a short timeout, so stop() is noticed promptly
                        for _ in conn.notifies(timeout=0.5):
                            self._on_notify()
            except psycopg.Error as error:
                log.warning("LISTEN %s failed (%s); retrying", CHANNEL, error)
                self._stopping.wait(self._reconnect_seconds)
