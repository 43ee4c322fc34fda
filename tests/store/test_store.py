"""The store contract, run on SQLite and on PostgreSQL: migrations, change log, directory rows."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from provisiond.store import directory as repo
from provisiond.store import engine_state
from provisiond.store.changelog import append_change, changes_after, last_seq
from provisiond.store.db import Database
from provisiond.store.secretbox import SecretBox
from provisiond.store.tables import metadata, users

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _user(object_id: str, upn: str) -> dict[str, object]:
    record: dict[str, object] = {c.name: None for c in users.columns}
    record.update(
        id=object_id,
        user_principal_name=upn,
        upn_key=upn.lower(),
        other_mails=[],
        proxy_addresses=[],
        business_phones=[],
        account_enabled=True,
        created_date_time=NOW,
    )
    return record


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Everything but migration 0012's trigram indexes, which exist only where PostgreSQL has
    pg_trgm and so are not declared in the metadata."""
    return not (type_ == "index" and name is not None and name.endswith("_trgm"))


def test_migrations_produce_exactly_the_declared_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _declared})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrate_twice_is_harmless(db: Database) -> None:
    db.migrate()
    with db.read() as conn:
        assert last_seq(conn) == 0


def test_tenant_id_is_created_once_and_kept(db: Database) -> None:
    first = db.tenant_id()
    assert db.tenant_id() == first
    assert len(first) == 36


def test_change_log_reads_only_changes_after_the_watermark_in_order(db: Database) -> None:
    with db.transaction() as conn:
        seqs = [
            append_change(conn, object_type="user", object_id=f"u{i}", change_type="created", at=NOW)
            for i in range(5)
        ]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    with db.read() as conn:
        after = changes_after(conn, seqs[2])
        assert [c.object_id for c in after] == ["u3", "u4"]
        assert [c.seq for c in changes_after(conn, seqs[0], limit=2)] == seqs[1:3]
        assert last_seq(conn) == seqs[-1]


def test_a_rolled_back_write_leaves_no_change(db: Database) -> None:
    try:
        with db.transaction() as conn:
            append_change(conn, object_type="user", object_id="x", change_type="created", at=NOW)
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with db.read() as conn:
        assert changes_after(conn, 0) == []


def test_a_later_change_never_becomes_visible_before_an_earlier_uncommitted_one(db: Database) -> None:
    """The watermark invariant: changes commit in seq order, so a reader never sees a gap."""
    outcome: dict[str, int] = {}
    first = db.engine.connect()
    tx = first.begin()
    outcome["first"] = append_change(first, object_type="user", object_id="a", change_type="created", at=NOW)

    def second_writer() -> None:
        with db.transaction() as conn:
            outcome["second"] = append_change(
                conn, object_type="user", object_id="b", change_type="created", at=NOW
            )

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.5)  # give the second writer time to commit if it could
    with db.read() as reader:
        seen = [c.object_id for c in changes_after(reader, 0)]
    assert seen == []
    tx.commit()
    first.close()
    thread.join(timeout=60)
    assert outcome["first"] < outcome["second"]
    with db.read() as reader:
        assert [c.object_id for c in changes_after(reader, 0)] == ["a", "b"]


def test_users_page_by_id_and_filter_deleted(db: Database) -> None:
    with db.transaction() as conn:
        for i in range(5):
            repo.insert(conn, users, _user(f"id-{i}", f"user{i}@example.com"))
        repo.soft_delete(conn, users, "id-2", NOW)
    with db.read() as conn:
        first = repo.page(conn, users, limit=2)
        assert [r["id"] for r in first] == ["id-0", "id-1"]
        rest = repo.page(conn, users, after_id="id-1", limit=10)
        assert [r["id"] for r in rest] == ["id-3", "id-4"]
        assert [r["id"] for r in repo.page(conn, users, deleted=True)] == ["id-2"]
        assert repo.count(conn, users) == 4


def test_timestamps_come_back_timezone_aware(db: Database) -> None:
    with db.transaction() as conn:
        repo.insert(conn, users, _user("tz", "tz@example.com"))
    with db.read() as conn:
        created = conn.execute(select(users.c.created_date_time).where(users.c.id == "tz")).scalar_one()
    assert created == NOW and created.tzinfo is not None


def test_user_principal_name_key_is_unique(db: Database) -> None:
    with db.transaction() as conn:
        repo.insert(conn, users, _user("a", "Same@example.com"))
    with db.read() as conn:
        assert repo.upn_taken(conn, "same@EXAMPLE.com")
        assert not repo.upn_taken(conn, "same@example.com", excluding="a")


def test_secret_box_round_trips_and_refuses_a_foreign_key() -> None:
    from cryptography.fernet import Fernet

    box = SecretBox(Fernet.generate_key().decode())
    sealed = box.seal("s3cret")
    assert "s3cret" not in sealed
    assert box.open(sealed) == "s3cret"
    other = SecretBox(Fernet.generate_key().decode())
    try:
        other.open(sealed)
    except ValueError as exc:
        assert "cannot be decrypted" in str(exc)
    else:
        raise AssertionError("a foreign key must not decrypt")


def test_engine_reads_of_users_include_soft_deleted_ones(db: Database) -> None:
    with db.transaction() as conn:
        for i in range(3):
            repo.insert(conn, users, {**_user(f"m-{i}", f"m{i}@example.com"), "manager_id": "m-0"})
        repo.soft_delete(conn, users, "m-2", NOW)
    with db.read() as conn:
        assert [r["id"] for r in repo.page_any(conn, users, None, 10)] == ["m-0", "m-1", "m-2"]
        assert [r["id"] for r in repo.page_any(conn, users, "m-0", 1)] == ["m-1"]
        assert repo.existing_ids(conn, users, ["m-1", "m-2", "gone"]) == {"m-1", "m-2"}
        assert repo.existing_ids(conn, users, []) == set()
        assert repo.managers_of(conn, ["m-1", "m-2", "gone"]) == {"m-1": "m-0", "m-2": "m-0"}
        assert repo.managers_of(conn, []) == {}


def test_connector_data_store_partial_reads_agree_with_whole_rows(db: Database) -> None:
    def row(source_id: str, state: str, references: dict[str, list[str]]) -> dict[str, object]:
        return {
            "source_id": source_id,
            "object_type": "User",
            "target_id": f"t-{source_id}",
            "state": state,
            "exported": {"userName": source_id},
            "references": references,
            "display_name": source_id,
            "created_date_time": NOW,
            "updated_date_time": NOW,
        }

    with db.transaction() as conn:
        engine_state.cds_apply(
            conn,
            "job",
            [("a", row("a", "provisioned", {})), ("b", row("b", "disabled", {"manager": ["a"]}))],
        )
        engine_state.cds_apply(conn, "other", [("c", row("c", "provisioned", {}))])
    with db.read() as conn:
        assert engine_state.cds_keys_page(conn, "job", None, 10) == [("a", "User"), ("b", "User")]
        assert engine_state.cds_keys_page(conn, "job", "a", 10) == [("b", "User")]
        assert engine_state.cds_references_page(conn, "job", None, 1) == [
            {"source_id": "a", "object_type": "User", "state": "provisioned", "references": {}}
        ]
        assert engine_state.cds_references_page(conn, "job", "a", 10)[0]["references"] == {"manager": ["a"]}
        assert engine_state.cds_links(conn, "job", ["a", "b", "c"]) == {
            "a": ("t-a", "provisioned"),
            "b": ("t-b", "disabled"),
        }
        assert engine_state.cds_links(conn, "job", []) == {}
