"""Previews of the next cycle (issue 9 A) against a real SCIM app, on a ManualClock, on both
databases: a preview's counts and planned actions are what the cycle then does, and a
preview writes nothing (not to the app, not to the engine's state, not to the logs)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from tests.api.helpers import make_user
from tests.conftest import ScimTarget
from tests.engine.helpers import ManualEngine, Provisioned, provision, wait_for

from provisiond.engine.preview import classify
from provisiond.store.tables import (
    connector_data_store,
    deletion_exports,
    directory_changes,
    escrows,
    provisioning_logs,
    staged_deletes,
    sync_jobs,
)

SECOND = timedelta(seconds=1)
STATE = (connector_data_store, escrows, staged_deletes, deletion_exports, provisioning_logs)


def snapshot(setup: Provisioned) -> dict[str, Any]:
    """Everything a preview must leave as it was: the job's row and engine state, its logs,
    the directory's change log, and what the app holds."""
    with setup.server.db.read() as conn:
        job = dict(conn.execute(sync_jobs.select().where(sync_jobs.c.id == setup.job_id)).mappings().one())
        changes = conn.execute(directory_changes.select()).all()
    return {
        "job": job,
        **{t.name: sorted(map(repr, setup.rows(t))) for t in STATE},
        "changes": len(changes),
        "users": setup.scim.resources("Users"),
        "groups": setup.scim.resources("Groups"),
    }


def preview(setup: Provisioned, body: dict[str, Any] | None = None) -> dict[str, Any]:
    writes_before = len(writes(setup.scim))
    before = snapshot(setup)
    response = setup.client.post(f"{setup.job_url}/preview", json=body or {})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "succeeded", result
    assert snapshot(setup) == before, "the preview wrote something"
    assert len(writes(setup.scim)) == writes_before, "the preview wrote to the app"
    return dict(result)


def writes(scim: ScimTarget) -> list[Any]:
    return [r for r in scim.traffic.matching() if r.method != "GET"]


def counts(result: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (c["objectType"], action): n
        for c in result["counts"]
        for action, n in c.items()
        if action != "objectType" and n
    }


def planned(setup: Provisioned, result: dict[str, Any]) -> set[tuple[str, str]]:
    """(source id, action) of every listed planned action, through the paged list."""
    url = f"{setup.job_url}/previews/{result['id']}/actions?$top=2"
    seen: set[tuple[str, str]] = set()
    while url:
        page = setup.client.get(url)
        assert page.status_code == 200, page.text
        actions = page.json()["value"]
        seen |= {(a["sourceId"], a["action"]) for a in actions}
        changes = [c for a in actions for c in a["modifiedProperties"]]
        assert all(c["oldValue"] != c["newValue"] for c in changes), changes
        url = page.json().get("@odata.nextLink")
    return seen


def cycle_entries(setup: Provisioned, cycle_id: str) -> list[dict[str, Any]]:
    return [r for r in setup.rows(provisioning_logs) if r["cycle_id"] == cycle_id]


def last_cycle(setup: Provisioned, since: set[str]) -> str:
    cycles = {r["cycle_id"] for r in setup.rows(provisioning_logs)} - since
    assert len(cycles) == 1, cycles
    return cycles.pop()


def real_counts(setup: Provisioned, entries: list[dict[str, Any]], out_of_scope: int = 0) -> dict:
    tally = Counter((e["source_type"], classify(e)) for e in entries)
    if out_of_scope:
        tally[("User", "outOfScope")] += out_of_scope
    return dict(tally)


def listed(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["source_id"], a) for e in entries if (a := classify(e)) not in ("unchanged", "outOfScope")}


def cycles_so_far(setup: Provisioned) -> set[str]:
    return {r["cycle_id"] for r in setup.rows(provisioning_logs)}


def run_cycle(manual_engine: ManualEngine, setup: Provisioned, start: bool = False) -> str:
    """Start the job (a cycle is due at once) and wait for that cycle; the clock moves a second
    first, so the cycle's end time tells it from the one before."""
    before = cycles_so_far(setup)
    previous = setup.ended()
    manual_engine.clock.advance(SECOND)
    if start:
        assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    setup.wait_cycle(previous)
    return last_cycle(setup, before)


