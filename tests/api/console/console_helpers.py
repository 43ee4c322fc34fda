"""Signing in to the console over plain HTTP, for the console's API-level tests."""

from __future__ import annotations

import re
from typing import Any

import httpx
from tests.conftest import APPLICATION_ADMINISTRATOR, LiveServer

from provisiond.api.console.identity import local_administrator
from provisiond.clock import SystemClock
from provisiond.services.console import ConsoleService

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
READ_ONLY = {"scp": "Synchronization.Read.All", "wids": [APPLICATION_ADMINISTRATOR], "oid": "reader"}


def link_for(server: LiveServer, claims: dict[str, Any] | None = None, name: str = "tester") -> str:
    """A one-time sign-in link of the server's console (the local administrator unless told)."""
    service = ConsoleService(server.db, SystemClock())
    token = service.create_signin_link(claims or local_administrator(), name)
    return f"{server.url}/console/signin?token={token}"


def signed_in(server: LiveServer, claims: dict[str, Any] | None = None) -> tuple[httpx.Client, str]:
    """A client holding a console session, and the session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30)
    answer = client.get(link_for(server, claims))
    assert answer.status_code == 200, answer.text
    home = client.get("/console")
    assert home.status_code == 200, home.text
    match = CSRF.search(home.text)
    assert match, home.text
    return client, match.group(1)
