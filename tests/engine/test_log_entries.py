"""Logs and status that tell the truth (issue 7 G), and updates checked against the app when
the previous export failed (issue 7 F): one provisioning-log entry per object per cycle, a
failed export keeps its action, countEscrowed counts the escrows still pending."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision, wait_for
from tests.scim_target import AppliedFault, Fault

from provisiond.domain.provisioning_log import PropertyChange
from provisiond.store.tables import escrows, provisioning_logs

USER0 = "user0@contoso.example"
USER1 = "user1@contoso.example"
USER2 = "user2@contoso.example"


def entries(setup: Provisioned, upn: str) -> list[dict[str, Any]]:
    source_id = setup.users[upn]["id"]
    with setup.server.db.read() as conn:
        query = (
            provisioning_logs.select()
            .where(
                (provisioning_logs.c.job_id == setup.job_id) & (provisioning_logs.c.source_id == source_id)
            )
            .order_by(provisioning_logs.c.activity_date_time)
        )
        return [dict(r) for r in conn.execute(query).mappings()]


def started(server: LiveServer, scim: ScimTarget) -> Provisioned:
    setup = provision(server, scim, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    return setup


def only_entry_of_latest_cycle(setup: Provisioned, upn: str) -> dict[str, Any]:
    logged = entries(setup, upn)
    latest = logged[-1]["cycle_id"]
    [entry] = [e for e in logged if e["cycle_id"] == latest]
    return entry


def test_a_disable_is_one_entry_with_the_plan_the_guard_and_the_export_as_steps(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = started(engine_server, scim_target)
    assert setup.client.delete(f"/users/{setup.users[USER1]['id']}").status_code == 204
    wait_for(lambda: setup.target_users()[USER1]["active"] is False, 30, "the disable")
    setup.wait_idle()

    entry = only_entry_of_latest_cycle(setup, USER1)
    assert (entry["action"], entry["status"]) == ("disable", "success")
    names = [s.name for s in entry["steps"]]
    assert names[:2] == ["EntryImport", "EntrySynchronizationScoping"]
    assert names[-3:] == ["EntrySynchronizationDisable", "EntryDeletionGuard", "EntryExportUpdate"]
    assert entry["target_id"] == setup.target_users()[USER1]["id"]


def test_an_unchanged_user_whose_manager_changes_is_one_update_entry(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = started(engine_server, scim_target)
    manager = {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{setup.users[USER0]['id']}"}
    response = setup.client.put(f"/users/{setup.users[USER2]['id']}/manager/$ref", json=manager)
    assert response.status_code == 204, response.text
    wait_for(lambda: len({e["cycle_id"] for e in entries(setup, USER2)}) == 2, 30, "the manager's cycle")
    setup.wait_idle()

    entry = only_entry_of_latest_cycle(setup, USER2)
    assert (entry["action"], entry["status"]) == ("update", "success")
    kinds = [s.kind for s in entry["steps"]]
    assert kinds[0] == "import" and kinds[-1] == "referenceResolution"
    assert [p.name for p in entry["modified_properties"]] == ["manager"]
    assert entry["error_code"] is None


def test_failed_updates_keep_their_action_and_count_escrowed_counts_pending_escrows(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = started(engine_server, scim_target)
    fault = Fault(method="PATCH", body_contains="Broken", status=500, retry_after="0")
    scim_target.traffic.faults.append(fault)
    user0 = setup.users[USER0]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Broken"}).status_code == 204
    wait_for(lambda: setup.rows(escrows), 30, "the escrow")
    row = setup.wait_idle()
    assert row["status"]["lastExecution"]["countEscrowed"] == 1
    entry = only_entry_of_latest_cycle(setup, USER0)
    assert (entry["action"], entry["status"], entry["error_code"]) == (
        "update",
        "failure",
        "InternalServerError",
    )

    # Another user's change runs a cycle that does not retry user0 yet (its backoff is 30
    # minutes); the escrow is still pending, and the execution says so.
    before = setup.ended()
    user2 = setup.users[USER2]
    assert setup.client.patch(f"/users/{user2['id']}", json={"jobTitle": "Fine"}).status_code == 204
    row = setup.wait_cycle(before)
    last = row["status"]["lastExecution"]
    assert (last["countEscrowed"], last["state"]) == (1, "EntryLevelErrors")
    assert setup.target_users()[USER2]["title"] == "Fine"


def test_after_a_failed_patch_the_app_applied_the_next_change_is_checked_against_the_app(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = started(engine_server, scim_target)
    user1 = setup.users[USER1]
    original = user1["displayName"]
    scim_target.traffic.applied_faults.append(
        AppliedFault(method="PATCH", body_contains="Renamed", status=500)
    )
    assert setup.client.patch(f"/users/{user1['id']}", json={"displayName": "Renamed"}).status_code == 204
    wait_for(lambda: setup.rows(escrows), 30, "the escrow of the PATCH the app applied")
    setup.wait_idle()
    assert setup.target_users()[USER1]["displayName"] == "Renamed"  # applied, though answered 500
    scim_target.traffic.applied_faults.clear()

    # Back to the original: the connector data store still holds the original, so judging by it
    # alone there is nothing to send, and the app would stay "Renamed".
    before = setup.ended()
    assert setup.client.patch(f"/users/{user1['id']}", json={"displayName": original}).status_code == 204
    setup.wait_cycle(before)
    setup.wait_idle()
    assert setup.target_users()[USER1]["displayName"] == original
    assert setup.rows(escrows) == []
    entry = only_entry_of_latest_cycle(setup, USER1)
    assert (entry["action"], entry["status"]) == ("update", "success")
    assert any("Read back from the target" in s.description for s in entry["steps"])
    assert PropertyChange("displayName", "Renamed", original) in entry["modified_properties"]
