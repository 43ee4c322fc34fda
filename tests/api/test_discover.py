"""POST .../schema/directories/{id}/discover over real HTTP, against the real scim2-server and a
scripted server that misbehaves, for jobs, service-principal templates and application templates."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest
from tests.api.helpers import SyncPaths, assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer, ScimTarget, free_port
from tests.scripted_server import Answer, json_answer, scripted_server

from provisiond.graph.synchronization import DirectoryDefinition
from provisiond.services import templates

SCIM_DIRECTORY_ID = templates.SCIM_DIRECTORY_ID
AAD_DIRECTORY_ID = templates.AAD_DIRECTORY_ID
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


App = SyncPaths


def _app(server: LiveServer, base_address: str | None, token: str = "") -> App:
    with server.client() as client:
        created = make_app(client)
        sp_id = created["servicePrincipal"]["id"]
        job_id = make_job(client, sp_id)["id"]
        if base_address is not None:
            secrets = [{"key": "BaseAddress", "value": base_address}, {"key": "SecretToken", "value": token}]
            assert (
                client.put(
                    f"/servicePrincipals/{sp_id}/synchronization/secrets", json={"value": secrets}
                ).status_code
                == 204
            )
    return App(sp_id, created["application"]["id"], job_id)


def _discover(
    client: httpx.Client, schema_path: str, directory_id: str = SCIM_DIRECTORY_ID
) -> httpx.Response:
    return client.post(f"{schema_path}/schema/directories/{directory_id}/discover")


def _directory(schema: dict[str, Any], name: str = "customappsso") -> dict[str, Any]:
    return next(d for d in schema["directories"] if d["name"] == name)


def _attribute_names(directory: dict[str, Any], object_name: str) -> set[str]:
    obj = next(o for o in directory["objects"] if o["name"] == object_name)
    return {a["name"] for a in obj["attributes"]}


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_discovering_a_job_target_refreshes_its_definition_and_keeps_the_mappings(
    live_server: LiveServer, scim_target: ScimTarget, version: str
) -> None:
    app = _app(live_server, scim_target.url, scim_target.token)
    with live_server.client(version=version) as client:
        job_before = client.get(app.job).json()
        schema_before = client.get(f"{app.job}/schema").json()
        response = _discover(client, app.job)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"] == (
            f"{live_server.url}/{version}/$metadata#servicePrincipals('{app.sp_id}')/synchronization/"
            f"jobs('{app.job_id}')/schema/directories/$entity"
        )
        schema_after = client.get(f"{app.job}/schema").json()
        job_after = client.get(app.job).json()
    directory = {k: v for k, v in body.items() if k != "@odata.context"}
    DirectoryDefinition.model_validate(directory)
    assert directory["id"] == SCIM_DIRECTORY_ID and directory["name"] == "customappsso"
    assert (
        directory["discoverabilities"]
        == "AttributeNames, AttributeDataTypes, AttributeReadOnly, ReferenceAttributes"
    )
    assert directory["discoveryDateTime"] is not None and directory["version"]
    assert {'ims[type eq "skype"].value', "nickName", ENTERPRISE + ":costCenter"} <= _attribute_names(
        directory, ENTERPRISE
    )
    # Persisted in the job's schema, with a new schema version; rules and the source are untouched.
    assert _directory(schema_after) == directory
    assert schema_after["version"] != schema_before["version"]
    assert schema_after["synchronizationRules"] == schema_before["synchronizationRules"]
    assert _directory(schema_after, "Azure Active Directory") == _directory(
        schema_before, "Azure Active Directory"
    )
    assert job_after == job_before
    with live_server.client(version=version) as client:
        one = client.get(f"{app.job}/schema/directories/{SCIM_DIRECTORY_ID}").json()
    assert {k: v for k, v in one.items() if k != "@odata.context"} == directory


def test_discover_leaves_the_watermark_and_a_running_cycle_alone(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    from sqlalchemy import select, update

    from provisiond.store.tables import sync_jobs

    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.db.transaction() as conn:
        conn.execute(update(sync_jobs).where(sync_jobs.c.id == app.job_id).values(watermark=41))
    with sqlite_server.db.read() as conn:
        before = dict(conn.execute(select(sync_jobs).where(sync_jobs.c.id == app.job_id)).mappings().one())
    with sqlite_server.client() as client:
        assert _discover(client, app.job).status_code == 200
    with sqlite_server.db.read() as conn:
        after = dict(conn.execute(select(sync_jobs).where(sync_jobs.c.id == app.job_id)).mappings().one())
    assert (after["watermark"], after["generation"]) == (41, before["generation"])
    assert after["schema_version"] == before["schema_version"] + 1


def test_discovering_a_service_principal_template_stores_the_customised_template_schema(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client() as client:
        before = client.get(f"{app.sp_template}/schema").json()
        response = _discover(client, app.sp_template, "customappsso")
        assert response.status_code == 200, response.text
        assert response.json()["@odata.context"].endswith(
            f"#servicePrincipals('{app.sp_id}')/synchronization/templates('scim')/schema/directories/$entity"
        )
        after = client.get(f"{app.sp_template}/schema").json()
        via_application = client.get(f"{app.app_template}/schema").json()
        job_schema = client.get(f"{app.job}/schema").json()
    assert _directory(after)["discoveryDateTime"] is not None
    assert after["version"] == "2.0" and before["version"] == "1.0"
    assert after["synchronizationRules"] == before["synchronizationRules"]
    assert _directory(via_application) == _directory(after)
    # An existing job keeps its own copy of the schema.
    assert _directory(job_schema)["discoveryDateTime"] is None


def test_discovering_an_application_template_answers_with_the_application_context(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client(version="beta") as client:
        response = _discover(client, app.app_template)
        assert response.status_code == 200, response.text
        assert response.json()["@odata.context"].endswith(
            f"#applications('{app.app_object_id}')/synchronization/templates('scim')/schema/directories/$entity"
        )
        stored = client.get(f"{app.sp_template}/schema").json()
    assert _directory(stored)["version"] == response.json()["version"]


def test_a_directory_id_also_matches_the_directory_name_in_any_case(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client() as client:
        response = _discover(client, app.job, "CustomAppSSO")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == SCIM_DIRECTORY_ID


# --- nothing changes when discovery cannot happen ------------------------------------------------


def _refused_and_unchanged(
    server: LiveServer, app: App, path: str, directory_id: str, status: int, code: str
) -> str:
    with server.client() as client:
        before = store_snapshot(server.db)
        template_before = client.get(f"{app.sp_template}/schema").json()
        error = assert_graph_error(_discover(client, path, directory_id), status, code)
        assert client.get(f"{app.sp_template}/schema").json() == template_before
    assert store_snapshot(server.db) == before
    return str(error["message"])


@pytest.mark.parametrize("parent", ["job", "sp_template", "app_template"])
def test_the_source_directory_cannot_be_discovered(
    sqlite_server: LiveServer, scim_target: ScimTarget, parent: str
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    message = _refused_and_unchanged(
        sqlite_server, app, getattr(app, parent), AAD_DIRECTORY_ID, 400, "DirectoryNotDiscoverable"
    )
    assert "'Azure Active Directory' cannot be discovered" in message
    assert "'customappsso'" in message
    assert scim_target.traffic.requests == []


def test_an_inbound_job_has_nothing_to_discover(sqlite_server: LiveServer, scim_target: ScimTarget) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client() as client:
        inbound = make_job(client, app.sp_id, "API2AAD")
        for directory_id in (templates.API_DIRECTORY_ID, AAD_DIRECTORY_ID):
            before = store_snapshot(sqlite_server.db)
            response = _discover(client, f"{app.sync}/jobs/{inbound['id']}", directory_id)
            assert_graph_error(response, 400, "DirectoryNotDiscoverable")
            assert store_snapshot(sqlite_server.db) == before


def test_without_saved_secrets_discovery_asks_for_them(sqlite_server: LiveServer) -> None:
    app = _app(sqlite_server, None)
    message = _refused_and_unchanged(
        sqlite_server,
        app,
        app.job,
        SCIM_DIRECTORY_ID,
        400,
        "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable",
    )
    assert "BaseAddress" in message


def test_a_wrong_secret_token_is_invalid_credentials(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, "wrong")
    message = _refused_and_unchanged(
        sqlite_server,
        app,
        app.job,
        SCIM_DIRECTORY_ID,
        400,
        "SystemForCrossDomainIdentityManagementInvalidCredentials",
    )
    assert "401" in message and "SecretToken" in message


def test_an_address_that_is_not_a_scim_service_gets_one_answer_whatever_it_speaks(
    sqlite_server: LiveServer,
) -> None:
    # Nothing listening, a port that does not speak HTTP, an HTTP server that is not SCIM: the
    # same code and message, so discover cannot be used to map the network.
    closed = f"http://127.0.0.1:{free_port()}/scim"
    with socket.create_server(("127.0.0.1", 0)) as not_http:
        stop = threading.Event()

        def babble() -> None:
            not_http.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = not_http.accept()
                except OSError:
                    continue
                with conn:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        thread = threading.Thread(target=babble, daemon=True)
        thread.start()
        try:
            with scripted_server(
                {"/scim/ResourceTypes": Answer(404, b"<html>Not Found</html>", "text/html")}
            ) as web:
                messages = set()
                for base in (closed, f"http://127.0.0.1:{not_http.getsockname()[1]}/scim", web.url):
                    app = _app(sqlite_server, base, "token")
                    messages.add(
                        _refused_and_unchanged(
                            sqlite_server,
                            app,
                            app.sp_template,
                            SCIM_DIRECTORY_ID,
                            400,
                            "SystemForCrossDomainIdentityManagementServiceIncompatible",
                        ).replace(base, "<base>")
                    )
        finally:
            stop.set()
            thread.join(timeout=5)
    [message] = messages
    assert "does not answer as a SCIM 2.0 service" in message


@pytest.mark.parametrize(
    ("schemas", "says"),
    [
        (Answer(200, b"not json", "text/plain"), "did not answer with JSON"),
        (json_answer({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}), "totalResults"),
        (Answer(500, b"{}"), "answered HTTP 500"),
    ],
)
def test_malformed_schemas_are_service_incompatible(
    sqlite_server: LiveServer, schemas: Answer, says: str
) -> None:
    resource_types = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 1,
        "Resources": [
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            }
        ],
    }
    script = {"/scim/ResourceTypes": json_answer(resource_types), "/scim/Schemas": schemas}
    with scripted_server(script) as target:
        app = _app(sqlite_server, target.url, "token")
        message = _refused_and_unchanged(
            sqlite_server,
            app,
            app.job,
            SCIM_DIRECTORY_ID,
            400,
            "SystemForCrossDomainIdentityManagementServiceIncompatible",
        )
        assert [path for _, path, _ in target.requests] == ["/scim/ResourceTypes", "/scim/Schemas"]
    assert says in message and "/Schemas" in message


def test_an_unknown_directory_job_or_template_is_404(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client() as client:
        assert_graph_error(_discover(client, app.job, "no-such-directory"), 404)
        assert_graph_error(_discover(client, f"{app.sync}/jobs/scim.nope"), 404)
        assert_graph_error(_discover(client, f"{app.sync}/templates/nope"), 404)
    assert scim_target.traffic.requests == []


def test_an_application_token_with_directory_read_write_all_may_discover(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client(sqlite_server.token(roles=["Synchronization.ReadWrite.All"])) as client:
        assert_graph_error(_discover(client, app.job), 403)
    with sqlite_server.client(sqlite_server.token(roles=["Directory.ReadWrite.All"])) as client:
        assert _discover(client, app.job).status_code == 200


def test_a_discovered_job_schema_can_be_put_back_as_read(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    """The runbook flow: discover, GET the schema, PUT it back (with an edit elsewhere)."""
    app = _app(sqlite_server, scim_target.url, scim_target.token)
    with sqlite_server.client() as client:
        discovered = _discover(client, app.job).json()
        schema = client.get(f"{app.job}/schema").json()
        response = client.put(f"{app.job}/schema", json=schema)
        assert response.status_code == 204, response.text
        stored = client.get(f"{app.job}/schema").json()
    assert _directory(stored)["version"] == discovered["version"]
    assert _directory(stored)["objects"] == discovered["objects"]
