"""The preview routes (api/routes/preview.py) as a client meets them, on both databases: where
they are served, who may call them, and bad input, which gets a Graph error and creates no
preview. What a preview computes is tested against real cycles in tests/engine/test_preview.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job, make_user, store_snapshot
from tests.api.test_bulk_upload import make_inbound_job
from tests.conftest import LiveServer, ScimTarget

from provisiond.graph.odata import encode_skiptoken


class Job:
    def __init__(self, server: LiveServer, scim: ScimTarget) -> None:
        self.client = server.client()
        app = make_app(self.client)
        self.app_object_id = app["application"]["id"]
        self.sp_id = app["servicePrincipal"]["id"]
        self.job_id = make_job(self.client, self.sp_id)["id"]
        secrets = {
            "value": [{"key": "BaseAddress", "value": scim.url}, {"key": "SecretToken", "value": scim.token}]
        }
        assert self.client.put(f"{self.sync}/secrets", json=secrets).status_code == 204

    @property
    def sync(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization"

    @property
    def url(self) -> str:
        return f"{self.sync}/jobs/{self.job_id}"


@pytest.fixture
def job(live_server: LiveServer, scim_target: ScimTarget) -> Job:
    return Job(live_server, scim_target)


@pytest.mark.parametrize("version", ["v1.0", "beta"])
@pytest.mark.parametrize("parent", ["servicePrincipals", "applications"])
def test_preview_is_served_under_both_parents_and_versions(
    live_server: LiveServer, job: Job, version: str, parent: str
) -> None:
    client = live_server.client(version=version)
    owner = job.sp_id if parent == "servicePrincipals" else job.app_object_id
    url = f"/{parent}/{owner}/synchronization/jobs/{job.job_id}"
    response = client.post(f"{url}/preview")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["@odata.context"].endswith(f"/{version}/$metadata#synchronizationPreview/$entity")
    assert response.headers["Content-Location"].endswith(f"{url}/previews/{body['id']}")
    again = client.get(f"{url}/previews/{body['id']}")
    assert again.status_code == 200 and again.json()["counts"] == body["counts"]
    assert client.get(f"{url}/previews/{body['id']}/actions").json()["value"] == []


def test_the_actions_page_with_top_and_skiptoken(live_server: LiveServer, job: Job) -> None:
    for i in range(3):
        make_user(job.client, f"u{i}")
    secrets = {"value": [{"key": "SyncAll", "value": "true"}]}
    assert job.client.put(f"{job.sync}/secrets", json=secrets).status_code == 204
    preview = job.client.post(f"{job.url}/preview").json()
    assert next(c for c in preview["counts"] if c["objectType"] == "User")["create"] == 3
    url: str | None = f"{job.url}/previews/{preview['id']}/actions?$top=2&$filter=action eq 'create'"
    pages = []
    while url:
        page = job.client.get(url).json()
        pages.append(page["value"])
        url = page.get("@odata.nextLink")
    assert [len(p) for p in pages] == [2, 1]
    names = sorted(a["displayName"] for p in pages for a in p)
    assert names == ["u0@contoso.example", "u1@contoso.example", "u2@contoso.example"]
    created = pages[0][0]
    assert created["targetId"] is None  # the app has not assigned one yet
    assert {"displayName": "userName", "oldValue": None, "newValue": created["displayName"]} in created[
        "modifiedProperties"
    ]


def test_a_caller_who_may_not_restart_may_not_preview(live_server: LiveServer, job: Job) -> None:
    reader = live_server.client(live_server.token(scopes=["Synchronization.Read.All"], wids=[]))
    assert_graph_error(reader.post(f"{job.url}/preview"), 403, "Authorization_RequestDenied")
    preview = job.client.post(f"{job.url}/preview").json()
    assert_graph_error(reader.get(f"{job.url}/previews/{preview['id']}"), 403)
    anonymous = httpx.Client(base_url=f"{live_server.url}/v1.0")
    assert_graph_error(anonymous.post(f"{job.url}/preview"), 401, "InvalidAuthenticationToken")


BAD_BODIES = [
    pytest.param(b"{not json", "BadRequest", id="malformed-json"),
    pytest.param(b"[]", "BadRequest", id="not-an-object"),
    pytest.param(b'{"criteria": {"resetScope": "Everything"}}', "BadRequest", id="unknown-flag"),
    pytest.param(b'{"criteria": {"resetScope": true}}', "BadRequest", id="wrong-type"),
    pytest.param(b'{"criteria": "Watermark"}', "BadRequest", id="criteria-not-object"),
    pytest.param(b'{"unknown": 1}', "BadRequest", id="unknown-property"),
    pytest.param(b'{"schema": {"synchronizationRules": "x"}}', "BadRequest", id="schema-wrong-type"),
    pytest.param(b'{"schema": 5}', "BadRequest", id="schema-not-object"),
    pytest.param(b'{"criteria": {"resetScope": "Watermark\\u0000"}}', "BadRequest", id="nul"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
def test_bad_input_is_refused_and_creates_no_preview(
    live_server: LiveServer, job: Job, body: bytes, code: str
) -> None:
    before = store_snapshot(live_server.db)
    response = job.client.post(
        f"{job.url}/preview", content=body, headers={"Content-Type": "application/json"}
    )
    assert_graph_error(response, 400, code)
    assert store_snapshot(live_server.db) == before


def test_an_invalid_schema_is_refused_as_put_schema_refuses_it(live_server: LiveServer, job: Job) -> None:
    schema = job.client.get(f"{job.url}/schema").json()
    schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0]["source"] = {
        "expression": "Join(",
        "type": "Function",
        "name": "Join",
    }
    put = job.client.put(f"{job.url}/schema", json=schema)
    preview = job.client.post(f"{job.url}/preview", json={"schema": schema})
    assert_graph_error(put, 400)
    assert_graph_error(preview, 400)
    assert preview.json()["error"]["message"] == put.json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("$top=0", "$top"),
        ("$top=abc", "$top"),
        ("$top=1001", "$top"),
        ("$skiptoken=nonsense", "skiptoken"),
        (f"$skiptoken={encode_skiptoken(['a'])}", "skiptoken"),
        ("$filter=displayName eq 'x'", "action eq"),
        ("$filter=action eq 'unchanged'", "action eq"),
        ("$orderby=action", "$orderby"),
    ],
)
def test_bad_paging_of_actions_is_refused(
    live_server: LiveServer, job: Job, query: str, message: str
) -> None:
    preview = job.client.post(f"{job.url}/preview").json()
    error = assert_graph_error(job.client.get(f"{job.url}/previews/{preview['id']}/actions?{query}"), 400)
    assert message in error["message"]


def test_unknown_jobs_and_previews_are_404(live_server: LiveServer, job: Job) -> None:
    assert_graph_error(job.client.post(f"{job.sync}/jobs/scim.nope.{'0' * 32}/preview"), 404)
    assert_graph_error(job.client.get(f"{job.url}/previews/00000000-0000-0000-0000-000000000000"), 404)
    other = make_app(job.client, "Other")
    preview = job.client.post(f"{job.url}/preview").json()
    # A preview is found only under its own job.
    other_job = make_job(job.client, other["servicePrincipal"]["id"])["id"]
    url = f"/servicePrincipals/{other['servicePrincipal']['id']}/synchronization/jobs/{other_job}"
    assert_graph_error(job.client.get(f"{url}/previews/{preview['id']}"), 404)


def test_a_preview_without_a_base_address_fails_with_the_reason(live_server: LiveServer) -> None:
    client = live_server.client()
    sp_id = make_app(client)["servicePrincipal"]["id"]
    job_id = make_job(client, sp_id)["id"]
    body: dict[str, Any] = client.post(
        f"/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/preview"
    ).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "CredentialsMissing"


def test_inbound_jobs_cannot_be_previewed(live_server: LiveServer) -> None:
    inbound = make_inbound_job(live_server)
    client = live_server.client()
    url = f"/servicePrincipals/{inbound.sp_id}/synchronization/jobs/{inbound.job_id}/preview"
    error = assert_graph_error(client.post(url), 400)
    assert "inbound" in error["message"]
