"""Shared fixtures: databases (SQLite always, PostgreSQL when PROVISIOND_TEST_POSTGRES_URL is
set), a live server under uvicorn on a free port, tokens, and a real SCIM target."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from provisiond.api.app import create_app
from provisiond.api.auth import mint_token
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.store.db import Database

POSTGRES_URL = os.environ.get("PROVISIOND_TEST_POSTGRES_URL")
ADMIN_SCOPES = [
    "Synchronization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
]
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'provisiond.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL tests need PROVISIOND_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"provisiond_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test that uses this runs on SQLite and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + uuid.uuid4().hex)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    db: Database

    def token(self, *, scopes: list[str] | None = None, roles: list[str] | None = None, **claims: Any) -> str:
        if scopes is None and roles is None:
            scopes = ADMIN_SCOPES
            claims.setdefault("wids", [APPLICATION_ADMINISTRATOR])
        return mint_token(self.settings, scopes=scopes or (), roles=roles or (), **claims)

    def client(self, token: str | None = None, version: str = "v1.0") -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(base_url=f"{self.url}/{version}", headers=headers, timeout=30)


def run_server(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def live_server(db: Database, settings: Settings) -> Iterator[LiveServer]:
    """The real API under uvicorn on a free port, over the parametrised database."""
    url, server, thread = run_server(create_app(settings, db, SystemClock()))
    yield LiveServer(url, settings, db)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sqlite_server(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The live server on SQLite only, for tests whose subject is not storage."""
    yield from serve_sqlite(sqlite_url, settings)


def serve_sqlite(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The live server over a new SQLite database, with these settings, until closed."""
    database = Database(sqlite_url)
    database.migrate()
    url, server, thread = run_server(create_app(settings, database, SystemClock()))
    yield LiveServer(url, settings, database)
    server.should_exit = True
    thread.join(timeout=10)
    database.dispose()


@dataclass
class ScimTarget:
    url: str
    token: str
    traffic: Any = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        with self.client() as client:
            body = client.get(f"/{resource_type}", params={"count": "1000"}).json()
        return list(body.get("Resources") or [])


@pytest.fixture
def scim_target() -> Iterator[ScimTarget]:
    """A real scim2-server over HTTP, tolerating Entra-style PATCH, behind a bearer token; it
    records its traffic and can be told to fail (`traffic.faults`)."""
    from tests.scim_target import Traffic, start_scim_server

    token = "scim-" + uuid.uuid4().hex
    traffic = Traffic()
    url, stop = start_scim_server(token, traffic)
    yield ScimTarget(url, token, traffic)
    stop()
