"""OData query options: parsing, `$filter` grammar and typing, evaluation, `$select`, paging links."""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisiond.graph.odata import (
    And,
    Comparison,
    Expand,
    FilterableProperty,
    FilterNode,
    FilterOp,
    In,
    Not,
    ODataError,
    Or,
    QueryOptions,
    ResourceQuerySpec,
    StartsWith,
    apply_select,
    decode_skiptoken,
    encode_skiptoken,
    evaluate,
    next_link,
    parse_expand,
    parse_filter,
    parse_query_options,
)

STRING_OPS: frozenset[FilterOp] = frozenset({"eq", "ne", "startswith", "in"})
USER = ResourceQuerySpec(
    type_name="microsoft.graph.user",
    properties=("id", "displayName", "userPrincipalName", "accountEnabled", "createdDateTime", "jobTitle"),
    filterable={
        "id": FilterableProperty("guid", frozenset({"eq", "ne", "in"})),
        "displayName": FilterableProperty("string", STRING_OPS),
        "userPrincipalName": FilterableProperty("string", STRING_OPS),
        "accountEnabled": FilterableProperty("bool", frozenset({"eq", "ne"})),
        "createdDateTime": FilterableProperty("datetime", frozenset({"eq", "ne", "ge", "le"})),
        "statusInfo/status": FilterableProperty("string", frozenset({"eq", "ne"})),
        "rank": FilterableProperty("int", frozenset({"eq", "ne", "ge", "le", "in"})),
    },
    default_select=("id", "displayName", "userPrincipalName"),
)
ALICE = Comparison("displayName", "eq", "alice")
BOB = Comparison("displayName", "eq", "bob")
CAROL = Comparison("displayName", "eq", "carol")


def options(*pairs: tuple[str, str]) -> QueryOptions:
    return parse_query_options(list(pairs), resource=USER)


def error_of(text: str) -> str:
    with pytest.raises(ODataError) as caught:
        parse_filter(text, USER)
    return str(caught.value)


# --- query options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["orderby", "expand", "search", "skip", "format", "apply", "compute", "levels"]
)
def test_orderby_and_other_unsupported_options_are_rejected_naming_the_option(name: str) -> None:
    with pytest.raises(ODataError, match=rf"^Query option '\${name}' is not supported\.$"):
        options((f"${name}", "x"))


EXPANDING = replace(USER, expandable={"manager": USER})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("manager", Expand("manager")),
        (" MANAGER ", Expand("manager")),
        ("manager()", Expand("manager")),
        ("manager($select=ID, displayname)", Expand("manager", ["id", "displayName"])),
        ("manager($SELECT=jobTitle)", Expand("manager", ["jobTitle"])),
        ("manager($select=)", Expand("manager")),
        ("", None),
    ],
)
def test_expand_parses_one_navigation_property_and_a_nested_select(
    text: str, expected: Expand | None
) -> None:
    assert parse_expand(text, EXPANDING) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("manager,manager", "maximum allowed is 1"),
        ("manager($select=id,displayName),manager", "maximum allowed is 1"),
        ("manager($filter=displayName eq 'a,b')", "'$filter' is not supported inside $expand"),
        ("manager($select=id))", "unbalanced"),
        ("manager($select='id)", "unbalanced"),
        ("manager x", "Syntax error"),
        ("jobTitle", "not a navigation property"),
        ("boss", "Could not find a property named 'boss'"),
    ],
)
def test_expand_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ODataError, match=re.escape(message)):
        parse_expand(text, EXPANDING)


def test_unsupported_option_without_dollar_is_still_rejected() -> None:
    with pytest.raises(ODataError, match=r"'\$orderby'"):
        options(("orderBy", "displayName"))


def test_unknown_dollar_option_is_rejected() -> None:
    with pytest.raises(ODataError, match=r"^Query option '\$frobnicate' is not supported\.$"):
        options(("$frobnicate", "1"))


