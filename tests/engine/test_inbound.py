"""Inbound cycles of an API2AAD job: staged bulkUpload records flow through the job's mappings
into the directory (create, update, partial, manager, disable, deletion guard, escrow, restart
purge), on SQLite and PostgreSQL. Cycles are run one at a time here, so each test controls
exactly what a cycle sees."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.api.bulk_examples import (
    ENTERPRISE,
    EXAMPLE_1,
    UPLOAD,
    bulk,
    hr_user,
    operation,
    upload,
)
from tests.api.helpers import make_app, make_job, make_user
from tests.conftest import LiveServer

from provisiond.clock import SystemClock
from provisiond.graph.job_state import status_wire
from provisiond.runtime import build_scheduler
from provisiond.store import engine_state
from provisiond.store.tables import directory_changes, escrows, inbound_records, provisioning_logs, users

OWNER = "test-worker"


@dataclass
class Inbound:
    server: LiveServer
    admin: httpx.Client
    sp_id: str
    job_id: str

    @property
    def url(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization/jobs/{self.job_id}"

    def upload(self, body: dict[str, Any]) -> None:
        with self.server.client(self.server.token(roles=[UPLOAD])) as client:
            response = upload(client, self.url, body)
        assert response.status_code == 202, response.text

    def cycle(self) -> dict[str, Any]:
        """Run one cycle of the job now, as the scheduler would (lease, dispatch, release)."""
        now = datetime.now(UTC)
        with self.server.db.transaction() as conn:
            engine_state.update_job(conn, self.job_id, {"cycle_due_at": now})
            job = engine_state.claim_due_job(conn, OWNER, now, now + timedelta(minutes=1))
        assert job is not None and job["id"] == self.job_id
        runner = build_scheduler(self.server.settings, self.server.db, SystemClock()).runner
        asyncio.run(runner.run(job, OWNER))
        with self.server.db.transaction() as conn:
            engine_state.release_lease(conn, self.job_id, OWNER, {})
        return self.job()

    def job(self) -> dict[str, Any]:
        """The job's row, its typed status read as Graph's synchronizationStatus."""
        with self.server.db.read() as conn:
            row = engine_state.get_job(conn, self.job_id)
        assert row is not None
        return {**row, "status": status_wire(row["status"])}

    def user(self, employee_id: str) -> dict[str, Any]:
        found = self.users(employee_id)
        assert len(found) == 1, found
        return found[0]

    def users(self, employee_id: str) -> list[dict[str, Any]]:
        with self.server.db.read() as conn:
            query = select(users).where(users.c.employee_id == employee_id)
            return [dict(r) for r in conn.execute(query).mappings()]

    def staged(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.server.db.read() as conn:
            query = select(inbound_records).where(inbound_records.c.job_id == self.job_id)
            rows = [dict(r) for r in conn.execute(query.order_by(inbound_records.c.seq)).mappings()]
        return [r for r in rows if kind is None or r["kind"] == kind]

    def logs(self) -> list[dict[str, Any]]:
        """The job's provisioning logs as the API shows them, oldest first."""
        reader = self.server.token(roles=["AuditLog.Read.All"])
        with self.server.client(reader) as client:
            response = client.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{self.job_id}'"})
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["value"]))

    def escrows(self) -> list[dict[str, Any]]:
        with self.server.db.read() as conn:
            query = select(escrows).where(escrows.c.job_id == self.job_id)
            return [dict(r) for r in conn.execute(query).mappings()]

    def restart(self, scope: str | None = None) -> None:
        body = {"criteria": {"resetScope": scope}} if scope else None
        response = self.admin.post(f"{self.url}/restart", json=body)
        assert response.status_code == 204, response.text

    def set_threshold(self, value: int) -> None:
        body = {
            "synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": str(value)}]
        }
        assert self.admin.patch(self.url, json=body).status_code == 204


@pytest.fixture
def inbound(live_server: LiveServer) -> Any:
    admin = live_server.client()
    created = make_app(admin, "HR inbound")
    sp_id = created["servicePrincipal"]["id"]
    job = make_job(admin, sp_id, "API2AAD")
    setup = Inbound(live_server, admin, sp_id, job["id"])
    assert admin.post(f"{setup.url}/start").status_code == 204
    yield setup
    admin.close()


