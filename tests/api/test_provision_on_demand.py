"""`POST .../jobs/{jobId}/provisionOnDemand` over HTTP against the live server and a real
scim2-server: the §7.1 answer, the provisioning log entry, the rate limit, the lease, and bad
input answered with a Graph error that changes nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_user, store_snapshot
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision

from provisiond.store import engine_state

USER0 = "user0@contoso.example"
RULE_ID = "ea807875-5618-4f0a-9125-0b46a05298ca"
ADMIN_OID = "5b1e7c2d-0000-4000-8000-0000000000ad"


@pytest.fixture
def setup(live_server: LiveServer, scim_target: ScimTarget) -> Provisioned:
    setup = provision(live_server, scim_target, users=3, start=False)
    setup.client = live_server.client(live_server.token(object_id=ADMIN_OID))
    return setup


def body(object_id: str, object_type: str = "User", rule_id: str = RULE_ID, **links: Any) -> dict[str, Any]:
    subject: dict[str, Any] = {"objectId": object_id, "objectTypeName": object_type}
    if links:
        subject["links"] = links
    return {"parameters": [{"ruleId": rule_id, "subjects": [subject]}]}


def post(setup: Provisioned, payload: Any, client: httpx.Client | None = None) -> httpx.Response:
    return (client or setup.client).post(f"{setup.job_url}/provisionOnDemand", json=payload)


def decoded(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["@odata.context"].endswith("$metadata#microsoft.graph.stringKeyStringValuePair")
    assert isinstance(pair["key"], str) and isinstance(pair["value"], str)
    return json.loads(pair["key"]), json.loads(pair["value"])


def test_a_user_is_provisioned_and_the_answer_is_the_documented_key_value_pair(setup: Provisioned) -> None:
    adele = setup.users[USER0]["id"]
    key, value = decoded(post(setup, body(adele)))

    assert key == {"result": "Success", "details": {}}
    assert value["action"] == "Create"
    assert [s["type"] for s in value["provisioningSteps"]] == [
        "Import",
        "Scoping",
        "Matching",
        "Processing",
        "Export",
    ]
    assert all(s["status"] == "Success" for s in value["provisioningSteps"])
    assert value["provisioningSteps"][-1]["name"] == "EntryExportAdd"
    scoping = value["provisioningSteps"][1]["details"]
    assert (
        scoping["IsActive"]
        == scoping["Assigned"]
        == scoping["IsEffectivelyEntitledForProvisioning"]
        == "True"
    )
    assert value["statusInfo"]["status"] == "Success"
    assert value["sourceIdentity"] == {"id": adele, "type": "User", "displayName": USER0, "details": None}
    assert value["sourceSystem"]["name"] == "Azure Active Directory"
    assert value["targetSystem"]["name"] == "customappsso"
    target = setup.target_users()[USER0]
    assert value["targetIdentity"]["id"] == target["id"]
    assert value["reportableIdentifier"] == USER0
    assert {"displayName": "userName", "oldValue": None, "newValue": USER0} in value["modifiedProperties"]
    assert value["jobId"] == setup.job_id

    # The same record is in the provisioning logs, initiated by the caller.
    reader = setup.server.client(setup.server.token(scopes=["AuditLog.Read.All"]))
    logs = reader.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{setup.job_id}'"})
    assert logs.status_code == 200, logs.text
    [entry] = logs.json()["value"]
    assert entry["changeId"] == value["changeId"]
    assert entry["cycleId"] == value["cycleId"]
    assert entry["provisioningAction"] == "create"
    assert entry["provisioningStatusInfo"]["status"] == "success"
    assert [s["provisioningStepType"] for s in entry["provisioningSteps"]] == [
        "import",
        "scoping",
        "matching",
        "processing",
        "export",
    ]
    assert entry["initiatedBy"]["initiatorType"] == "user"
    assert entry["initiatedBy"]["id"] == ADMIN_OID


def test_the_logs_name_a_directory_caller_and_filter_on_it(setup: Provisioned) -> None:
    server = setup.server
    olga = make_user(setup.client, "olga", displayName="Olga Ops")
    as_olga = server.client(server.token(object_id=olga["id"]))
    decoded(post(setup, body(setup.users[USER0]["id"]), client=as_olga))
    reader = server.client(server.token(scopes=["AuditLog.Read.All"]))
    found = reader.get("/auditLogs/provisioning", params={"$filter": "initiatedBy/displayName eq 'olga ops'"})
    assert found.status_code == 200, found.text
    [entry] = found.json()["value"]
    assert entry["initiatedBy"] == {"id": olga["id"], "displayName": "Olga Ops", "initiatorType": "user"}
    # A caller the directory does not hold (ADMIN_OID) is named by id only.
    decoded(post(setup, body(setup.users[USER0]["id"])))
    unnamed = reader.get("/auditLogs/provisioning", params={"$filter": f"initiatedBy/id eq '{ADMIN_OID}'"})
    assert [e["initiatedBy"]["displayName"] for e in unnamed.json()["value"]] == [None]


def test_an_unchanged_user_is_skipped_as_a_redundant_export(setup: Provisioned) -> None:
    adele = setup.users[USER0]["id"]
    decoded(post(setup, body(adele)))
    key, value = decoded(post(setup, body(adele, object_type="user")))
    assert key == {
        "result": "Skipped",
        "details": {
            "errorCode": "RedundantExport",
            "errorMessage": "The state of the user in both the source and target systems already match.",
        },
    }
    assert value["action"] == "Other"
    assert value["provisioningSteps"][-1]["details"] == {"SkipReason": "RedundantExport"}


def test_a_group_with_members_answers_with_the_group_and_its_members_records(setup: Provisioned) -> None:
    group = setup.groups["Engineering"]["id"]
    members = [{"objectId": u["id"], "objectTypeName": "User"} for u in list(setup.users.values())[:2]]
    key, value = decoded(post(setup, body(group, "Group", members=members)))
    assert key["result"] == "Success"
    assert value["sourceIdentity"]["type"] == "Group"
    assert [m["sourceIdentity"]["id"] for m in value["linkedObjects"]] == [m["objectId"] for m in members]
    assert "ReferenceResolution" in [s["type"] for s in value["provisioningSteps"]]
    target = setup.target_groups()["Engineering"]
    assert len(target["members"]) == 2


def test_rejected_credentials_answer_200_with_the_failure_in_the_export_step(setup: Provisioned) -> None:
    response = setup.client.put(
        f"{setup.sync}/secrets", json={"value": [{"key": "SecretToken", "value": "wrong"}]}
    )
    assert response.status_code == 204
    key, value = decoded(post(setup, body(setup.users[USER0]["id"])))
    assert key["result"] == "Failure"
    assert key["details"]["errorCode"] == "SystemForCrossDomainIdentityManagementInvalidCredentials"
    assert value["provisioningSteps"][-1]["type"] == "Export"
    assert value["provisioningSteps"][-1]["status"] == "Failure"
    assert setup.job_row()["status"].get("quarantine") is None


def test_the_sixth_request_in_ten_seconds_gets_429_with_retry_after(setup: Provisioned) -> None:
    adele = setup.users[USER0]["id"]
    for _ in range(5):
        decoded(post(setup, body(adele)))
    before = store_snapshot(setup.server.db)
    response = post(setup, body(adele))
    assert_graph_error(response, 429, "TooManyRequests")
    assert 1 <= int(response.headers["Retry-After"]) <= 10
    assert store_snapshot(setup.server.db) == before


def test_an_unknown_rule_is_400_request_parameter_invalid_naming_job_and_rule(setup: Provisioned) -> None:
    before = store_snapshot(setup.server.db)
    for rule_id in ("", "not-a-rule"):
        error = assert_graph_error(
            post(setup, body(setup.users[USER0]["id"], rule_id=rule_id)), 400, "RequestParameterInvalid"
        )
        assert f"synchronization job: {setup.job_id}." in error["message"]
        assert f"synchronization rule: {rule_id}." in error["message"]
        assert "does not include the rule" in error["message"]
    assert store_snapshot(setup.server.db) == before
    assert setup.scim.traffic.log == []


def test_an_unknown_object_is_404_and_a_group_with_six_members_is_400(setup: Provisioned) -> None:
    before = store_snapshot(setup.server.db)
    assert_graph_error(
        post(setup, body("00000000-0000-0000-0000-0000000000ff")), 404, "Request_ResourceNotFound"
    )
    extra = [make_user(setup.client, f"extra{i}") for i in range(3)]
    before = store_snapshot(setup.server.db)
    six = [{"objectId": u["id"], "objectTypeName": "User"} for u in [*setup.users.values(), *extra]]
    group = setup.groups["Engineering"]["id"]
    error = assert_graph_error(post(setup, body(group, "Group", members=six)), 400, "RequestParameterInvalid")
    assert "at most 5 members" in error["message"]
    assert store_snapshot(setup.server.db) == before
    assert setup.scim.traffic.log == []


BAD_BODIES: list[tuple[str, Any]] = [
    ("no parameters", {}),
    ("parameters not a list", {"parameters": {"ruleId": RULE_ID}}),
    (
        "objectId a number",
        {"parameters": [{"ruleId": RULE_ID, "subjects": [{"objectId": 7, "objectTypeName": "User"}]}]},
    ),
    ("ruleId missing", {"parameters": [{"subjects": [{"objectId": "x", "objectTypeName": "User"}]}]}),
    ("unknown property", {"parameters": [{"ruleId": RULE_ID, "subjects": []}], "dryRun": True}),
    ("no subject", {"parameters": [{"ruleId": RULE_ID, "subjects": []}]}),
    ("two parameters", {"parameters": [{"ruleId": RULE_ID, "subjects": []}] * 2}),
    (
        "a worker",
        {"parameters": [{"ruleId": RULE_ID, "subjects": [{"objectId": "x", "objectTypeName": "Worker"}]}]},
    ),
    (
        "empty objectId",
        {"parameters": [{"ruleId": RULE_ID, "subjects": [{"objectId": " ", "objectTypeName": "User"}]}]},
    ),
]


@pytest.mark.parametrize("case", [c for c, _ in BAD_BODIES])
def test_a_malformed_body_is_400_and_changes_nothing(case: str, setup: Provisioned) -> None:
    payload = dict(BAD_BODIES)[case]
    before = store_snapshot(setup.server.db)
    error = assert_graph_error(post(setup, payload), 400)
    assert error["code"] in ("BadRequest", "RequestParameterInvalid")
    assert store_snapshot(setup.server.db) == before
    assert setup.scim.traffic.log == []


def test_links_that_do_not_fit_the_subject_are_400(setup: Provisioned) -> None:
    adele, bob = (u["id"] for u in list(setup.users.values())[:2])
    group = setup.groups["Engineering"]["id"]
    member = {"objectId": bob, "objectTypeName": "User"}
    before = store_snapshot(setup.server.db)
    for payload in (
        body(adele, members=[member]),  # members of a user
        body(group, "Group", members=[member, member]),  # listed twice
        body(group, "Group", members=[{"objectId": group, "objectTypeName": "Group"}]),  # nested group
        body(adele, manager=member),  # manager links
    ):
        assert_graph_error(post(setup, payload), 400, "RequestParameterInvalid")
    assert store_snapshot(setup.server.db) == before


def test_not_json_and_a_wrong_content_type_change_nothing(setup: Provisioned) -> None:
    url = f"{setup.job_url}/provisionOnDemand"
    before = store_snapshot(setup.server.db)
    assert_graph_error(
        setup.client.post(url, content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_graph_error(setup.client.post(url, content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert store_snapshot(setup.server.db) == before


def test_without_synchronization_readwrite_the_call_is_403(setup: Provisioned) -> None:
    server = setup.server
    reader = server.client(server.token(scopes=["Synchronization.Read.All"], wids=[]))
    assert_graph_error(post(setup, body(setup.users[USER0]["id"]), reader), 403)
    assert setup.scim.traffic.log == []


def test_the_lease_is_taken_for_the_call_and_released_after(setup: Provisioned) -> None:
    decoded(post(setup, body(setup.users[USER0]["id"])))
    row = setup.job_row()
    assert row["lease_owner"] is None and row["lease_expires_at"] is None


def test_a_lease_held_by_a_cycle_is_waited_for_briefly_then_the_call_runs_beside_it(
    setup: Provisioned,
) -> None:
    held_until = setup.job_row()["created_date_time"] + timedelta(days=3650)
    with setup.server.db.transaction() as conn:
        engine_state.update_job(
            conn, setup.job_id, {"lease_owner": "cycle-elsewhere", "lease_expires_at": held_until}
        )
    key, _ = decoded(post(setup, body(setup.users[USER0]["id"])))
    assert key["result"] == "Success"
    row = setup.job_row()
    assert row["lease_owner"] == "cycle-elsewhere"  # not taken over, not released
    assert USER0 in setup.target_users()


def test_while_the_call_runs_it_holds_the_jobs_lease_so_no_cycle_can_claim_the_job(
    setup: Provisioned,
) -> None:
    from tests.engine.helpers import wait_for
    from tests.scim_target import Fault

    setup.scim.traffic.faults.append(
        Fault(method="POST", path_contains="/Users", status=None, delay_seconds=1.5)
    )
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(post, setup, body(setup.users[USER0]["id"]))
        owner = wait_for(lambda: setup.job_row()["lease_owner"], timeout=30, what="the lease to be taken")
        assert str(owner).startswith("provisionOnDemand:")
        decoded(call.result(timeout=60))
    assert setup.job_row()["lease_owner"] is None
