"""Restart scopes against a real SCIM target (graph-sync-api §3.1, issue 3 §4): what each
`criteria.resetScope` does to the engine's state, proven by the target's traffic, the job's
status and the provisioning logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision, wait_for
from tests.scim_target import Fault

from provisiond.domain.provisioning_log import PropertyChange
from provisiond.store.tables import escrows, provisioning_logs, staged_deletes

USER1 = "user1@contoso.example"


def restart(setup: Provisioned, scope: str | None) -> None:
    body = {"criteria": {"resetScope": scope}} if scope is not None else {}
    response = setup.client.post(f"{setup.job_url}/restart", json=body)
    assert response.status_code == 204, response.text


def cycles_in_logs(
    setup: Provisioned, exclude: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[dict[str, Any]]]:
    cycles: dict[str, list[dict[str, Any]]] = {}
    for row in setup.rows(provisioning_logs):
        if row["cycle_id"] not in exclude:
            cycles.setdefault(row["cycle_id"], []).append(row)
    return cycles


def mentions(target: ScimTarget, text: str) -> int:
    """Requests whose path (URL-encoded query) or body name `text`."""
    encoded = text.replace("@", "%40")
    return sum(
        1 for r in target.traffic.matching() if text.encode() in r.body or encoded in r.path or text in r.path
    )


DRIFTED = "Changed Behind The Engine"


def drift_in_app(setup: Provisioned, upn: str) -> None:
    """Change a user's displayName in the SCIM app directly, as someone editing the app would."""
    target_id = setup.target_users()[upn]["id"]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": DRIFTED}],
    }
    with setup.scim.client() as client:
        response = client.patch(f"/Users/{target_id}", json=body)
    assert response.status_code in (200, 204), response.text


def assert_app_holds_exactly_the_directory(setup: Provisioned) -> None:
    """No duplicates: one app user per directory user, one group with each member once."""
    names = [u["userName"] for u in setup.scim.resources("Users")]
    assert sorted(names) == sorted(setup.users)
    [group] = setup.scim.resources("Groups")
    members = [m["value"] for m in group.get("members") or []]
    assert sorted(members) == sorted(u["id"] for u in setup.target_users().values())


# Every resetScope, explicit None and the absent default included, makes the next cycle a full
# pass (the seed: "forcing it to reprocess all the objects in the directory"); only those that
# clear the connector data store re-match the app and so correct drift made behind our back.
RESTARTS = [
    pytest.param(None, False, id="absent"),
    pytest.param("", False, id="empty"),
    pytest.param("None", False, id="None"),
    pytest.param("Watermark", False, id="Watermark"),
    pytest.param("Escrows", False, id="Escrows"),
    pytest.param("QuarantineState", False, id="QuarantineState"),
    pytest.param("ForceDeletes", False, id="ForceDeletes"),
    pytest.param("Watermark, Escrows, QuarantineState", False, id="portal-default"),
    pytest.param("ConnectorDataStore", True, id="ConnectorDataStore"),
    pytest.param("Full", True, id="Full"),
]