def test_non_odata_parameters_are_ignored() -> None:
    assert options(("api-version", "2"), ("jobId", "x")) == QueryOptions()


def test_option_names_are_case_insensitive_and_dollar_is_optional() -> None:
    parsed = options(("$TOP", "5"), ("Select", "id"), ("$Count", "true"), ("filter", "displayName eq 'a'"))
    assert parsed == QueryOptions(
        top=5, select=["id"], count=True, filter=Comparison("displayName", "eq", "a")
    )


def test_duplicate_option_is_rejected_even_when_spelled_differently() -> None:
    with pytest.raises(ODataError, match=r"^Query option '\$top' was specified more than once"):
        options(("$top", "1"), ("TOP", "2"))


def test_mapping_params_are_accepted() -> None:
    assert parse_query_options({"$top": "3"}, resource=USER).top == 3


@pytest.mark.parametrize("value", ["1", "999"])
def test_top_accepts_the_range_bounds(value: str) -> None:
    assert options(("$top", value)).top == int(value)


@pytest.mark.parametrize("value", ["0", "1000", "-1", "abc", "1.5", " 5", "+5", "", "٣"])
def test_top_outside_one_to_999_or_not_an_integer_is_rejected(value: str) -> None:
    message = f"Invalid $top value '{value}': must be an integer between 1 and 999."
    with pytest.raises(ODataError, match=f"^{re.escape(message)}$"):
        options(("$top", value))


def test_top_limit_follows_the_resource_max_top() -> None:
    small = ResourceQuerySpec(type_name="microsoft.graph.x", properties=("id",), max_top=50)
    assert parse_query_options([("$top", "50")], resource=small).top == 50
    with pytest.raises(ODataError, match="between 1 and 50"):
        parse_query_options([("$top", "51")], resource=small)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("FALSE", False), ("True", True)])
def test_count_accepts_true_or_false_in_any_case(value: str, expected: bool) -> None:
    assert options(("$count", value)).count is expected


def test_count_other_than_true_or_false_is_rejected() -> None:
    with pytest.raises(ODataError, match=r"^Invalid \$count value 'yes'"):
        options(("$count", "yes"))


def test_skiptoken_is_passed_through_opaque() -> None:
    assert options(("$skiptoken", "abc")).skiptoken == "abc"


def test_select_resolves_case_insensitively_to_canonical_names_in_request_order() -> None:
    assert options(("$select", "USERPRINCIPALNAME, id")).select == ["userPrincipalName", "id"]


def test_select_drops_repeated_properties() -> None:
    assert options(("$select", "id,displayName,ID")).select == ["id", "displayName"]


def test_select_star_means_every_property() -> None:
    assert options(("$select", "*")).select == list(USER.properties)


def test_select_of_unknown_property_names_it_and_the_type() -> None:
    with pytest.raises(
        ODataError, match=r"^Could not find a property named 'foo' on type 'microsoft\.graph\.user'\.$"
    ):
        options(("$select", "id,foo"))


def test_select_with_an_empty_item_is_rejected() -> None:
    with pytest.raises(ODataError, match=r"^Invalid \$select value 'id,,displayName'"):
        options(("$select", "id,,displayName"))


def test_empty_select_and_filter_mean_absent() -> None:
    assert options(("$select", ""), ("$filter", "  ")) == QueryOptions()


def test_spec_rejects_startswith_on_a_non_string_property() -> None:
    with pytest.raises(ValueError, match="startswith"):
        FilterableProperty("bool", frozenset({"eq", "startswith"}))


def test_spec_rejects_default_select_outside_properties() -> None:
    with pytest.raises(ValueError, match="mail"):
        ResourceQuerySpec(type_name="microsoft.graph.user", properties=("id",), default_select=("mail",))


# --- $filter grammar -------------------------------------------------------------------------


def test_eq_comparison_resolves_the_property_to_its_canonical_name() -> None:
    assert parse_filter("DISPLAYNAME eq 'Alice'", USER) == Comparison("displayName", "eq", "Alice")


