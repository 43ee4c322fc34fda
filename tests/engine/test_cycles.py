"""Cycles end to end: the live server with its scheduler provisions into a real scim2-server."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.helpers import make_user
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import ManualEngine, Provisioned, provision, wait_for

from provisiond.connectors.directory import DirectorySource


def test_initial_cycle_provisions_assigned_users_and_the_group_with_its_members(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    row = setup.wait_cycle(None)
    status = row["status"]
    assert status["code"] == "Active"
    assert status["lastExecution"]["state"] == "Succeeded"
    users = setup.target_users()
    assert sorted(users) == sorted(setup.users)
    adele = users["user0@contoso.example"]
    assert adele["active"] is True
    assert adele["name"]["givenName"] == "Given0"
    assert adele["emails"][0]["value"] == "user0@contoso.example"
    groups = setup.target_groups()
    assert list(groups) == ["Engineering"]
    members = {m["value"] for m in groups["Engineering"].get("members") or []}
    assert members == {u["id"] for u in users.values()}
    counts = {e["key"]: e["value"] for e in status["synchronizedEntryCountByType"]}
    assert counts == {"group": 1, "user": 3}
    assert row["watermark"] is not None


def test_unassigned_and_disabled_users_are_not_created(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2, start=False)
    from tests.api.helpers import make_user

    make_user(setup.client, "outsider")
    disabled = make_user(setup.client, "blocked", accountEnabled=False)
    setup.assign(disabled["id"])
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    setup.wait_cycle(None)
    assert sorted(setup.target_users()) == ["user0@contoso.example", "user1@contoso.example"]


def test_incremental_changes_reach_the_target(engine_server: LiveServer, scim_target: ScimTarget) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    client = setup.client
    u0, u1, u2 = (setup.users[f"user{i}@contoso.example"] for i in range(3))

    # update
    assert (
        client.patch(f"/users/{u0['id']}", json={"jobTitle": "Engineer", "surname": "Changed"}).status_code
        == 204
    )
    setup.wait_idle()
    target = setup.target_users()["user0@contoso.example"]
    assert target["title"] == "Engineer"
    assert target["name"]["familyName"] == "Changed"

    # soft delete disables; restore enables again
    assert client.delete(f"/users/{u1['id']}").status_code == 204
    setup.wait_idle()
    assert setup.target_users()["user1@contoso.example"]["active"] is False
    assert client.post(f"/directory/deletedItems/{u1['id']}/restore").status_code == 200
    setup.wait_idle()
    assert setup.target_users()["user1@contoso.example"]["active"] is True

    # manager
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{u0['id']}"}
    assert client.put(f"/users/{u2['id']}/manager/$ref", json=ref).status_code == 204
    setup.wait_idle()
    users = setup.target_users()
    manager = users["user2@contoso.example"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"][
        "manager"
    ]
    assert manager["value"] == users["user0@contoso.example"]["id"]

    # membership: remove u2 from the group → u2 leaves scope (disabled) and leaves the target group
    group = setup.groups["Engineering"]
    assert client.delete(f"/groups/{group['id']}/members/{u2['id']}/$ref").status_code == 204
    setup.wait_idle()
    users = setup.target_users()
    assert users["user2@contoso.example"]["active"] is False
    members = {m["value"] for m in setup.target_groups()["Engineering"].get("members") or []}
    assert users["user2@contoso.example"]["id"] not in members

    # hard delete removes the user from the target
    assert client.delete(f"/users/{u0['id']}").status_code == 204
    assert client.delete(f"/directory/deletedItems/{u0['id']}").status_code == 204
    setup.wait_idle()
    assert "user0@contoso.example" not in setup.target_users()


def test_a_new_assignment_is_provisioned_within_seconds(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=1)
    setup.wait_cycle(None)
    from tests.api.helpers import make_user

    newcomer = make_user(setup.client, "newcomer")
    setup.assign(newcomer["id"])
    wait_for(lambda: "newcomer@contoso.example" in setup.target_users(), 30, "the newcomer in the target")


def test_watermark_restart_reimports_everything_without_writes(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=4)
    setup.wait_cycle(None)
    setup.wait_idle()
    scim_target.traffic.reset()
    before = setup.ended()
    body = {"criteria": {"resetScope": "Watermark"}}
    assert setup.client.post(f"{setup.job_url}/restart", json=body).status_code == 204
    row = setup.wait_cycle(before)
    assert row["status"]["lastExecution"]["countImported"] == 5  # 4 users + 1 group
    assert scim_target.traffic.writes() == []


def test_connector_data_store_restart_rematches_and_corrects_the_target(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    user = setup.target_users()["user0@contoso.example"]
    with scim_target.client() as scim:
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Changed behind the engine's back"}],
        }
        assert scim.patch(f"/Users/{user['id']}", json=patch).status_code in (200, 204)
    before = setup.ended()
    body = {"criteria": {"resetScope": "Full"}}
    assert setup.client.post(f"{setup.job_url}/restart", json=body).status_code == 204
    setup.wait_cycle(before)
    users = setup.target_users()
    assert sorted(users) == ["user0@contoso.example", "user1@contoso.example"]  # no duplicates
    assert users["user0@contoso.example"].get("title") is None
    assert len(setup.target_groups()) == 1


def test_deletion_guard_stages_deletes_and_force_deletes_runs_them(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(
        engine_server, scim_target, users=3, settings={"QuarantineTooManyDeletesThreshold": "2"}
    )
    setup.wait_cycle(None)
    setup.wait_idle()
    before = setup.ended()
    group = setup.groups["Engineering"]
    assignments = setup.client.get(f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo").json()["value"]
    assert (
        setup.client.delete(
            f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo/{assignments[0]['id']}"
        ).status_code
        == 204
    )
    row = setup.wait_cycle(before)
    assert row["status"]["code"] == "Quarantine"
    assert row["status"]["quarantine"]["reason"] == "TooManyDeletes"
    assert all(u["active"] is True for u in setup.target_users().values())
    logs = setup.client.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{setup.job_id}'"})
    if logs.status_code == 200:
        assert any(e["provisioningAction"] == "stagedDelete" for e in logs.json()["value"])
    before = setup.ended()
    body = {"criteria": {"resetScope": "ForceDeletes"}}
    assert setup.client.post(f"{setup.job_url}/restart", json=body).status_code == 204
    row = setup.wait_cycle(before)
    assert row["status"]["quarantine"] is None
    assert all(u["active"] is False for u in setup.target_users().values())
    assert group["id"]


def test_target_rejecting_credentials_quarantines_the_job(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=1, secrets={"SecretToken": "wrong"})
    row = setup.wait_cycle(None)
    quarantine = row["status"]["quarantine"]
    assert row["status"]["code"] == "Quarantine"
    assert quarantine["reason"] == "EncounteredQuarantineException"
    assert quarantine["error"]["code"] == "SystemForCrossDomainIdentityManagementInvalidCredentials"
    assert quarantine["seriesCount"] == 1
    assert row["status"]["countSuccessiveCompleteFailures"] == 1


def test_a_failing_object_is_escrowed_and_the_rest_succeed(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    from tests.scim_target import Fault

    scim_target.traffic.faults.append(Fault(method="POST", body_contains="user1@contoso.example", status=500))
    setup = provision(engine_server, scim_target, users=3)
    row = setup.wait_cycle(None)
    assert row["status"]["lastExecution"]["state"] == "EntryLevelErrors"
    assert row["status"]["lastExecution"]["countEscrowed"] == 1
    assert sorted(setup.target_users()) == ["user0@contoso.example", "user2@contoso.example"]
    from provisiond.store.tables import escrows

    with setup.server.db.read() as conn:
        rows = conn.execute(escrows.select()).mappings().all()
    assert [(r["error_code"], r["attempts"]) for r in rows] == [("InternalServerError", 1)]


def test_pause_keeps_state_and_start_resumes(engine_server: LiveServer, scim_target: ScimTarget) -> None:
    setup: Provisioned = provision(engine_server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    assert setup.client.post(f"{setup.job_url}/pause").status_code == 204
    from tests.api.helpers import make_user

    newcomer = make_user(setup.client, "later")
    setup.assign(newcomer["id"])
    row = setup.job_row()
    assert row["status"]["code"] == "Paused"
    assert "later@contoso.example" not in setup.target_users()
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    wait_for(lambda: "later@contoso.example" in setup.target_users(), 30, "the change after start")


def test_an_assignment_committed_while_a_cycle_reads_the_scope_is_not_skipped_by_the_watermark(
    engine_server: LiveServer, scim_target: ScimTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is lost (DESIGN invariant 1): a cycle reads the change-log head before the
    assignments, so an assignment committed right after it read them lies beyond the head and
    is processed by the next cycle, instead of passing under the watermark unseen."""
    setup = provision(engine_server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    late = make_user(setup.client, "late")
    setup.wait_idle()
    armed = [late["id"]]
    real = DirectorySource.assignments

    def assignments(source: DirectorySource, service_principal_id: str) -> Any:
        snapshot = real(source, service_principal_id)
        if armed:  # committed after this cycle's snapshot of the scope
            setup.assign(armed.pop())
        return snapshot

    monkeypatch.setattr(DirectorySource, "assignments", assignments)
    # Any change makes a cycle read the scope; this one does not concern the late user.
    user0 = setup.users["user0@contoso.example"]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Lead"}).status_code == 204
    wait_for(lambda: not armed, 30, "the assignment made during the cycle")
    wait_for(lambda: "late@contoso.example" in setup.target_users(), 30, "the late user in the app")
    setup.wait_idle()
    assert setup.target_users()["user0@contoso.example"]["title"] == "Lead"


def test_a_full_pass_shows_progress_from_zero_of_every_directory_object_and_none_once_it_ended(
    manual_engine: ManualEngine, scim_target: ScimTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release = threading.Event()
    real = DirectorySource.user_page

    def held_user_page(source: DirectorySource, *args: Any, **kwargs: Any) -> Any:
        release.wait(30)  # the cycle has begun and waits here for the test
        return real(source, *args, **kwargs)

    monkeypatch.setattr(DirectorySource, "user_page", held_user_page)
    clock = manual_engine.clock
    setup = provision(manual_engine.server, scim_target, users=2)

    def counting() -> dict[str, Any] | None:
        row = setup.job_row()
        progress = row["status"]["progress"]
        return row if row["lease_owner"] and progress and progress[0]["totalUnits"] else None

    running = wait_for(counting, 30)
    [progress] = running["status"]["progress"]
    # Two users and their group, none processed yet: the pass waits in its first page.
    assert (progress["completedUnits"], progress["totalUnits"]) == (0, 3)
    assert progress["progressObservationDateTime"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M:%S"))
    assert running["status"]["lastExecution"] is None

    release.set()
    ended = setup.wait_cycle(None)
    assert ended["status"]["progress"] == []
    assert ended["status"]["lastExecution"]["state"] == "Succeeded"