def test_example_1_creates_both_users_through_the_mappings_and_links_the_known_manager(
    inbound: Inbound,
) -> None:
    inbound.upload(EXAMPLE_1)
    job = inbound.cycle()
    barbara, kathy = inbound.user("701984"), inbound.user("701985")
    assert barbara["user_principal_name"] == "bjensen@example.com"
    assert barbara["mail_nickname"] == "bjensen"
    assert barbara["display_name"] == "Babs Jensen"
    assert (barbara["given_name"], barbara["surname"]) == ("Barbara", "Jensen")
    assert barbara["job_title"] == "Tour Guide"
    assert barbara["mail"] == "bjensen@example.com"
    assert barbara["department"] == "Tour Operations"
    assert barbara["company_name"] == "Universal Studios"
    assert (barbara["street_address"], barbara["city"], barbara["state"]) == (
        "234300 Universal City Plaza",
        "Hollywood",
        "CA",
    )
    assert (barbara["postal_code"], barbara["country"]) == ("91608", "USA")
    assert barbara["business_phones"] == ["555-555-5555"]
    assert barbara["employee_type"] == "Employee"
    assert barbara["preferred_language"] == "en-US"
    assert barbara["account_enabled"] is True
    assert kathy["user_principal_name"] == "Kjensen@example.com"
    assert kathy["manager_id"] == barbara["id"]
    # Barbara's manager (89607) was never uploaded: her link waits for it.
    assert barbara["manager_id"] is None
    (waiting,) = inbound.staged()
    assert (waiting["kind"], waiting["external_id"], waiting["data"]) == (
        "reference",
        "701984",
        {"manager": "89607"},
    )
    # Each write is in the change log, so outbound jobs see it.
    with inbound.server.db.read() as conn:
        changes = [
            (r.object_id, r.change_type)
            for r in conn.execute(select(directory_changes).order_by(directory_changes.c.seq))
        ]
    assert (barbara["id"], "created") in changes and (kathy["id"], "created") in changes
    assert (kathy["id"], "managerChanged") in changes
    # One provisioning log entry per record.
    logs = {entry["sourceIdentity"]["id"]: entry for entry in inbound.logs()}
    assert set(logs) == {"701984", "701985"}
    kathy_log = logs["701985"]
    assert kathy_log["provisioningAction"] == "create"
    assert kathy_log["provisioningStatusInfo"]["status"] == "success"
    assert kathy_log["sourceIdentity"]["displayName"] == "Kathy Jensen"
    assert kathy_log["sourceSystem"]["displayName"] == "API"
    assert kathy_log["targetSystem"]["displayName"] == "Azure Active Directory"
    assert kathy_log["targetIdentity"] == {
        "id": kathy["id"],
        "displayName": "Kathy Jensen",
        "identityType": "User",
        "details": {},
    }
    steps = [(s["provisioningStepType"], s["status"]) for s in kathy_log["provisioningSteps"]]
    assert steps == [
        ("import", "success"),
        ("matching", "success"),
        ("export", "success"),
        ("referenceResolution", "success"),
    ]
    barbara_log = logs["701984"]
    assert barbara_log["provisioningStatusInfo"]["status"] == "warning"
    assert barbara_log["provisioningSteps"][-1]["status"] == "warning"
    assert "89607" in barbara_log["provisioningSteps"][-1]["description"]
    status = job["status"]
    assert status["lastExecution"]["countImported"] == 2
    assert status["lastExecution"]["countExported"] == 2
    assert {e["key"]: e["value"] for e in status["synchronizedEntryCountByType"]} == {"user": 2}
    assert job["watermark"] is None  # inbound cycles read staging, not the change log