def test_and_binds_tighter_than_or() -> None:
    parsed = parse_filter("displayName eq 'alice' or displayName eq 'bob' and displayName eq 'carol'", USER)
    assert parsed == Or(ALICE, And(BOB, CAROL))


def test_not_binds_tighter_than_and() -> None:
    parsed = parse_filter("not displayName eq 'alice' and displayName eq 'bob'", USER)
    assert parsed == And(Not(ALICE), BOB)


def test_parentheses_override_precedence() -> None:
    parsed = parse_filter("(displayName eq 'alice' or displayName eq 'bob') and displayName eq 'carol'", USER)
    assert parsed == And(Or(ALICE, BOB), CAROL)


def test_not_applies_to_a_parenthesised_expression() -> None:
    assert parse_filter("not(displayName eq 'alice' or displayName eq 'bob')", USER) == Not(Or(ALICE, BOB))


def test_and_chains_associate_to_the_left() -> None:
    parsed = parse_filter("displayName eq 'alice' and displayName eq 'bob' and displayName eq 'carol'", USER)
    assert parsed == And(And(ALICE, BOB), CAROL)


def test_quote_escaping_in_string_literal() -> None:
    assert parse_filter("displayName eq 'O''Brien'''", USER) == Comparison("displayName", "eq", "O'Brien'")


def test_keywords_and_function_names_are_case_insensitive() -> None:
    parsed = parse_filter("NOT startsWith(displayName, 'a') AND accountEnabled EQ TRUE", USER)
    assert parsed == And(Not(StartsWith("displayName", "a")), Comparison("accountEnabled", "eq", True))


def test_nested_property_path_resolves_case_insensitively() -> None:
    assert parse_filter("statusinfo/STATUS eq 'failure'", USER) == Comparison(
        "statusInfo/status", "eq", "failure"
    )


def test_in_builds_a_tuple_of_values() -> None:
    assert parse_filter("displayName in ('a', 'b')", USER) == In("displayName", ("a", "b"))


