"""The synchronization API over real HTTP: jobs, templates, lifecycle, schema, secrets, credentials.

State that must persist runs on SQLite and PostgreSQL (`live_server`); the rest on SQLite.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from tests.api.helpers import SyncPaths, assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer, ScimTarget, free_port

from provisiond.graph.job_state import status_from_wire, status_wire
from provisiond.graph.synchronization import SynchronizationJob
from provisiond.store import synchronization as sync_repo
from provisiond.store.db import Database
from provisiond.store.tables import sync_jobs, sync_secrets

AAD_DIRECTORY_ID = "66e4a8cc-1b7b-435e-95f8-f06cea133828"
ZERO_TENANT = "00000000000000000000000000000000"
NEVER = "0001-01-01T00:00:00Z"
SCIM_JOB_SETTINGS = [
    {"name": "AzureIngestionAttributeOptimization", "value": "False"},
    {"name": "LookaheadQueryEnabled", "value": "False"},
    {"name": "QuarantineTooManyDeletesThreshold", "value": "500"},
]
INITIAL_STATUS = {
    "code": "Paused",
    "countSuccessiveCompleteFailures": 0,
    "escrowsPruned": False,
    "lastExecution": None,
    "lastSuccessfulExecution": None,
    "lastSuccessfulExecutionWithExports": None,
    "progress": [],
    "quarantine": None,
    "steadyStateFirstAchievedTime": NEVER,
    "steadyStateLastAchievedTime": NEVER,
    "synchronizedEntryCountByType": [],
    "troubleshootingUrl": None,
}
QUARANTINE = {
    "currentBegan": "2024-05-01T10:00:00Z",
    "error": {
        "code": "SystemForCrossDomainIdentityManagementInvalidCredentials",
        "message": "The SCIM endpoint rejected the credentials.",
        "tenantActionable": True,
    },
    "nextAttempt": "2024-05-01T11:00:00Z",
    "reason": "EncounteredQuarantineException",
    "seriesBegan": "2024-05-01T10:00:00Z",
    "seriesCount": 1,
}
# Watermark | Escrows | QuarantineState: what an empty restart means.
PORTAL_RESTART = 14


@dataclass
class Provisioned(SyncPaths):
    app_id: str = ""


def provision(server: LiveServer, with_job: bool = True) -> Provisioned:
    with server.client() as client:
        created = make_app(client)
        sp_id = created["servicePrincipal"]["id"]
        job_id = make_job(client, sp_id)["id"] if with_job else ""
    return Provisioned(sp_id, created["application"]["id"], job_id, app_id=created["application"]["appId"])


@pytest.fixture
def live(live_server: LiveServer) -> Provisioned:
    return provision(live_server)


@pytest.fixture
def lite(sqlite_server: LiveServer) -> Provisioned:
    return provision(sqlite_server)


def job_row(db: Database, job_id: str) -> dict[str, Any]:
    """The job's row, its typed status read as Graph's synchronizationStatus."""
    with db.read() as conn:
        row = conn.execute(select(sync_jobs).where(sync_jobs.c.id == job_id)).mappings().one()
        return {**row, "status": status_wire(row["status"])}


def set_job_row(db: Database, job_id: str, **values: Any) -> None:
    """Set columns; a status is given in Graph's shape and stored as the typed status."""
    if "status" in values:
        values["status"] = status_from_wire(values["status"])
    with db.transaction() as conn:
        conn.execute(update(sync_jobs).where(sync_jobs.c.id == job_id).values(**values))


def quarantine_job(db: Database, job_id: str) -> None:
    status = copy.deepcopy(job_row(db, job_id)["status"])
    status["quarantine"] = QUARANTINE
    status["code"] = "Quarantine"
    set_job_row(db, job_id, status=status)


def recorded_scopes(db: Database, job_id: str) -> list[int]:
    with db.read() as conn:
        return [r["reset_scope"] for r in sync_repo.restarts(conn, job_id)]


def without_context(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("@odata.")}


def first_attribute_mapping(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0])


# Job creation


def test_creating_a_job_returns_201_with_the_documented_defaults(live_server: LiveServer) -> None:
    setup = provision(live_server, with_job=False)
    tenant = live_server.db.tenant_id().replace("-", "")
    with live_server.client() as client:
        response = client.post(f"{setup.sync}/jobs", json={"templateId": "scim"})
        assert response.status_code == 201, response.text
        body = response.json()
        job_id = f"scim.{tenant}.{setup.app_id}"
        assert body == {
            "@odata.context": f"{live_server.url}/v1.0/$metadata#servicePrincipals('{setup.sp_id}')/synchronization/jobs/$entity",
            "id": job_id,
            "templateId": "scim",
            "schedule": {"expiration": None, "interval": "PT40M", "state": "Disabled"},
            "status": INITIAL_STATUS,
            "synchronizationJobSettings": SCIM_JOB_SETTINGS,
        }
        SynchronizationJob.model_validate(without_context(body))
        assert without_context(client.get(f"{setup.sync}/jobs/{job_id}").json()) == without_context(body)
        listed = client.get(f"{setup.sync}/jobs").json()
        assert [j["id"] for j in listed["value"]] == [job_id]


