"""Small helpers for API tests: setting up an app with a job, and snapshotting the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from provisiond.store.changelog import last_seq
from provisiond.store.db import Database
from provisiond.store.tables import metadata

CUSTOM_SCIM_APP_TEMPLATE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"


def assert_graph_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a Graph error envelope with this status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("request-id")
    assert response.headers.get("client-request-id")
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "innerError"}
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def store_snapshot(db: Database) -> dict[str, Any]:
    """Row counts of every table plus the change log position: equal snapshots mean nothing changed."""
    with db.read() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
        counts["change_log_seq"] = last_seq(conn)
        from provisiond.store.tables import sync_jobs

        counts["jobs"] = [dict(r) for r in conn.execute(select(sync_jobs)).mappings()]
    return counts


def make_app(client: httpx.Client, name: str = "Contoso SCIM") -> dict[str, Any]:
    response = client.post(
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate", json={"displayName": name}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def make_job(client: httpx.Client, sp_id: str, template_id: str = "scim") -> dict[str, Any]:
    response = client.post(
        f"/servicePrincipals/{sp_id}/synchronization/jobs", json={"templateId": template_id}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def make_user(client: httpx.Client, nickname: str, **extra: Any) -> dict[str, Any]:
    body = {
        "accountEnabled": True,
        "displayName": nickname.title(),
        "mailNickname": nickname,
        "userPrincipalName": f"{nickname}@contoso.example",
        "passwordProfile": {"password": "Pa55word!"},
        **extra,
    }
    response = client.post("/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class SyncPaths:
    """The synchronization paths of one service principal, its application and one job."""

    sp_id: str
    app_object_id: str
    job_id: str

    @property
    def sync(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization"

    @property
    def job(self) -> str:
        return f"{self.sync}/jobs/{self.job_id}"

    @property
    def app_sync(self) -> str:
        return f"/applications/{self.app_object_id}/synchronization"

    @property
    def sp_template(self) -> str:
        return f"{self.sync}/templates/scim"

    @property
    def app_template(self) -> str:
        return f"{self.app_sync}/templates/scim"