def test_datetime_literal_is_unquoted_and_normalised_to_utc() -> None:
    parsed = parse_filter("createdDateTime ge 2026-01-01T02:00:00+02:00", USER)
    assert parsed == Comparison("createdDateTime", "ge", datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(parsed, Comparison) and parsed.value == datetime(2026, 1, 1, tzinfo=UTC)


def test_integer_literal_is_typed() -> None:
    assert parse_filter("rank le -3", USER) == Comparison("rank", "le", -3)


def test_guid_literal_is_quoted_and_becomes_a_uuid() -> None:
    parsed = parse_filter("id eq '6F5A3B1C-0000-4000-8000-000000000001'", USER)
    assert parsed == Comparison("id", "eq", UUID("6f5a3b1c-0000-4000-8000-000000000001"))


def test_malformed_guid_literal_is_rejected_naming_it() -> None:
    assert error_of("id eq 'nope'") == "Invalid object identifier 'nope'."


def test_null_literal_is_allowed_with_eq_and_ne() -> None:
    assert parse_filter("displayName eq null", USER) == Comparison("displayName", "eq", None)
    assert parse_filter("displayName ne NULL", USER) == Comparison("displayName", "ne", None)


def test_null_with_an_ordering_operator_is_rejected() -> None:
    assert error_of("rank ge null") == "The value null cannot be used with operator 'ge' on property 'rank'."


def test_null_inside_an_in_list_is_rejected() -> None:
    assert "operator 'in'" in error_of("displayName in ('a', null)")


def test_bool_property_compared_with_a_string_is_rejected_naming_the_property() -> None:
    assert error_of("accountEnabled eq 'true'") == (
        "Incompatible types in $filter: property 'accountEnabled' is Edm.Boolean "
        "but the value 'true' is Edm.String."
    )


def test_datetime_property_rejects_a_quoted_datetime() -> None:
    assert "property 'createdDateTime'" in error_of("createdDateTime ge '2026-01-01T00:00:00Z'")


def test_startswith_needs_a_string_literal() -> None:
    assert "startswith on 'displayName'" in error_of("startswith(displayName, 3)")


def test_startswith_on_a_property_that_does_not_allow_it_is_rejected() -> None:
    assert error_of("startswith(accountEnabled, 'a')") == (
        "Unsupported filter operator 'startswith' on property 'accountEnabled'."
    )


def test_operator_not_allowed_on_the_property_names_both() -> None:
    assert error_of("displayName gt 'a'") == "Unsupported filter operator 'gt' on property 'displayName'."


def test_unknown_property_in_filter_names_it_and_the_type() -> None:
    assert error_of("foo eq 'a'") == "Could not find a property named 'foo' on type 'microsoft.graph.user'."


def test_known_but_unfilterable_property_is_rejected_as_such() -> None:
    assert error_of("jobtitle eq 'a'") == "Filtering on property 'jobTitle' is not supported."


def test_lambdas_apply_to_collections_only() -> None:
    assert (
        error_of("displayName/any(x: x eq 'a')")
        == "The lambda operator 'any' applies to collections; 'displayName' is not one."
    )
    assert (
        error_of("displayName/all(x: x eq 'a')")
        == "The lambda operator 'all' applies to collections; 'displayName' is not one."
    )
    assert error_of("all(x: x eq 'a')") == "The lambda operator 'all' needs a collection: prop/all(x: ...)."


def test_all_matches_when_every_element_meets_the_condition() -> None:
    from provisiond.graph.odata import ELEMENT, AllOf, FilterableProperty, ResourceQuerySpec, StartsWith

    spec = ResourceQuerySpec(
        "microsoft.graph.servicePrincipal",
        ["id", "tags"],
        {"tags": FilterableProperty("string", frozenset({"eq", "startswith"}), collection=True)},
    )
    node = parse_filter("tags/all(t: startswith(t, 'win'))", spec)
    assert node == AllOf("tags", StartsWith(ELEMENT, "win"))
    assert evaluate(node, {"tags": ["WindowsApp", "winX"]})
    assert not evaluate(node, {"tags": ["WindowsApp", "Sales"]})
    assert evaluate(node, {"tags": []})  # vacuously, as OData defines all
    assert not evaluate(node, {})


def test_any_matches_when_some_element_meets_the_condition() -> None:
    from provisiond.graph.odata import (
        ELEMENT,
        AnyOf,
        Comparison,
        FilterableProperty,
        Or,
        ResourceQuerySpec,
        StartsWith,
        evaluate,
        parse_filter,
    )

    spec = ResourceQuerySpec(
        "microsoft.graph.servicePrincipal",
        ["id", "tags"],
        {"tags": FilterableProperty("string", frozenset({"eq", "startswith"}), collection=True)},
    )
    node = parse_filter("tags/any(t: t eq 'HR' or startswith(t, 'win'))", spec)
    assert node == AnyOf("tags", Or(Comparison(ELEMENT, "eq", "HR"), StartsWith(ELEMENT, "win")))
    assert evaluate(node, {"tags": ["Sales", "hr"]})
    assert evaluate(node, {"tags": ["WindowsApp"]})
    assert not evaluate(node, {"tags": ["Sales"]})
    assert not evaluate(node, {"tags": []})
    assert not evaluate(node, {})


def test_unknown_function_is_rejected_naming_it() -> None:
    assert error_of("endswith(displayName, 'a')") == "Function 'endswith' is not supported in $filter."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("displayName eq", "Expression expected at position 14 in 'displayName eq'."),
        ("displayName", "Comparison operator expected at position 11 in 'displayName'."),
        ("(displayName eq 'a'", "')' or operator expected at position 19 in '(displayName eq 'a''."),
        ("displayName eq 'a' 'b'", "Syntax error at position 19 in 'displayName eq 'a' 'b''."),
        (
            "startswith(displayName 'a')",
            "')' or ',' expected at position 23 in 'startswith(displayName 'a')'.",
        ),
        (
            "displayName eq 'abc",
            "There is an unterminated string literal at position 15 in 'displayName eq 'abc'.",
        ),
        (
            "displayName eq #",
            "Syntax error: character '#' is not valid at position 15 in 'displayName eq #'.",
        ),
        ("and displayName eq 'a'", "Expression expected at position 0 in 'and displayName eq 'a''."),
        ("not", "Expression expected at position 3 in 'not'."),
        ("displayName in ()", "Expression expected at position 16 in 'displayName in ()'."),
    ],
)
def test_syntax_errors_give_the_position_and_the_text(text: str, message: str) -> None:
    assert error_of(text) == message