def test_an_api2aad_job_gets_its_own_id_and_inbound_settings(sqlite_server: LiveServer) -> None:
    setup = provision(sqlite_server, with_job=False)
    tenant = sqlite_server.db.tenant_id().replace("-", "")
    with sqlite_server.client() as client:
        job = make_job(client, setup.sp_id, "API2AAD")
    assert job["id"] == f"API2AAD.{tenant}.{setup.app_id}"
    assert job["templateId"] == "API2AAD"
    assert job["synchronizationJobSettings"] == [
        {"name": "AzureIngestionAttributeOptimization", "value": "False"},
        {"name": "QuarantineTooManyDeletesThreshold", "value": "500"},
    ]


def test_a_second_job_from_the_same_template_is_409_and_changes_nothing(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        before = store_snapshot(live_server.db)
        response = client.post(f"{live.sync}/jobs", json={"templateId": "scim"})
        assert_graph_error(response, 409, "Conflict")
        assert store_snapshot(live_server.db) == before


def test_an_unknown_template_id_is_400_and_creates_nothing(sqlite_server: LiveServer) -> None:
    setup = provision(sqlite_server, with_job=False)
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(f"{setup.sync}/jobs", json={"templateId": "salesforce"})
        error = assert_graph_error(response, 400, "InvalidTemplateId")
        assert "salesforce" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_a_job_on_an_unknown_service_principal_is_404(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        response = client.post(
            "/servicePrincipals/00000000-0000-0000-0000-000000000001/synchronization/jobs",
            json={"templateId": "scim"},
        )
        assert_graph_error(response, 404)


# Templates


@pytest.mark.parametrize("on", ["servicePrincipal", "application"])
def test_templates_are_listed_on_the_service_principal_and_on_the_application(
    sqlite_server: LiveServer, lite: Provisioned, on: str
) -> None:
    root = lite.sync if on == "servicePrincipal" else lite.app_sync
    with sqlite_server.client() as client:
        response = client.get(f"{root}/templates")
        assert response.status_code == 200, response.text
        body = response.json()
    context = (
        f"servicePrincipals('{lite.sp_id}')"
        if on == "servicePrincipal"
        else f"applications('{lite.app_object_id}')"
    )
    assert body["@odata.context"] == f"{sqlite_server.url}/v1.0/$metadata#{context}/synchronization/templates"
    assert [t["id"] for t in body["value"]] == ["scim", "API2AAD"]
    assert [t["factoryTag"] for t in body["value"]] == ["scim", "API2AAD"]
    assert [t["default"] for t in body["value"]] == [True, False]
    assert {t["applicationId"] for t in body["value"]} == {lite.app_id}


def test_one_template_is_returned_with_its_schema_inline(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        template = client.get(f"{lite.sync}/templates/scim").json()
    assert template["id"] == "scim"
    assert template["factoryTag"] == "scim"
    assert template["applicationId"] == lite.app_id
    assert template["discoverable"] is True
    assert template["schema"]["id"] == f"scim.{ZERO_TENANT}"
    assert template["schema"]["version"] == "1.0"
    assert [d["name"] for d in template["schema"]["directories"]] == [
        "Azure Active Directory",
        "customappsso",
    ]


def test_an_unknown_template_is_404(sqlite_server: LiveServer, lite: Provisioned) -> None:
    with sqlite_server.client() as client:
        assert_graph_error(client.get(f"{lite.sync}/templates/salesforce"), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize("on", ["servicePrincipal", "application"])
def test_the_template_schema_is_its_own_resource(
    sqlite_server: LiveServer, lite: Provisioned, on: str
) -> None:
    root = lite.sync if on == "servicePrincipal" else lite.app_sync
    with sqlite_server.client() as client:
        schema = client.get(f"{root}/templates/scim/schema").json()
        inline = client.get(f"{root}/templates/scim").json()["schema"]
    assert schema["@odata.context"].endswith("/synchronization/templates('scim')/schema/$entity")
    assert without_context(schema) == inline
    assert schema["id"] == f"scim.{ZERO_TENANT}"
    assert [r["name"] for r in schema["synchronizationRules"]] == ["USERGROUP_OUTBOUND_USERGROUP"]


@pytest.mark.parametrize(
    ("version", "keys"),
    [
        ("v1.0", ["GalleryApplicationIdentifier", "GalleryApplicationKey", "ConfigurationFields"]),
        ("beta", ["galleryApplicationIdentifier", "galleryApplicationKey", "configurationFields"]),
    ],
)
def test_template_metadata_keys_are_pascal_case_on_v1_and_camel_case_on_beta(
    sqlite_server: LiveServer, lite: Provisioned, version: str, keys: list[str]
) -> None:
    with sqlite_server.client(version=version) as client:
        template = client.get(f"{lite.sync}/templates/scim").json()
        listed = client.get(f"{lite.app_sync}/templates").json()["value"][0]
    assert template["metadata"] == [
        {"key": keys[0], "value": lite.app_id},
        {"key": keys[1], "value": "scim"},
        {"key": keys[2], "value": '[{"name":"baseaddress"},{"name":"secrettoken","secret":true}]'},
    ]
    assert listed["metadata"] == template["metadata"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_patching_an_application_template_replaces_it_and_erases_missing_properties(
    live_server: LiveServer, live: Provisioned, method: str
) -> None:
    body = {
        "applicationId": live.app_id,
        "factoryTag": "scim",
        "description": "Contoso's own SCIM template",
        "metadata": [{"key": "galleryApplicationKey", "value": "contoso"}],
    }
    with live_server.client() as client:
        default_schema = client.get(f"{live.sync}/templates/scim/schema").json()
        response = client.request(method, f"{live.app_sync}/templates/scim", json=body)
        assert response.status_code == 204, response.text
        for root in (live.sync, live.app_sync):
            template = client.get(f"{root}/templates/scim").json()
            assert without_context(template) == {
                "id": "scim",
                "applicationId": live.app_id,
                "default": False,
                "description": "Contoso's own SCIM template",
                "discoverable": False,
                "factoryTag": "scim",
                "metadata": [{"key": "GalleryApplicationKey", "value": "contoso"}],
                "schema": without_context(default_schema),
            }
        other = client.get(f"{live.sync}/templates/API2AAD").json()
        assert other["description"].startswith("Provision users into the directory")


def test_patching_a_template_with_a_bad_value_is_400_and_changes_nothing(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        template_before = client.get(f"{lite.app_sync}/templates/scim").json()
        response = client.patch(
            f"{lite.app_sync}/templates/scim", json={"applicationId": lite.app_id, "default": "sometimes"}
        )
        assert_graph_error(response, 400)
        assert store_snapshot(sqlite_server.db) == before
        assert client.get(f"{lite.app_sync}/templates/scim").json() == template_before


def test_putting_and_deleting_an_application_template_schema(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        default = without_context(client.get(f"{live.app_sync}/templates/scim/schema").json())
        custom = copy.deepcopy(default)
        mappings = custom["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        dropped = mappings.pop()
        response = client.put(f"{live.app_sync}/templates/scim/schema", json=custom)
        assert response.status_code == 204, response.text

        stored = without_context(client.get(f"{live.sync}/templates/scim/schema").json())
        assert stored == {**custom, "version": "2.0"}
        targets = [
            m["targetAttributeName"]
            for m in stored["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        ]
        assert dropped["targetAttributeName"] not in targets
        # An existing job keeps the copy it took when created; resetting its schema takes the
        # template's current one.
        job_schema = without_context(client.get(f"{live.job}/schema").json())
        assert job_schema == {**default, "id": live.job_id}
        assert client.delete(f"{live.job}/schema").status_code == 204
        job_schema = without_context(client.get(f"{live.job}/schema").json())
        assert job_schema == {**custom, "version": "2.0", "id": live.job_id}

        assert client.delete(f"{live.app_sync}/templates/scim/schema").status_code == 204
        assert without_context(client.get(f"{live.app_sync}/templates/scim/schema").json()) == default


# Start, pause, restart


def test_start_activates_the_job_at_once_and_is_idempotent(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        for _ in range(2):
            assert client.post(f"{live.job}/start").status_code == 204
            job = client.get(live.job).json()
            assert job["schedule"] == {"expiration": None, "interval": "PT40M", "state": "Active"}
            assert job["status"] == {**INITIAL_STATUS, "code": "NotRun"}
    row = job_row(live_server.db, live.job_id)
    assert row["schedule_state"] == "Active"
    assert row["cycle_due_at"] is not None


def test_pause_stops_the_job_at_once_and_is_idempotent(live_server: LiveServer, live: Provisioned) -> None:
    set_job_row(live_server.db, live.job_id, watermark=42)
    with live_server.client() as client:
        assert client.post(f"{live.job}/start").status_code == 204
        for _ in range(2):
            assert client.post(f"{live.job}/pause").status_code == 204
            job = client.get(live.job).json()
            assert job["schedule"]["state"] == "Paused"
            assert job["status"]["code"] == "Paused"
    row = job_row(live_server.db, live.job_id)
    assert row["cycle_due_at"] is None
    assert row["watermark"] == 42  # pause keeps progress


def test_start_lifts_a_quarantine(live_server: LiveServer, live: Provisioned) -> None:
    quarantine_job(live_server.db, live.job_id)
    with live_server.client() as client:
        assert client.post(f"{live.job}/start").status_code == 204
        status = client.get(live.job).json()["status"]
    assert status["quarantine"] is None
    assert status["code"] == "NotRun"


def test_start_of_a_job_that_has_run_before_is_active(live_server: LiveServer, live: Provisioned) -> None:
    status = copy.deepcopy(job_row(live_server.db, live.job_id)["status"])
    status["lastExecution"] = {
        "activityIdentifier": "cycle-1",
        "countEntitled": 0,
        "countEntitledForProvisioning": 0,
        "countEscrowed": 0,
        "countEscrowedRaw": 0,
        "countExported": 0,
        "countExports": 0,
        "countImported": 0,
        "countImportedDeltas": 0,
        "countImportedReferenceDeltas": 0,
        "error": None,
        "state": "Succeeded",
        "timeBegan": "2024-05-01T10:00:00Z",
        "timeEnded": "2024-05-01T10:01:00Z",
    }
    set_job_row(live_server.db, live.job_id, status=status)
    with live_server.client() as client:
        assert client.post(f"{live.job}/start").status_code == 204
        job = client.get(live.job).json()
    assert job["status"] == {**status, "code": "Active"}
    SynchronizationJob.model_validate(without_context(job))


def test_start_on_an_unknown_job_is_404(sqlite_server: LiveServer, lite: Provisioned) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(f"{lite.sync}/jobs/scim.nope/start")
        assert_graph_error(response, 404, "Request_ResourceNotFound")
        assert store_snapshot(sqlite_server.db) == before


@pytest.mark.parametrize(
    ("reset_scope", "expected"),
    [
        ("Watermark, Escrows, QuarantineState", 14),
        ("Watermark,Escrows", 6),
        ("watermark , QUARANTINESTATE", 12),
        ("escrows", 2),
        (["Escrows", "QuarantineState"], 10),
        (["watermark"], 4),
        ("Full", 15),
        ("ForceDeletes", 32),
        ("Full, ForceDeletes", 47),
        ("ConnectorDataStore", 1),
    ],
)
def test_restart_records_the_parsed_reset_scope(
    live_server: LiveServer, live: Provisioned, reset_scope: object, expected: int
) -> None:
    with live_server.client() as client:
        response = client.post(f"{live.job}/restart", json={"criteria": {"resetScope": reset_scope}})
        assert response.status_code == 204, response.text
        job = client.get(live.job).json()
    assert recorded_scopes(live_server.db, live.job_id) == [expected]
    assert job["schedule"]["state"] == "Active"
    assert job["status"]["code"] == "NotRun"


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"criteria": None},
        {"criteria": {}},
        {"criteria": {"resetScope": ""}},
        {"criteria": {"resetScope": "  "}},
        {"criteria": {"resetScope": None}},
        {"criteria": {"resetScope": []}},
    ],
    ids=[
        "no-body",
        "empty-object",
        "null-criteria",
        "empty-criteria",
        "empty-string",
        "blank",
        "null",
        "empty-list",
    ],
)
def test_an_empty_restart_means_watermark_escrows_and_quarantine_state(
    live_server: LiveServer, live: Provisioned, body: dict[str, Any] | None
) -> None:
    with live_server.client() as client:
        response = (
            client.post(f"{live.job}/restart")
            if body is None
            else client.post(f"{live.job}/restart", json=body)
        )
        assert response.status_code == 204, response.text
    assert recorded_scopes(live_server.db, live.job_id) == [PORTAL_RESTART]


def test_an_explicit_none_reset_scope_is_recorded_as_zero(live_server: LiveServer, live: Provisioned) -> None:
    with live_server.client() as client:
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "None"}}).status_code == 204
        )
    assert recorded_scopes(live_server.db, live.job_id) == [0]


def test_restart_records_each_call_and_who_asked(live_server: LiveServer, live: Provisioned) -> None:
    user = "11111111-2222-3333-4444-555555555555"
    app = "99999999-8888-7777-6666-555555555555"
    user_token = live_server.token(object_id=user)
    app_token = live_server.token(roles=["Synchronization.ReadWrite.All"], app_id=app)
    with live_server.client(user_token) as client:
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "Escrows"}}).status_code
            == 204
        )
    with live_server.client(app_token) as client:
        assert client.post(f"{live.job}/restart").status_code == 204
    with live_server.db.read() as conn:
        restarts = sync_repo.restarts(conn, live.job_id)
    assert [(r["reset_scope"], r["requested_by"]) for r in restarts] == [
        (2, f"user:{user}"),
        (PORTAL_RESTART, f"app:{app}"),
    ]
    assert all(r["requested_date_time"] is not None and r["applied_date_time"] is None for r in restarts)


