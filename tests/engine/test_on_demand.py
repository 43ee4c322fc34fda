"""Provision on demand in the engine: one subject through scope, map, match, plan and export
into a real scim2-server, recorded like a cycle (connector data store, escrows, logs) and
without moving the watermark. The job is never started, so no cycle runs beside the calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision
from tests.scim_target import Fault

from provisiond.clock import SystemClock
from provisiond.domain.provisioning_log import PropertyChange, StepKind
from provisiond.engine.objects import GROUP, USER
from provisiond.engine.on_demand import (
    Initiator,
    OnDemandResult,
    Subject,
    SubjectInvalid,
    SubjectNotFound,
    provision_on_demand,
)
from provisiond.store import engine_state
from provisiond.store.tables import escrows, provisioning_logs

USER0 = "user0@contoso.example"
USER1 = "user1@contoso.example"
ADMIN = Initiator("4f7e1a52-0000-4000-8000-00000000a001", "user")
FIVE_STEPS = ["import", "scoping", "matching", "processing", "export"]


def run(setup: Provisioned, subject: Subject, *, token: str | None = None) -> OnDemandResult:
    job = setup.job_row()
    rule = job["schema"]["synchronizationRules"][0]
    secrets = {"BaseAddress": setup.scim.url, "SecretToken": token or setup.scim.token, "SyncAll": "false"}
    return asyncio.run(
        provision_on_demand(
            setup.server.db, SystemClock(), job, rule, secrets, subject, ADMIN, owner="test-on-demand"
        )
    )


def user_id(setup: Provisioned, upn: str) -> str:
    return str(setup.users[upn]["id"])


def cds(setup: Provisioned, source_id: str) -> dict[str, Any] | None:
    with setup.server.db.read() as conn:
        return engine_state.cds_get(conn, setup.job_id, [source_id]).get(source_id)


def kinds(record: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for step in record["steps"]:
        if step.kind not in seen:
            seen.append(step.kind)
    return seen


@pytest.fixture
def setup(live_server: LiveServer, scim_target: ScimTarget) -> Provisioned:
    return provision(live_server, scim_target, users=3, start=False)


def test_a_user_is_created_in_the_target_and_recorded_in_the_connector_data_store_and_logs(
    setup: Provisioned,
) -> None:
    adele = user_id(setup, USER0)
    result = run(setup, Subject(adele, USER))

    record = result.record
    assert (record["action"], record["status"]) == ("create", "success")
    assert kinds(record) == FIVE_STEPS
    imported = record["steps"][0]
    assert imported.details["InitiatedBy"] == ADMIN.id
    assert imported.details["InitiatedByType"] == "user"
    scoping = next(s for s in record["steps"] if s.kind is StepKind.Scoping)
    assert scoping.details["IsEffectivelyEntitledForProvisioning"] == "True"
    target = setup.target_users()
    assert list(target) == [USER0]  # only the subject, not the other assigned users
    row = cds(setup, adele)
    assert row is not None and row["target_id"] == target[USER0]["id"] == record["target_id"]
    logs = setup.rows(provisioning_logs)
    assert [(r["source_id"], r["action"], r["change_id"]) for r in logs] == [
        (adele, "create", record["change_id"])
    ]


def test_a_directory_change_is_sent_as_an_update_and_an_unchanged_user_is_a_redundant_export(
    setup: Provisioned,
) -> None:
    adele = user_id(setup, USER0)
    run(setup, Subject(adele, USER))
    assert setup.client.patch(f"/users/{adele}", json={"jobTitle": "Engineer"}).status_code == 204

    updated = run(setup, Subject(adele, USER)).record
    assert (updated["action"], updated["status"]) == ("update", "success")
    assert kinds(updated) == FIVE_STEPS
    assert PropertyChange("title", None, "Engineer") in updated["modified_properties"]
    assert setup.target_users()[USER0]["title"] == "Engineer"

    again = run(setup, Subject(adele, USER)).record
    assert (again["action"], again["status"]) == ("other", "skipped")
    export = [s for s in again["steps"] if s.kind is StepKind.Export]
    assert export[-1].details["SkipReason"] == "RedundantExport"
    assert kinds(again) == FIVE_STEPS


def test_a_provisioned_user_out_of_scope_is_disabled_at_once(setup: Provisioned) -> None:
    adele = user_id(setup, USER0)
    run(setup, Subject(adele, USER))
    group = setup.groups["Engineering"]["id"]
    assert setup.client.delete(f"/groups/{group}/members/{adele}/$ref").status_code == 204

    record = run(setup, Subject(adele, USER)).record
    assert (record["action"], record["status"]) == ("disable", "success")
    scoping = next(s for s in record["steps"] if s.kind is StepKind.Scoping)
    assert scoping.details["Assigned"] == "False"
    assert setup.target_users()[USER0]["active"] is False
    row = cds(setup, adele)
    assert row is not None and row["state"] == "disabled"
    with setup.server.db.read() as conn:
        assert engine_state.staged_in_states(conn, setup.job_id, ("planned", "approved", "held")) == []


def test_an_unassigned_user_never_provisioned_is_skipped_and_nothing_is_sent(setup: Provisioned) -> None:
    from tests.api.helpers import make_user

    outsider = make_user(setup.client, "outsider")
    setup.scim.traffic.reset()
    record = run(setup, Subject(outsider["id"], USER)).record
    assert (record["action"], record["status"], record["error_code"]) == (
        "other",
        "skipped",
        "NotEffectivelyEntitled",
    )
    assert kinds(record) == FIVE_STEPS
    assert setup.scim.traffic.log == []
    assert cds(setup, outsider["id"]) is None
    assert len(setup.rows(provisioning_logs)) == 1


def test_a_group_is_provisioned_with_the_listed_members_only(setup: Provisioned) -> None:
    group = setup.groups["Engineering"]["id"]
    listed = (user_id(setup, USER0), user_id(setup, USER1))
    result = run(setup, Subject(group, GROUP, listed))

    assert [m["source_id"] for m in result.members] == list(listed)
    assert all(m["action"] == "create" for m in result.members)
    record = result.record
    assert (record["action"], record["status"]) == ("create", "success")
    assert "referenceResolution" in kinds(record)
    users = setup.target_users()
    assert sorted(users) == [USER0, USER1]
    members = {m["value"] for m in setup.target_groups()["Engineering"]["members"]}
    assert members == {users[USER0]["id"], users[USER1]["id"]}
    row = cds(setup, group)
    assert row is not None and sorted(row["references"]["members"]) == sorted(listed)
    assert len(setup.rows(provisioning_logs)) == 3


def test_the_watermark_and_the_initial_cursor_do_not_move(setup: Provisioned) -> None:
    with setup.server.db.transaction() as conn:
        engine_state.update_job(conn, setup.job_id, {"watermark": 1})
    before = setup.job_row()
    adele = user_id(setup, USER0)
    assert setup.client.patch(f"/users/{adele}", json={"jobTitle": "Engineer"}).status_code == 204
    run(setup, Subject(adele, USER))
    after = setup.job_row()
    for column in ("watermark", "initial_seq", "initial_cursor", "generation", "status", "lease_owner"):
        assert after[column] == before[column], column
    assert after["watermark"] == 1


def test_a_failing_export_escrows_the_user_and_a_later_success_clears_the_escrow(
    setup: Provisioned,
) -> None:
    adele = user_id(setup, USER0)
    setup.scim.traffic.faults.append(Fault(method="POST", path_contains="/Users", status=500))
    failed = run(setup, Subject(adele, USER)).record
    assert failed["status"] == "failure"
    assert kinds(failed) == FIVE_STEPS
    [escrow] = setup.rows(escrows)
    assert (escrow["source_id"], escrow["attempts"]) == (adele, 1)
    assert cds(setup, adele) is None

    again = run(setup, Subject(adele, USER)).record  # backoff does not apply on demand
    assert again["status"] == "failure"
    assert setup.rows(escrows)[0]["attempts"] == 2

    with setup.scim.traffic.lock:
        setup.scim.traffic.faults.clear()
    done = run(setup, Subject(adele, USER)).record
    assert (done["action"], done["status"]) == ("create", "success")
    assert setup.rows(escrows) == []


def test_rejected_credentials_fail_the_export_step_without_escrow_or_quarantine(setup: Provisioned) -> None:
    adele = user_id(setup, USER0)
    before = setup.job_row()["status"]
    record = run(setup, Subject(adele, USER), token="wrong-token").record
    assert record["status"] == "failure"
    assert record["error_code"] == "SystemForCrossDomainIdentityManagementInvalidCredentials"
    export = [s for s in record["steps"] if s.kind is StepKind.Export]
    assert export[-1].status == "failure"
    assert kinds(record) == FIVE_STEPS
    assert setup.rows(escrows) == []
    assert cds(setup, adele) is None
    assert setup.job_row()["status"] == before
    assert [r["status"] for r in setup.rows(provisioning_logs)] == ["failure"]


def test_unknown_subjects_and_strangers_in_a_group_are_refused_before_anything_is_sent(
    setup: Provisioned,
) -> None:
    from tests.api.helpers import make_user

    group = setup.groups["Engineering"]["id"]
    stranger = make_user(setup.client, "stranger")
    with pytest.raises(SubjectNotFound):
        run(setup, Subject("00000000-0000-0000-0000-0000000000ff", USER))
    with pytest.raises(SubjectNotFound):
        run(setup, Subject(group, USER))  # a group is not a user
    with pytest.raises(SubjectInvalid):
        run(setup, Subject(group, GROUP, (stranger["id"],)))
    assert setup.scim.traffic.log == []
    assert setup.rows(provisioning_logs) == []


def test_on_demand_beside_a_running_scheduler_converges_without_duplicates(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=3)
    setup.wait_cycle(None)
    adele = user_id(setup, USER0)
    assert setup.client.patch(f"/users/{adele}", json={"jobTitle": "Lead"}).status_code == 204
    # The scheduler brings a cycle forward for the change while on demand sends it now.
    run(setup, Subject(adele, USER))
    row = setup.wait_idle()
    assert row["watermark"] is not None
    users = [u for u in setup.scim.resources("Users") if u["userName"] == USER0]
    assert len(users) == 1
    assert users[0]["title"] == "Lead"
    # Both may PATCH if they overlap exactly; neither creates a second user or fails.
    records = [r for r in setup.rows(provisioning_logs) if r["source_id"] == adele]
    assert "failure" not in {r["status"] for r in records}
