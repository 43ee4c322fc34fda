"""`servicePrincipals(appId='...')` and `applications(appId='...')` (api/alternate_keys.py), on
both databases: the same answers as the object-id form, on the entity and under it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job
from tests.conftest import LiveServer


@pytest.fixture
def app(live_server: LiveServer) -> dict[str, Any]:
    return make_app(live_server.client())


def test_a_service_principal_by_app_id_is_the_one_by_object_id(
    live_server: LiveServer, app: dict[str, Any]
) -> None:
    client = live_server.client()
    sp = app["servicePrincipal"]
    by_id = client.get(f"/servicePrincipals/{sp['id']}").json()
    by_app_id = client.get(f"/servicePrincipals(appId='{sp['appId']}')")
    assert by_app_id.status_code == 200, by_app_id.text
    assert {k: v for k, v in by_app_id.json().items() if k != "@odata.context"} == {
        k: v for k, v in by_id.items() if k != "@odata.context"
    }
    # The key's name in any case, the value percent-encoded as clients send it.
    assert client.get(f"/servicePrincipals(APPID='{sp['appId']}')").status_code == 200
    assert client.get(f"/servicePrincipals(appId=%27{sp['appId']}%27)").status_code == 200


def test_paths_under_the_app_id_form_act_on_the_same_service_principal(
    live_server: LiveServer, app: dict[str, Any]
) -> None:
    client = live_server.client()
    sp = app["servicePrincipal"]
    keyed = f"/servicePrincipals(appId='{sp['appId']}')"
    job = make_job(client, sp["id"])
    jobs = client.get(f"{keyed}/synchronization/jobs")
    assert jobs.status_code == 200, jobs.text
    assert [j["id"] for j in jobs.json()["value"]] == [job["id"]]
    secrets = {"value": [{"key": "BaseAddress", "value": "https://scim.example/v2"}]}
    assert client.put(f"{keyed}/synchronization/secrets", json=secrets).status_code == 204
    shown = client.get(f"/servicePrincipals/{sp['id']}/synchronization/secrets").json()["value"]
    assert {"key": "BaseAddress", "value": "https://scim.example/v2"} in shown
    assert client.post(f"{keyed}/synchronization/jobs/{job['id']}/pause").status_code == 204
    assert (
        client.get(f"/servicePrincipals/{sp['id']}/synchronization/jobs/{job['id']}").json()["schedule"][
            "state"
        ]
        == "Paused"
    )
    assert client.get(f"{keyed}/owners").status_code == 200
    assert client.get(f"{keyed}/appRoleAssignedTo").status_code == 200
    assert client.delete(keyed).status_code == 204
    assert_graph_error(client.get(f"/servicePrincipals/{sp['id']}"), 404)
    assert_graph_error(client.get(keyed), 404, "Request_ResourceNotFound")


def test_an_application_by_app_id(live_server: LiveServer, app: dict[str, Any]) -> None:
    client = live_server.client(version="beta")
    application = app["application"]
    keyed = f"/applications(appId='{application['appId']}')"
    got = client.get(keyed)
    assert got.status_code == 200, got.text
    assert got.json()["id"] == application["id"]
    templates = client.get(f"{keyed}/synchronization/templates")
    assert templates.status_code == 200, templates.text


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/servicePrincipals(appId='00000000-0000-0000-0000-000000000001')", 404, "Request_ResourceNotFound"),
        ("/applications(appId='it''s not')/synchronization/templates", 404, "Request_ResourceNotFound"),
        ("/applications(uniqueName='contoso')", 400, "BadRequest"),
    ],
)
def test_unknown_and_unsupported_keys_are_graph_errors(
    live_server: LiveServer, path: str, status: int, code: str
) -> None:
    error = assert_graph_error(live_server.client().get(path), status, code)
    assert error["message"]


def test_the_key_form_needs_a_token_like_any_other_path(live_server: LiveServer, app: dict[str, Any]) -> None:
    anonymous = httpx.Client(base_url=f"{live_server.url}/v1.0")
    sp = app["servicePrincipal"]
    assert_graph_error(anonymous.get(f"/servicePrincipals(appId='{sp['appId']}')"), 401)
    # An unknown appId too: whether an appId exists is not told before the token is checked.
    assert_graph_error(anonymous.get("/servicePrincipals(appId='00000000-0000-0000-0000-000000000009')"), 401)
