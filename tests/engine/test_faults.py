"""Faults of the SCIM target, injected in front of a real scim2-server: rate limiting, server
errors, timeouts, a target that goes away, rejected credentials, a target changed behind the
engine's back, and ambiguous matches. Per-object faults become escrows retried after their
backoff; job-level faults quarantine the job."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import provision, wait_for
from tests.scim_target import Fault, Traffic, start_scim_server

from provisiond.store import engine_state
from provisiond.store.tables import escrows, provisioning_logs

USER0 = "user0@contoso.example"
USER1 = "user1@contoso.example"


def remove_faults(target: ScimTarget) -> None:
    with target.traffic.lock:
        target.traffic.faults.clear()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_429_with_retry_after_is_honoured_and_the_user_arrives_in_the_same_cycle(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    scim_target.traffic.faults.append(
        Fault(method="POST", body_contains=USER1, status=429, retry_after="1", times=1)
    )
    setup = provision(engine_server, scim_target, users=3)
    row = setup.wait_cycle(None)

    last = row["status"]["lastExecution"]
    assert last["state"] == "Succeeded"
    assert last["countEscrowed"] == 0
    assert row["status"]["quarantine"] is None
    assert sorted(setup.target_users()) == sorted(setup.users)
    posts = scim_target.traffic.matching("POST", "/Users", USER1)
    assert len(posts) == 2  # the 429, then the retry that created the user
    assert posts[1].at - posts[0].at >= 0.95  # Retry-After: 1 was honoured
    for other in ("user0@contoso.example", "user2@contoso.example"):
        assert len(scim_target.traffic.matching("POST", "/Users", other)) == 1
    assert setup.rows(escrows) == []


def test_500s_escrow_the_user_and_the_escrow_is_retried_after_its_backoff_until_the_target_recovers(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    # Retry-After: 0 keeps the client's own retries within the cycle instant.
    scim_target.traffic.faults.append(Fault(method="POST", body_contains=USER1, status=500, retry_after="0"))
    setup = provision(engine_server, scim_target, users=3, settings={"EscrowBackoffBaseMinutes": "0.03"})
    user1 = setup.users[USER1]
    row = setup.wait_cycle(None)

    last = row["status"]["lastExecution"]
    assert last["state"] == "EntryLevelErrors"
    assert last["countEscrowed"] == 1
    assert sorted(setup.target_users()) == ["user0@contoso.example", "user2@contoso.example"]
    [escrow] = setup.rows(escrows)
    assert (escrow["source_id"], escrow["error_code"], escrow["attempts"]) == (
        user1["id"],
        "InternalServerError",
        1,
    )
    assert escrow["next_retry_date_time"] - escrow["first_failed_date_time"] >= timedelta(seconds=1.8)
    first_failed = escrow["first_failed_date_time"]
    first_cycle = scim_target.traffic.matching("POST", "/Users", USER1)
    assert len(first_cycle) == 4  # the first attempt and the client's three retries

    # A later cycle retries the escrow after its backoff (1.8 s), with no directory change.
    wait_for(lambda: [e["attempts"] for e in setup.rows(escrows)] == [2], 30, "the escrow's second attempt")
    retried = scim_target.traffic.matching("POST", "/Users", USER1)[len(first_cycle)]
    assert retried.at - first_cycle[-1].at >= 1.7
    [escrow] = setup.rows(escrows)
    assert escrow["error_code"] == "InternalServerError"
    assert escrow["first_failed_date_time"] == first_failed  # the series keeps its first failure
    # Exponential: the second wait is twice the base, from the second failure on.
    assert escrow["next_retry_date_time"] - first_failed >= timedelta(seconds=1.8 + 3.6)

    # The target recovers: the next retry creates the user and clears the escrow.
    remove_faults(scim_target)
    wait_for(lambda: USER1 in setup.target_users(), 30, "the user after the target recovered")
    wait_for(lambda: not setup.rows(escrows), 30, "the escrow to be cleared")
    wait_for(lambda: setup.job_row()["status"]["lastExecution"]["state"] == "Succeeded", 30, "a clean cycle")
    assert sorted(setup.target_users()) == sorted(setup.users)
    failures = [
        r for r in setup.rows(provisioning_logs) if r["source_id"] == user1["id"] and r["status"] == "failure"
    ]
    assert len(failures) >= 2
    assert {r["error_code"] for r in failures} == {"InternalServerError"}
    reasons = sorted(r["error_reason"] for r in failures)
    assert "This operation was retried 0 times." in reasons[0]
    assert "This operation was retried 1 times." in reasons[1]
    # A failed create is logged as a create that failed, not as "other".
    assert {r["action"] for r in failures} == {"create"}
    created = [
        r for r in setup.rows(provisioning_logs) if r["source_id"] == user1["id"] and r["action"] == "create"
    ]
    assert [r["status"] for r in created].count("success") == 1


def test_a_target_that_answers_too_slowly_escrows_the_user_with_a_timeout(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    # The slow answer still reaches the real server after the delay, as a slow target would.
    # The limit leaves the other users' requests seconds to spare on a loaded CI machine.
    scim_target.traffic.faults.append(Fault(method="POST", body_contains=USER1, status=None, delay_seconds=8))
    setup = provision(
        engine_server,
        scim_target,
        users=3,
        settings={"ExportTimeoutSeconds": "4", "EscrowBackoffBaseMinutes": "0.03"},
    )
    row = setup.wait_cycle(None)

    last = row["status"]["lastExecution"]
    assert last["state"] == "EntryLevelErrors"
    assert last["countEscrowed"] == 1
    assert row["status"]["quarantine"] is None
    [escrow] = setup.rows(escrows)
    assert (escrow["source_id"], escrow["error_code"], escrow["attempts"]) == (
        setup.users[USER1]["id"],
        "Timeout",
        1,
    )
    # A timed-out create is not repeated blindly within the cycle.
    assert len(scim_target.traffic.matching("POST", "/Users", USER1)) == 1

    # Once the target is fast again, the escrow's retry finds or creates the user, exactly once.
    remove_faults(scim_target)
    wait_for(lambda: not setup.rows(escrows), 30, "the escrow to be cleared")
    wait_for(lambda: USER1 in setup.target_users(), 30, "the slow user in the target")
    names = [u["userName"] for u in scim_target.resources("Users")]
    assert sorted(names) == sorted(setup.users)


def test_a_target_that_goes_away_quarantines_the_job_with_the_quarantine_filled(
    engine_server: LiveServer,
) -> None:
    token = "scim-" + uuid.uuid4().hex
    traffic = Traffic()
    url, stop = start_scim_server(token, traffic)
    target = ScimTarget(url, token, traffic)
    try:
        setup = provision(engine_server, target, users=2)
        setup.wait_cycle(None)
        setup.wait_idle()
    finally:
        stop()  # the target is gone: connections are refused from now on
    before = setup.ended()
    user0 = setup.users[USER0]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Unreachable"}).status_code == 204
    row = setup.wait_cycle(before)

    status = row["status"]
    assert status["code"] == "Quarantine"
    assert status["lastExecution"]["state"] == "Failed"
    assert status["countSuccessiveCompleteFailures"] == 1
    quarantine = status["quarantine"]
    assert set(quarantine) == {"currentBegan", "error", "nextAttempt", "reason", "seriesBegan", "seriesCount"}
    assert quarantine["reason"] == "EncounteredQuarantineException"
    assert quarantine["seriesCount"] == 1
    assert quarantine["error"]["code"] == "SystemForCrossDomainIdentityManagementServiceUnreachable"
    assert quarantine["error"]["message"]
    assert status["lastExecution"]["error"]["code"] == quarantine["error"]["code"]
    assert quarantine["currentBegan"] == quarantine["seriesBegan"]
    series_began = parse(quarantine["seriesBegan"])
    assert parse(quarantine["nextAttempt"]) == series_began + timedelta(hours=6)
    assert parse(status["lastExecution"]["timeBegan"]) <= series_began
    # The next attempt is the quarantine's, not the change debounce's.
    assert abs(row["cycle_due_at"] - parse(quarantine["nextAttempt"])) < timedelta(milliseconds=1)
    # The job-level failure escrows nothing.
    assert setup.rows(escrows) == []
    # And the API shows the same status.
    job = setup.client.get(setup.job_url).json()
    assert job["status"]["code"] == "Quarantine"
    assert job["status"]["quarantine"] == quarantine


def test_rejected_credentials_quarantine_the_job_and_start_after_fixing_the_secret_lifts_it(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2, secrets={"SecretToken": "wrong"})
    row = setup.wait_cycle(None)
    status = row["status"]
    assert status["code"] == "Quarantine"
    assert status["quarantine"]["reason"] == "EncounteredQuarantineException"
    assert status["quarantine"]["error"]["code"] == "SystemForCrossDomainIdentityManagementInvalidCredentials"
    assert status["quarantine"]["seriesCount"] == 1
    assert parse(status["quarantine"]["nextAttempt"]) == parse(
        status["quarantine"]["seriesBegan"]
    ) + timedelta(hours=6)
    assert setup.target_users() == {}
    assert scim_target.traffic.log  # the target was asked, and answered 401

    body = {"value": [{"key": "SecretToken", "value": scim_target.token}]}
    assert setup.client.put(f"{setup.sync}/secrets", json=body).status_code == 204
    before = setup.ended()
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    lifted = setup.client.get(setup.job_url).json()["status"]
    assert lifted["quarantine"] is None
    assert lifted["code"] == "Active"

    row = setup.wait_cycle(before)
    status = row["status"]
    assert status["code"] == "Active"
    assert status["quarantine"] is None
    assert status["lastExecution"]["state"] == "Succeeded"
    assert status["countSuccessiveCompleteFailures"] == 0
    assert sorted(setup.target_users()) == sorted(setup.users)


def test_a_user_deleted_in_the_target_behind_the_engines_back_is_recreated_on_its_next_change(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(engine_server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    old = setup.target_users()[USER0]
    with scim_target.client() as scim:
        assert scim.delete(f"/Users/{old['id']}").status_code == 204
    scim_target.traffic.reset()

    user0 = setup.users[USER0]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Back again"}).status_code == 204
    wait_for(lambda: USER0 in setup.target_users(), 30, "the user re-created in the target")
    setup.wait_idle()

    new = setup.target_users()[USER0]
    assert new["id"] != old["id"]
    assert new["title"] == "Back again"
    assert new["active"] is True
    assert len(setup.target_users()) == 2
    # The PATCH to the vanished id got a 404; the user was matched again and created.
    first_patch = scim_target.traffic.matching(method="PATCH")[0]
    assert first_patch.path == f"/v2/Users/{old['id']}"
    assert len(scim_target.traffic.matching("POST", "/Users", USER0)) == 1
    assert setup.rows(escrows) == []
    with setup.server.db.read() as conn:
        link = engine_state.cds_get(conn, setup.job_id, [user0["id"]])[user0["id"]]
    assert link["target_id"] == new["id"]
    assert link["state"] == "provisioned"
    assert not [r for r in setup.rows(provisioning_logs) if r["error_code"] == "InvalidAnchor"]
    assert setup.job_row()["status"]["lastExecution"]["state"] == "Succeeded"


def test_two_target_users_matching_one_source_user_fail_with_duplicate_target_entries(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    """scim2-server enforces userName uniqueness, so two target users can't share one userName.
    externalId (mailNickname) is made the second matching attribute instead: userName finds
    nothing, then externalId finds two users, and the engine must not guess."""
    setup = provision(engine_server, scim_target, users=2, start=False)
    schema = setup.client.get(f"{setup.job_url}/schema").json()
    schema = {k: v for k, v in schema.items() if not k.startswith("@")}
    users_mapping = next(
        m
        for rule in schema["synchronizationRules"]
        for m in rule["objectMappings"]
        if m["sourceObjectName"] == "User"
    )
    external_id = next(
        a for a in users_mapping["attributeMappings"] if a["targetAttributeName"] == "externalId"
    )
    external_id["matchingPriority"] = 2
    assert setup.client.put(f"{setup.job_url}/schema", json=schema).status_code == 204

    duplicates = []
    with scim_target.client() as scim:
        for suffix in ("a", "b"):
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"someone-{suffix}@elsewhere.example",
                "externalId": "user0",
            }
            response = scim.post("/Users", json=body)
            assert response.status_code == 201, response.text
            duplicates.append(response.json()["id"])
    scim_target.traffic.reset()

    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    row = setup.wait_cycle(None)

    last = row["status"]["lastExecution"]
    assert last["state"] == "EntryLevelErrors"
    assert last["countEscrowed"] == 1
    [escrow] = setup.rows(escrows)
    assert (escrow["source_id"], escrow["error_code"], escrow["attempts"]) == (
        setup.users[USER0]["id"],
        "DuplicateTargetEntries",
        1,
    )
    # Both matching attributes were tried, lowest priority first.
    queries = [r.path for r in scim_target.traffic.matching("GET", "/Users?filter=")]
    assert any("userName" in q and "user0" in q for q in queries)
    assert any("externalId" in q and "user0" in q for q in queries)
    # Neither duplicate was touched, and user0 was not created.
    assert not [r for r in scim_target.traffic.writes() if any(d in r[1] for d in duplicates)]
    assert scim_target.traffic.matching("POST", "/Users", USER0) == []
    target = setup.target_users()
    assert sorted(target) == [
        "someone-a@elsewhere.example",
        "someone-b@elsewhere.example",
        "user1@contoso.example",
    ]
    [failure] = [r for r in setup.rows(provisioning_logs) if r["status"] == "failure"]
    assert failure["error_code"] == "DuplicateTargetEntries"
    assert failure["source_id"] == setup.users[USER0]["id"]
    with setup.server.db.read() as conn:
        assert engine_state.cds_get(conn, setup.job_id, [setup.users[USER0]["id"]]) == {}
