"""The accidental-deletion guard over a rolling window (issue 7 B; DESIGN invariant 8).

Entra counts a cycle's disables and deletes against QuarantineTooManyDeletesThreshold, and its
cycles are 40 minutes apart. Ours run a second after each change, so the guard counts what the
job exported within a window (the schedule interval by default, or
QuarantineTooManyDeletesWindow) plus what a cycle plans. These tests run the engine on a
ManualClock and a real SCIM app, and look at the app, the job's status and its logs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import ScimTarget
from tests.engine.helpers import ManualEngine, Provisioned, provision, wait_for

from provisiond.store.tables import deletion_exports, provisioning_logs, staged_deletes

MINUTE = timedelta(minutes=1)


def upns(setup: Provisioned) -> list[str]:
    return sorted(setup.users)


def delete_user(setup: Provisioned, upn: str) -> None:
    response = setup.client.delete(f"/users/{setup.users[upn]['id']}")
    assert response.status_code == 204, response.text


def active_in_app(setup: Provisioned) -> dict[str, bool]:
    return {name: bool(user.get("active")) for name, user in setup.target_users().items()}


def entries_of(setup: Provisioned, source_id: str) -> list[dict[str, Any]]:
    with setup.server.db.read() as conn:
        query = provisioning_logs.select().where(
            (provisioning_logs.c.job_id == setup.job_id) & (provisioning_logs.c.source_id == source_id)
        )
        return [dict(r) for r in conn.execute(query).mappings()]


def delete_and_wait(engine: ManualEngine, setup: Provisioned, upn: str) -> dict[str, Any]:
    """A minute later, delete one user and let the cycle that follows run (cycles are told
    apart by the time they ended, so the clock must move between them)."""
    engine.clock.advance(MINUTE)
    before = setup.ended()
    delete_user(setup, upn)
    row = setup.wait_cycle(before)
    setup.wait_idle()
    return row


def started(engine: ManualEngine, scim: ScimTarget, **settings: str) -> Provisioned:
    setup = provision(engine.server, scim, users=6, settings=settings)
    setup.clock = engine.clock
    setup.wait_cycle(None)
    setup.wait_idle()
    assert all(active_in_app(setup).values())
    return setup


def test_deletes_spread_over_cycles_are_held_once_the_window_count_passes_the_threshold(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = started(manual_engine, scim_target, QuarantineTooManyDeletesThreshold="3")
    names = upns(setup)
    for upn in names[:3]:
        row = delete_and_wait(manual_engine, setup, upn)
        assert row["status"]["code"] == "Active"
        assert active_in_app(setup)[upn] is False
    assert len(setup.rows(deletion_exports)) == 3

    # The fourth, minutes later in its own cycle, would make 4 within the 40-minute window.
    row = delete_and_wait(manual_engine, setup, names[3])
    status = row["status"]
    assert status["code"] == "Quarantine"
    assert status["quarantine"]["reason"] == "TooManyDeletes"
    assert "3 already exported within the last PT40M" in status["quarantine"]["error"]["message"]
    assert active_in_app(setup)[names[3]] is True  # held, not sent
    [held] = setup.rows(staged_deletes)
    assert (held["source_id"], held["state"], held["action"]) == (
        setup.users[names[3]]["id"],
        "held",
        "disable",
    )
    # One entry for the held user in that cycle: the plan, then the guard's hold.
    [entry] = [e for e in entries_of(setup, held["source_id"]) if e["action"] != "create"]
    assert (entry["action"], entry["status"]) == ("stageddelete", "skipped")
    assert [s.name for s in entry["steps"]][-2:] == [
        "EntrySynchronizationDisable",
        "EntryExportStagedDelete",
    ]

    # Quarantined: the next cycle is the quarantine's retry, hours away, not the next change.
    assert row["cycle_due_at"] - manual_engine.clock.now() > timedelta(hours=5)


def test_deletes_older_than_the_window_do_not_count(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = started(
        manual_engine,
        scim_target,
        QuarantineTooManyDeletesThreshold="3",
        QuarantineTooManyDeletesWindow="PT10M",
    )
    names = upns(setup)
    for upn in names[:3]:
        assert delete_and_wait(manual_engine, setup, upn)["status"]["code"] == "Active"
    manual_engine.clock.advance(11 * MINUTE)  # the first three leave the window
    for upn in names[3:]:
        row = delete_and_wait(manual_engine, setup, upn)
        assert row["status"]["code"] == "Active", row["status"]
    assert active_in_app(setup) == dict.fromkeys(names, False)
    assert setup.rows(staged_deletes) == []
    # Once a cycle's guard has run, rows older than any window are pruned; these are recent.
    assert len(setup.rows(deletion_exports)) == 6


def test_a_burst_in_one_change_is_held_and_force_deletes_releases_it_and_restarts_the_window(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = started(manual_engine, scim_target, QuarantineTooManyDeletesThreshold="3")
    [assignment] = setup.client.get(f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo").json()["value"]
    manual_engine.clock.advance(MINUTE)
    before = setup.ended()
    # One change takes the group and its six members out of scope.
    response = setup.client.delete(f"/servicePrincipals/{setup.sp_id}/appRoleAssignedTo/{assignment['id']}")
    assert response.status_code == 204, response.text
    row = setup.wait_cycle(before)
    assert row["status"]["quarantine"]["reason"] == "TooManyDeletes"
    assert "7 planned disables and deletes" in row["status"]["quarantine"]["error"]["message"]
    assert all(active_in_app(setup).values())
    assert "Engineering" in setup.target_groups()
    assert sorted(r["state"] for r in setup.rows(staged_deletes)) == ["held"] * 7

    manual_engine.clock.advance(MINUTE)
    before = setup.ended()
    response = setup.client.post(
        f"{setup.job_url}/restart", json={"criteria": {"resetScope": "ForceDeletes"}}
    )
    assert response.status_code == 204, response.text
    row = setup.wait_cycle(before)
    setup.wait_idle()
    assert row["status"]["code"] == "Active"
    assert row["status"]["quarantine"] is None
    assert active_in_app(setup) == dict.fromkeys(upns(setup), False)
    assert "Engineering" not in setup.target_groups()
    assert setup.rows(staged_deletes) == []
    assert setup.rows(deletion_exports) == []  # approved deletes do not count: the window starts again

    # The window starts again: three new deletes pass.
    fresh = [
        setup.client.post(
            "/users",
            json={
                "accountEnabled": True,
                "displayName": f"New {i}",
                "mailNickname": f"new{i}",
                "userPrincipalName": f"new{i}@contoso.example",
                "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
            },
        ).json()
        for i in range(3)
    ]
    for user in fresh:
        setup.users[user["userPrincipalName"]] = user
        setup.assign(user["id"])
    setup.wait_idle()
    manual_engine.clock.advance(MINUTE)
    for user in fresh:
        assert delete_and_wait(manual_engine, setup, user["userPrincipalName"])["status"]["code"] == "Active"
    assert len(setup.rows(deletion_exports)) == 3


def test_provision_on_demand_disables_count_in_the_window(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = started(manual_engine, scim_target, QuarantineTooManyDeletesThreshold="3")
    assert setup.client.post(f"{setup.job_url}/pause").status_code == 204
    names = upns(setup)
    for upn in names[:4]:
        delete_user(setup, upn)
    schema = setup.client.get(f"{setup.job_url}/schema").json()
    rule_id = schema["synchronizationRules"][0]["id"]
    results = []
    for upn in names[:4]:
        subject = {"objectId": setup.users[upn]["id"], "objectTypeName": "User"}
        body = {"parameters": [{"ruleId": rule_id, "subjects": [subject]}]}
        response = setup.client.post(f"{setup.job_url}/provisionOnDemand", json=body)
        assert response.status_code == 200, response.text
        results.append(response.json())
        manual_engine.clock.advance(timedelta(seconds=11))  # past the 5-per-10-seconds limit
    assert [active_in_app(setup)[upn] for upn in names[:4]] == [False, False, False, True]
    assert len(setup.rows(deletion_exports)) == 3
    [staged] = setup.rows(staged_deletes)
    assert staged["source_id"] == setup.users[names[3]]["id"]

    # The cycle that follows counts them: the fourth disable is held.
    before = setup.ended()
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    row = setup.wait_cycle(before)
    assert row["status"]["quarantine"]["reason"] == "TooManyDeletes"
    assert active_in_app(setup)[names[3]] is True
    wait_for(lambda: [r["state"] for r in setup.rows(staged_deletes)] == ["held"], 10, "the held disable")
