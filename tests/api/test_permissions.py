"""Who may call the synchronization API (reference §5): scopes, roles, directory roles, ownership.

Every refusal is a 403 Graph envelope that names what is missing and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from tests.api.helpers import SyncPaths, assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer

CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
HYBRID_IDENTITY_ADMINISTRATOR = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
AAD_DIRECTORY_ID = "66e4a8cc-1b7b-435e-95f8-f06cea133828"
READ_WRITE = "Synchronization.ReadWrite.All"
READ = "Synchronization.Read.All"
OWNED_BY = "Application.ReadWrite.OwnedBy"
UPLOAD = "SynchronizationData-User.Upload"
BULK_BODY = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []})
SCIM_JSON = {"Content-Type": "application/scim+json"}


Target = SyncPaths


@dataclass
class Caller:
    """Another app registered in the tenant, calling with an app-only token."""

    app_object_id: str
    app_id: str
    sp_id: str


def make_target(server: LiveServer) -> Target:
    with server.client() as client:
        created = make_app(client)
        sp_id = created["servicePrincipal"]["id"]
        return Target(sp_id, created["application"]["id"], make_job(client, sp_id)["id"])


def make_caller(server: LiveServer, with_service_principal: bool = True) -> Caller:
    with server.client() as client:
        app = client.post("/applications", json={"displayName": "Provisioning automation"})
        assert app.status_code == 201, app.text
        sp_id = ""
        if with_service_principal:
            sp = client.post("/servicePrincipals", json={"appId": app.json()["appId"]})
            assert sp.status_code == 201, sp.text
            sp_id = sp.json()["id"]
    return Caller(app.json()["id"], app.json()["appId"], sp_id)


def add_owner(server: LiveServer, owned_path: str, owner_id: str) -> None:
    with server.client() as client:
        response = client.post(
            f"{owned_path}/owners/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{owner_id}"},
        )
        assert response.status_code == 204, response.text


@pytest.fixture
def target(sqlite_server: LiveServer) -> Target:
    return make_target(sqlite_server)


@pytest.fixture
def live_target(live_server: LiveServer) -> Target:
    return make_target(live_server)


def schedule_state(server: LiveServer, target: Target) -> str:
    with server.client() as client:
        return str(client.get(target.job).json()["schedule"]["state"])


def assert_forbidden_and_unchanged(
    server: LiveServer, client: httpx.Client, method: str, url: str, **kwargs: object
) -> str:
    """The call is a 403 envelope that changes nothing; returns its message."""
    before = store_snapshot(server.db)
    error = assert_graph_error(client.request(method, url, **kwargs), 403, "Authorization_RequestDenied")  # type: ignore[arg-type]
    assert error["message"].startswith("Insufficient privileges to complete the operation.")
    assert store_snapshot(server.db) == before
    return str(error["message"])


# Delegated calls need a directory role


def test_a_delegated_call_without_an_admin_directory_role_is_403_naming_the_roles(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(scopes=[READ_WRITE])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(sqlite_server, client, "POST", f"{target.job}/start")
        assert message.endswith(
            "The signed-in user must hold one of these directory roles: Application Administrator, "
            "Cloud Application Administrator, Global Administrator, Hybrid Identity Administrator."
        )
        assert_forbidden_and_unchanged(sqlite_server, client, "GET", f"{target.sync}/jobs")
    assert schedule_state(sqlite_server, target) == "Disabled"


def test_a_delegated_call_with_an_unrelated_directory_role_is_403(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(scopes=[READ_WRITE], wids=[USER_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(sqlite_server, client, "POST", f"{target.job}/start")
        assert "Cloud Application Administrator" in message


@pytest.mark.parametrize(
    "role",
    [
        CLOUD_APPLICATION_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
        HYBRID_IDENTITY_ADMINISTRATOR,
        GLOBAL_ADMINISTRATOR,
    ],
)
def test_a_delegated_call_by_a_sync_administrator_is_allowed(
    sqlite_server: LiveServer, target: Target, role: str
) -> None:
    token = sqlite_server.token(scopes=[READ_WRITE], wids=[role])
    with sqlite_server.client(token) as client:
        assert client.post(f"{target.job}/start").status_code == 204
        assert client.get(f"{target.sync}/jobs").status_code == 200
    assert schedule_state(sqlite_server, target) == "Active"


def test_directory_role_ids_match_in_any_case(sqlite_server: LiveServer, target: Target) -> None:
    token = sqlite_server.token(scopes=[READ_WRITE], wids=[CLOUD_APPLICATION_ADMINISTRATOR.upper()])
    with sqlite_server.client(token) as client:
        assert client.post(f"{target.job}/start").status_code == 204


# Read versus read-write


def test_synchronization_read_all_reads_but_cannot_write(sqlite_server: LiveServer, target: Target) -> None:
    token = sqlite_server.token(scopes=[READ], wids=[CLOUD_APPLICATION_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        for path in (
            f"{target.sync}/jobs",
            target.job,
            f"{target.job}/schema",
            f"{target.sync}/templates",
            f"{target.sync}/templates/scim/schema",
            f"{target.app_sync}/templates",
            f"{target.sync}/secrets",
        ):
            assert client.get(path).status_code == 200, path
        for method, path, body in (
            ("POST", f"{target.job}/start", None),
            ("POST", f"{target.job}/pause", None),
            ("POST", f"{target.job}/restart", None),
            ("DELETE", target.job, None),
            ("POST", f"{target.sync}/jobs", {"templateId": "API2AAD"}),
            (
                "PUT",
                f"{target.sync}/secrets",
                {"value": [{"key": "BaseAddress", "value": "https://x.example"}]},
            ),
            ("PUT", f"{target.job}/schema", {}),
            ("DELETE", f"{target.job}/schema", None),
            ("PATCH", f"{target.app_sync}/templates/scim", {}),
        ):
            message = assert_forbidden_and_unchanged(sqlite_server, client, method, path, json=body)
            assert message.endswith(f"Missing delegated permission: one of {READ_WRITE}."), (method, path)
    assert schedule_state(sqlite_server, target) == "Disabled"


def test_a_token_without_any_synchronization_permission_is_403_naming_the_accepted_ones(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(scopes=["User.ReadWrite.All"], wids=[CLOUD_APPLICATION_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(sqlite_server, client, "GET", f"{target.sync}/jobs")
    assert message.endswith(f"Missing delegated permission: one of {READ}, {READ_WRITE}.")


def test_a_call_without_a_token_is_401(sqlite_server: LiveServer, target: Target) -> None:
    response = httpx.post(f"{sqlite_server.url}/v1.0{target.job}/start")
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert schedule_state(sqlite_server, target) == "Disabled"


# Application permissions


def test_an_app_token_with_synchronization_read_write_all_is_allowed(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(roles=[READ_WRITE])
    with sqlite_server.client(token) as client:
        assert client.post(f"{target.job}/start").status_code == 204
        assert client.get(target.job).json()["schedule"]["state"] == "Active"
        assert client.patch(target.job, json={"schedule": {"interval": "PT1H"}}).status_code == 204


def test_an_app_token_with_synchronization_read_all_cannot_write(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(roles=[READ])
    with sqlite_server.client(token) as client:
        assert client.get(target.job).status_code == 200
        message = assert_forbidden_and_unchanged(sqlite_server, client, "POST", f"{target.job}/start")
    assert message.endswith(f"Missing application permission: one of {OWNED_BY}, {READ_WRITE}.")


def test_application_read_write_owned_by_is_403_when_the_caller_owns_nothing(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        for method, path in (
            ("GET", f"{live_target.sync}/jobs"),
            ("GET", live_target.job),
            ("POST", f"{live_target.job}/start"),
            ("GET", f"{live_target.app_sync}/templates"),
        ):
            message = assert_forbidden_and_unchanged(live_server, client, method, path)
            assert f"'{caller.app_id}'" in message
            assert OWNED_BY in message
    assert schedule_state(live_server, live_target) == "Disabled"


def test_application_read_write_owned_by_is_403_for_an_app_without_a_service_principal(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server, with_service_principal=False)
    add_owner(live_server, f"/servicePrincipals/{live_target.sp_id}", make_caller(live_server).sp_id)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        assert_forbidden_and_unchanged(live_server, client, "POST", f"{live_target.job}/start")


def test_application_read_write_owned_by_is_allowed_on_an_owned_service_principal(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server)
    add_owner(live_server, f"/servicePrincipals/{live_target.sp_id}", caller.sp_id)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        assert client.get(f"{live_target.sync}/jobs").status_code == 200
        assert client.post(f"{live_target.job}/start").status_code == 204
        assert client.get(live_target.job).json()["schedule"]["state"] == "Active"
        assert client.post(f"{live_target.job}/restart").status_code == 204


def test_application_read_write_owned_by_is_allowed_through_the_owned_application(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server)
    add_owner(live_server, f"/applications/{live_target.app_object_id}", caller.sp_id)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        assert client.post(f"{live_target.job}/start").status_code == 204
        assert client.get(live_target.job).json()["schedule"]["state"] == "Active"
        assert client.get(f"{live_target.app_sync}/templates").status_code == 200
        assert client.get(f"{live_target.app_sync}/templates/scim/schema").status_code == 200


def test_owning_one_service_principal_gives_nothing_on_another(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server)
    other = make_target(live_server)
    add_owner(live_server, f"/servicePrincipals/{other.sp_id}", caller.sp_id)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        assert client.post(f"{other.job}/start").status_code == 204
        assert_forbidden_and_unchanged(live_server, client, "POST", f"{live_target.job}/start")
    assert schedule_state(live_server, live_target) == "Disabled"


def test_patching_a_job_is_not_covered_by_owned_by(live_server: LiveServer, live_target: Target) -> None:
    caller = make_caller(live_server)
    add_owner(live_server, f"/servicePrincipals/{live_target.sp_id}", caller.sp_id)
    token = live_server.token(roles=[OWNED_BY], app_id=caller.app_id)
    with live_server.client(token) as client:
        message = assert_forbidden_and_unchanged(
            live_server, client, "PATCH", live_target.job, json={"schedule": {"interval": "PT1H"}}
        )
    assert message.endswith(f"Missing application permission: one of {READ_WRITE}.")


# discover needs Directory.ReadWrite.All


def test_discover_needs_directory_read_write_all(sqlite_server: LiveServer, target: Target) -> None:
    url = f"{target.job}/schema/directories/{AAD_DIRECTORY_ID}/discover"
    token = sqlite_server.token(scopes=[READ_WRITE], wids=[CLOUD_APPLICATION_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(sqlite_server, client, "POST", url)
    assert message.endswith("Missing delegated permission: one of Directory.ReadWrite.All.")
    token = sqlite_server.token(scopes=["Directory.ReadWrite.All"], wids=[CLOUD_APPLICATION_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        # Past the permission check: the source directory is refused for what it is.
        assert_graph_error(client.post(url), 400, "DirectoryNotDiscoverable")


# bulkUpload needs SynchronizationData-User.Upload


def test_bulk_upload_without_the_upload_permission_is_403_naming_it(
    sqlite_server: LiveServer, target: Target
) -> None:
    with sqlite_server.client() as client:  # the admin token: everything but the upload permission
        message = assert_forbidden_and_unchanged(
            sqlite_server, client, "POST", f"{target.job}/bulkUpload", content=BULK_BODY, headers=SCIM_JSON
        )
    assert message.endswith(f"Missing delegated permission: one of {UPLOAD}.")
    token = sqlite_server.token(roles=[READ_WRITE])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(
            sqlite_server, client, "POST", f"{target.job}/bulkUpload", content=BULK_BODY, headers=SCIM_JSON
        )
    assert message.endswith(f"Missing application permission: one of {UPLOAD}, {UPLOAD}.OwnedBy.")


def test_bulk_upload_by_a_user_needs_the_global_administrator_role(
    sqlite_server: LiveServer, target: Target
) -> None:
    token = sqlite_server.token(scopes=[UPLOAD], wids=[APPLICATION_ADMINISTRATOR])
    with sqlite_server.client(token) as client:
        message = assert_forbidden_and_unchanged(
            sqlite_server, client, "POST", f"{target.job}/bulkUpload", content=BULK_BODY, headers=SCIM_JSON
        )
    assert message.endswith("one of these directory roles: Global Administrator.")


@pytest.mark.parametrize("delegated", [True, False], ids=["delegated", "application"])
def test_bulk_upload_with_the_upload_permission_passes_the_permission_check(
    sqlite_server: LiveServer, target: Target, delegated: bool
) -> None:
    token = (
        sqlite_server.token(scopes=[UPLOAD], wids=[GLOBAL_ADMINISTRATOR])
        if delegated
        else sqlite_server.token(roles=[UPLOAD])
    )
    with sqlite_server.client(token) as client:
        response = client.post(f"{target.job}/bulkUpload", content=BULK_BODY, headers=SCIM_JSON)
        # Past the permission check: an outbound (scim) job refuses uploads for what it is.
        error = assert_graph_error(response, 400, "InvalidRequest")
        assert "API2AAD" in error["message"]


def test_bulk_upload_with_upload_owned_by_needs_ownership(
    live_server: LiveServer, live_target: Target
) -> None:
    caller = make_caller(live_server)
    token = live_server.token(roles=[f"{UPLOAD}.OwnedBy"], app_id=caller.app_id)
    url = f"{live_target.job}/bulkUpload"
    with live_server.client(token) as client:
        assert_forbidden_and_unchanged(live_server, client, "POST", url, content=BULK_BODY, headers=SCIM_JSON)
        add_owner(live_server, f"/servicePrincipals/{live_target.sp_id}", caller.sp_id)
        response = client.post(url, content=BULK_BODY, headers=SCIM_JSON)
        assert_graph_error(response, 400, "InvalidRequest")