@pytest.mark.parametrize(("scope", "rematches"), RESTARTS)
def test_every_restart_imports_every_object_and_only_a_data_store_reset_corrects_drift_in_the_app(
    scope: str | None, rematches: bool, engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    drift_in_app(setup, USER1)
    scim_target.traffic.reset()
    before = setup.ended()

    restart(setup, scope)
    row = setup.wait_cycle(before)
    setup.wait_idle()

    last = row["status"]["lastExecution"]
    assert last["state"] == "Succeeded"
    assert last["countImported"] == 4  # three users and the group, not only changes
    assert row["initial_cursor"] is None and row["watermark"] is not None
    display = setup.target_users()[USER1]["displayName"]
    if rematches:
        # Matched again against the app: the drift is corrected with one PATCH, nothing created.
        assert display == setup.users[USER1]["displayName"]
        writes = scim_target.traffic.writes()
        assert len(writes) == 1
        assert writes[0][0] == "PATCH" and "/Users/" in writes[0][1]
    else:
        # The connector data store says the app is in step: nothing is sent, the drift stays.
        assert display == DRIFTED
        assert scim_target.traffic.writes() == []
    assert_app_holds_exactly_the_directory(setup)


def test_after_a_connector_data_store_reset_users_who_leave_scope_later_are_disabled(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    before = setup.ended()
    restart(setup, "ConnectorDataStore")
    setup.wait_cycle(before)
    setup.wait_idle()
    assert_app_holds_exactly_the_directory(setup)

    group, user2 = setup.groups["Engineering"], setup.users["user2@contoso.example"]
    response = setup.client.delete(f"/groups/{group['id']}/members/{user2['id']}/$ref")
    assert response.status_code == 204, response.text
    wait_for(lambda: setup.target_users()["user2@contoso.example"]["active"] is False, 30, "the disable")
    setup.wait_idle()
    [target_group] = setup.scim.resources("Groups")
    assert len(target_group.get("members") or []) == 2


def test_escrows_restart_drops_pending_escrows_and_the_full_pass_starts_a_new_series(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    fault = Fault(method="POST", body_contains=USER1, status=500, retry_after="0")
    scim_target.traffic.faults.append(fault)
    setup = provision(engine_server, scim_target, users=3)
    row = setup.wait_cycle(None)
    assert row["status"]["lastExecution"]["countEscrowed"] == 1
    [escrow] = setup.rows(escrows)
    assert escrow["source_id"] == setup.users[USER1]["id"]

    before = setup.ended()
    restart(setup, "Escrows")
    assert setup.rows(escrows) == []  # dropped when the restart returns
    row = setup.wait_cycle(before)
    status = row["status"]
    # The full pass tries the user again as a first attempt: a new series, not a retry.
    assert status["lastExecution"]["countImported"] == 4
    assert status["lastExecution"]["countEscrowed"] == 1
    assert status["escrowsPruned"] is False
    [again] = setup.rows(escrows)
    assert again["attempts"] == 1
    assert again["first_failed_date_time"] > escrow["first_failed_date_time"]

    # The target recovers; once the user changes it is processed at once and created.
    with scim_target.traffic.lock:
        scim_target.traffic.faults.remove(fault)
    user1 = setup.users[USER1]
    assert setup.client.patch(f"/users/{user1['id']}", json={"jobTitle": "Changed"}).status_code == 204
    wait_for(lambda: USER1 in setup.target_users(), 30, "the changed user in the target")
    setup.wait_idle()
    assert setup.target_users()[USER1]["title"] == "Changed"
    members = setup.target_groups()["Engineering"].get("members") or []
    assert len(members) == 3
    assert setup.rows(escrows) == []


def test_quarantine_state_restart_lifts_the_quarantine_and_runs_a_cycle_now(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2, secrets={"SecretToken": "wrong"})
    row = setup.wait_cycle(None)
    first = row["status"]["quarantine"]
    assert row["status"]["code"] == "Quarantine"
    assert first["seriesCount"] == 1
    assert row["cycle_due_at"] > datetime.now(UTC) + timedelta(hours=5)  # the 6-hour retry

    before = setup.ended()
    restart(setup, "QuarantineState")
    status = setup.client.get(setup.job_url).json()["status"]
    assert status["quarantine"] is None
    assert status["code"] == "Active"
    # A cycle runs now rather than six hours later; the credentials are still wrong, so it
    # quarantines again, in a new series.
    row = setup.wait_cycle(before)
    second = row["status"]["quarantine"]
    assert row["status"]["code"] == "Quarantine"
    assert second["reason"] == "EncounteredQuarantineException"
    assert second["seriesCount"] == 1
    assert second["seriesBegan"] > first["seriesBegan"]

    body = {"value": [{"key": "SecretToken", "value": scim_target.token}]}
    assert setup.client.put(f"{setup.sync}/secrets", json=body).status_code == 204
    before = setup.ended()
    restart(setup, "QuarantineState")
    row = setup.wait_cycle(before)
    status = row["status"]
    assert status["code"] == "Active"
    assert status["quarantine"] is None
    assert status["lastExecution"]["state"] == "Succeeded"
    assert sorted(setup.target_users()) == sorted(setup.users)


def test_watermark_restart_during_a_running_initial_cycle_stops_it_and_one_new_initial_cycle_follows(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    users = 150
    setup = provision(engine_server, scim_target, users=users, settings={"ExportRequestsPerSecond": "100"})
    wait_for(
        lambda: len(scim_target.traffic.matching("POST", "/Users")) >= 20,
        60,
        "the initial cycle to be under way",
    )
    assert setup.job_row()["lease_owner"] is not None  # still running
    generation = setup.job_row()["generation"]
    restart(setup, "Watermark")
    assert setup.job_row()["generation"] == generation + 1

    row = setup.wait_cycle(None)  # the interrupted cycle records no execution
    setup.wait_idle()
    last = row["status"]["lastExecution"]
    assert last["state"] == "Succeeded"
    assert last["countImported"] == users + 1
    assert setup.ended() == last["timeEnded"]  # nothing ran after it

    names = [u["userName"] for u in scim_target.resources("Users")]
    assert len(names) == users
    assert sorted(set(names)) == sorted(setup.users)
    assert len(scim_target.traffic.matching("POST", "/Users")) == users  # each created once
    assert len(scim_target.traffic.matching("POST", "/Groups")) == 1
    # Users the interrupted cycle created were matched by the new one, already in step: no PATCH.
    assert scim_target.traffic.matching("PATCH", "/Users") == []
    assert len(setup.target_groups()["Engineering"].get("members") or []) == users

    # Exactly one cycle recorded outcomes after the restart, one entry per user.
    cycles = cycles_in_logs(setup)
    assert len(cycles) == 1
    [entries] = cycles.values()
    user_entries = [e for e in entries if e["source_type"] == "User"]
    assert sorted(e["source_id"] for e in user_entries) == sorted(u["id"] for u in setup.users.values())
    assert setup.rows(escrows) == []


def test_two_restarts_back_to_back_give_one_initial_cycle(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=4, settings={"ExportRequestsPerSecond": "10"})
    setup.wait_cycle(None)
    setup.wait_idle()
    first_cycles = set(cycles_in_logs(setup))
    assert len(first_cycles) == 1
    generation = setup.job_row()["generation"]
    before = setup.ended()

    # Full re-matches every object by query: rate-limited, so the cycle takes a while.
    restart(setup, "Full")
    restart(setup, "Full")
    row = setup.wait_cycle(before)
    setup.wait_idle()

    assert setup.job_row()["generation"] == generation + 2
    last = row["status"]["lastExecution"]
    assert last["state"] == "Succeeded"
    assert last["countImported"] == 5
    assert setup.ended() == last["timeEnded"]
    cycles = cycles_in_logs(setup, exclude=first_cycles)
    assert len(cycles) == 1
    [entries] = cycles.values()
    counts: dict[str, int] = {}
    for entry in entries:
        if entry["source_type"] == "User":
            counts[entry["source_id"]] = counts.get(entry["source_id"], 0) + 1
    assert counts == {u["id"]: 1 for u in setup.users.values()}
    assert sorted(setup.target_users()) == sorted(setup.users)
    assert len(setup.target_groups()) == 1


def test_a_schema_put_resets_the_watermark_and_the_next_cycle_is_initial(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    first_cycles = set(cycles_in_logs(setup))
    schema = setup.client.get(f"{setup.job_url}/schema").json()
    schema = {k: v for k, v in schema.items() if not k.startswith("@")}
    users_mapping = next(
        m
        for rule in schema["synchronizationRules"]
        for m in rule["objectMappings"]
        if m["sourceObjectName"] == "User"
    )
    title = next(a for a in users_mapping["attributeMappings"] if a["targetAttributeName"] == "title")
    title["source"] = {"expression": '"Staff"', "name": "Staff", "parameters": [], "type": "Constant"}
    before = setup.ended()

    assert setup.client.put(f"{setup.job_url}/schema", json=schema).status_code == 204
    assert setup.job_row()["watermark"] is None
    row = setup.wait_cycle(before)
    setup.wait_idle()

    last = row["status"]["lastExecution"]
    assert last["countImported"] == 4  # every in-scope object, not only changes
    assert row["watermark"] is not None
    assert {u["userName"]: u.get("title") for u in setup.target_users().values()} == {
        name: "Staff" for name in setup.users
    }
    cycles = cycles_in_logs(setup, exclude=first_cycles)
    assert len(cycles) == 1
    [entries] = cycles.values()
    updates = [e for e in entries if e["source_type"] == "User"]
    assert sorted(e["action"] for e in updates) == ["update"] * 3
    for entry in updates:
        assert PropertyChange("title", None, "Staff") in entry["modified_properties"]


def test_force_deletes_without_a_held_delete_is_harmless(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    watermark = setup.job_row()["watermark"]
    scim_target.traffic.reset()
    before = setup.ended()

    restart(setup, "ForceDeletes")
    row = setup.wait_cycle(before)
    setup.wait_idle()

    status = row["status"]
    assert status["code"] == "Active"
    assert status["quarantine"] is None
    assert status["lastExecution"]["state"] == "Succeeded"
    assert status["lastExecution"]["countExported"] == 0
    assert row["watermark"] == watermark
    assert scim_target.traffic.writes() == []
    users = setup.target_users()
    assert sorted(users) == sorted(setup.users)
    assert all(u["active"] is True for u in users.values())
    with setup.server.db.read() as conn:
        assert conn.execute(staged_deletes.select()).first() is None
