"""The SQL compilation of `$filter` selects exactly the rows the Python evaluator matches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Connection, Integer, MetaData, String, Table, create_engine, select

from provisiond.graph.odata import (
    And,
    Comparison,
    FilterableProperty,
    FilterNode,
    FilterOp,
    In,
    Not,
    Or,
    ResourceQuerySpec,
    StartsWith,
    evaluate,
    parse_filter,
)
from provisiond.store.odata_sql import compile_filter
from provisiond.store.tables import UtcDateTime

GUID_A = "6f5a3b1c-0000-4000-8000-00000000000a"
GUID_B = "6f5a3b1c-0000-4000-8000-00000000000b"
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)

metadata = MetaData()
people = Table(
    "people",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("display_name", String(64)),
    Column("enabled", Boolean),
    Column("created", UtcDateTime()),
    Column("rank", Integer),
    Column("app_id", String(36)),
    Column("status", String(32)),
)
COLUMNS = {
    "displayName": people.c.display_name,
    "accountEnabled": people.c.enabled,
    "createdDateTime": people.c.created,
    "rank": people.c.rank,
    "appId": people.c.app_id,
    "statusInfo/status": people.c.status,
}
ORDERED: frozenset[FilterOp] = frozenset({"eq", "ne", "ge", "le", "gt", "lt", "in"})
STRINGS: frozenset[FilterOp] = ORDERED | {"startswith"}
SPEC = ResourceQuerySpec(
    type_name="microsoft.graph.test",
    properties=("displayName",),
    filterable={
        "displayName": FilterableProperty("string", STRINGS),
        "accountEnabled": FilterableProperty("bool", frozenset({"eq", "ne", "in"})),
        "createdDateTime": FilterableProperty("datetime", ORDERED),
        "rank": FilterableProperty("int", ORDERED),
        "appId": FilterableProperty("guid", frozenset({"eq", "ne", "in"})),
        "statusInfo/status": FilterableProperty("string", STRINGS),
    },
)
ROWS: list[dict[str, Any]] = [
    {
        "pk": 1,
        "display_name": "Ada",
        "enabled": True,
        "created": JAN,
        "rank": 1,
        "app_id": GUID_A,
        "status": "success",
    },
    {
        "pk": 2,
        "display_name": "ada",
        "enabled": False,
        "created": FEB,
        "rank": 2,
        "app_id": GUID_B,
        "status": "Failure",
    },
    {
        "pk": 3,
        "display_name": None,
        "enabled": None,
        "created": None,
        "rank": None,
        "app_id": None,
        "status": None,
    },
    {
        "pk": 4,
        "display_name": "%ada",
        "enabled": True,
        "created": JAN,
        "rank": -5,
        "app_id": GUID_A,
        "status": "FAILURE",
    },
    {
        "pk": 5,
        "display_name": "_bob",
        "enabled": False,
        "created": FEB,
        "rank": 7,
        "app_id": None,
        "status": "skipped",
    },
    {
        "pk": 6,
        "display_name": "xbob",
        "enabled": None,
        "created": JAN,
        "rank": 0,
        "app_id": GUID_B,
        "status": None,
    },
    {
        "pk": 7,
        "display_name": "a\\b",
        "enabled": True,
        "created": None,
        "rank": 3,
        "app_id": GUID_A,
        "status": "success",
    },
    {
        "pk": 8,
        "display_name": "ab",
        "enabled": True,
        "created": FEB,
        "rank": 3,
        "app_id": None,
        "status": "success",
    },
    {
        "pk": 9,
        "display_name": "",
        "enabled": False,
        "created": JAN,
        "rank": 1,
        "app_id": GUID_B,
        "status": "",
    },
    {
        "pk": 10,
        "display_name": "A%B_C",
        "enabled": True,
        "created": FEB,
        "rank": 2,
        "app_id": GUID_A,
        "status": "x",
    },
]


def as_object(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the evaluator sees it: Graph names, nested status, wire-format timestamp."""
    created = row["created"]
    return {
        "displayName": row["display_name"],
        "accountEnabled": row["enabled"],
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else None,
        "rank": row["rank"],
        "appId": row["app_id"],
        "statusInfo": {"status": row["status"]},
    }


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        metadata.create_all(connection)
        connection.execute(people.insert(), ROWS)
        yield connection
    engine.dispose()


def sql_matches(conn: Connection, node: FilterNode) -> set[int]:
    return set(conn.scalars(select(people.c.pk).where(compile_filter(node, COLUMNS))))


def python_matches(node: FilterNode) -> set[int]:
    return {row["pk"] for row in ROWS if evaluate(node, as_object(row))}


def both(conn: Connection, text: str) -> set[int]:
    """The matching primary keys, after checking that SQL and the evaluator agree on them."""
    node = parse_filter(text, SPEC)
    found = sql_matches(conn, node)
    assert found == python_matches(node), text
    return found


