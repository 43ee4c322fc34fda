"""Scoping filters: Graph `filter` JSON compiled once, evaluated per source object."""

from __future__ import annotations

from typing import Any

import pytest

from provisiond.mapping.scoping import FILTER_OPERATORS, ScopingFilterError, compile_filter


def clause(attribute: str, operator: str, *values: str) -> dict[str, Any]:
    return {
        "operatorName": operator,
        "sourceOperandName": attribute,
        "targetOperand": {"values": list(values)},
    }


def group(*clauses: dict[str, Any], name: str = "g") -> dict[str, Any]:
    return {"name": name, "clauses": list(clauses)}


def matches(operator: str, value: Any, *operands: str) -> bool:
    scope = compile_filter({"groups": [group(clause("attr", operator, *operands))]})
    return scope.in_scope({"attr": value})


def test_no_filter_puts_everything_in_scope() -> None:
    assert compile_filter(None).in_scope({})
    assert compile_filter({}).passes_input_filter({})
    assert compile_filter({"groups": [], "inputFilterGroups": []}).in_scope({"x": 1})


def test_clauses_within_a_group_are_anded() -> None:
    scope = compile_filter(
        {
            "groups": [
                group(clause("state", "EQUALS", "New York"), clause("department", "EQUALS", "Engineering"))
            ]
        }
    )
    assert scope.in_scope({"state": "New York", "department": "Engineering"})
    assert not scope.in_scope({"state": "New York", "department": "Sales"})


def test_groups_are_ored() -> None:
    scope = compile_filter(
        {
            "groups": [
                group(clause("department", "EQUALS", "Sales")),
                group(clause("department", "EQUALS", "HR")),
            ]
        }
    )
    assert scope.in_scope({"department": "HR"})
    assert not scope.in_scope({"department": "IT"})


def test_documented_example_new_york_engineers_with_ids_and_a_title() -> None:
    scope = compile_filter(
        {
            "groups": [
                group(
                    clause("state", "EQUALS", "New York"),
                    clause("department", "EQUALS", "Engineering"),
                    clause("employeeId", "REGEX MATCH", "(1[0-9][0-9][0-9][0-9][0-9][0-9])"),
                    clause("jobTitle", "IS NOT NULL"),
                )
            ]
        }
    )
    user = {"state": "New York", "department": "Engineering", "employeeId": "1500000", "jobTitle": "Dev"}
    assert scope.in_scope(user)
    assert not scope.in_scope(user | {"employeeId": "2500000"})
    assert not scope.in_scope(user | {"jobTitle": ""})


def test_group_without_clauses_is_in_scope() -> None:
    assert compile_filter({"groups": [group()]}).in_scope({})


def test_input_filter_groups_are_separate_from_scope_groups() -> None:
    scope = compile_filter({"inputFilterGroups": [group(clause("userType", "EQUALS", "Member"))]})
    assert scope.in_scope({"userType": "Guest"})
    assert not scope.passes_input_filter({"userType": "Guest"})
    assert scope.passes_input_filter({"userType": "Member"})


def test_category_filter_groups_are_compiled_and_evaluable() -> None:
    scope = compile_filter({"categoryFilterGroups": [group(clause("objectType", "EQUALS", "Contractor"))]})
    assert scope.category.matches({"objectType": "Contractor"})
    assert not scope.category.matches({"objectType": "Employee"})


# --- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "operands", "expected"),
    [
        ("EQUALS", "sales", ("sales",), True),
        ("EQUALS", "Sales", ("sales",), False),
        ("EQUALS", "HR", ("Sales", "HR"), True),
        ("EQUALS", 42, ("42",), True),
        ("NOT EQUALS", "Sales", ("sales",), True),
        ("NOT EQUALS", "HR", ("Sales", "HR"), False),
        ("Includes", "Engineering Team", ("Team",), True),
        ("Includes", "Engineering team", ("Team",), False),
        ("ENDS_WITH", "jdoe@contoso.com", ("@contoso.com",), True),
        ("ENDS_WITH", "jdoe@contoso.com", ("@CONTOSO.COM",), False),
        ("REGEX MATCH", "jdoe@domain.com", (".*\\@domain.com",), True),
        ("REGEX MATCH", "jdoe@other.com", (".*\\@domain.com",), False),
        ("REGEX MATCH", "Sales", ("sales",), False),
        ("REGEX MATCH", "1500000", ("(1[0-9][0-9][0-9][0-9][0-9][0-9])",), True),
        ("NOT REGEX MATCH", "jdoe@domain.com", (".*\\@domain.com",), False),
        ("NOT REGEX MATCH", "jdoe@other.com", (".*\\@domain.com",), True),
        ("Greater_Than", "11", ("10",), True),
        ("Greater_Than", 10, ("10",), False),
        ("Greater_Than", "abc", ("10",), False),
        ("Greater_Than_OR_EQUALS", 10, ("10",), True),
        ("Greater_Than_OR_EQUALS", "9", ("10",), False),
        ("&", 514, ("2",), True),
        ("&", 512, ("2",), False),
        ("&", "514", ("514",), True),
        ("!&", 512, ("2",), True),
        ("!&", 514, ("2",), False),
        ("IS TRUE", True, (), True),
        ("IS TRUE", "true", (), True),
        ("IS TRUE", False, (), False),
        ("IS FALSE", "False", (), True),
        ("IS FALSE", True, (), False),
        ("IS FALSE", "no", (), False),
        ("IS NULL", "x", (), False),
        ("IS NOT NULL", "x", (), True),
    ],
)
def test_operator_semantics(operator: str, value: Any, operands: tuple[str, ...], expected: bool) -> None:
    assert matches(operator, value, *operands) is expected


