"""What text the service accepts: the JSON depth limit and the forbidden characters."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisiond.graph.text import (
    MAX_JSON_DEPTH,
    BadText,
    check_json_text,
    forbidden_character,
    json_depth,
    load_json,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(codec="utf-8")),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=40,
)


def _naive_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_naive_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_naive_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_the_depth_of_a_body_is_the_nesting_of_its_arrays_and_objects(value: object) -> None:
    assert json_depth(json.dumps(value).encode()) == _naive_depth(value)


def test_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps({"a": "[{" * 1000, "b": ['\\"[[[', "]]]"]}).encode()
    assert json_depth(raw) == 2
    assert load_json(raw)["a"].startswith("[{")


def test_a_body_nested_past_the_limit_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(BadText, match=f"more than {MAX_JSON_DEPTH} levels"):
        load_json(b"[" * 100_000)
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_depth(at_limit) == MAX_JSON_DEPTH
    load_json(at_limit)
    with pytest.raises(BadText):
        load_json(b"[" + at_limit + b"]")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"displayName": "a\\u0000b"}', "'displayName' contains a NUL character (U+0000)"),
        (b'{"x": ["ok", "\\ud800"]}', "'x.1' contains a lone surrogate (U+D800)"),
        (b'{"x": "\\udfff\\ud83d"}', "lone surrogate (U+DFFF)"),
        (b'{"a\\u0000": 1}', "A property name contains a NUL"),
        (b'{"o": {"k\\uDBFF": 1}}', "A property name in 'o' contains a lone surrogate (U+DBFF)"),
        (b'"\\u0000"', "The JSON payload contains a NUL"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_where(raw: bytes, says: str) -> None:
    with pytest.raises(BadText, match=re.escape(says)):
        load_json(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"e": "\\ud83d\\ude00"}', b'{"e": "\\\\u0000"}', b'{"e": "\\\\ud800"}', '{"e": "名前 🙂"}'.encode()],
)
def test_pairs_and_escaped_backslashes_are_ordinary_text(raw: bytes) -> None:
    value = load_json(raw)
    check_json_text(value)
    assert forbidden_character(value["e"]) is None


def test_the_first_problem_in_document_order_is_named() -> None:
    with pytest.raises(BadText, match="'a'"):
        check_json_text({"a": "\x00", "b": "\x00"})