def test_force_deletes_lifts_only_a_too_many_deletes_quarantine(
    live_server: LiveServer, live: Provisioned
) -> None:
    quarantine_job(live_server.db, live.job_id)
    with live_server.client() as client:
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "ForceDeletes"}}).status_code
            == 204
        )
        assert (
            client.get(live.job).json()["status"]["quarantine"]["reason"] == "EncounteredQuarantineException"
        )
        status = copy.deepcopy(job_row(live_server.db, live.job_id)["status"])
        status["quarantine"] = {**QUARANTINE, "reason": "TooManyDeletes"}
        set_job_row(live_server.db, live.job_id, status=status)
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "ForceDeletes"}}).status_code
            == 204
        )
        status = client.get(live.job).json()["status"]
    assert status["quarantine"] is None
    assert status["code"] == "NotRun"


@pytest.mark.parametrize("reset_scope", ["QuarantineState", "Full", ""])
def test_restart_with_quarantine_state_lifts_the_quarantine(
    live_server: LiveServer, live: Provisioned, reset_scope: str
) -> None:
    quarantine_job(live_server.db, live.job_id)
    with live_server.client() as client:
        response = client.post(f"{live.job}/restart", json={"criteria": {"resetScope": reset_scope}})
        assert response.status_code == 204, response.text
        status = client.get(live.job).json()["status"]
    assert status["quarantine"] is None
    assert status["code"] == "NotRun"
    assert job_row(live_server.db, live.job_id)["status"]["quarantine"] is None


