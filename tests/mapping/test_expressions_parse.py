"""The expression grammar, its canonical text, and Graph's attributeMappingSource tree form."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisiond.mapping import expressions
from provisiond.mapping.expressions import (
    COMPARISON_OPERATORS,
    FUNCTION_SIGNATURES,
    KEYWORDS,
    MAX_EXPRESSION_LENGTH,
    Attribute,
    Comparison,
    Expr,
    ExpressionSyntaxError,
    FunctionCall,
    FunctionSignature,
    Keyword,
    NumberLiteral,
    Omitted,
    StringLiteral,
    from_mapping_source,
    parse,
    to_mapping_source,
    to_text,
)
from provisiond.services import templates

# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[givenName]", "givenName"),
        ('[emails[type eq "work"].value]', 'emails[type eq "work"].value'),
        (
            "[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        ),
        ("[extension_a1b2_Cost Center]", "extension_a1b2_Cost Center"),
        ("[a[b[c]]d]", "a[b[c]]d"),
    ],
)
def test_attribute_reference_closes_only_when_brackets_balance(text: str, name: str) -> None:
    assert parse(text) == Attribute(name)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"United States"', "United States"),
        ('"Company name: \\"Contoso\\""', 'Company name: "Contoso"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\\\+(?<isd>\\\\d*)"', "\\+(?<isd>\\d*)"),
        ('"\\d+"', "\\d+"),
        ('""', ""),
    ],
)
def test_string_constants_unescape_quote_and_backslash(text: str, value: str) -> None:
    assert parse(text) == StringLiteral(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("-10", -10), ("129699324000000000", 129699324000000000), ("&HF", 15), ("&hF7", 247)],
)
def test_numbers_are_decimal_or_vb_hex(text: str, value: int) -> None:
    assert parse(text) == NumberLiteral(value)


def test_hex_numbers_print_back_in_hex() -> None:
    assert to_text(parse("BitAnd(&HF, &HF7)")) == "BitAnd(&HF, &HF7)"


def test_nested_calls_with_whitespace_and_newlines_anywhere() -> None:
    text = ' Join (\n"@" ,\tNormalizeDiacritics( StripSpaces ( [a] ) ) , "contoso.com" )\n'
    assert parse(text) == FunctionCall(
        "Join",
        (
            StringLiteral("@"),
            FunctionCall("NormalizeDiacritics", (FunctionCall("StripSpaces", (Attribute("a"),)),)),
            StringLiteral("contoso.com"),
        ),
    )


def test_empty_optional_arguments_parse_as_omitted() -> None:
    assert parse('Replace([x], "a", , , "b", , )') == FunctionCall(
        "Replace",
        (Attribute("x"), StringLiteral("a"), Omitted(), Omitted(), StringLiteral("b"), Omitted(), Omitted()),
    )


def test_switch_with_empty_default_parses() -> None:
    expr = parse('Switch([IsSoftDeleted], , "False", "True", "True", "False")')
    assert isinstance(expr, FunctionCall) and expr.args[1] == Omitted()


def test_functions_without_arguments_parse() -> None:
    assert parse("Guid()") == FunctionCall("Guid")
    assert parse("Now( )") == FunctionCall("Now")


@pytest.mark.parametrize("op", COMPARISON_OPERATORS)
def test_iif_condition_takes_every_comparison_operator(op: str) -> None:
    assert parse(f'IIF([country]{op}"US", "a", "b")') == FunctionCall(
        "IIF",
        (Comparison(op, Attribute("country"), StringLiteral("US")), StringLiteral("a"), StringLiteral("b")),
    )


def test_comparisons_nest_inside_other_functions() -> None:
    assert parse("CBool([a] = [b])") == FunctionCall(
        "CBool", (Comparison("=", Attribute("a"), Attribute("b")),)
    )
    iif = parse('IIF(DateDiff("d", Now(), [x]) > 5, 1, 0)')
    assert isinstance(iif, FunctionCall) and iif.args[0] == Comparison(
        ">",
        FunctionCall("DateDiff", (StringLiteral("d"), FunctionCall("Now"), Attribute("x"))),
        NumberLiteral(5),
    )


def test_instr_compare_type_keyword_parses() -> None:
    expr = parse('InStr("repEated","e",3,vbBinaryCompare)')
    assert isinstance(expr, FunctionCall) and expr.args[3] == Keyword("vbBinaryCompare")


def test_documented_is_present_switch_example_parses() -> None:
    text = (
        "Switch(IsPresent([directManager]),[directManager], IsPresent([skiplevelManager]),[skiplevelManager],"
        " IsPresent([director]),[director])"
    )
    assert isinstance(parse(text), FunctionCall)


def test_expression_of_exactly_the_maximum_length_parses() -> None:
    text = f'"{"x" * (MAX_EXPRESSION_LENGTH - 2)}"'
    assert parse(text) == StringLiteral("x" * (MAX_EXPRESSION_LENGTH - 2))


# --- syntax errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('Join(" ", [a] [b])', "Expected ')' or ',' at position 14, found '['", 14),
        ('Join(" ", [a]', "Expected ')' or ',' at position 13, found the end of the expression", 13),
        ("", "Expected an attribute, a string, a number or a function call at position 0", 0),
        ("[a] [b]", "Expected the end of the expression at position 4, found '['", 4),
        ('Append([a], "x")x', "Expected the end of the expression at position 16", 16),
        ('Append([a, "x")', "Expected ']' to close the attribute opened at position 7", 15),
        ('Append([a], "x)', "Expected '\"' to close the string opened at position 12", 15),
        ("Append([], [a])", "Empty attribute name at position 7", 7),
        ("Append", "Expected '(' after the function name 'Append' at position 6", 6),
        ("Append([a], *)", "Expected an attribute, a string, a number or a function call at position 12", 12),
        ("Append([a], -)", "Expected a number at position 12", 12),
        ('IIF([a] = [b] = [c], "x", "y")', "Expected ')' or ',' at position 14", 14),
        ('[a] = "x"', "Expected the end of the expression at position 4, found '='", 4),
    ],
)
def test_syntax_error_names_the_position_and_what_was_expected(
    text: str, message: str, position: int
) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_unknown_function_error_names_it() -> None:
    with pytest.raises(ExpressionSyntaxError, match="Unknown function 'Frobnicate' at position 7"):
        parse("Append(Frobnicate([a]), [b])")


def test_function_names_are_case_sensitive_and_the_error_suggests_the_right_case() -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"Unknown function 'join'.*did you mean 'Join'"):
        parse('join(" ", [a])')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mid([a], 1)", "Mid expects 3 arguments (source, start, length), got 2"),
        ("Guid([a])", "Guid expects 0 arguments (), got 1"),
        ('InStr("a")', "InStr expects 2 to 4 arguments (value1, value2, start, compareType), got 1"),
        ('Join(" ")', "Join expects at least 2 arguments (separator, source, ...), got 1"),
        ('SelectUniqueValue("a")', "SelectUniqueValue expects at least 2 arguments"),
        ("Replace([a], , , , , , , )", "Replace expects 1 to 7 arguments"),
    ],
)
def test_wrong_argument_count_names_the_function_and_the_expected_count(text: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="at position 0") as caught:
        parse(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ['Switch([a], "d", "k1")', 'Switch([a], "d", "k1", "v1", "k2")', 'Switch([a], "d")'],
)
def test_switch_with_incomplete_key_value_pairs_is_a_syntax_error(text: str) -> None:
    with pytest.raises(
        ExpressionSyntaxError, match=r"Switch expects at least 4 arguments.*key/value always together"
    ):
        parse(text)


def test_empty_required_argument_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"Argument 2 \(suffix\) of Append is required"):
        parse("Append([a], )")


def test_select_unique_value_cannot_be_nested() -> None:
    with pytest.raises(
        ExpressionSyntaxError,
        match="SelectUniqueValue must be the whole expression; it cannot be nested at position 8",
    ):
        parse('ToLower(SelectUniqueValue("a", "b"))')


def test_expression_longer_than_ten_thousand_characters_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError, match="10001 characters long; the limit is 10000"):
        parse(f'"{"x" * (MAX_EXPRESSION_LENGTH - 1)}"')


def test_nesting_beyond_the_limit_is_a_syntax_error() -> None:
    deep = "Not(" * 101 + "[a]" + ")" * 101
    with pytest.raises(ExpressionSyntaxError, match="nests more than 100 function calls"):
        parse(deep)


def test_compile_rejects_an_invalid_hand_built_tree() -> None:
    switch = FunctionCall("Switch", (Attribute("a"), Omitted(), StringLiteral("k")))
    with pytest.raises(ExpressionSyntaxError, match="Switch expects at least 4 arguments") as caught:
        expressions.compile(switch)
    assert caught.value.position is None


@pytest.mark.parametrize(
    "expr",
    [
        Comparison("=", Attribute("a"), Attribute("b")),
        Omitted(),
        FunctionCall("CBool", (Comparison("=", Omitted(), Attribute("b")),)),
        Attribute("a]"),
        Keyword("vbSometimes"),
    ],
)
def test_compile_rejects_trees_that_have_no_text_form(expr: Expr) -> None:
    with pytest.raises(ExpressionSyntaxError):
        expressions.compile(expr)


# --- canonical text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('Replace([x], "a", , , "b", , )', 'Replace([x], "a", , , "b", , )'),
        (
            'Switch([IsSoftDeleted],,"False","True","True","False")',
            'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
        ),
        ('IIF([country]="USA",[country],[department])', 'IIF([country] = "USA", [country], [department])'),
        ("  Item( [proxyAddresses] ,1 )", "Item([proxyAddresses], 1)"),
        ('"say \\"hi\\" \\\\ \\d"', '"say \\"hi\\" \\\\ \\\\d"'),
    ],
)
def test_to_text_prints_the_canonical_form(text: str, canonical: str) -> None:
    assert to_text(parse(text)) == canonical


# Generated expression trees: every node kind, valid argument counts, empty optional arguments,
# comparisons in argument position and attribute names with balanced brackets, quotes and spaces.

_plain_names = st.text(
    st.characters(exclude_characters="[]", exclude_categories=("Cs",)), min_size=1, max_size=8
)
_attribute_names = st.lists(
    st.one_of(_plain_names, _plain_names.map(lambda s: f"[{s}]"), st.just("[]")), min_size=1, max_size=3
).map("".join)
_leaves: st.SearchStrategy[Expr] = st.one_of(
    _attribute_names.map(Attribute),
    st.text(max_size=12).map(StringLiteral),
    st.integers(-(10**12), 10**12).map(NumberLiteral),
    st.integers(0, 2**40).map(lambda value: NumberLiteral(value, hex=True)),
    st.sampled_from(sorted(KEYWORDS)).map(Keyword),
)
_NESTABLE = [signature for signature in FUNCTION_SIGNATURES.values() if not signature.top_level_only]


def _argument_counts(signature: FunctionSignature) -> st.SearchStrategy[int]:
    fixed, repeating = len(signature.fixed), len(signature.repeating)
    if not repeating:
        low = max((i + 1 for i, p in enumerate(signature.fixed) if p.required), default=0)
        return st.integers(low, fixed)
    return st.integers(signature.min_repeats, signature.min_repeats + 2).map(lambda k: fixed + repeating * k)


def _arguments(children: st.SearchStrategy[Expr], optional: bool) -> st.SearchStrategy[Expr]:
    comparisons = st.builds(Comparison, st.sampled_from(COMPARISON_OPERATORS), children, children)
    choices = [children, comparisons] + ([st.just(Omitted())] if optional else [])
    return st.one_of(*choices)


def _calls(children: st.SearchStrategy[Expr], signatures: list[FunctionSignature]) -> st.SearchStrategy[Expr]:
    @st.composite
    def call(draw: st.DrawFn) -> Expr:
        signature = draw(st.sampled_from(signatures))
        count = draw(_argument_counts(signature))
        args = [draw(_arguments(children, not signature.parameter(i).required)) for i in range(count)]
        return FunctionCall(signature.name, tuple(args))

    return call()


_nested = st.recursive(_leaves, lambda children: _calls(children, _NESTABLE), max_leaves=16)
expressions_trees = st.one_of(_nested, _calls(_nested, [FUNCTION_SIGNATURES["SelectUniqueValue"]]))


def _spaced_text(expr: Expr, spaces: Iterator[str]) -> str:
    """`to_text` with arbitrary whitespace between tokens."""
    match expr:
        case Comparison(operator=op, left=left, right=right):
            return (
                f"{_spaced_text(left, spaces)}{next(spaces)}{op}{next(spaces)}{_spaced_text(right, spaces)}"
            )
        case FunctionCall(name=name, args=args):
            inner = ",".join(f"{next(spaces)}{_spaced_text(arg, spaces)}{next(spaces)}" for arg in args)
            return f"{name}{next(spaces)}({inner or next(spaces)})"
    return to_text(expr)


@settings(max_examples=200)
@given(expressions_trees)
def test_parse_of_to_text_gives_back_the_same_tree(expr: Expr) -> None:
    text = to_text(expr)
    assert parse(text) == expr
    assert to_text(parse(text)) == text


@settings(max_examples=100)
@given(expressions_trees, st.lists(st.sampled_from(["", " ", "\n", "\t  "]), min_size=1))
def test_whitespace_between_tokens_does_not_change_the_tree(expr: Expr, gaps: list[str]) -> None:
    spaces = itertools.cycle(gaps)
    assert parse(_spaced_text(expr, spaces)) == expr


@settings(max_examples=100)
@given(expressions_trees)
def test_mapping_source_round_trips_and_every_generated_tree_compiles(expr: Expr) -> None:
    # A lone number is stored as a Constant, so it reads back as its text.
    expected = StringLiteral(str(expr.value)) if isinstance(expr, NumberLiteral) else expr
    assert from_mapping_source(to_mapping_source(expr)) == expected
    expressions.compile(expr)


# --- Graph's tree form ------------------------------------------------------------------------


def test_attribute_source_shape() -> None:
    assert to_mapping_source(parse("[givenName]")) == {
        "expression": "[givenName]",
        "name": "givenName",
        "parameters": [],
        "type": "Attribute",
    }


def test_constant_source_shape_quotes_the_literal() -> None:
    assert to_mapping_source(parse('"a \\"b\\""')) == {
        "expression": '"a \\"b\\""',
        "name": 'a "b"',
        "parameters": [],
        "type": "Constant",
    }


def test_function_source_names_parameters_from_the_signature() -> None:
    tree = to_mapping_source(parse("Mid([userPrincipalName], 1, 8)"))
    assert tree["expression"] == "Mid([userPrincipalName], 1, 8)"
    assert tree["type"] == "Function" and tree["name"] == "Mid"
    assert [(p["key"], p["value"]["name"], p["value"]["type"]) for p in tree["parameters"]] == [
        ("source", "userPrincipalName", "Attribute"),
        ("start", "1", "Constant"),
        ("length", "8", "Constant"),
    ]
    assert tree["parameters"][1]["value"]["expression"] == '"1"'


def test_switch_parameters_repeat_key_and_value() -> None:
    tree = to_mapping_source(parse('Switch([IsSoftDeleted], , "False", "True", "True", "False")'))
    assert [p["key"] for p in tree["parameters"]] == [
        "source",
        "defaultValue",
        "key",
        "value",
        "key",
        "value",
    ]
    assert tree["parameters"][1]["value"] == {
        "expression": '""',
        "name": "",
        "parameters": [],
        "type": "Constant",
    }


def test_replace_parameters_use_the_documented_names() -> None:
    tree = to_mapping_source(parse('Replace([x], "a", , , "b", , )'))
    assert [p["key"] for p in tree["parameters"]] == [
        "source",
        "oldValue",
        "regexPattern",
        "regexGroupName",
        "replacementValue",
        "replacementAttributeName",
        "template",
    ]


def test_comparison_is_a_function_source_named_after_its_operator() -> None:
    condition = to_mapping_source(parse('IIF([c] <> "US", "a", "b")'))["parameters"][0]
    assert condition["key"] == "condition"
    assert condition["value"]["name"] == "<>"
    assert [p["key"] for p in condition["value"]["parameters"]] == ["left", "right"]


def _template_sources() -> Iterator[dict[str, Any]]:
    for template_id in templates.TEMPLATE_IDS:
        for rule in templates.template_schema(template_id)["synchronizationRules"]:
            for mapping in rule["objectMappings"]:
                for attribute_mapping in mapping["attributeMappings"]:
                    if attribute_mapping["source"] is not None:
                        yield attribute_mapping["source"]


@pytest.mark.parametrize("source", list(_template_sources()), ids=lambda source: source["expression"])
def test_every_default_template_source_round_trips_exactly(source: dict[str, Any]) -> None:
    expr = from_mapping_source(source)
    assert to_mapping_source(expr) == source
    expressions.compile(expr)


def test_expression_text_is_authoritative_over_the_tree() -> None:
    source = {"expression": "[mail]", "name": "userPrincipalName", "parameters": [], "type": "Attribute"}
    assert from_mapping_source(source) == Attribute("mail")


def test_tree_is_used_when_the_expression_is_absent() -> None:
    source = {
        "name": "Append",
        "type": "Function",
        "parameters": [
            {"key": "source", "value": {"name": "userPrincipalName", "type": "Attribute"}},
            {"key": "suffix", "value": {"name": ".test", "type": "Constant"}},
        ],
    }
    assert from_mapping_source(source) == FunctionCall(
        "Append", (Attribute("userPrincipalName"), StringLiteral(".test"))
    )


def test_tree_is_used_when_the_expression_does_not_parse() -> None:
    source = {"expression": "Append([upn]", "name": "upn", "type": "attribute"}
    assert from_mapping_source(source) == Attribute("upn")


def test_source_type_defaults_to_attribute() -> None:
    assert from_mapping_source({"name": "mail"}) == Attribute("mail")


def test_invalid_expression_and_invalid_tree_report_the_expression_error() -> None:
    source = {"expression": "Append([upn]", "name": "Nope", "type": "Function", "parameters": []}
    with pytest.raises(ExpressionSyntaxError, match=re.escape("Expected ')' or ','")):
        from_mapping_source(source)


def test_tree_with_unknown_function_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError, match="Unknown function 'Nope'"):
        from_mapping_source({"name": "Nope", "type": "Function", "parameters": []})


def test_tree_with_unknown_source_type_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError, match="Unknown attributeMappingSource type 'Lambda'"):
        from_mapping_source({"name": "x", "type": "Lambda"})


def test_function_signatures_serve_graph_function_schemas() -> None:
    assert FUNCTION_SIGNATURES["Join"].as_graph() == {
        "id": "Join",
        "name": "Join",
        "parameters": [
            {"allowMultipleOccurrences": False, "name": "separator", "required": True, "type": "String"},
            {"allowMultipleOccurrences": True, "name": "source", "required": True, "type": "String"},
        ],
    }
    assert FUNCTION_SIGNATURES["Mid"].as_graph()["parameters"][1]["type"] == "Integer"
    assert list(FUNCTION_SIGNATURES) == sorted(FUNCTION_SIGNATURES)