@pytest.mark.parametrize("text", ["(" * 5000 + "rank eq 1" + ")" * 5000, "not " * 5000 + "rank eq 1"])
def test_deep_nesting_is_rejected_before_it_can_exhaust_the_stack(text: str) -> None:
    assert error_of(text) == "The $filter expression is nested more than 32 levels deep."


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_filter("(" * 31 + "rank eq 1" + ")" * 31, USER) == Comparison("rank", "eq", 1)


def test_more_than_100_clauses_are_rejected() -> None:
    assert isinstance(parse_filter(" or ".join(["rank eq 1"] * 100), USER), Or)
    assert error_of(" or ".join(["rank eq 1"] * 101)) == "The $filter expression has more than 100 clauses."


def test_integer_literal_beyond_64_bits_is_rejected() -> None:
    assert "out of range" in error_of(f"rank eq {2**63}")


def test_impossible_datetime_literal_is_rejected() -> None:
    assert "Invalid datetime literal 2026-13-01T00:00:00Z" in error_of(
        "createdDateTime ge 2026-13-01T00:00:00Z"
    )


_fragments = st.sampled_from(
    [
        "displayName",
        "rank",
        "id",
        "accountEnabled",
        "createdDateTime",
        "eq",
        "ge",
        "in",
        "and",
        "or",
        "not",
        "startswith",
        "any",
        "(",
        ")",
        ",",
        ":",
        "'a'",
        "''",
        "'",
        "null",
        "true",
        "7",
        "2026-01-01T00:00:00Z",
    ]
)
_filter_texts = st.one_of(
    st.text(alphabet=string.printable, max_size=40),
    st.lists(_fragments, max_size=8).map(" ".join),
)


@given(_filter_texts)
def test_arbitrary_filter_text_only_ever_raises_odata_error(text: str) -> None:
    with contextlib.suppress(ODataError):
        parse_filter(text, USER)