def test_startswith_prefix_with_percent_is_literal(conn: Connection) -> None:
    assert both(conn, "startswith(displayName, '%')") == {4}


def test_startswith_prefix_with_underscore_is_literal(conn: Connection) -> None:
    assert both(conn, "startswith(displayName, '_')") == {5}


def test_startswith_prefix_with_backslash_is_literal(conn: Connection) -> None:
    assert both(conn, "startswith(displayName, 'a\\')") == {7}


def test_startswith_escapes_wildcards_in_the_middle_of_the_prefix(conn: Connection) -> None:
    assert both(conn, "startswith(displayName, 'a%b_')") == {10}


def test_startswith_is_case_insensitive_and_skips_nulls(conn: Connection) -> None:
    assert both(conn, "startswith(displayName, 'AD')") == {1, 2}
    assert both(conn, "startswith(displayName, '')") == {1, 2, 4, 5, 6, 7, 8, 9, 10}


def test_string_eq_is_case_insensitive(conn: Connection) -> None:
    assert both(conn, "displayName eq 'ADA'") == {1, 2}


def test_ne_includes_rows_where_the_column_is_null(conn: Connection) -> None:
    assert 3 in both(conn, "displayName ne 'ada'")


def test_not_of_eq_includes_null_rows(conn: Connection) -> None:
    assert both(conn, "not (rank eq 3)") == {1, 2, 3, 4, 5, 6, 9, 10}


def test_eq_null_is_is_null_and_ne_null_is_is_not_null(conn: Connection) -> None:
    assert both(conn, "displayName eq null") == {3}
    assert both(conn, "displayName ne null") == {1, 2, 4, 5, 6, 7, 8, 9, 10}


def test_bool_comparisons_are_typed(conn: Connection) -> None:
    assert both(conn, "accountEnabled eq true") == {1, 4, 7, 8, 10}
    assert both(conn, "accountEnabled ne true") == {2, 3, 5, 6, 9}


def test_datetime_range_uses_utc_instants(conn: Connection) -> None:
    assert both(conn, "createdDateTime ge 2026-01-15T00:00:00Z") == {2, 5, 8, 10}
    assert both(conn, "createdDateTime le 2026-01-01T01:00:00+01:00") == {1, 4, 6, 9}


def test_in_list_is_case_insensitive_and_skips_nulls(conn: Connection) -> None:
    assert both(conn, "statusInfo/status in ('FAILURE', 'skipped')") == {2, 4, 5}


def test_guid_literal_matches_the_stored_canonical_form(conn: Connection) -> None:
    assert both(conn, f"appId eq '{GUID_A.upper()}'") == {1, 4, 7, 10}


def test_unmapped_property_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        compile_filter(Comparison("jobTitle", "eq", "x"), COLUMNS)


@pytest.mark.parametrize(
    "text",
    [
        "displayName ge 'a' and displayName lt 'b'",
        "rank gt 1 or not (rank lt 3)",
        "(displayName eq 'ada' or rank eq 3) and accountEnabled ne false",
        "not (startswith(statusInfo/status, 'f') or appId in ('" + GUID_B + "'))",
        "not (not (accountEnabled eq null))",
    ],
)
def test_sql_agrees_with_evaluate_on_combined_filters(conn: Connection, text: str) -> None:
    both(conn, text)


_strings = st.text(alphabet="aAbB%_\\x", max_size=3)
_guids = st.sampled_from([UUID(GUID_A), UUID(GUID_B)])
_datetimes = st.sampled_from([JAN, FEB, datetime(2026, 1, 15, tzinfo=UTC)])
_typed = {
    "displayName": _strings,
    "statusInfo/status": _strings,
    "accountEnabled": st.booleans(),
    "createdDateTime": _datetimes,
    "rank": st.integers(-6, 8),
    "appId": _guids,
}


def _comparisons(prop: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[FilterNode]:
    ops = ["eq", "ne"] if prop in ("accountEnabled", "appId") else ["eq", "ne", "gt", "ge", "lt", "le"]
    return st.one_of(
        st.builds(Comparison, st.just(prop), st.sampled_from(ops), values),
        st.builds(Comparison, st.just(prop), st.sampled_from(["eq", "ne"]), st.none()),
        st.builds(In, st.just(prop), st.lists(values, min_size=1, max_size=3).map(tuple)),
    )


_leaves = st.one_of(
    *(_comparisons(prop, values) for prop, values in _typed.items()),
    st.builds(StartsWith, st.sampled_from(["displayName", "statusInfo/status"]), _strings),
)
_trees = st.recursive(
    _leaves,
    lambda sub: st.one_of(st.builds(And, sub, sub), st.builds(Or, sub, sub), st.builds(Not, sub)),
    max_leaves=6,
)


@settings(max_examples=300)
@given(_trees)
def test_sql_agrees_with_evaluate_on_generated_filters(conn: Connection, node: FilterNode) -> None:
    assert sql_matches(conn, node) == python_matches(node)
