"""The tenant: tokens are accepted only with the instance's `tid`; the database keeps the tenant
it was made for, and a configuration naming another is refused. On both backends."""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import update
from tests.api.helpers import assert_graph_error, make_app, make_job
from tests.conftest import LiveServer, run_server

from provisiond.api.app import create_app
from provisiond.api.auth import mint_token
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.store.db import DEFAULT_TENANT_ID, Database, TenantMismatch
from provisiond.store.tables import instance


def _token(settings: Settings, tenant_id: str | None = None) -> str:
    return mint_token(settings, scopes=["User.Read.All"], tenant_id=tenant_id)


def _users(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {token}"})


def test_a_new_database_takes_the_default_tenant_and_job_ids_embed_it(live_server: LiveServer) -> None:
    assert live_server.db.tenant_id() == DEFAULT_TENANT_ID
    with live_server.client() as client:
        sp_id = make_app(client)["servicePrincipal"]["id"]
        job = make_job(client, sp_id)
    assert DEFAULT_TENANT_ID.replace("-", "") in job["id"]
    assert _users(live_server.url, _token(live_server.settings)).status_code == 200


def test_a_token_for_another_tenant_is_401_naming_both(live_server: LiveServer) -> None:
    other = str(uuid.uuid4())
    error = assert_graph_error(
        _users(live_server.url, _token(live_server.settings, tenant_id=other)),
        401,
        "InvalidAuthenticationToken",
    )
    assert other in error["message"] and DEFAULT_TENANT_ID in error["message"]
    upper = _token(live_server.settings, tenant_id=DEFAULT_TENANT_ID.upper())
    assert _users(live_server.url, upper).status_code == 200  # a GUID, whatever its case


def test_a_configured_tenant_is_written_and_only_its_tokens_pass(
    database_url: str, settings: Settings
) -> None:
    tenant = str(uuid.uuid4())
    configured = replace(settings, tenant_id=tenant.upper())
    assert configured.tenant_id == tenant  # canonical form
    db = Database(database_url)
    db.migrate()
    url, server, thread = run_server(create_app(configured, db, SystemClock()))
    try:
        assert db.tenant_id() == tenant
        assert _users(url, _token(configured)).status_code == 200
        assert_graph_error(_users(url, _token(settings)), 401, "InvalidAuthenticationToken")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_a_configuration_naming_another_tenant_than_the_database_is_refused(
    db: Database, settings: Settings
) -> None:
    assert db.tenant_id() == DEFAULT_TENANT_ID
    other = replace(settings, tenant_id=str(uuid.uuid4()))
    with pytest.raises(TenantMismatch, match=f"belongs to tenant {DEFAULT_TENANT_ID}"):
        create_app(other, db, SystemClock())
    assert db.tenant_id() == DEFAULT_TENANT_ID  # unchanged


def test_a_database_made_before_the_setting_keeps_its_tenant(db: Database, settings: Settings) -> None:
    legacy = str(uuid.uuid4())
    db.tenant_id()
    with db.transaction() as conn:  # as the random tenant of earlier releases
        conn.execute(update(instance).where(instance.c.key == "tenant_id").values(value=legacy))
    url, server, thread = run_server(create_app(settings, db, SystemClock()))
    try:
        assert _users(url, _token(settings, tenant_id=legacy)).status_code == 200
        error = assert_graph_error(_users(url, _token(settings)), 401, "InvalidAuthenticationToken")
        assert legacy in error["message"] and "PROVISIOND_TENANT_ID" in error["message"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with pytest.raises(TenantMismatch):
        db.tenant_id(DEFAULT_TENANT_ID)  # configured explicitly: a mismatch is an error


def test_a_tenant_id_that_is_not_a_guid_is_refused() -> None:
    with pytest.raises(ValueError, match="not a GUID"):
        Settings(tenant_id="contoso.onmicrosoft.com")