def _render(node: FilterNode) -> str:
    """Fully parenthesised `$filter` text for a string-valued AST (test oracle for the parser)."""

    def quoted(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    match node:
        case And(left, right):
            return f"({_render(left)}) and ({_render(right)})"
        case Or(left, right):
            return f"({_render(left)}) or ({_render(right)})"
        case Not(operand):
            return f"not ({_render(operand)})"
        case Comparison(prop, op, value):
            return f"{prop} {op} {quoted(value)}"
        case In(prop, values):
            return f"{prop} in ({', '.join(quoted(v) for v in values)})"
        case StartsWith(prop, prefix):
            return f"startswith({prop}, {quoted(prefix)})"
    raise AssertionError(node)


_words = st.text(alphabet="ab' %_()", max_size=5)
_leaves = st.one_of(
    st.builds(Comparison, st.just("displayName"), st.sampled_from(["eq", "ne"]), _words),
    st.builds(In, st.just("userPrincipalName"), st.lists(_words, min_size=1, max_size=3).map(tuple)),
    st.builds(StartsWith, st.just("displayName"), _words),
)
_trees = st.recursive(
    _leaves,
    lambda sub: st.one_of(st.builds(And, sub, sub), st.builds(Or, sub, sub), st.builds(Not, sub)),
    max_leaves=8,
)


@given(_trees)
def test_rendered_filter_parses_back_to_the_same_tree(node: FilterNode) -> None:
    assert parse_filter(_render(node), USER) == node


# --- evaluation ------------------------------------------------------------------------------


def matches(text: str, obj: dict[str, object]) -> bool:
    return evaluate(parse_filter(text, USER), obj)


def test_string_eq_is_case_insensitive() -> None:
    assert matches("userPrincipalName eq 'ADA@Example.com'", {"userPrincipalName": "ada@example.COM"})


def test_string_ne_is_case_insensitive() -> None:
    assert not matches("displayName ne 'ADA'", {"displayName": "ada"})


@pytest.mark.parametrize("obj", [{}, {"displayName": None}])
def test_eq_null_matches_missing_and_none(obj: dict[str, object]) -> None:
    assert matches("displayName eq null", obj)
    assert not matches("displayName ne null", obj)


def test_ne_null_matches_a_present_value() -> None:
    assert matches("displayName ne null", {"displayName": ""})


def test_ne_value_matches_null_and_eq_value_does_not() -> None:
    assert matches("displayName ne 'x'", {"displayName": None})
    assert not matches("displayName eq 'x'", {})


def test_not_of_a_comparison_with_null_is_true() -> None:
    assert matches("not (displayName eq 'x')", {})


def test_startswith_is_case_insensitive_and_false_on_null() -> None:
    assert matches("startswith(displayName, 'AD')", {"displayName": "ada"})
    assert not matches("startswith(displayName, '')", {"displayName": None})


def test_in_matches_any_listed_value_case_insensitively() -> None:
    assert matches("displayName in ('x', 'ADA')", {"displayName": "Ada"})
    assert not matches("displayName in ('x', 'y')", {"displayName": "Ada"})
    assert not matches("displayName in ('x')", {})


def test_nested_path_looks_into_nested_dicts_and_missing_steps_are_null() -> None:
    assert matches("statusInfo/status eq 'Failure'", {"statusInfo": {"status": "failure"}})
    assert matches("statusInfo/status eq null", {"statusInfo": None})
    assert matches("statusInfo/status eq null", {"statusInfo": "flat"})


def test_datetime_comparison_accepts_wire_strings_and_datetimes() -> None:
    text = "createdDateTime ge 2026-01-01T00:00:00Z"
    assert matches(text, {"createdDateTime": "2026-01-01T00:00:00Z"})
    assert matches(text, {"createdDateTime": datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))})
    assert not matches(text, {"createdDateTime": datetime(2025, 12, 31, 23, 59)})


def test_bool_comparison() -> None:
    assert matches("accountEnabled eq false", {"accountEnabled": False})
    assert not matches("accountEnabled eq false", {"accountEnabled": True})
    assert matches("accountEnabled ne false", {"accountEnabled": None})


def test_guid_eq_compares_with_the_canonical_lowercase_form() -> None:
    text = "id eq '6F5A3B1C-0000-4000-8000-000000000001'"
    assert matches(text, {"id": "6f5a3b1c-0000-4000-8000-000000000001"})
    assert matches(text, {"id": UUID("6f5a3b1c-0000-4000-8000-000000000001")})


def test_integer_ordering() -> None:
    assert matches("rank ge 2 and rank le 2", {"rank": 2})
    assert not matches("rank ge 3", {"rank": 2})
    assert not matches("rank le 3", {})


def test_logical_operators_combine_results() -> None:
    obj = {"displayName": "ada", "accountEnabled": True}
    assert matches("displayName eq 'x' or accountEnabled eq true", obj)
    assert not matches("displayName eq 'x' and accountEnabled eq true", obj)


# --- $select and @odata.context --------------------------------------------------------------