def test_preview_of_the_initial_cycle_is_what_the_cycle_does_and_writes_nothing(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = provision(manual_engine.server, scim_target, users=3, start=False)
    make_user(setup.client, "outsider")  # not assigned
    result = preview(setup)
    assert result["fullPass"] is True
    assert counts(result) == {("User", "create"): 3, ("User", "outOfScope"): 1, ("Group", "create"): 1}
    assert result["deletionGuard"]["wouldTrip"] is False
    assert result["progress"]["processed"] == result["progress"]["total"] == 5
    actions = planned(setup, result)

    cycle = run_cycle(manual_engine, setup, start=True)
    entries = cycle_entries(setup, cycle)
    assert real_counts(setup, entries, out_of_scope=1) == counts(result)
    assert listed(entries) == actions
    assert len(setup.scim.resources("Users")) == 3


def test_preview_lists_each_change_old_to_new(manual_engine: ManualEngine, scim_target: ScimTarget) -> None:
    setup = provision(manual_engine.server, scim_target, users=2)
    setup.wait_idle()
    assert setup.client.post(f"{setup.job_url}/pause").status_code == 204
    upn = "user0@contoso.example"
    user_id = setup.users[upn]["id"]
    assert setup.client.patch(f"/users/{user_id}", json={"givenName": "Renamed"}).status_code == 204
    result = preview(setup)
    assert result["fullPass"] is False
    assert counts(result) == {("User", "update"): 1}
    page = setup.client.get(f"{setup.job_url}/previews/{result['id']}/actions").json()["value"]
    [action] = page
    assert action["sourceId"] == user_id and action["action"] == "update"
    assert action["targetId"] == setup.target_users()[upn]["id"]
    assert {"displayName": "name.givenName", "oldValue": "Given0", "newValue": "Renamed"} in action[
        "modifiedProperties"
    ]

    cycle = run_cycle(manual_engine, setup, start=True)
    entries = cycle_entries(setup, cycle)
    assert real_counts(setup, entries) == counts(result)
    assert setup.target_users()[upn]["name"]["givenName"] == "Renamed"


@pytest.mark.parametrize(
    "scope", ["Watermark, Escrows, QuarantineState", "ConnectorDataStore, Watermark", "ForceDeletes"]
)
def test_preview_of_a_restart_is_what_the_restart_does(
    manual_engine: ManualEngine, scim_target: ScimTarget, scope: str
) -> None:
    """After changes made while paused: an update, a disable (account disabled), a create
    (new member) and drift in the app, which only a re-match (ConnectorDataStore) sees; and
    a job that forgets what it manages (ConnectorDataStore) does not disable what it forgot."""
    setup = provision(manual_engine.server, scim_target, users=3)
    setup.wait_idle()
    assert setup.client.post(f"{setup.job_url}/pause").status_code == 204
    users = list(setup.users.values())
    assert setup.client.patch(f"/users/{users[0]['id']}", json={"surname": "Changed"}).status_code == 204
    assert setup.client.patch(f"/users/{users[1]['id']}", json={"accountEnabled": False}).status_code == 204
    new = make_user(setup.client, "new")
    group = setup.groups["Engineering"]["id"]
    bind = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{new['id']}"}
    assert setup.client.post(f"/groups/{group}/members/$ref", json=bind).status_code == 204
    target = setup.target_users()["user2@contoso.example"]["id"]
    with setup.scim.client() as scim:
        drift = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Drifted"}],
        }
        assert scim.patch(f"/Users/{target}", json=drift).status_code in (200, 204)

    result = preview(setup, {"criteria": {"resetScope": scope}})
    assert result["fullPass"] is True
    assert set(result["resetScope"].split(", ")) == set(scope.split(", "))
    expected_updates = 2 if "ConnectorDataStore" in scope else 1  # the drifted user, re-matched
    assert counts(result)[("User", "update")] == expected_updates
    assert counts(result)[("User", "create")] == 1
    if "ConnectorDataStore" in scope:
        # Forgotten by the job, the disabled account is no longer its to disable.
        assert ("User", "disable") not in counts(result)
        assert counts(result)[("User", "outOfScope")] == 1
    else:
        assert counts(result)[("User", "disable")] == 1
    actions = planned(setup, result)

    before = cycles_so_far(setup)
    previous = setup.ended()
    manual_engine.clock.advance(SECOND)
    response = setup.client.post(f"{setup.job_url}/restart", json={"criteria": {"resetScope": scope}})
    assert response.status_code == 204
    setup.wait_cycle(previous)
    entries = cycle_entries(setup, last_cycle(setup, before))
    assert real_counts(setup, entries) == counts(result)
    assert listed(entries) == actions
    drifted = setup.target_users()["user2@contoso.example"]["displayName"]
    assert (drifted != "Drifted") == ("ConnectorDataStore" in scope)


