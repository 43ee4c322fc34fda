"""Restart scopes against a real SCIM target (graph-sync-api §3.1, issue 3 §4): what each
`criteria.resetScope` does to the engine's state, proven by the target's traffic, the job's
status and the provisioning logs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision, wait_for
from tests.scim_target import Fault

from provisiond.store.tables import escrows, provisioning_logs, staged_deletes

USER1 = "user1@contoso.example"


def restart(setup: Provisioned, scope: str | None) -> None:
    body = {"criteria": {"resetScope": scope}} if scope is not None else {}
    response = setup.client.post(f"{setup.job_url}/restart", json=body)
    assert response.status_code == 204, response.text


def escrow_rows(setup: Provisioned) -> list[dict[str, Any]]:
    with setup.server.db.read() as conn:
        query = escrows.select().where(escrows.c.job_id == setup.job_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def log_rows(setup: Provisioned) -> list[dict[str, Any]]:
    with setup.server.db.read() as conn:
        query = provisioning_logs.select().where(provisioning_logs.c.job_id == setup.job_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def cycles_in_logs(
    setup: Provisioned, exclude: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[dict[str, Any]]]:
    cycles: dict[str, list[dict[str, Any]]] = {}
    for row in log_rows(setup):
        if row["cycle_id"] not in exclude:
            cycles.setdefault(row["cycle_id"], []).append(row)
    return cycles


def mentions(target: ScimTarget, text: str) -> int:
    """Requests whose path (URL-encoded query) or body name `text`."""
    encoded = text.replace("@", "%40")
    return sum(
        1 for r in target.traffic.matching() if text.encode() in r.body or encoded in r.path or text in r.path
    )


def test_escrows_restart_drops_pending_escrows_and_they_are_not_retried_until_the_object_changes(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    fault = Fault(method="POST", body_contains=USER1, status=500, retry_after="0")
    scim_target.traffic.faults.append(fault)
    setup = provision(engine_server, scim_target, users=3, settings={"EscrowBackoffBaseMinutes": "0.05"})
    row = setup.wait_cycle(None)
    assert row["status"]["lastExecution"]["countEscrowed"] == 1
    [escrow] = escrow_rows(setup)
    assert escrow["source_id"] == setup.users[USER1]["id"]
    would_retry_at = escrow["next_retry_date_time"]
    watermark = row["watermark"]

    before = setup.ended()
    restart(setup, "Escrows")
    assert escrow_rows(setup) == []  # dropped when the restart returns
    row = setup.wait_cycle(before)
    status = row["status"]
    assert status["lastExecution"]["state"] == "Succeeded"
    assert status["lastExecution"]["countEscrowed"] == 0
    assert status["lastExecution"]["countImported"] == 0  # the watermark was kept: nothing to import
    assert status["escrowsPruned"] is False
    assert row["watermark"] == watermark
    seen = mentions(scim_target, USER1)

    # Past the time the dropped escrow would have been retried, nothing was sent for the user
    # and no cycle is scheduled for it.
    wait_seconds = (would_retry_at - datetime.now(UTC)).total_seconds() + 1.0
    time.sleep(max(wait_seconds, 0.0))
    assert mentions(scim_target, USER1) == seen
    assert escrow_rows(setup) == []
    assert setup.job_row()["cycle_due_at"] > datetime.now(UTC) + timedelta(minutes=30)
    assert USER1 not in setup.target_users()

    # Once it changes it is processed again (and, the target recovered, created).
    with scim_target.traffic.lock:
        scim_target.traffic.faults.remove(fault)
    user1 = setup.users[USER1]
    assert setup.client.patch(f"/users/{user1['id']}", json={"jobTitle": "Changed"}).status_code == 204
    wait_for(lambda: USER1 in setup.target_users(), 30, "the changed user in the target")
    setup.wait_idle()
    assert setup.target_users()[USER1]["title"] == "Changed"
    members = setup.target_groups()["Engineering"].get("members") or []
    assert len(members) == 3
    assert escrow_rows(setup) == []


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
    assert escrow_rows(setup) == []


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
        assert {"displayName": "title", "oldValue": None, "newValue": "Staff"} in entry["modified_properties"]


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