OBJ = {
    "@odata.type": "#microsoft.graph.user",
    "id": "1",
    "displayName": "Ada",
    "userPrincipalName": "a@x",
    "x": 1,
}


def test_select_keeps_requested_properties_in_order_and_odata_annotations() -> None:
    assert list(apply_select(OBJ, ["displayName", "id"], USER).items()) == [
        ("@odata.type", "#microsoft.graph.user"),
        ("displayName", "Ada"),
        ("id", "1"),
    ]


def test_selected_property_missing_from_the_object_is_null() -> None:
    assert apply_select(OBJ, ["jobTitle"], USER) == {"@odata.type": "#microsoft.graph.user", "jobTitle": None}


def test_without_select_the_default_set_is_returned() -> None:
    assert set(apply_select(OBJ, None, USER)) == {"@odata.type", "id", "displayName", "userPrincipalName"}


def test_without_select_or_default_everything_is_returned() -> None:
    bare = ResourceQuerySpec(type_name="microsoft.graph.group", properties=("id",))
    assert apply_select(OBJ, None, bare) == OBJ


# --- paging ----------------------------------------------------------------------------------

# Key strings are text every backend stores: no NUL, no lone surrogate (see graph.text).
_key_text = st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))
_keys = st.lists(st.one_of(_key_text, st.integers(min_value=-(2**63), max_value=2**63 - 1)), max_size=4)


@given(_keys)
def test_skiptoken_round_trips_and_is_url_safe(key: list[str | int]) -> None:
    token = encode_skiptoken(key)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    assert decode_skiptoken(token) == tuple(key)


def test_a_skiptoken_whose_key_no_backend_can_compare_is_rejected() -> None:
    with pytest.raises(ODataError, match=r"^Invalid \$skiptoken value\.$"):
        decode_skiptoken(encode_skiptoken(["a\x00b"]))


def test_tampered_skiptoken_is_rejected() -> None:
    token = encode_skiptoken(["2026-01-01T00:00:00Z", "6f5a3b1c-0000-4000-8000-000000000001"])
    for index, char in enumerate(token):
        tampered = token[:index] + ("A" if char != "A" else "B") + token[index + 1 :]
        with pytest.raises(ODataError, match=r"^Invalid \$skiptoken value\.$"):
            decode_skiptoken(tampered)


@pytest.mark.parametrize(
    "edit", [lambda t: t[:3] + "." + t[3:], lambda t: t + "==", lambda t: t[:2] + "\n" + t[2:]]
)
def test_skiptoken_decodes_only_in_its_canonical_spelling(edit: Callable[[str], str]) -> None:
    with pytest.raises(ODataError, match=r"^Invalid \$skiptoken value\.$"):
        decode_skiptoken(edit(encode_skiptoken(["a", 1])))


@pytest.mark.parametrize("token", ["", "garbage!", "YWJj", "€", encode_skiptoken(["a"])[:-1], "=" * 8])
def test_garbage_skiptoken_is_rejected(token: str) -> None:
    with pytest.raises(ODataError, match=r"^Invalid \$skiptoken value\.$"):
        decode_skiptoken(token)


def test_next_link_replaces_the_skiptoken_and_keeps_every_other_parameter() -> None:
    link = next_link(
        "https://host/v1.0/users",
        [("$top", "5"), ("$SkipToken", "old"), ("$filter", "displayName eq 'a b'"), ("api", "1")],
        "new",
    )
    parts = urlsplit(link)
    assert link.startswith("https://host/v1.0/users?$top=5&")
    assert parse_qsl(parts.query) == [
        ("$top", "5"),
        ("$filter", "displayName eq 'a b'"),
        ("api", "1"),
        ("$skiptoken", "new"),
    ]


def test_next_link_percent_encodes_reserved_characters_in_values() -> None:
    link = next_link("https://host/users", [("$filter", "a eq 'x+y&z=1'")], "t")
    assert link == "https://host/users?$filter=a%20eq%20%27x%2By%26z%3D1%27&$skiptoken=t"
