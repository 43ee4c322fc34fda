"""The expression-language requirements of the mapping-language issue that the per-function and
parser tests do not already pin: any text that parses round-trips through its canonical text,
every error names a position inside the text, the reference's own examples in both forms, and a
schema compiles once per version rather than per object or per cycle."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisiond.mapping import expressions, flows
from provisiond.mapping.expressions import (
    MAX_EXPRESSION_LENGTH,
    ExpressionSyntaxError,
    NumberLiteral,
    StringLiteral,
    from_mapping_source,
    parse,
    to_mapping_source,
    to_text,
)
from provisiond.services import templates

# Text drawn from the grammar's own alphabet, so that a good share of it parses.
_TOKENS = st.sampled_from(
    [
        "Join(",
        "Switch(",
        "Replace(",
        "IIF(",
        "Mid(",
        "Not(",
        "Coalesce(",
        "Now(",
        "Item(",
        "Split(",
        "[givenName]",
        '[emails[type eq "work"].value]',
        '"a"',
        '"\\""',
        '"x\\\\y"',
        "1",
        "-7",
        "&HF7",
        "vbTextCompare",
        ", ",
        ",",
        ")",
        " ",
        "=",
        "<>",
        ">=",
        "[",
        "]",
        '"',
        "(",
    ]
)
_texts = st.lists(_TOKENS, max_size=14).map("".join)


@settings(max_examples=400)
@given(_texts)
def test_any_text_that_parses_round_trips_through_its_canonical_text(text: str) -> None:
    try:
        expr = parse(text)
    except ExpressionSyntaxError as error:
        assert error.position is not None and 0 <= error.position <= len(text)
        assert f"position {error.position}" in error.message
        return
    canonical = to_text(expr)
    assert parse(canonical) == expr
    assert to_text(parse(canonical)) == canonical
    # A lone number is stored as a Constant, so it reads back as its text.
    expected = StringLiteral(str(expr.value)) if isinstance(expr, NumberLiteral) else expr
    assert from_mapping_source(to_mapping_source(expr)) == expected


def test_the_length_limit_is_checked_before_parsing_and_names_the_limit() -> None:
    with pytest.raises(ExpressionSyntaxError, match="limit is 10000") as raised:
        parse('"' + "x" * MAX_EXPRESSION_LENGTH + '"')
    assert raised.value.position == MAX_EXPRESSION_LENGTH


# --- the reference's examples, in text and tree form ------------------------------------------


def _attr(name: str) -> dict[str, Any]:
    return {"expression": f"[{name}]", "name": name, "parameters": [], "type": "Attribute"}


def _const(name: str) -> dict[str, Any]:
    return {"expression": f'"{name}"', "name": name, "parameters": [], "type": "Constant"}


# (text, Graph tree, source attributes, value): graph-sync-api §2.1, §8.3; entra-engine-behavior §6, §7.
REFERENCE_EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = [
    (
        "Mid([userPrincipalName], 1, 8)",
        {
            "expression": "Mid([userPrincipalName], 1, 8)",
            "name": "Mid",
            "parameters": [
                {"key": "source", "value": _attr("userPrincipalName")},
                # §2.1: a numeric argument is stored as the Constant {"name": "1", "expression": "\"1\""}.
                {"key": "start", "value": _const("1")},
                {"key": "length", "value": _const("8")},
            ],
            "type": "Function",
        },
        {"userPrincipalName": "johns@contoso.com"},
        "johns@co",
    ),
    (
        "Not([IsSoftDeleted])",
        {
            "expression": "Not([IsSoftDeleted])",
            "name": "Not",
            "parameters": [{"key": "source", "value": _attr("IsSoftDeleted")}],
            "type": "Function",
        },
        {"IsSoftDeleted": False},
        True,
    ),
    (
        "SingleAppRoleAssignment([appRoleAssignments])",
        {
            "expression": "SingleAppRoleAssignment([appRoleAssignments])",
            "name": "SingleAppRoleAssignment",
            "parameters": [{"key": "source", "value": _attr("appRoleAssignments")}],
            "type": "Function",
        },
        {"appRoleAssignments": [{"value": "Admin", "displayName": "Administrator"}]},
        "Admin",
    ),
    (
        'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
        {
            "expression": 'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
            "name": "Switch",
            "parameters": [
                {"key": "source", "value": _attr("IsSoftDeleted")},
                {"key": "defaultValue", "value": _const("")},
                {"key": "key", "value": _const("False")},
                {"key": "value", "value": _const("True")},
                {"key": "key", "value": _const("True")},
                {"key": "value", "value": _const("False")},
            ],
            "type": "Function",
        },
        {"IsSoftDeleted": True},
        "False",
    ),
    (
        'Join(" ", [givenName], [surname])',
        {
            "expression": 'Join(" ", [givenName], [surname])',
            "name": "Join",
            "parameters": [
                {"key": "separator", "value": _const(" ")},
                {"key": "source", "value": _attr("givenName")},
                {"key": "source", "value": _attr("surname")},
            ],
            "type": "Function",
        },
        {"givenName": "John", "surname": "Doe"},
        "John Doe",
    ),
    (
        "BitAnd(&HF, &HF7)",
        {
            "expression": "BitAnd(&HF, &HF7)",
            "name": "BitAnd",
            "parameters": [
                {"key": "value1", "value": _const("15")},
                {"key": "value2", "value": _const("247")},
            ],
            "type": "Function",
        },
        {},
        7,
    ),
]


@pytest.mark.parametrize(
    ("text", "tree", "source", "value"),
    REFERENCE_EXAMPLES,
    ids=[e[0].split("(")[0] for e in REFERENCE_EXAMPLES],
)
def test_reference_example_converts_both_ways_and_evaluates(
    text: str, tree: dict[str, Any], source: dict[str, Any], value: Any
) -> None:
    expr = parse(text)
    assert to_mapping_source(expr) == tree
    assert from_mapping_source(tree) == expr
    without_text = copy.deepcopy(tree)
    del without_text["expression"]
    # The tree alone gives the same value (numbers come back as their text, which evaluates alike).
    assert expressions.compile(from_mapping_source(without_text)).evaluate(source) == value
    assert expressions.compile(expr).evaluate(source) == value


# --- strict compilation for schema saves ------------------------------------------------------


def _users_mapping() -> dict[str, Any]:
    rule = templates.template_schema("scim")["synchronizationRules"][0]
    return next(m for m in rule["objectMappings"] if m["sourceObjectName"] == "User")


def _with_display_name_source(source: dict[str, Any]) -> dict[str, Any]:
    mapping = _users_mapping()
    entry = next(a for a in mapping["attributeMappings"] if a["targetAttributeName"] == "displayName")
    entry["source"] = source
    return mapping


def test_a_cycle_falls_back_on_the_tree_but_a_strict_compile_names_the_bad_text() -> None:
    mapping = _with_display_name_source(
        {
            "expression": "Join(, [givenName]",
            "name": "Join",
            "parameters": [
                {"key": "separator", "value": _const(" ")},
                {"key": "source", "value": _attr("givenName")},
            ],
            "type": "Function",
        }
    )
    lenient = flows.compile_object_mapping(mapping)
    flow = next(a for a in lenient.attributes if a.target == "displayName")
    assert flow.expression.evaluate({"givenName": "Ann"}) == "Ann"
    with pytest.raises(
        flows.MappingError, match=r"attribute 'displayName': .* at position 18, found the end"
    ):
        flows.compile_object_mapping(mapping, strict=True)


def test_strict_compile_keeps_the_tree_for_attribute_and_constant_sources() -> None:
    mapping = _with_display_name_source(
        {"expression": "displayName", "name": "displayName", "type": "Attribute"}
    )
    flows.compile_object_mapping(mapping, strict=True)


# --- compiled once per schema version ---------------------------------------------------------


def test_a_schema_version_compiles_once_however_often_it_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    compile_expression = expressions.compile

    def counting(expr: expressions.Expr) -> expressions.CompiledExpression:
        calls.append(1)
        return compile_expression(expr)

    monkeypatch.setattr(expressions, "compile", counting)
    schema = {**templates.template_schema("scim"), "id": "scim.once"}
    schema["synchronizationRules"][0]["name"] = "a rule only this test compiles"
    first = flows.compile_schema_once(schema)
    compiled = len(calls)
    assert compiled > 0
    for _ in range(3):  # later cycles, or the same rules read back from the database
        assert flows.compile_schema_once(copy.deepcopy(schema)) is first
    assert len(calls) == compiled

    changed = copy.deepcopy(schema)
    changed["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][1]["source"] = _attr("mail")
    assert flows.compile_schema_once(changed) is not first
    assert len(calls) == 2 * compiled
