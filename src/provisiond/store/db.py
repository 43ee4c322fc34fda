"""Database access: one `Database` per process, short transactions, migrations on start.

SQLite (the default) runs in WAL mode with a busy timeout so that the API threads and the
scheduler share one file. PostgreSQL is used through psycopg 3, with a 10 s connect timeout
unless the URL sets one, so a database that goes away costs each request at most that wait and
the service recovers by itself once the database is back.

A pooled PostgreSQL connection idle for more than `PING_AFTER_IDLE_SECONDS` is pinged before it
is handed out, and replaced when the ping fails (a server restart, a proxy's idle timeout). One
in use moments ago is handed out as it is: pinging every checkout (`pool_pre_ping`) cost a round
trip per request, a fifth of a GET's. Should such a connection have died since, its statement
fails as a disconnect, SQLAlchemy invalidates the whole pool, and that one request is a 503.

`UNAVAILABLE_ERRORS` are the failures that mean "the database cannot be used right now" (down,
unreachable, restarting, locked, out of connections) rather than a bug; the API answers them
with 503 and Retry-After.

The tenant id is the instance's identity: job ids embed it and tokens must carry it (`tid`).
`tenant_id()` writes the configured one (or `DEFAULT_TENANT_ID`) when the database has none,
and refuses a configured one that differs from the database's: the database was made for
another tenant, and its job ids say so.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from provisiond.store.tables import instance

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_TENANT_ID = "5b4e7493-9e0c-4d1f-8a52-7c0d5e6f7493"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
POOL_CONNECTIONS = 40  # as many as the API's thread pool has threads (anyio's default)
PING_AFTER_IDLE_SECONDS = 1.0
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,  # refused, dropped, shut down, locked, serialization failure
    sa_exc.InterfaceError,  # the driver lost its connection
    sa_exc.TimeoutError,  # no pooled connection came free in time
)

log = logging.getLogger("provisiond.store")


class TenantMismatch(Exception):
    """The configured tenant is not the one the database was made for."""


class Database:
    def __init__(self, url: str, *, echo: bool = False, sqlite_busy_timeout: float = 30.0) -> None:
        """`sqlite_busy_timeout`: how long a SQLite writer waits for another's lock before the
        request fails as unavailable (503)."""
        self.url = make_url(url)
        self.engine: Engine = _create_engine(url, echo=echo, busy_timeout=sqlite_busy_timeout)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. On SQLite its transaction is deferred, so it never waits for
        writers. On PostgreSQL it runs in autocommit: under READ COMMITTED each statement reads
        its own snapshot anyway, and no BEGIN and ROLLBACK round trips are paid per request."""
        with self.engine.connect() as conn:
            if self.is_postgresql:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                conn.execution_options(provisiond_read_only=True)
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run from several processes."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as conn:
            if self.is_postgresql:
                # Two processes starting together must not both create the tables.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7493001)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def tenant_id(self, configured: str | None = None) -> str:
        """This instance's tenant id, written once and shared by every process using the database.

        A database without one gets `configured`, else `DEFAULT_TENANT_ID`. A database made
        before the tenant was configurable holds a random one: it is kept (job ids embed it),
        and only a `configured` value that differs is an error (TenantMismatch).
        """
        wanted = (configured or DEFAULT_TENANT_ID).lower()
        for _ in range(2):  # a second round reads what a concurrent first start wrote
            try:
                with self.transaction() as conn:
                    stored = conn.execute(
                        select(instance.c.value).where(instance.c.key == "tenant_id")
                    ).scalar()
                    if stored is None:
                        conn.execute(instance.insert().values(key="tenant_id", value=wanted))
                        return wanted
            except sa_exc.IntegrityError:
                continue
            stored = str(stored).lower()
            if configured is not None and stored != wanted:
                raise TenantMismatch(_mismatch(stored, wanted))
            if stored != wanted:
                log.warning(
                    "this database belongs to tenant %s (it predates PROVISIOND_TENANT_ID); tokens must "
                    "carry tid %s: set PROVISIOND_TENANT_ID=%s for `provisiond token` and every process",
                    stored,
                    stored,
                    stored,
                )
            return stored
        raise RuntimeError("the tenant id could be neither read nor written")

    def stored_tenant_id(self) -> str | None:
        """The tenant id the database holds; None before the first start (or migration)."""
        with self.read() as conn:
            if not inspect(conn).has_table(instance.name):
                return None
            value = conn.execute(select(instance.c.value).where(instance.c.key == "tenant_id")).scalar()
        return str(value).lower() if value is not None else None

    def check_tenant(self, configured: str | None) -> None:
        """TenantMismatch when `configured` is set and the database holds another tenant; reads
        only, so it can run before migrations."""
        stored = self.stored_tenant_id()
        if configured is not None and stored is not None and stored != configured.lower():
            raise TenantMismatch(_mismatch(stored, configured.lower()))

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, *, echo: bool, busy_timeout: float) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # A connection per API thread, kept: one opened per burst would pay its PRAGMAs each time.
            kwargs["pool_size"] = POOL_CONNECTIONS
            kwargs["max_overflow"] = 0
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout=busy_timeout))
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that
        # "BEGIN IMMEDIATE" semantics are available and SAVEPOINTs work.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Ten kept, the rest up to one per API thread opened for a burst (a PostgreSQL connection is a
    # server process: keeping 40 per API process would crowd max_connections with --workers).
    kwargs["pool_size"] = 10
    kwargs["max_overflow"] = POOL_CONNECTIONS - 10
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat idle (see the module docstring)."""
    idle_since = "provisiond_idle_since"

    def mark(_dbapi_conn: Any, record: Any) -> None:
        record.info[idle_since] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(idle_since, 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise sa_exc.DisconnectionError(str(exc)) from exc

    event.listen(engine.pool, "connect", mark)
    event.listen(engine.pool, "checkin", mark)
    event.listen(engine.pool, "checkout", checkout)


def _mismatch(stored: str, configured: str) -> str:
    return (
        f"the database belongs to tenant {stored}, but PROVISIOND_TENANT_ID is {configured}; "
        "point the service at that tenant's database or set PROVISIOND_TENANT_ID to match"
    )


def redacted(url: str | URL) -> str:
    """The URL with its password shown as `***`."""
    return make_url(url).render_as_string(hide_password=True)


def describe_error(error: BaseException, url: str | URL | None = None) -> str:
    """One line saying why the database failed, from the driver's own words, never the password."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = " ".join(line for line in lines if not line.startswith("(Background on this error"))
    text = re.sub(r"^\([\w.]+\) ", "", text) or type(cause).__name__
    password = make_url(url).password if url is not None else None
    return text.replace(str(password), "***") if password else text


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (no deadlock-prone lock upgrades); readers in WAL
    # mode read a snapshot without waiting.
    read_only = conn.get_execution_options().get("provisiond_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, busy_timeout: float) -> None:
    dbapi_conn.isolation_level = (
        None  # autocommit at the driver; SQLAlchemy's "begin" hook opens transactions
    )
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()
