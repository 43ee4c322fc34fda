"""Console sign-in over HTTP: one-time links, the session cookie, CSRF on every form, sign-out,
expiry, and a read-only identity's view and refused actions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from starlette.testclient import TestClient
from tests.api.console.console_helpers import READ_ONLY, link_for, signed_in
from tests.api.helpers import make_app, make_job, store_snapshot
from tests.conftest import LiveServer

from provisiond.api.app import create_app
from provisiond.api.console.identity import SESSION_COOKIE, local_administrator
from provisiond.clock import ManualClock
from provisiond.config import Settings
from provisiond.services.console import ConsoleService
from provisiond.store.db import Database


def _job(server: LiveServer) -> tuple[str, str]:
    with server.client() as api:
        sp_id = make_app(api)["servicePrincipal"]["id"]
        return sp_id, make_job(api, sp_id)["id"]


def test_a_console_link_signs_in_once_with_a_strict_httponly_cookie(sqlite_server: LiveServer) -> None:
    link = link_for(sqlite_server)
    with httpx.Client(timeout=30) as browser:
        assert browser.get(f"{sqlite_server.url}/console", follow_redirects=False).headers["location"] == (
            "/console/signin"
        )
        entered = browser.get(link)
        assert entered.status_code == 200
        cookie = entered.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # served over http
        assert 'http-equiv="refresh"' in entered.text  # moves on from a same-site page
        home = browser.get(f"{sqlite_server.url}/console")
        assert home.status_code == 200 and "Applications" in home.text
        assert "local" not in cookie and link.split("token=")[1] not in cookie
    with httpx.Client(timeout=30) as other:
        again = other.get(link)
        assert again.status_code == 400
        assert "not valid" in again.text
        assert "set-cookie" not in again.headers
        assert other.get(f"{sqlite_server.url}/console", follow_redirects=False).status_code == 303


def test_links_and_sessions_are_stored_hashed(sqlite_server: LiveServer) -> None:
    link = link_for(sqlite_server)
    token = link.split("token=")[1]
    client, _ = signed_in(sqlite_server)
    session_id = client.cookies[SESSION_COOKIE]
    with sqlite_server.db.read() as conn:
        dump = repr(
            [
                *conn.exec_driver_sql("SELECT * FROM console_grants"),
                *conn.exec_driver_sql("SELECT * FROM console_sessions"),
            ]
        )
    assert token not in dump and session_id not in dump
    client.close()


def test_the_cookie_is_secure_over_https(tmp_path: Path, settings: Settings) -> None:
    db = Database(f"sqlite+pysqlite:///{tmp_path / 'tls.db'}")
    db.migrate()
    app = create_app(settings, db)
    token = app.state.console.create_signin_link(local_administrator(), "admin")
    with TestClient(app, base_url="https://console.example") as client:
        answer = client.get(f"/console/signin?token={token}")
    assert answer.status_code == 200
    assert "Secure" in answer.headers["set-cookie"]
    db.dispose()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(sqlite_server: LiveServer) -> None:
    sp_id, job_id = _job(sqlite_server)
    client, csrf = signed_in(sqlite_server)
    path = f"/console/apps/{sp_id}/jobs/{job_id}"
    before = store_snapshot(sqlite_server.db)
    for form in ({}, {"csrf": ""}, {"csrf": csrf[:-2] + "xx"}):
        answer = client.post(f"{path}/start", data=form)
        assert answer.status_code == 403, answer.text
        assert "CSRF" in answer.text
    assert client.post(f"{path}/delete", data={"confirm": "yes"}).status_code == 403
    assert client.post("/console/signout").status_code == 403
    assert store_snapshot(sqlite_server.db) == before
    # The right token does it.
    answer = client.post(f"{path}/start", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    with sqlite_server.client() as api:
        assert api.get(f"/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}").json()["schedule"][
            "state"
        ] == ("Active")
    client.close()


def test_a_read_only_identity_sees_no_actions_and_its_posts_are_refused(sqlite_server: LiveServer) -> None:
    sp_id, job_id = _job(sqlite_server)
    client, csrf = signed_in(sqlite_server, READ_ONLY)
    path = f"/console/apps/{sp_id}/jobs/{job_id}"
    job_page = client.get(path)
    assert job_page.status_code == 200
    for action in ("/start", "/pause", "/restart", "/delete", "/secrets", "/test-connection"):
        assert f'action="{path}{action}"' not in job_page.text
    assert "Restart…" not in job_page.text
    before = store_snapshot(sqlite_server.db)
    for action in ("start", "pause", "restart", "delete", "secrets"):
        answer = client.post(
            f"{path}/{action}", data={"csrf": csrf, "confirm": "yes", "BaseAddress": "http://x.example"}
        )
        assert answer.status_code == 403, (action, answer.text)
        assert "Synchronization.ReadWrite.All" in answer.text
    assert store_snapshot(sqlite_server.db) == before
    client.close()


def test_sign_out_ends_the_session(sqlite_server: LiveServer) -> None:
    client, csrf = signed_in(sqlite_server)
    answer = client.post("/console/signout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert (
        f'{SESSION_COOKIE}=""' in answer.headers["set-cookie"] or "Max-Age=0" in answer.headers["set-cookie"]
    )
    old = client.cookies.get(SESSION_COOKIE)
    with httpx.Client(base_url=sqlite_server.url, cookies={SESSION_COOKIE: old or "x"}) as stale:
        assert stale.get("/console", follow_redirects=False).status_code == 303
    client.close()


def test_links_expire_and_sessions_end_when_idle_or_old(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    clock = ManualClock()
    service = ConsoleService(db, clock)
    token = service.create_signin_link(local_administrator(), "admin")
    clock.advance(timedelta(minutes=16))
    assert service.redeem_signin_link(token) is None
    token = service.create_signin_link(local_administrator(), "admin")
    assert service.redeem_signin_link(token) is not None
    assert service.redeem_signin_link(token) is None

    idle_id, _ = service.create_session(local_administrator(), "admin")
    busy_id, _ = service.create_session(local_administrator(), "admin")
    for _ in range(5):  # seen every 90 minutes for 7.5 hours: never idle for 2
        clock.advance(timedelta(minutes=90))
        assert service.session(busy_id) is not None
    assert service.session(idle_id) is None  # idle since sign-in
    clock.advance(timedelta(minutes=31))  # 8 hours after sign-in: the absolute limit
    assert service.session(busy_id) is None
    db.dispose()


def test_provisiond_console_link_prints_a_link_that_signs_in_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provisiond.cli import app
    from provisiond.clock import SystemClock

    data_dir = tmp_path / "data"
    result = CliRunner().invoke(app, ["console-link", "--data-dir", str(data_dir), "--port", "7777"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://127.0.0.1:7777/console/signin?token=")
    db = Database(f"sqlite+pysqlite:///{data_dir / 'provisiond.db'}")
    service = ConsoleService(db, SystemClock())
    identity = service.redeem_signin_link(link.split("token=")[1])
    assert identity is not None and identity["claims"]["wids"] == [local_administrator()["wids"][0]]
    assert service.redeem_signin_link(link.split("token=")[1]) is None
    db.dispose()