@pytest.mark.parametrize("operator", sorted(set(FILTER_OPERATORS) - {"IS NULL"}))
@pytest.mark.parametrize("empty", [None, "", []])
def test_null_or_empty_value_makes_every_clause_false_except_is_null(operator: str, empty: Any) -> None:
    operands = () if operator.startswith("IS ") else ("1",)
    assert matches(operator, empty, *operands) is False


@pytest.mark.parametrize("empty", [None, "", []])
def test_is_null_is_true_for_null_or_empty(empty: Any) -> None:
    assert matches("IS NULL", empty) is True


def test_missing_attribute_counts_as_null() -> None:
    scope = compile_filter({"groups": [group(clause("jobTitle", "IS NULL"))]})
    assert scope.in_scope({})


def test_operator_names_match_case_insensitively() -> None:
    assert matches("equals", "x", "x")
    assert matches("greater_than", 3, "2")
    assert matches("is not null", "x")


def test_multi_valued_attribute_must_satisfy_the_clause_with_every_value() -> None:
    assert matches("ENDS_WITH", ["a@contoso.com", "b@contoso.com"], "@contoso.com")
    assert not matches("ENDS_WITH", ["a@contoso.com", "b@fabrikam.com"], "@contoso.com")


def test_attribute_names_match_case_insensitively() -> None:
    scope = compile_filter({"groups": [group(clause("Department", "EQUALS", "Sales"))]})
    assert scope.in_scope({"department": "Sales"})


def test_regex_match_finds_the_pattern_anywhere_like_dotnet_is_match() -> None:
    assert matches("REGEX MATCH", "x-sales-y", "sales")
    assert not matches("REGEX MATCH", "x-sales-y", "^sales$")


def test_dotnet_named_groups_work_in_regex_operands() -> None:
    assert matches("REGEX MATCH", "545 Tremont", "(?<number>^\\d+) ")


# --- compile errors ---------------------------------------------------------------------------


def test_unknown_operator_names_it_and_the_group() -> None:
    with pytest.raises(
        ScopingFilterError, match="groups group 'Sales only', clause 1: unknown operator 'LIKE'"
    ):
        compile_filter({"groups": [group(clause("department", "LIKE", "Sales"), name="Sales only")]})


def test_unnamed_group_is_named_by_position_in_errors() -> None:
    with pytest.raises(ScopingFilterError, match="inputFilterGroups group '#2', clause 1"):
        compile_filter({"inputFilterGroups": [{"clauses": []}, {"clauses": [clause("a", "NOPE")]}]})


def test_binary_operator_without_values_is_an_error() -> None:
    with pytest.raises(ScopingFilterError, match="'EQUALS' needs at least one targetOperand value"):
        compile_filter({"groups": [group({"operatorName": "EQUALS", "sourceOperandName": "a"})]})


def test_unary_operator_needs_no_target_operand() -> None:
    scope = compile_filter(
        {"groups": [group({"operatorName": "IS TRUE", "sourceOperandName": "accountEnabled"})]}
    )
    assert scope.in_scope({"accountEnabled": True})


def test_integer_operator_with_non_integer_value_is_an_error() -> None:
    with pytest.raises(ScopingFilterError, match="'Greater_Than' needs integer values"):
        compile_filter({"groups": [group(clause("a", "Greater_Than", "ten"))]})


def test_invalid_regex_is_an_error() -> None:
    with pytest.raises(ScopingFilterError, match="'REGEX MATCH' has an invalid regular expression"):
        compile_filter({"groups": [group(clause("a", "REGEX MATCH", "(unclosed"))]})


def test_missing_source_operand_is_an_error() -> None:
    with pytest.raises(ScopingFilterError, match="sourceOperandName is missing"):
        compile_filter({"groups": [group({"operatorName": "IS NULL"})]})


# --- the filterOperators schema ---------------------------------------------------------------


def test_filter_operators_lists_every_documented_operator() -> None:
    assert list(FILTER_OPERATORS) == [
        "&",
        "!&",
        "ENDS_WITH",
        "EQUALS",
        "Greater_Than",
        "Greater_Than_OR_EQUALS",
        "Includes",
        "IS FALSE",
        "IS NOT NULL",
        "IS NULL",
        "IS TRUE",
        "NOT EQUALS",
        "NOT REGEX MATCH",
        "REGEX MATCH",
    ]


def test_is_operators_are_unary_and_the_rest_binary() -> None:
    for name, operator in FILTER_OPERATORS.items():
        assert operator.arity.value == ("Unary" if name.startswith("IS ") else "Binary")


def test_filter_operator_schema_matches_graphs_sample() -> None:
    assert FILTER_OPERATORS["EQUALS"].as_graph() == {
        "id": "EQUALS",
        "name": "EQUALS",
        "arity": "Binary",
        "multivaluedComparisonType": "All",
        "supportedAttributeTypes": ["Integer", "String"],
    }
    assert FILTER_OPERATORS["IS NULL"].as_graph()["supportedAttributeTypes"] == [
        "Integer",
        "String",
        "Binary",
        "Boolean",
    ]
