"""Outbound reach under the operator's control (PROVISIOND_OUTBOUND_ALLOW), and validateCredentials
answers that do not map the network: everything that is not SCIM gets one answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job, make_user, store_snapshot
from tests.conftest import LiveServer, ScimTarget, free_port, run_server
from tests.scripted_server import Answer, scripted_server

from provisiond.api.app import create_app
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.connectors.outbound import REFUSED_CODE
from provisiond.store.db import Database

NOT_SCIM = "SystemForCrossDomainIdentityManagementServiceIncompatible"
INVALID_CREDENTIALS = "SystemForCrossDomainIdentityManagementInvalidCredentials"


def _server(settings: Settings, database_url: str, allow: str | None) -> Iterator[LiveServer]:
    db = Database(database_url)
    db.migrate()
    url, server, thread = run_server(create_app(replace(settings, outbound_allow=allow), db, SystemClock()))
    try:
        yield LiveServer(url, replace(settings, outbound_allow=allow), db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture
def guarded(settings: Settings, sqlite_url: str) -> Iterator[LiveServer]:
    """A server whose jobs may reach only 10.0.0.0/8 and scim.partner.example: not loopback."""
    yield from _server(settings, sqlite_url, "10.0.0.0/8 scim.partner.example")


def _secrets(base: str, token: str = "t") -> dict[str, Any]:
    return {"value": [{"key": "BaseAddress", "value": base}, {"key": "SecretToken", "value": token}]}


def _sync(client: httpx.Client) -> tuple[str, str]:
    app = make_app(client)
    sp_id = app["servicePrincipal"]["id"]
    return f"/servicePrincipals/{sp_id}/synchronization", make_job(client, sp_id)["id"]


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:7493/scim",
        "http://localhost:7493/scim",
        "http://[::1]/scim",
        "http://2130706433/scim",
    ],
)
def test_a_base_address_outside_the_policy_is_refused_and_not_saved(guarded: LiveServer, base: str) -> None:
    with guarded.client() as client:
        sync, _ = _sync(client)
        before = store_snapshot(guarded.db)
        for response in (
            client.put(f"{sync}/secrets", json=_secrets(base)),
            client.put(sync, json={"secrets": _secrets(base)["value"]}),
        ):
            error = assert_graph_error(response, 400, REFUSED_CODE)
            assert "not allowed" in error["message"] and "PROVISIOND_OUTBOUND_ALLOW" in error["message"]
        assert store_snapshot(guarded.db) == before
        assert client.get(f"{sync}/secrets").json()["value"] == []


def test_a_base_address_inside_the_policy_is_saved(guarded: LiveServer) -> None:
    with guarded.client() as client:
        sync, _ = _sync(client)
        for base in (
            "https://10.1.2.3/scim",
            "https://scim.partner.example/scim",
            "https://nowhere.invalid/scim",
        ):
            # a name that does not resolve yet is kept: every connection to it is checked
            assert client.put(f"{sync}/secrets", json=_secrets(base)).status_code == 204, base


def test_validate_credentials_and_discover_refuse_a_base_address_outside_the_policy(
    guarded: LiveServer, scim_target: ScimTarget
) -> None:
    with guarded.client() as client:
        sync, job_id = _sync(client)
        body = {"credentials": _secrets(scim_target.url, scim_target.token)["value"]}
        for path in (f"{sync}/jobs/{job_id}/validateCredentials", f"{sync}/jobs/validateCredentials"):
            error = assert_graph_error(
                client.post(path, json={**body, "templateId": "scim"}), 400, REFUSED_CODE
            )
            assert "127.0.0.1" in error["message"]
    assert scim_target.traffic.requests == []


def test_a_policy_tightened_after_the_secrets_were_saved_holds_for_discover_and_on_demand(
    settings: Settings, sqlite_url: str, scim_target: ScimTarget
) -> None:
    for server in _server(settings, sqlite_url, None):
        with server.client() as client:
            sync, job_id = _sync(client)
            assert (
                client.put(f"{sync}/secrets", json=_secrets(scim_target.url, scim_target.token)).status_code
                == 204
            )
            user = make_user(client, "ann")
            rule = client.get(f"{sync}/jobs/{job_id}/schema").json()["synchronizationRules"][0]["id"]
    for server in _server(settings, sqlite_url, "10.0.0.0/8"):
        with server.client() as client:
            discover = client.post(f"{sync}/jobs/{job_id}/schema/directories/customappsso/discover")
            assert_graph_error(discover, 400, REFUSED_CODE)
            on_demand = client.post(
                f"{sync}/jobs/{job_id}/provisionOnDemand",
                json={
                    "parameters": [
                        {"ruleId": rule, "subjects": [{"objectId": user["id"], "objectTypeName": "User"}]}
                    ]
                },
            )
            assert_graph_error(on_demand, 400, REFUSED_CODE)
    assert scim_target.traffic.requests == []


def test_the_engine_quarantines_a_job_whose_target_the_policy_refuses(
    settings: Settings, sqlite_url: str, scim_target: ScimTarget
) -> None:
    from tests.engine.helpers import provision, start_engine_server

    db = Database(sqlite_url)
    db.migrate()
    url, plain, thread = run_server(create_app(settings, db, SystemClock()))
    setup = provision(LiveServer(url, settings, db), scim_target, users=1, start=False)
    plain.should_exit = True
    thread.join(timeout=10)
    engine, stop = start_engine_server(replace(settings, outbound_allow="10.0.0.0/8"), db)
    try:
        setup.server = engine
        setup.client = engine.client()
        assert setup.client.post(f"{setup.job_url}/start").status_code == 204
        row = setup.wait_cycle(None)
    finally:
        stop()
        db.dispose()
    status = row["status"]
    assert status["code"] == "Quarantine"
    assert status["quarantine"]["error"]["code"] == REFUSED_CODE
    assert "not allowed" in status["quarantine"]["error"]["message"]
    assert scim_target.traffic.requests == []


# validateCredentials: one answer for everything that is not a SCIM service


def _closed_port() -> str:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return f"http://127.0.0.1:{port}/scim"


class _RawTcp:
    """A TCP service that is not HTTP: it greets (as SSH does) or hangs up at once."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/scim"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                if self.greeting:
                    conn.sendall(self.greeting)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def not_scim_endpoints() -> Iterator[dict[str, str]]:
    ssh = _RawTcp(b"SSH-2.0-OpenSSH_9.6\r\n")
    hangs_up = _RawTcp(b"")
    script = {"/scim/Users": Answer(200, b"<html>Welcome</html>", "text/html")}
    with scripted_server(script) as web, scripted_server({}) as missing:
        yield {
            "closed port": _closed_port(),
            "not HTTP (SSH banner)": ssh.url,
            "hangs up": hangs_up.url,
            "HTTP, not SCIM (HTML page)": web.url,
            "HTTP, not SCIM (404)": missing.url,
        }
    ssh.close()
    hangs_up.close()


