"""The inbound staging repository on SQLite and PostgreSQL: which staged records a cycle may
apply (escrow waits, fresh records, held disables, the cycle's cursor), purge and cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisiond.store import engine_state
from provisiond.store import inbound as staging
from provisiond.store.db import Database

JOB = "API2AAD.tenant.app"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stage(db: Database, *external_ids: str, job: str = JOB) -> None:
    with db.transaction() as conn:
        staging.stage(
            conn,
            job,
            [
                {
                    "upload_id": "u",
                    "bulk_id": f"b-{e}",
                    "external_id": e,
                    "kind": staging.RECORD,
                    "data": {"externalId": e},
                    "received_date_time": NOW,
                }
                for e in external_ids
            ],
        )


def ready(db: Database, *, after: int = 0, limit: int = 100) -> list[str]:
    """The externalIds a cycle may apply now, in order."""
    with db.read() as conn:
        upto = staging.max_seq(conn, JOB) or 0
        rows = staging.pending(conn, JOB, NOW, limit, upto=upto, after=after)
    return list(dict.fromkeys(r["external_id"] for r in rows))


def escrow(db: Database, external_id: str, retry_at: datetime) -> None:
    with db.transaction() as conn:
        engine_state.escrows_apply(
            conn,
            JOB,
            [
                (
                    external_id,
                    {
                        "source_id": external_id,
                        "object_type": "User",
                        "reference": False,
                        "error_code": "X",
                        "error_message": "x",
                        "attempts": 1,
                        "first_failed_date_time": NOW,
                        "next_retry_date_time": retry_at,
                    },
                )
            ],
        )
        seqs = [
            r["seq"]
            for r in staging.pending(conn, JOB, NOW, 100, upto=10**9)
            if r["external_id"] == external_id
        ]
        staging.mark_escrowed(conn, seqs)


def test_records_are_ready_oldest_first_whole_external_ids_at_a_time(db: Database) -> None:
    stage(db, "a", "b", "a", "c")
    with db.read() as conn:
        rows = staging.pending(conn, JOB, NOW, 2, upto=staging.max_seq(conn, JOB) or 0)
    assert [r["external_id"] for r in rows] == ["a", "b", "a"]
    assert ready(db, after=rows[1]["seq"]) == ["c"]


def test_records_after_the_cycles_high_mark_wait_for_the_next_cycle(db: Database) -> None:
    stage(db, "a")
    with db.read() as conn:
        upto = staging.max_seq(conn, JOB) or 0
    stage(db, "b")
    with db.read() as conn:
        assert [r["external_id"] for r in staging.pending(conn, JOB, NOW, 10, upto=upto)] == ["a"]


def test_an_escrowed_external_id_waits_for_its_retry_unless_a_new_record_arrives(db: Database) -> None:
    stage(db, "a", "b")
    escrow(db, "a", NOW + timedelta(minutes=30))
    assert ready(db) == ["b"]
    escrow(db, "b", NOW - timedelta(seconds=1))  # due
    assert ready(db) == ["b"]
    stage(db, "a")  # the client sent a fix
    assert ready(db) == ["a", "b"]


def test_escrowed_records_without_an_escrow_are_ready_again(db: Database) -> None:
    stage(db, "a")
    escrow(db, "a", NOW + timedelta(hours=1))
    assert ready(db) == []
    with db.transaction() as conn:
        engine_state.escrows_clear(conn, JOB)  # a restart cleared the escrows
    assert ready(db) == ["a"]


def test_a_held_disable_keeps_its_records_out_of_the_cycle(db: Database) -> None:
    stage(db, "a", "b")
    with db.transaction() as conn:
        row = {
            "source_id": "a",
            "object_type": "User",
            "action": "disable",
            "state": "held",
            "staged_date_time": NOW,
        }
        engine_state.staged_apply(conn, JOB, [("a", row)])
    assert ready(db) == ["b"]
    with db.transaction() as conn:
        engine_state.staged_set_state(conn, JOB, ("held",), "approved")
    assert ready(db) == ["a", "b"]


def test_purge_keeps_the_named_external_ids_and_other_jobs(db: Database) -> None:
    stage(db, "a", "b", "c")
    stage(db, "a", job="API2AAD.other")
    with db.transaction() as conn:
        assert staging.purge(conn, JOB, keep_external_ids=["b"]) == 2
    assert ready(db) == ["b"]
    with db.read() as conn:
        assert staging.count(conn, "API2AAD.other") == 1


def test_references_are_kept_apart_from_records(db: Database) -> None:
    stage(db, "a")
    with db.transaction() as conn:
        staging.stage(
            conn,
            JOB,
            [
                {
                    "upload_id": "reference",
                    "bulk_id": "b",
                    "external_id": "r",
                    "kind": staging.REFERENCE,
                    "data": {"manager": "m"},
                    "received_date_time": NOW,
                }
            ],
        )
        assert staging.has_fresh(conn, JOB)
    assert ready(db) == ["a"]
    with db.transaction() as conn:
        assert [r["external_id"] for r in staging.references(conn, JOB)] == ["r"]
        staging.remove_references_of(conn, JOB, ["r"])
        assert staging.references(conn, JOB) == []
        assert staging.count(conn, JOB, staging.REFERENCE) == 0
