"""`GET /auditLogs/provisioning` (v1.0 and beta): the provisioningObjectSummary entries the
engine writes as it provisions into a real SCIM target, their filters, paging and permission."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.api.helpers import assert_graph_error
from tests.conftest import APPLICATION_ADMINISTRATOR, LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, engine_server, provision
from tests.scim_target import Fault

__all__ = ["engine_server"]  # the live server with its scheduler, on both databases

USER0 = "user0@contoso.example"
USER1 = "user1@contoso.example"
STEP_TYPES = ["import", "scoping", "matching", "export"]


def logs_client(server: LiveServer, version: str = "v1.0") -> httpx.Client:
    return server.client(server.token(scopes=["AuditLog.Read.All"]), version=version)


def entries(client: httpx.Client, filter: str | None = None, **params: str) -> list[dict[str, Any]]:
    """Every entry the query returns, following nextLinks."""
    query = {**params, **({"$filter": filter} if filter is not None else {})}
    response = client.get("/auditLogs/provisioning", params=query)
    out: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        out += body["value"]
        if "@odata.nextLink" not in body:
            return out
        response = client.get(body["@odata.nextLink"])


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def two_cycles(server: LiveServer, target: ScimTarget) -> tuple[Provisioned, str, str]:
    """An initial cycle (3 users and a group), then an incremental one updating user0.
    Returns the setup and the two cycle ids."""
    setup = provision(server, target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    client = logs_client(server)
    [initial] = {e["cycleId"] for e in entries(client, f"jobId eq '{setup.job_id}'")}
    user0 = setup.users[USER0]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Engineer"}).status_code == 204
    setup.wait_idle()
    cycles = {e["cycleId"] for e in entries(client, f"jobId eq '{setup.job_id}'")}
    [incremental] = cycles - {initial}
    return setup, initial, incremental


def test_an_initial_cycle_logs_each_processed_object_with_steps_action_status_and_properties(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    client = logs_client(engine_server)
    response = client.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{setup.job_id}'"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#auditLogs/provisioning")
    logged = body["value"]
    target_users = setup.target_users()
    group = setup.groups["Engineering"]
    target_group = setup.target_groups()["Engineering"]

    creates = [e for e in logged if e["provisioningAction"] == "create"]
    # One entry per processed object and cycle: the group's members are a step of its create.
    assert sorted(e["sourceIdentity"]["id"] for e in creates) == sorted(
        [u["id"] for u in setup.users.values()] + [group["id"]]
    )
    assert len(logged) == 4
    assert {e["jobId"] for e in logged} == {setup.job_id}
    assert len({e["cycleId"] for e in logged}) == 1
    assert len({e["changeId"] for e in logged}) == 4
    assert len({e["id"] for e in logged}) == 4

    for upn, user in setup.users.items():
        [entry] = [e for e in creates if e["sourceIdentity"]["id"] == user["id"]]
        assert entry["provisioningStatusInfo"] == {"status": "success", "errorInformation": None}
        assert "statusInfo" not in entry  # beta's name for it
        assert [s["provisioningStepType"] for s in entry["provisioningSteps"]] == STEP_TYPES
        assert {s["status"] for s in entry["provisioningSteps"]} == {"success"}
        assert entry["provisioningSteps"][0]["name"] == "EntryImport"
        assert entry["provisioningSteps"][1]["details"]["IsEffectivelyEntitledForProvisioning"] == "True"
        assert entry["provisioningSteps"][-1]["name"] == "EntryExportAdd"
        assert entry["sourceIdentity"]["displayName"] == upn
        assert entry["sourceIdentity"]["identityType"] == "User"
        assert entry["targetIdentity"]["id"] == target_users[upn]["id"]
        assert entry["servicePrincipal"]["id"] == setup.sp_id
        assert entry["servicePrincipal"]["displayName"] == "Contoso SCIM"
        assert entry["initiatedBy"]["initiatorType"] == "system"
        assert entry["tenantId"]
        assert entry["durationInMilliseconds"] >= 0
        properties = {p["displayName"]: p for p in entry["modifiedProperties"]}
        assert properties["userName"] == {"displayName": "userName", "oldValue": None, "newValue": upn}
        assert properties["active"]["newValue"] == "True"
        assert properties["name.givenName"]["newValue"] == user["givenName"]
        assert properties['emails[type eq "work"].value']["newValue"] == upn

    [group_create] = [e for e in creates if e["sourceIdentity"]["id"] == group["id"]]
    assert group_create["sourceIdentity"]["identityType"] == "Group"
    assert group_create["targetIdentity"]["id"] == target_group["id"]
    assert {"displayName": "displayName", "oldValue": None, "newValue": "Engineering"} in group_create[
        "modifiedProperties"
    ]
    assert group_create["provisioningStatusInfo"]["status"] == "success"
    assert [s["provisioningStepType"] for s in group_create["provisioningSteps"]][-2:] == [
        "export",
        "referenceResolution",
    ]
    [change] = [p for p in group_create["modifiedProperties"] if p["displayName"] == "members"]
    assert sorted(change["newValue"].split(";")) == sorted(u["id"] for u in setup.users.values())
    # Newest first.
    times = [parse(e["activityDateTime"]) for e in logged]
    assert times == sorted(times, reverse=True)


def test_filters_select_by_job_cycle_time_action_status_and_identities(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, initial, incremental = two_cycles(engine_server, scim_target)
    client = logs_client(engine_server)
    job = f"jobId eq '{setup.job_id}'"
    everything = entries(client, job)
    assert len(everything) == 5
    [update] = [e for e in everything if e["cycleId"] == incremental]
    user0 = setup.users[USER0]
    assert update["sourceIdentity"]["id"] == user0["id"]
    assert update["provisioningAction"] == "update"
    assert {"displayName": "title", "oldValue": None, "newValue": "Engineer"} in update["modifiedProperties"]
    assert [s["provisioningStepType"] for s in update["provisioningSteps"]] == ["import", "scoping", "export"]

    def ids(filter: str, version: str = "v1.0") -> set[str]:
        return {e["id"] for e in entries(logs_client(engine_server, version), filter)}

    by_id = {e["id"]: e for e in everything}
    assert ids(f"jobId eq 'scim.{'0' * 32}.other'") == set()
    assert ids(f"cycleId eq '{initial}'") == {i for i, e in by_id.items() if e["cycleId"] == initial}
    assert ids(f"cycleId eq '{incremental}'") == {update["id"]}
    assert ids(f"{job} and provisioningAction eq 'update' and cycleId eq '{incremental}'") == {update["id"]}
    assert ids(f"{job} and provisioningAction eq 'create'") == {
        i for i, e in by_id.items() if e["provisioningAction"] == "create"
    }
    assert len(ids(f"{job} and provisioningAction eq 'create'")) == 4
    assert ids(f"{job} and provisioningStatusInfo/status eq 'success'") == set(by_id)
    assert ids(f"{job} and provisioningStatusInfo/status eq 'failure'") == set()
    assert ids(f"{job} and statusInfo/status eq 'success'", "beta") == set(by_id)
    assert ids(f"{job} and statusInfo/status eq 'skipped'", "beta") == set()
    assert ids(f"sourceIdentity/id eq '{user0['id']}'") == {
        i for i, e in by_id.items() if e["sourceIdentity"]["id"] == user0["id"]
    }
    assert len(ids(f"sourceIdentity/id eq '{user0['id']}'")) == 2  # the create and the update
    target_id = setup.target_users()[USER0]["id"]
    assert ids(f"targetIdentity/id eq '{target_id}'") == ids(f"sourceIdentity/id eq '{user0['id']}'")

    # activityDateTime ranges, with the values the API itself shows.
    at = update["activityDateTime"]
    assert ids(f"{job} and activityDateTime ge {at}") == {update["id"]}
    assert ids(f"{job} and activityDateTime le {at}") == set(by_id)
    earlier = {i for i, e in by_id.items() if e["cycleId"] == initial}
    newest_initial = max(by_id[i]["activityDateTime"] for i in earlier)
    assert ids(f"{job} and activityDateTime le {newest_initial}") == earlier
    assert ids(f"{job} and activityDateTime gt {newest_initial} and activityDateTime le {at}") == {
        update["id"]
    }

    # beta names the status statusInfo.
    [beta] = entries(logs_client(engine_server, "beta"), f"cycleId eq '{incremental}'")
    assert beta["statusInfo"] == {"status": "success", "errorInformation": None}
    assert "provisioningStatusInfo" not in beta
    assert beta["id"] == update["id"]


def test_top_and_next_link_page_through_every_entry_once_newest_first(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, _, _ = two_cycles(engine_server, scim_target)
    client = logs_client(engine_server)
    all_at_once = entries(client, f"jobId eq '{setup.job_id}'")
    assert len(all_at_once) == 5

    pages = []
    response = client.get(
        "/auditLogs/provisioning", params={"$top": "2", "$filter": f"jobId eq '{setup.job_id}'"}
    )
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        link = body.get("@odata.nextLink")
        if link is None:
            break
        assert urlsplit(link).path == "/v1.0/auditLogs/provisioning"
        assert "$skiptoken" in link or "%24skiptoken" in link
        response = client.get(link)
    assert [len(p) for p in pages] == [2, 2, 1]
    paged = [e for page in pages for e in page]
    assert [e["id"] for e in paged] == [e["id"] for e in all_at_once]
    assert len({e["id"] for e in paged}) == 5
    times = [parse(e["activityDateTime"]) for e in paged]
    assert times == sorted(times, reverse=True)
    assert paged[0]["provisioningAction"] == "update"  # the incremental cycle's, the newest


def test_reading_needs_audit_log_or_provisioning_log_read_permission(live_server: LiveServer) -> None:
    def get(token: str) -> httpx.Response:
        return live_server.client(token).get("/auditLogs/provisioning")

    allowed = [
        live_server.token(scopes=["AuditLog.Read.All"]),
        live_server.token(scopes=["ProvisioningLog.Read.All"]),
        live_server.token(roles=["AuditLog.Read.All"]),
        live_server.token(roles=["ProvisioningLog.Read.All"]),
    ]
    for token in allowed:
        response = get(token)
        assert response.status_code == 200, response.text
        assert response.json()["value"] == []
    denied = [
        live_server.token(),  # a synchronization and directory administrator, but no log permission
        live_server.token(scopes=["Synchronization.ReadWrite.All"], wids=[APPLICATION_ADMINISTRATOR]),
        live_server.token(roles=["Synchronization.ReadWrite.All", "Directory.Read.All"]),
    ]
    for token in denied:
        assert_graph_error(get(token), 403, "Authorization_RequestDenied")
    assert live_server.client("not-a-token").get("/auditLogs/provisioning").status_code == 401


def test_an_escrowed_failure_is_logged_as_a_failure_with_its_error_code(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    scim_target.traffic.faults.append(Fault(method="POST", body_contains=USER1, status=500, retry_after="0"))
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    client = logs_client(engine_server)
    job = f"jobId eq '{setup.job_id}'"

    [failure] = entries(client, f"{job} and provisioningStatusInfo/status eq 'failure'")
    assert failure["sourceIdentity"]["id"] == setup.users[USER1]["id"]
    assert failure["targetIdentity"]["id"] is None
    error = failure["provisioningStatusInfo"]["errorInformation"]
    assert error["errorCode"] == "InternalServerError"
    assert "retried 0 times" in error["reason"]
    assert error["errorCategory"] == "nonServiceFailure"  # the enum member
    assert failure["provisioningSteps"][-1]["provisioningStepType"] == "export"
    assert failure["provisioningSteps"][-1]["status"] == "failure"
    [beta] = entries(logs_client(engine_server, "beta"), f"{job} and statusInfo/status eq 'failure'")
    assert beta["statusInfo"]["errorInformation"]["errorCode"] == "InternalServerError"
    successes = entries(client, f"{job} and provisioningStatusInfo/status eq 'success'")
    assert USER1 not in {e["sourceIdentity"]["displayName"] for e in successes}
    assert {e["sourceIdentity"]["displayName"] for e in successes if e["provisioningAction"] == "create"} == {
        USER0,
        "user2@contoso.example",
        "Engineering",
    }


def test_a_held_delete_is_logged_as_a_staged_delete(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(
        engine_server, scim_target, users=3, settings={"QuarantineTooManyDeletesThreshold": "2"}
    )
    setup.wait_cycle(None)
    setup.wait_idle()
    before = setup.ended()
    [assignment] = setup.client.get(f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo").json()["value"]
    response = setup.client.delete(f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo/{assignment['id']}")
    assert response.status_code == 204
    row = setup.wait_cycle(before)
    assert row["status"]["quarantine"]["reason"] == "TooManyDeletes"
    client = logs_client(engine_server)
    job = f"jobId eq '{setup.job_id}'"

    staged = entries(client, f"{job} and provisioningAction eq 'stagedDelete'")
    # The three users' disables and the group's delete, all held.
    assert sorted(e["sourceIdentity"]["id"] for e in staged) == sorted(
        [u["id"] for u in setup.users.values()] + [setup.groups["Engineering"]["id"]]
    )
    for entry in staged:
        assert entry["provisioningAction"] == "stagedDelete"
        assert entry["provisioningStatusInfo"]["status"] == "skipped"
        [step] = [s for s in entry["provisioningSteps"] if s["name"] == "EntryExportStagedDelete"]
        assert "ForceDeletes" in step["description"]
    assert len({e["cycleId"] for e in staged}) == 1
    # Nothing was disabled or deleted in the target.
    assert all(u["active"] is True for u in setup.target_users().values())


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_entries_deserialise_into_the_official_sdk_models(
    version: str, engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    import importlib

    from kiota_serialization_json.json_parse_node import JsonParseNode

    setup = provision(engine_server, scim_target, users=1)
    setup.wait_cycle(None)
    setup.wait_idle()
    response = logs_client(engine_server, version).get(
        "/auditLogs/provisioning",
        params={"$filter": f"jobId eq '{setup.job_id}' and provisioningAction eq 'create'"},
    )
    assert response.status_code == 200, response.text
    package = "msgraph" if version == "v1.0" else "msgraph_beta"
    module = importlib.import_module(
        f"{package}.generated.models.provisioning_object_summary_collection_response"
    )
    node = JsonParseNode(json.loads(response.text))
    page = node.get_object_value(module.ProvisioningObjectSummaryCollectionResponse)
    assert len(page.value) == 2
    summary = next(s for s in page.value if s.source_identity.identity_type == "User")
    assert summary.job_id == setup.job_id
    assert summary.provisioning_action.value == "create"
    status = summary.provisioning_status_info if version == "v1.0" else summary.status_info
    assert status.status.value == "success"
    # kiota looks enum members up by name, and the SDK names "import" `Import_` (a Python keyword),
    # so that one step type reads as None; the others round-trip.
    types = [s.provisioning_step_type for s in summary.provisioning_steps]
    assert [t.value if t else None for t in types][1:] == STEP_TYPES[1:]
    assert [s.status.value for s in summary.provisioning_steps] == ["success"] * 4
    assert summary.source_identity.id == setup.users[USER0]["id"]
    assert summary.target_identity.id == setup.target_users()[USER0]["id"]
    assert summary.activity_date_time is not None
    assert summary.activity_date_time.tzinfo is not None
    user_name = next(p for p in summary.modified_properties if p.display_name == "userName")
    assert user_name.new_value == USER0
    assert not summary.additional_data