def test_every_endpoint_that_is_not_scim_gets_the_same_answer(
    sqlite_server: LiveServer, not_scim_endpoints: dict[str, str]
) -> None:
    answers = {}
    with sqlite_server.client() as client:
        sync, job_id = _sync(client)
        for what, url in not_scim_endpoints.items():
            body = {"credentials": _secrets(url)["value"]}
            response = client.post(f"{sync}/jobs/{job_id}/validateCredentials", json=body)
            error = assert_graph_error(response, 400, NOT_SCIM)
            answers[what] = error["message"].replace(url, "<BaseAddress>")
    assert len(set(answers.values())) == 1, answers
    assert "SCIM 2.0 service" in next(iter(answers.values()))


def test_refused_credentials_stay_distinct(sqlite_server: LiveServer, scim_target: ScimTarget) -> None:
    with sqlite_server.client() as client:
        sync, job_id = _sync(client)
        body = {"credentials": _secrets(scim_target.url, "not-the-token")["value"]}
        response = client.post(f"{sync}/jobs/{job_id}/validateCredentials", json=body)
        assert_graph_error(response, 400, INVALID_CREDENTIALS)


def test_a_base_address_with_no_host_or_a_bad_port_is_refused_as_a_parameter(
    sqlite_server: LiveServer,
) -> None:
    with sqlite_server.client() as client:
        sync, job_id = _sync(client)
        for base in ("http:///scim", "https://host:99999/scim", "https://host:0/", "https://host:port/"):
            body = {"credentials": _secrets(base)["value"]}
            response = client.post(f"{sync}/jobs/{job_id}/validateCredentials", json=body)
            assert_graph_error(response, 400, "RequestParameterInvalid")
            assert_graph_error(
                client.put(f"{sync}/secrets", json=_secrets(base)), 400, "RequestParameterInvalid"
            )