@pytest.mark.parametrize("reset_scope", ["Escrows", "Watermark, Escrows"])
def test_restart_without_quarantine_state_keeps_the_quarantine(
    live_server: LiveServer, live: Provisioned, reset_scope: str
) -> None:
    quarantine_job(live_server.db, live.job_id)
    with live_server.client() as client:
        response = client.post(f"{live.job}/restart", json={"criteria": {"resetScope": reset_scope}})
        assert response.status_code == 204, response.text
        status = client.get(live.job).json()["status"]
    assert status["quarantine"] == QUARANTINE
    assert status["code"] == "Quarantine"


def test_restart_with_watermark_clears_the_watermark(live_server: LiveServer, live: Provisioned) -> None:
    set_job_row(live_server.db, live.job_id, watermark=42)
    with live_server.client() as client:
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "Escrows"}}).status_code
            == 204
        )
        assert job_row(live_server.db, live.job_id)["watermark"] == 42
        assert (
            client.post(f"{live.job}/restart", json={"criteria": {"resetScope": "Watermark"}}).status_code
            == 204
        )
    assert job_row(live_server.db, live.job_id)["watermark"] is None


# Job schema


def test_the_job_schema_is_the_template_schema_under_the_job_id(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        schema = client.get(f"{lite.job}/schema").json()
        template_schema = client.get(f"{lite.sync}/templates/scim/schema").json()
    assert schema["@odata.context"] == (
        f"{sqlite_server.url}/v1.0/$metadata#servicePrincipals('{lite.sp_id}')"
        f"/synchronization/jobs('{lite.job_id}')/schema/$entity"
    )
    assert schema["id"] == lite.job_id
    assert [d["name"] for d in schema["directories"]] == ["Azure Active Directory", "customappsso"]
    assert without_context(schema) == {**without_context(template_schema), "id": lite.job_id}


def test_putting_a_job_schema_replaces_it_and_clears_the_watermark(
    live_server: LiveServer, live: Provisioned
) -> None:
    set_job_row(live_server.db, live.job_id, watermark=42)
    with live_server.client() as client:
        schema = without_context(client.get(f"{live.job}/schema").json())
        mappings = schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        dropped = mappings.pop()
        response = client.put(f"{live.job}/schema", json=schema)
        assert response.status_code == 204, response.text
        stored = without_context(client.get(f"{live.job}/schema").json())
    assert stored == {**schema, "version": "v2"}
    targets = [
        m["targetAttributeName"]
        for m in stored["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
    ]
    assert dropped["targetAttributeName"] not in targets
    row = job_row(live_server.db, live.job_id)
    assert row["watermark"] is None
    assert row["schema_version"] == 2


def test_a_schema_put_of_an_active_job_makes_a_cycle_due(live_server: LiveServer, live: Provisioned) -> None:
    with live_server.client() as client:
        assert client.post(f"{live.job}/start").status_code == 204
        set_job_row(live_server.db, live.job_id, cycle_due_at=None)
        schema = without_context(client.get(f"{live.job}/schema").json())
        assert client.put(f"{live.job}/schema", json=schema).status_code == 204
    assert job_row(live_server.db, live.job_id)["cycle_due_at"] is not None


def test_a_schema_put_with_a_bad_enum_is_400_and_changes_nothing(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        schema = without_context(client.get(f"{live.job}/schema").json())
        bad = copy.deepcopy(schema)
        bad["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0]["flowType"] = "Sometimes"
        before = store_snapshot(live_server.db)
        error = assert_graph_error(client.put(f"{live.job}/schema", json=bad), 400)
        assert "flowType" in error["message"]
        assert store_snapshot(live_server.db) == before
        assert without_context(client.get(f"{live.job}/schema").json()) == schema


def test_deleting_the_job_schema_restores_the_template_default(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        default = without_context(client.get(f"{live.job}/schema").json())
        custom = copy.deepcopy(default)
        custom["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"].pop()
        assert client.put(f"{live.job}/schema", json=custom).status_code == 204
        set_job_row(live_server.db, live.job_id, watermark=42)
        assert client.delete(f"{live.job}/schema").status_code == 204
        assert without_context(client.get(f"{live.job}/schema").json()) == default
    row = job_row(live_server.db, live.job_id)
    assert row["schema"] == {**default, "id": live.job_id}
    assert row["watermark"] is None
    assert row["schema_version"] == 3
    assert row["generation"] == 2


def test_patch_on_a_schema_is_syncfabrics_404(sqlite_server: LiveServer, lite: Provisioned) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        error = assert_graph_error(client.patch(f"{lite.job}/schema", json={}), 404, "UnknownError")
        assert json.loads(error["message"])["Message"].startswith("No HTTP resource was found")
        assert store_snapshot(sqlite_server.db) == before


def test_patch_on_a_schema_without_a_token_is_401(sqlite_server: LiveServer, lite: Provisioned) -> None:
    response = httpx.patch(f"{sqlite_server.url}/v1.0{lite.job}/schema", json={})
    assert_graph_error(response, 401, "InvalidAuthenticationToken")


def test_schema_directories_are_listed_and_fetched_by_id(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        listed = client.get(f"{lite.job}/schema/directories").json()
        one = client.get(f"{lite.job}/schema/directories/{AAD_DIRECTORY_ID}").json()
        missing = client.get(f"{lite.job}/schema/directories/00000000-0000-0000-0000-000000000000")
    assert listed["@odata.context"].endswith(f"jobs('{lite.job_id}')/schema/directories")
    assert [d["name"] for d in listed["value"]] == ["Azure Active Directory", "customappsso"]
    assert one["id"] == AAD_DIRECTORY_ID
    assert one["name"] == "Azure Active Directory"
    assert [o["name"] for o in one["objects"]] == ["User", "Group"]
    assert without_context(one) == listed["value"][0]
    assert_graph_error(missing, 404)


# Secrets


def test_secrets_are_merged_by_key_and_masked_on_read(live_server: LiveServer, live: Provisioned) -> None:
    token = "s3cr3t-token-" + live.app_id
    with live_server.client() as client:
        first = {
            "value": [
                {"key": "BaseAddress", "value": "https://scim.contoso.example/v2"},
                {"key": "SecretToken", "value": token},
            ]
        }
        assert client.put(f"{live.sync}/secrets", json=first).status_code == 204
        second = {
            "value": [
                {"key": "SyncAll", "value": "false"},
                {"key": "BaseAddress", "value": "https://scim2.contoso.example/v2"},
            ]
        }
        assert client.put(f"{live.sync}/secrets", json=second).status_code == 204
        expected = [
            {"key": "BaseAddress", "value": "https://scim2.contoso.example/v2"},
            {"key": "SecretToken", "value": "*"},
            {"key": "SyncAll", "value": "false"},
        ]
        secrets = client.get(f"{live.sync}/secrets").json()
        assert secrets["value"] == expected
        root = client.get(live.sync).json()
        assert without_context(root) == {"id": live.sp_id, "secrets": expected}
    with live_server.db.read() as conn:
        stored = list(conn.execute(select(sync_secrets.c.key, sync_secrets.c.value_encrypted)))
    assert sorted(k for k, _ in stored) == ["BaseAddress", "SecretToken", "SyncAll"]
    assert all(token not in value for _, value in stored)
    assert all("scim2.contoso.example" not in value for _, value in stored)


def test_secret_keys_match_in_any_case_and_are_stored_canonically(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        body = {
            "value": [
                {"key": "baseaddress", "value": "https://a.example"},
                {"key": "SECRETTOKEN", "value": "t"},
            ]
        }
        assert client.put(f"{lite.sync}/secrets", json=body).status_code == 204
        body = {"value": [{"key": "BaseAddress", "value": "https://b.example"}]}
        assert client.put(f"{lite.sync}/secrets", json=body).status_code == 204
        assert client.get(f"{lite.sync}/secrets").json()["value"] == [
            {"key": "BaseAddress", "value": "https://b.example"},
            {"key": "SecretToken", "value": "*"},
        ]
        count = client.get(f"{lite.sync}/secrets/$count")
        assert (count.status_code, count.text) == (200, "2")


def test_the_synchronization_entity_put_merges_its_secrets(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        first = {"value": [{"key": "SyncAll", "value": "true"}]}
        assert client.put(f"{lite.sync}/secrets", json=first).status_code == 204
        body = {"secrets": [{"key": "BaseAddress", "value": "https://scim.contoso.example/v2"}]}
        assert client.put(lite.sync, json=body).status_code == 204
        assert client.get(lite.sync).json()["secrets"] == [
            {"key": "BaseAddress", "value": "https://scim.contoso.example/v2"},
            {"key": "SyncAll", "value": "true"},
        ]
        before = store_snapshot(sqlite_server.db)
        error = assert_graph_error(client.put(lite.sync, json={"jobs": [{"templateId": "scim"}]}), 400)
        assert "jobs" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SyncAll", "maybe"),
        ("SkipOutOfScopeDeletions", "yes"),
        ("BaseAddress", "ftp://x"),
        ("BaseAddress", "scim.contoso.example"),
        ("SyncNotificationSettings", "not json"),
        ("SyncNotificationSettings", "[1, 2]"),
        ("Favourite", "red"),
    ],
)
def test_a_bad_secret_is_400_and_changes_nothing(
    sqlite_server: LiveServer, lite: Provisioned, key: str, value: str
) -> None:
    with sqlite_server.client() as client:
        good = {"value": [{"key": "BaseAddress", "value": "https://scim.contoso.example/v2"}]}
        assert client.put(f"{lite.sync}/secrets", json=good).status_code == 204
        before = store_snapshot(sqlite_server.db)
        secrets_before = client.get(f"{lite.sync}/secrets").json()
        body = {
            "value": [
                {"key": "BaseAddress", "value": "https://changed.contoso.example/v2"},
                {"key": key, "value": value},
            ]
        }
        error = assert_graph_error(client.put(f"{lite.sync}/secrets", json=body), 400)
        assert key in error["message"]
        assert store_snapshot(sqlite_server.db) == before
        assert client.get(f"{lite.sync}/secrets").json() == secrets_before


# validateCredentials


class _NotScimHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        payload = json.dumps({"hello": "world"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_scim_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NotScimHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/scim/v2"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    port = free_port()
    with socket.socket() as probe:  # nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return f"http://127.0.0.1:{port}/scim/v2"


def credentials(base_address: str, token: str) -> list[dict[str, str]]:
    return [{"key": "BaseAddress", "value": base_address}, {"key": "SecretToken", "value": token}]


def test_saved_credentials_that_reach_a_scim_target_validate(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget
) -> None:
    with sqlite_server.client() as client:
        put = client.put(
            f"{lite.sync}/secrets", json={"value": credentials(scim_target.url, scim_target.token)}
        )
        assert put.status_code == 204
        before = store_snapshot(sqlite_server.db)
        response = client.post(f"{lite.job}/validateCredentials", json={"useSavedCredentials": True})
        assert response.status_code == 204, response.text
        assert store_snapshot(sqlite_server.db) == before


def test_saved_credentials_win_over_credentials_in_the_body(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget
) -> None:
    with sqlite_server.client() as client:
        put = client.put(
            f"{lite.sync}/secrets", json={"value": credentials(scim_target.url, scim_target.token)}
        )
        assert put.status_code == 204
        body = {"useSavedCredentials": True, "credentials": credentials(scim_target.url, "wrong")}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert response.status_code == 204, response.text


def test_credentials_in_the_body_validate_without_being_saved(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget
) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        body = {"useSavedCredentials": False, "credentials": credentials(scim_target.url, scim_target.token)}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert response.status_code == 204, response.text
        assert store_snapshot(sqlite_server.db) == before
        assert client.get(f"{lite.sync}/secrets").json()["value"] == []


@pytest.mark.parametrize("suffix", ["/", "?aadOptscim062020"])
def test_a_base_address_with_a_trailing_slash_or_entra_query_flag_validates(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget, suffix: str
) -> None:
    with sqlite_server.client() as client:
        body = {"credentials": credentials(scim_target.url + suffix, scim_target.token)}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert response.status_code == 204, response.text


def test_a_wrong_secret_token_is_invalid_credentials(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget
) -> None:
    with sqlite_server.client() as client:
        body = {"credentials": credentials(scim_target.url, "not-the-token")}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert_graph_error(response, 400, "SystemForCrossDomainIdentityManagementInvalidCredentials")


def test_an_unreachable_base_address_is_not_a_scim_service(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    # The same answer as an HTTP server that is not SCIM (tests/api/test_outbound.py).
    with sqlite_server.client() as client:
        body = {"credentials": credentials(closed_port_url(), "any")}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert_graph_error(response, 400, "SystemForCrossDomainIdentityManagementServiceIncompatible")


def test_no_base_address_is_validation_unavailable(sqlite_server: LiveServer, lite: Provisioned) -> None:
    with sqlite_server.client() as client:
        response = client.post(f"{lite.job}/validateCredentials", json={"useSavedCredentials": True})
        error = assert_graph_error(
            response, 400, "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable"
        )
        assert "BaseAddress" in error["message"]


def test_an_endpoint_that_answers_json_but_not_scim_is_incompatible(
    sqlite_server: LiveServer, lite: Provisioned, not_scim_url: str
) -> None:
    with sqlite_server.client() as client:
        body = {"credentials": credentials(not_scim_url, "any")}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert_graph_error(response, 400, "SystemForCrossDomainIdentityManagementServiceIncompatible")


def test_a_base_address_that_is_not_a_scim_path_is_incompatible(
    sqlite_server: LiveServer, lite: Provisioned, scim_target: ScimTarget
) -> None:
    wrong_path = scim_target.url.rsplit("/", 1)[0] + "/not-scim"
    with sqlite_server.client() as client:
        body = {"credentials": credentials(wrong_path, scim_target.token)}
        response = client.post(f"{lite.job}/validateCredentials", json=body)
        assert_graph_error(response, 400, "SystemForCrossDomainIdentityManagementServiceIncompatible")


def test_validate_credentials_before_any_job_exists(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(sqlite_server, with_job=False)
    with sqlite_server.client() as client:
        body = {"templateId": "scim", "credentials": credentials(scim_target.url, scim_target.token)}
        response = client.post(f"{setup.sync}/jobs/validateCredentials", json=body)
        assert response.status_code == 204, response.text
        wrong = {"templateId": "scim", "credentials": credentials(scim_target.url, "nope")}
        response = client.post(f"{setup.sync}/jobs/validateCredentials", json=wrong)
        assert_graph_error(response, 400, "SystemForCrossDomainIdentityManagementInvalidCredentials")
        assert client.get(f"{setup.sync}/jobs").json()["value"] == []


# Routes that exist in Graph and are not built yet


NOT_BUILT = [
    ("POST", "{sync}/acquireAccessToken", {"credentials": []}),
    ("POST", "{app_sync}/acquireAccessToken", {"credentials": []}),
    ("GET", "{sync}/Ping()", None),
]


@pytest.mark.parametrize(("method", "path", "body"), NOT_BUILT, ids=[f"{m} {p}" for m, p, _ in NOT_BUILT])
def test_unbuilt_graph_routes_answer_501_not_implemented(
    sqlite_server: LiveServer, lite: Provisioned, method: str, path: str, body: dict[str, Any] | None
) -> None:
    url = path.format(job=lite.job, sync=lite.sync, app_sync=lite.app_sync)
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.request(method, url, json=body)
        error = assert_graph_error(response, 501, "notImplemented")
        assert "not implemented" in error["message"] or "not supported" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_bulk_upload_to_an_outbound_job_is_400_and_stages_nothing(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    token = sqlite_server.token(roles=["SynchronizationData-User.Upload"])
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}
    with sqlite_server.client(token) as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(
            f"{lite.job}/bulkUpload",
            content=json.dumps(body),
            headers={"Content-Type": "application/scim+json"},
        )
        error = assert_graph_error(response, 400, "InvalidRequest")
        assert "bulkUpload" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_an_unbuilt_route_on_an_unknown_job_is_404_first(
    sqlite_server: LiveServer, lite: Provisioned
) -> None:
    with sqlite_server.client() as client:
        response = client.post(f"{lite.sync}/jobs/scim.nope/provisionOnDemand", json={"parameters": []})
        assert_graph_error(response, 404)


def test_path_segments_match_in_any_case(live_server: LiveServer, live: Provisioned) -> None:
    with live_server.client() as client:
        response = client.post(f"/SERVICEPRINCIPALS/{live.sp_id}/Synchronization/Jobs/{live.job_id}/START")
        assert response.status_code == 204, response.text
        job = client.get(f"/serviceprincipals/{live.sp_id}/synchronization/jobs/{live.job_id}").json()
    assert job["schedule"]["state"] == "Active"


def test_a_doubled_slash_after_the_version_is_the_same_route(
    live_server: LiveServer, live: Provisioned
) -> None:
    headers = {"Authorization": f"Bearer {live_server.token()}"}
    response = httpx.post(
        f"{live_server.url}/v1.0//servicePrincipals/{live.sp_id}/synchronization/jobs/{live.job_id}/start",
        headers=headers,
    )
    assert response.status_code == 204, response.text
    job = httpx.get(
        f"{live_server.url}/v1.0//servicePrincipals/{live.sp_id}/synchronization/jobs/{live.job_id}",
        headers=headers,
    )
    assert job.status_code == 200
    assert job.json()["schedule"]["state"] == "Active"


def test_collections_have_a_count(sqlite_server: LiveServer, lite: Provisioned) -> None:
    with sqlite_server.client() as client:
        jobs = client.get(f"{lite.sync}/jobs/$count")
        templates = client.get(f"{lite.sync}/templates/$count")
    assert (jobs.status_code, jobs.text) == (200, "1")
    assert (templates.status_code, templates.text) == (200, "2")


# Deleting


def test_deleting_a_job_removes_it_and_its_restarts(live_server: LiveServer, live: Provisioned) -> None:
    with live_server.client() as client:
        assert client.post(f"{live.job}/restart").status_code == 204
        assert client.delete(live.job).status_code == 204
        assert_graph_error(client.get(live.job), 404, "Request_ResourceNotFound")
        assert_graph_error(client.delete(live.job), 404, "Request_ResourceNotFound")
        assert client.get(f"{live.sync}/jobs").json()["value"] == []
        assert recorded_scopes(live_server.db, live.job_id) == []
        # The template is free again.
        assert make_job(client, live.sp_id)["id"] == live.job_id


def test_deleting_the_service_principal_removes_its_jobs_and_secrets(
    live_server: LiveServer, live: Provisioned
) -> None:
    with live_server.client() as client:
        secrets = {"value": [{"key": "BaseAddress", "value": "https://scim.contoso.example/v2"}]}
        assert client.put(f"{live.sync}/secrets", json=secrets).status_code == 204
        assert client.post(f"{live.job}/restart").status_code == 204
        assert client.delete(f"/servicePrincipals/{live.sp_id}").status_code == 204
        assert_graph_error(client.get(live.job), 404)
    with live_server.db.read() as conn:
        assert (
            conn.execute(select(sync_jobs).where(sync_jobs.c.service_principal_id == live.sp_id)).all() == []
        )
        assert (
            conn.execute(select(sync_secrets).where(sync_secrets.c.service_principal_id == live.sp_id)).all()
            == []
        )
        assert sync_repo.restarts(conn, live.job_id) == []
