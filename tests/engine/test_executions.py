"""Each job's history of finished cycles (store/executions.py, written by engine/status.py):
one line per cycle that ends, succeeded, quarantined or failed, in order, the newest
`KEPT` kept. On both databases, against a real SCIM app, on a ManualClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import ScimTarget
from tests.engine.helpers import ManualEngine, provision
from tests.scim_target import Fault

from provisiond.domain.job_state import Execution, ExecutionResult, JobError
from provisiond.store import executions
from provisiond.store.db import Database

SECOND = timedelta(seconds=1)


def history(setup_db: Database, job_id: str) -> list[dict]:
    with setup_db.read() as conn:
        return list(reversed(executions.recent(conn, job_id, 1000)))


def test_every_finished_cycle_is_a_line_of_the_history(
    manual_engine: ManualEngine, scim_target: ScimTarget
) -> None:
    setup = provision(manual_engine.server, scim_target, users=2)
    initial = setup.wait_cycle(None)["status"]["lastExecution"]
    setup.wait_idle()
    # A change the app refuses for good: escrowed; then the app refuses the token: quarantined.
    scim_target.traffic.faults.append(Fault(method="PATCH", path_contains="/Users", status=400))
    before = setup.ended()
    manual_engine.clock.advance(SECOND)
    user0 = setup.users["user0@contoso.example"]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Refused"}).status_code == 204
    setup.wait_cycle(before)
    scim_target.traffic.faults[:] = [Fault(method="PATCH", path_contains="/Users", status=401)]
    before = setup.ended()
    manual_engine.clock.advance(SECOND)
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Unauthorized"}).status_code == 204
    last = setup.wait_cycle(before)

    lines = history(setup.server.db, setup.job_id)
    assert [line["result"] for line in lines] == ["Succeeded", "EntryLevelErrors", "Failed"]
    first, escrowed, failed = lines
    assert (first["exported"], first["imported"]) == (initial["countExported"], initial["countImported"])
    assert first["exported"] > 0
    assert escrowed["escrowed"] == 1
    assert failed["error_code"] == last["status"]["lastExecution"]["error"]["code"]
    assert [line["began"] for line in lines] == sorted(line["began"] for line in lines)


def test_only_the_newest_cycles_are_kept(db: Database) -> None:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    with db.transaction() as conn:
        for i in range(executions.KEPT + 5):
            began = start + timedelta(minutes=i)
            error = JobError("X", "x", tenant_actionable=False) if i % 2 else None
            result = ExecutionResult.Failed if i % 2 else ExecutionResult.Succeeded
            executions.record(conn, "job-a", Execution(result, began, began + SECOND, error, exported=i))
        executions.record(conn, "job-b", Execution(ExecutionResult.Succeeded, start, start + SECOND))
    kept = history(db, "job-a")
    assert len(kept) == executions.KEPT
    assert [line["exported"] for line in kept] == list(range(5, executions.KEPT + 5))
    assert len(history(db, "job-b")) == 1
