"""A cycle that fails with an unexpected error (a fault of ours, not of the target) does not
retry in a loop: it backs off exponentially, the job's status says what failed and how many
times in a row, and each failure is one log line (issue 7 C).

The fault is injected into the directory source the engine reads, since no real part can
produce a bug of ours on demand; the time between attempts is the ManualClock's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import ManualEngine, provision, wait_for

from provisiond.connectors.directory import DirectorySource


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Broken:
    """Makes DirectorySource.user_page raise while `on`, counting the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = True
        self.calls = 0
        real = DirectorySource.user_page

        def user_page(source: DirectorySource, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.on:
                raise RuntimeError("injected fault in the directory read")
            return real(source, *args, **kwargs)

        monkeypatch.setattr(DirectorySource, "user_page", user_page)


def test_a_cycle_that_fails_unexpectedly_backs_off_exponentially_and_says_so_in_the_status(
    manual_engine: ManualEngine,
    scim_target: ScimTarget,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="provisiond.engine")
    broken = Broken(monkeypatch)
    clock = manual_engine.clock
    setup = provision(manual_engine.server, scim_target, users=2)
    setup.clock = clock

    expected_waits = [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    for failures, wait in enumerate(expected_waits, start=1):
        row = wait_for(
            lambda n=failures: (
                (r := setup.job_row())["status"].get("countSuccessiveCompleteFailures") == n
                and r["lease_owner"] is None
                and r
            ),
            30,
            f"failure {failures}",
        )
        status = row["status"]
        last = status["lastExecution"]
        assert last["state"] == "Failed"
        assert last["error"]["code"] == "InternalError"
        assert "injected fault in the directory read" in last["error"]["message"]
        assert status["code"] == "NotRun"
        # The next attempt is backed off from the time it failed, doubling each time.
        # (timeEnded is shown to the millisecond.)
        assert abs(row["cycle_due_at"] - (parse(last["timeEnded"]) + wait)) < timedelta(milliseconds=1)
        assert broken.calls == failures
        # A second before the next attempt the job is still not due (so no claim can take it);
        # the wait above for failure n+1 only ends once the clock has reached it.
        clock.advance(wait - timedelta(seconds=1))
        assert setup.job_row()["cycle_due_at"] > clock.now()
        assert broken.calls == failures
        clock.advance(timedelta(seconds=1))

    # The response to the API says the same.
    job = setup.client.get(setup.job_url).json()
    assert job["status"]["countSuccessiveCompleteFailures"] >= 3

    # The fault goes away: the next attempt succeeds and the count starts again.
    broken.on = False
    clock.advance(timedelta(minutes=8))
    row = wait_for(
        lambda: (r := setup.job_row())["status"]["lastExecution"]["state"] == "Succeeded" and r,
        30,
        "a successful cycle",
    )
    assert row["status"]["countSuccessiveCompleteFailures"] == 0
    assert sorted(setup.target_users()) == sorted(setup.users)

    # One log line per failure, without a traceback.
    lines = [r for r in caplog.records if r.name == "provisiond.engine" and "failed (" in r.getMessage()]
    assert len(lines) == len(expected_waits)
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    assert "injected fault in the directory read" in lines[0].getMessage()


def test_the_longest_interval_graph_can_hold_schedules_the_next_cycle_without_overflowing(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    # .NET TimeSpan.MaxValue, which Graph shows for a job that is not configured.
    longest = "P10675199DT2H48M5.4775807S"
    setup = provision(engine_server, scim_target, users=1, start=False)
    response = setup.client.patch(setup.job_url, json={"schedule": {"interval": longest}})
    assert response.status_code == 204, response.text
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    row = setup.wait_cycle(None)
    assert row["status"]["lastExecution"]["state"] == "Succeeded"
    assert row["status"]["countSuccessiveCompleteFailures"] == 0
    assert row["cycle_due_at"].year == 9999  # as late as a date can be: no next cycle in practice