def test_an_update_changes_only_what_differs_and_a_resend_is_a_redundant_skip(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada")))
    inbound.cycle()
    created = inbound.user("E1")
    inbound.upload(bulk(hr_user("E1", "ada", title="Principal Engineer")))
    inbound.cycle()
    updated = inbound.user("E1")
    assert updated["id"] == created["id"]
    assert updated["job_title"] == "Principal Engineer"
    inbound.upload(bulk(hr_user("E1", "ada", title="Principal Engineer")))
    inbound.cycle()
    actions = [(e["provisioningAction"], e["provisioningStatusInfo"]["status"]) for e in inbound.logs()]
    assert actions == [("create", "success"), ("update", "success"), ("other", "skipped")]
    update = inbound.logs()[1]
    assert update["modifiedProperties"] == [
        {"displayName": "jobTitle", "oldValue": "Engineer", "newValue": "Principal Engineer"}
    ]
    assert inbound.staged() == []


def test_a_partial_record_updates_only_the_attributes_it_carries(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("7172023", "ada", title="Tour Guide")))
    inbound.cycle()
    before = inbound.user("7172023")
    # Reference Example 3: only externalId, active and the enterprise department.
    inbound.upload(bulk(operation("7172023", active=False, **{ENTERPRISE: {"department": "Tour Ops"}})))
    inbound.cycle()
    after = inbound.user("7172023")
    assert after["department"] == "Tour Ops"
    assert after["account_enabled"] is False
    unchanged = {k: v for k, v in after.items() if k not in ("department", "account_enabled")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("department", "account_enabled")}
    assert inbound.logs()[-1]["provisioningAction"] == "disable"


def test_records_of_one_external_id_in_one_cycle_are_merged_in_upload_order(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada", title="First")))
    inbound.upload(bulk(operation("E1", title="Second")))
    inbound.cycle()
    user = inbound.user("E1")
    assert user["job_title"] == "Second"
    assert user["user_principal_name"] == "ada@contoso.example"
    (entry,) = inbound.logs()
    assert entry["provisioningAction"] == "create"


def test_a_user_already_in_the_directory_is_matched_by_employee_id_not_created_again(
    inbound: Inbound,
) -> None:
    existing = make_user(inbound.admin, "grace", employeeId="E7", jobTitle="Old")
    inbound.upload(bulk(hr_user("E7", "grace", title="New")))
    inbound.cycle()
    (user,) = inbound.users("E7")
    assert user["id"] == existing["id"]
    assert user["job_title"] == "New"
    (entry,) = inbound.logs()
    assert entry["provisioningAction"] == "update"
    assert entry["targetIdentity"]["id"] == existing["id"]
    assert "employeeId" in entry["provisioningSteps"][1]["description"]


def test_two_users_with_the_matching_value_escrow_the_record_as_duplicate_target_entries(
    inbound: Inbound,
) -> None:
    make_user(inbound.admin, "one", employeeId="E9")
    make_user(inbound.admin, "two", employeeId="E9")
    inbound.upload(bulk(hr_user("E9", "three")))
    inbound.cycle()
    (entry,) = inbound.logs()
    assert entry["provisioningStatusInfo"]["status"] == "failure"
    assert entry["provisioningStatusInfo"]["errorInformation"]["errorCode"] == "DuplicateTargetEntries"
    assert len(inbound.users("E9")) == 2


def test_a_manager_named_before_it_arrives_is_linked_when_a_later_upload_brings_it(
    inbound: Inbound,
) -> None:
    inbound.upload(bulk(hr_user("R1", "report", manager="M1")))
    inbound.cycle()
    assert inbound.user("R1")["manager_id"] is None
    assert [r["external_id"] for r in inbound.staged("reference")] == ["R1"]
    inbound.upload(bulk(hr_user("M1", "boss")))
    inbound.cycle()
    assert inbound.user("R1")["manager_id"] == inbound.user("M1")["id"]
    assert inbound.staged() == []
    link = inbound.logs()[-1]
    assert link["sourceIdentity"]["id"] == "R1"
    assert link["provisioningSteps"][-1]["provisioningStepType"] == "referenceResolution"
    assert link["modifiedProperties"] == [
        {"displayName": "manager", "oldValue": None, "newValue": inbound.user("M1")["id"]}
    ]


def test_a_manager_later_in_the_same_upload_is_linked_in_the_same_cycle(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("R1", "report", manager="M1"), hr_user("M1", "boss")))
    inbound.cycle()
    assert inbound.user("R1")["manager_id"] == inbound.user("M1")["id"]
    assert inbound.staged() == []


def test_a_new_manager_value_replaces_a_link_still_waiting(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("R1", "report", manager="GONE")))
    inbound.cycle()
    inbound.upload(bulk(hr_user("M2", "boss"), operation("R1", **{ENTERPRISE: {"manager": {"value": "M2"}}})))
    inbound.cycle()
    assert inbound.user("R1")["manager_id"] == inbound.user("M2")["id"]
    assert inbound.staged() == []


