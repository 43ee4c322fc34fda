"""Database access: one `Database` per process, short transactions, migrations on start.

SQLite (the default) runs in WAL mode with a busy timeout so that the API threads and the
scheduler share one file. PostgreSQL is used through psycopg 3.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url

from provisiond.store.tables import instance

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.engine: Engine = _create_engine(url, echo=echo)

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
        """A connection for reads; on SQLite its transaction is deferred so it never waits for writers."""
        with self.engine.connect() as conn:
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

    def tenant_id(self) -> str:
        """This instance's tenant id, created once and shared by every process using the database."""
        with self.transaction() as conn:
            value = conn.execute(select(instance.c.value).where(instance.c.key == "tenant_id")).scalar()
            if value is None:
                value = str(uuid.uuid4())
                conn.execute(instance.insert().values(key="tenant_id", value=value))
            return str(value)

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that
        # "BEGIN IMMEDIATE" semantics are available and SAVEPOINTs work.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (no deadlock-prone lock upgrades); readers in WAL
    # mode read a snapshot without waiting.
    read_only = conn.get_execution_options().get("provisiond_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = (
        None  # autocommit at the driver; SQLAlchemy's "begin" hook opens transactions
    )
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