def test_preview_says_the_deletion_guard_would_hold_the_deletes(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = provision(
        manual_engine.server, scim_target, users=4, settings={"QuarantineTooManyDeletesThreshold": "2"}
    )
    setup.wait_idle()
    assert setup.client.post(f"{setup.job_url}/pause").status_code == 204
    for user in list(setup.users.values())[:3]:
        assert setup.client.delete(f"/users/{user['id']}").status_code == 204
    result = preview(setup)
    guard = result["deletionGuard"]
    assert guard["wouldTrip"] is True
    assert guard["threshold"] == 2 and guard["plannedDisablesAndDeletes"] == 3
    assert "exceed the deletion threshold of 2" in guard["message"]
    assert counts(result) == {("User", "held"): 3}

    cycle = run_cycle(manual_engine, setup, start=True)
    entries = cycle_entries(setup, cycle)
    assert real_counts(setup, entries) == counts(result)
    assert all(u.get("active") for u in setup.target_users().values()), "the guard held them"
    # ForceDeletes lets them through: its preview says so, before the restart does it.
    forced = preview(setup, {"criteria": {"resetScope": "ForceDeletes"}})
    assert forced["deletionGuard"]["wouldTrip"] is False
    assert counts(forced)[("User", "disable")] == 3


def test_preview_of_an_unsaved_schema_is_what_saving_it_does(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = provision(manual_engine.server, scim_target, users=3)
    setup.wait_idle()
    schema = setup.client.get(f"{setup.job_url}/schema").json()
    for rule in schema["synchronizationRules"]:
        for mapping in rule["objectMappings"]:
            for attribute in mapping["attributeMappings"]:
                if attribute["targetAttributeName"] == "title":
                    attribute["source"] = {
                        "expression": '"Staff"',
                        "name": "Staff",
                        "type": "Constant",
                        "parameters": [],
                    }
                    attribute["flowBehavior"] = "FlowAlways"
    result = preview(setup, {"schema": schema})
    assert result["schemaChanged"] is True and result["fullPass"] is True
    assert counts(result)[("User", "update")] == 3
    page = setup.client.get(f"{setup.job_url}/previews/{result['id']}/actions?$filter=action eq 'update'")
    for action in page.json()["value"]:
        assert {"displayName": "title", "oldValue": None, "newValue": "Staff"} in action["modifiedProperties"]

    before = cycles_so_far(setup)
    previous = setup.ended()
    manual_engine.clock.advance(SECOND)
    assert setup.client.put(f"{setup.job_url}/schema", json=schema).status_code == 204
    setup.wait_cycle(previous)
    entries = cycle_entries(setup, last_cycle(setup, before))
    assert real_counts(setup, entries) == counts(result)
    assert {u.get("title") for u in setup.target_users().values()} == {"Staff"}


def test_a_background_preview_reports_progress_and_its_result_by_url(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = provision(manual_engine.server, scim_target, users=3, start=False)
    response = setup.client.post(f"{setup.job_url}/preview", json={}, headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location.endswith(f"/previews/{response.json()['id']}")

    def done() -> dict[str, Any] | None:
        body = setup.client.get(location).json()
        return body if body["status"] != "running" else None

    result = wait_for(done, what="the preview to finish")
    assert result["status"] == "succeeded", result
    assert counts(result) == {("User", "create"): 3, ("Group", "create"): 1}
    assert not writes(setup.scim)