def test_active_false_disables_and_active_true_enables_again(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada")))
    inbound.cycle()
    inbound.upload(bulk(operation("E1", active=False)))
    inbound.cycle()
    assert inbound.user("E1")["account_enabled"] is False
    inbound.upload(bulk(operation("E1", active=True)))
    inbound.cycle()
    assert inbound.user("E1")["account_enabled"] is True
    assert [e["provisioningAction"] for e in inbound.logs()] == ["create", "disable", "update"]


def test_disables_beyond_the_threshold_are_held_and_the_job_quarantined_until_force_deletes(
    inbound: Inbound,
) -> None:
    inbound.set_threshold(2)
    inbound.upload(bulk(*(hr_user(f"E{i}", f"user{i}") for i in range(4))))
    inbound.cycle()
    inbound.upload(bulk(*(operation(f"E{i}", active=False) for i in range(3)), operation("E3", title="Lead")))
    job = inbound.cycle()
    assert [inbound.user(f"E{i}")["account_enabled"] for i in range(4)] == [True, True, True, True]
    assert inbound.user("E3")["job_title"] == "Lead"  # not a disable: applied
    quarantine = job["status"]["quarantine"]
    assert quarantine["reason"] == "TooManyDeletes"
    assert job["status"]["code"] == "Quarantine"
    staged = [e for e in inbound.logs() if e["provisioningAction"] == "stagedDelete"]
    assert sorted(e["sourceIdentity"]["id"] for e in staged) == ["E0", "E1", "E2"]
    assert sorted(r["external_id"] for r in inbound.staged()) == ["E0", "E1", "E2"]
    # Another cycle keeps them held (they are not counted again, nor applied).
    inbound.cycle()
    assert [inbound.user(f"E{i}")["account_enabled"] for i in range(3)] == [True, True, True]
    # ForceDeletes lets them run, whatever the count; the restart does not purge them.
    inbound.restart("ForceDeletes")
    assert sorted(r["external_id"] for r in inbound.staged()) == ["E0", "E1", "E2"]
    job = inbound.cycle()
    assert [inbound.user(f"E{i}")["account_enabled"] for i in range(4)] == [False, False, False, True]
    assert job["status"]["quarantine"] is None
    assert inbound.staged() == []


def test_disables_within_the_threshold_run(inbound: Inbound) -> None:
    inbound.set_threshold(2)
    inbound.upload(bulk(*(hr_user(f"E{i}", f"user{i}") for i in range(3))))
    inbound.cycle()
    inbound.upload(bulk(*(operation(f"E{i}", active=False) for i in range(2))))
    job = inbound.cycle()
    assert [inbound.user(f"E{i}")["account_enabled"] for i in range(3)] == [False, False, True]
    assert job["status"]["quarantine"] is None


def test_a_record_missing_what_a_create_needs_is_escrowed_and_retried_when_a_fix_arrives(
    inbound: Inbound,
) -> None:
    inbound.upload(bulk(operation("E1", title="No name")))
    job = inbound.cycle()
    (entry,) = inbound.logs()
    assert entry["provisioningStatusInfo"]["status"] == "failure"
    error = entry["provisioningStatusInfo"]["errorInformation"]
    assert error["errorCode"] == "MandatoryFieldsMissing"
    assert "userPrincipalName" in error["reason"] and "It will be retried again after" in error["reason"]
    (escrow,) = inbound.escrows()
    assert (escrow["source_id"], escrow["attempts"]) == ("E1", 1)
    assert [r["escrowed"] for r in inbound.staged()] == [True]
    assert job["status"]["lastExecution"]["countEscrowed"] == 1
    # Not retried before its time...
    inbound.cycle()
    assert len(inbound.logs()) == 1
    # ...but at once when a newer record for it arrives; both records are merged.
    inbound.upload(bulk(hr_user("E1", "ada")))
    inbound.cycle()
    user = inbound.user("E1")
    assert user["job_title"] == "Engineer"
    assert inbound.escrows() == [] and inbound.staged() == []


def test_a_taken_user_principal_name_is_an_entry_conflict(inbound: Inbound) -> None:
    make_user(inbound.admin, "ada")  # ada@contoso.example, no employeeId
    inbound.upload(bulk(hr_user("E1", "ada")))
    inbound.cycle()
    (entry,) = inbound.logs()
    assert entry["provisioningStatusInfo"]["errorInformation"]["errorCode"] == "EntryConflict"
    assert inbound.users("E1") == []


def test_a_value_longer_than_the_directory_allows_fails_that_record_only(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada", title="x" * 200), hr_user("E2", "bob")))
    inbound.cycle()
    assert inbound.users("E1") == []
    assert inbound.user("E2")["display_name"] == "Bob"
    failed = [e for e in inbound.logs() if e["provisioningStatusInfo"]["status"] == "failure"]
    assert [e["sourceIdentity"]["id"] for e in failed] == ["E1"]
    assert failed[0]["provisioningStatusInfo"]["errorInformation"]["errorCode"] == "InvalidValue"


def test_restarting_an_idle_job_purges_the_records_uploaded_before_and_clears_escrows(
    inbound: Inbound,
) -> None:
    inbound.upload(bulk(operation("E0", title="broken")))
    inbound.cycle()
    assert len(inbound.escrows()) == 1
    inbound.upload(bulk(hr_user("E1", "ada"), hr_user("E2", "bob")))
    inbound.restart()
    assert inbound.staged() == []
    assert inbound.escrows() == []
    inbound.upload(bulk(hr_user("E3", "cy")))
    inbound.cycle()
    assert inbound.users("E1") == [] and inbound.users("E2") == []
    assert inbound.user("E3")["display_name"] == "Cy"


def test_restarting_a_running_job_keeps_the_staged_records_for_the_next_cycle(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada")))
    now = datetime.now(UTC)
    with inbound.server.db.transaction() as conn:  # a cycle holds the lease right now
        engine_state.update_job(
            conn, inbound.job_id, {"lease_owner": "elsewhere", "lease_expires_at": now + timedelta(minutes=1)}
        )
    inbound.restart()
    assert [r["external_id"] for r in inbound.staged()] == ["E1"]
    with inbound.server.db.transaction() as conn:
        engine_state.release_lease(conn, inbound.job_id, "elsewhere", {})
    inbound.cycle()
    assert inbound.user("E1")["display_name"] == "Ada"


def test_a_paused_job_applies_nothing_and_start_resumes(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada")))
    assert inbound.admin.post(f"{inbound.url}/pause").status_code == 204
    now = datetime.now(UTC)
    with inbound.server.db.transaction() as conn:
        job = engine_state.claim_due_job(conn, OWNER, now, now + timedelta(minutes=1))
    assert job is None  # a paused job is never claimed
    assert inbound.admin.post(f"{inbound.url}/start").status_code == 204
    inbound.cycle()
    assert inbound.user("E1")["display_name"] == "Ada"


def test_a_custom_mapping_from_a_custom_namespace_attribute_flows(inbound: Inbound) -> None:
    schema = inbound.admin.get(f"{inbound.url}/schema").json()
    schema = copy.deepcopy(schema)
    schema.pop("@odata.context", None)
    mapping = schema["synchronizationRules"][0]["objectMappings"][0]
    mapping["attributeMappings"] = [
        m for m in mapping["attributeMappings"] if m["targetAttributeName"] != "officeLocation"
    ] + [
        {
            "defaultValue": None,
            "exportMissingReferences": False,
            "flowBehavior": "FlowWhenChanged",
            "flowType": "Always",
            "matchingPriority": 0,
            "source": {
                "expression": "[urn:contoso:employee:JobCode]",
                "name": "urn:contoso:employee:JobCode",
                "parameters": [],
                "type": "Attribute",
            },
            "targetAttributeName": "officeLocation",
        }
    ]
    response = inbound.admin.put(f"{inbound.url}/schema", json=schema)
    assert response.status_code == 204, response.text
    record = hr_user("E1", "ada")
    record["data"]["schemas"].append("urn:contoso:employee")
    record["data"]["urn:contoso:employee"] = {"JobCode": "AB-1002"}
    inbound.upload(bulk(record))
    inbound.cycle()
    assert inbound.user("E1")["office_location"] == "AB-1002"


def test_deleting_the_job_drops_its_staged_records(inbound: Inbound) -> None:
    inbound.upload(bulk(hr_user("E1", "ada")))
    assert inbound.admin.delete(inbound.url).status_code == 204
    with inbound.server.db.read() as conn:
        assert conn.execute(select(inbound_records)).first() is None
        assert conn.execute(select(provisioning_logs)).first() is None
