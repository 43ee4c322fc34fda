"""One builder begins every provisioning log entry, whoever writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from provisiond.domain.provisioning_log import StepKind
from provisiond.engine.logs import new_entry


@dataclass
class Scope:
    job_id: str = "scim.t.app"
    service_principal_id: str = "sp-1"
    cycle_id: str = "cycle-1"


def test_an_entry_begins_skipped_in_its_scope_and_records_at_millisecond_precision() -> None:
    started = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    entry = new_entry(Scope(), started, "User", "u1", "Ada", target_type="urn:user", target_id="t1")
    assert (entry.job_id, entry.service_principal_id, entry.cycle_id) == ("scim.t.app", "sp-1", "cycle-1")
    assert (entry.action, entry.status, entry.steps) == ("other", "skipped", [])
    entry.step("EntryImport", "import", "success", "Retrieved User 'Ada'")
    record = entry.record(started + timedelta(seconds=1, microseconds=2345))
    assert record["duration_ms"] == 1002
    assert record["activity_date_time"].microsecond == 2000
    assert (record["source_id"], record["source_display_name"], record["target_id"]) == ("u1", "Ada", "t1")
    assert record["target_display_name"] is None
    assert record["steps"][0].kind is StepKind.Import
