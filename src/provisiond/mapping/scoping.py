"""Scoping filters: which source objects an object mapping applies to.

    scope = compile_filter(object_mapping.get("scope"))   # once per schema
    scope.in_scope(user)              # `groups`: leaving it deprovisions
    scope.passes_input_filter(user)   # `inputFilterGroups`: filtered at read time, never deprovisioned
    scope.category.matches(user)      # `categoryFilterGroups`: which mapping applies (engine's call)

Each set is an OR over its filter groups and each group an AND over its clauses; an empty set
lets everything through (reference §5 "Scoping", Graph `filter`). Operators are matched by name
case-insensitively; an unknown one is a ScopingFilterError naming it and its group.

Clause semantics (Microsoft's scoping-filter page and reference §8.6), with the choices made
where they are silent:

* A null or empty value makes every clause false, except IS NULL, which is exactly the test for
  that (true); IS NOT NULL is false.
* EQUALS, NOT EQUALS, Includes and ENDS_WITH compare case-sensitively against the value's text
  ("True"/"False" for booleans, decimal for integers).
* With several targetOperand values a positive operator matches when any value matches (EQUALS
  is "one of"); a negated one (NOT EQUALS, NOT REGEX MATCH, !&) when none does.
* REGEX MATCH is .NET `Regex.IsMatch`: the pattern may match anywhere (anchor it to match the
  whole value); patterns are compiled when the filter is.
* Greater_Than and Greater_Than_OR_EQUALS need integer operands (checked when compiling) and
  are false for a value that is not an integer.
* `&` is true when every bit of the operand is set in the integer value (LDAP's bitwise AND
  rule, e.g. userAccountControl & 2); `!&` is its negation.
* IS TRUE / IS FALSE accept booleans and the text "true"/"false" in any case; other values
  make both false.
* Multi-valued attributes are not supported by Entra; here they follow the operators' declared
  multivaluedComparisonType `All`: every value must satisfy the clause.
* A group without clauses is true (an AND over nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from provisiond.graph.enums import AttributeType, ScopeOperatorMultiValuedComparisonType, ScopeOperatorType
from provisiond.mapping import dotnet
from provisiond.mapping.values import as_string, is_null_or_empty, lookup, values_of

__all__ = [
    "FILTER_OPERATORS",
    "FilterGroup",
    "FilterOperator",
    "FilterSet",
    "ScopingFilter",
    "ScopingFilterError",
    "compile_filter",
]


class ScopingFilterError(ValueError):
    """A scoping filter that cannot be compiled: names the group, the clause and the problem."""


@dataclass(frozen=True)
class FilterOperator:
    """One scoping operator as Graph's filterOperatorSchema describes it."""

    name: str
    arity: ScopeOperatorType
    supported_attribute_types: tuple[AttributeType, ...]
    multivalued_comparison_type: ScopeOperatorMultiValuedComparisonType = (
        ScopeOperatorMultiValuedComparisonType.All
    )

    def as_graph(self) -> dict[str, Any]:
        """The filterOperatorSchema JSON of `schema/filterOperators`."""
        return {
            "id": self.name,
            "name": self.name,
            "arity": self.arity.value,
            "multivaluedComparisonType": self.multivalued_comparison_type.value,
            "supportedAttributeTypes": [kind.value for kind in self.supported_attribute_types],
        }


ValueTest = Callable[[Any], bool]
"""A clause's test of one non-empty value."""


@dataclass(frozen=True)
class _Rule:
    """How an operator builds its value test from the clause's operands, and its null answer."""

    schema: FilterOperator
    build: Callable[[tuple[str, ...]], ValueTest]
    when_null: bool = False


# --- value tests ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    try:
        return as_string(value) or ""
    except ValueError:
        return str(value)


def _integer(value: Any) -> int | None:
    """An integer value, or None for anything else (those clauses are false)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value).strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else None


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    return {"true": True, "false": False}.get(text)


def _integer_operands(operands: tuple[str, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(operand.strip()) for operand in operands)
    except ValueError:
        raise ValueError(f"needs integer values, got {list(operands)}") from None


def _regexes(operands: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    try:
        return tuple(dotnet.regex(operand) for operand in operands)
    except re.error as exc:
        raise ValueError(f"has an invalid regular expression: {exc}") from None


def _equals(operands: tuple[str, ...]) -> ValueTest:
    return lambda value: _text(value) in operands


def _includes(operands: tuple[str, ...]) -> ValueTest:
    return lambda value: any(operand in _text(value) for operand in operands)


def _ends_with(operands: tuple[str, ...]) -> ValueTest:
    return lambda value: _text(value).endswith(operands)


def _regex_match(operands: tuple[str, ...]) -> ValueTest:
    patterns = _regexes(operands)
    return lambda value: any(pattern.search(_text(value)) for pattern in patterns)


def _greater(operands: tuple[str, ...], or_equal: bool) -> ValueTest:
    bounds = _integer_operands(operands)

    def test(value: Any) -> bool:
        number = _integer(value)
        return number is not None and any(number > b or (or_equal and number == b) for b in bounds)

    return test


def _bits_set(operands: tuple[str, ...]) -> ValueTest:
    masks = _integer_operands(operands)

    def test(value: Any) -> bool:
        number = _integer(value)
        return number is not None and any(number & mask == mask for mask in masks)

    return test


def _negated(build: Callable[[tuple[str, ...]], ValueTest]) -> Callable[[tuple[str, ...]], ValueTest]:
    """The operator that is true exactly when `build`'s is false (for a non-empty value)."""

    def negated_build(operands: tuple[str, ...]) -> ValueTest:
        test = build(operands)
        return lambda value: not test(value)

    return negated_build


def _constant(answer: bool) -> Callable[[tuple[str, ...]], ValueTest]:
    return lambda operands: lambda value: answer


def _is(expected: bool) -> Callable[[tuple[str, ...]], ValueTest]:
    return lambda operands: lambda value: _truth(value) is expected


# --- the operators ----------------------------------------------------------------------------

_BINARY, _UNARY = ScopeOperatorType.Binary, ScopeOperatorType.Unary
_INT, _STR, _BOOL, _BIN = (
    AttributeType.Integer,
    AttributeType.String,
    AttributeType.Boolean,
    AttributeType.Binary,
)


def _rule(
    name: str,
    types: tuple[AttributeType, ...],
    build: Callable[[tuple[str, ...]], ValueTest],
    *,
    arity: ScopeOperatorType = _BINARY,
    when_null: bool = False,
) -> _Rule:
    return _Rule(FilterOperator(name, arity, types), build, when_null)


_RULES: Final = (
    _rule("&", (_INT,), _bits_set),
    _rule("!&", (_INT,), _negated(_bits_set)),
    _rule("ENDS_WITH", (_STR,), _ends_with),
    _rule("EQUALS", (_INT, _STR), _equals),
    _rule("Greater_Than", (_INT,), lambda operands: _greater(operands, or_equal=False)),
    _rule("Greater_Than_OR_EQUALS", (_INT,), lambda operands: _greater(operands, or_equal=True)),
    _rule("Includes", (_STR,), _includes),
    _rule("IS FALSE", (_BOOL,), _is(False), arity=_UNARY),
    _rule("IS NOT NULL", (_INT, _STR, _BIN, _BOOL), _constant(True), arity=_UNARY),
    _rule("IS NULL", (_INT, _STR, _BIN, _BOOL), _constant(False), arity=_UNARY, when_null=True),
    _rule("IS TRUE", (_BOOL,), _is(True), arity=_UNARY),
    _rule("NOT EQUALS", (_INT, _STR), _negated(_equals)),
    _rule("NOT REGEX MATCH", (_INT, _STR), _negated(_regex_match)),
    _rule("REGEX MATCH", (_INT, _STR), _regex_match),
)
_RULES_BY_NAME: Final = {rule.schema.name.casefold(): rule for rule in _RULES}

FILTER_OPERATORS: Final[Mapping[str, FilterOperator]] = MappingProxyType(
    {rule.schema.name: rule.schema for rule in _RULES}
)
"""Every scoping operator by its exact name: what `schema/filterOperators` serves."""


# --- compiled filters -------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One compiled filterClause: an operator applied to one source attribute."""

    attribute: str
    operator: str
    test: ValueTest
    when_null: bool

    def matches(self, source: Mapping[str, Any]) -> bool:
        values = [value for value in values_of(lookup(source, self.attribute)) if not is_null_or_empty(value)]
        if not values:
            return self.when_null
        return all(self.test(value) for value in values)


@dataclass(frozen=True)
class FilterGroup:
    """A filterGroup: in scope when every clause holds."""

    name: str
    clauses: tuple[Clause, ...]

    def matches(self, source: Mapping[str, Any]) -> bool:
        return all(clause.matches(source) for clause in self.clauses)


@dataclass(frozen=True)
class FilterSet:
    """A list of filter groups: passes when any group matches, or when there are none."""

    groups: tuple[FilterGroup, ...] = ()

    def matches(self, source: Mapping[str, Any]) -> bool:
        return not self.groups or any(group.matches(source) for group in self.groups)


@dataclass(frozen=True)
class ScopingFilter:
    """An object mapping's compiled `scope`."""

    scope: FilterSet = FilterSet()
    input: FilterSet = FilterSet()
    category: FilterSet = FilterSet()

    def in_scope(self, source: Mapping[str, Any]) -> bool:
        """The `groups` filter; an object that leaves it is deprovisioned."""
        return self.scope.matches(source)

    def passes_input_filter(self, source: Mapping[str, Any]) -> bool:
        """The `inputFilterGroups` filter; an object that fails it is skipped, never deprovisioned."""
        return self.input.matches(source)


def _compile_clause(clause: Mapping[str, Any], where: str) -> Clause:
    operator_name = str(clause.get("operatorName") or "")
    rule = _RULES_BY_NAME.get(operator_name.casefold())
    if rule is None:
        supported = ", ".join(FILTER_OPERATORS)
        raise ScopingFilterError(f"{where}: unknown operator '{operator_name}' (supported: {supported})")
    attribute = clause.get("sourceOperandName")
    if not attribute:
        raise ScopingFilterError(f"{where}: sourceOperandName is missing")
    operands = tuple(str(v) for v in ((clause.get("targetOperand") or {}).get("values") or []))
    if rule.schema.arity is ScopeOperatorType.Binary and not operands:
        raise ScopingFilterError(
            f"{where}: operator '{rule.schema.name}' needs at least one targetOperand value"
        )
    try:
        test = rule.build(operands)
    except ValueError as exc:
        raise ScopingFilterError(f"{where}: operator '{rule.schema.name}' {exc}") from None
    return Clause(str(attribute), rule.schema.name, test, rule.when_null)


def _compile_group(group: Mapping[str, Any], index: int, set_name: str) -> FilterGroup:
    name = str(group.get("name") or f"#{index + 1}")
    clauses = tuple(
        _compile_clause(clause, f"{set_name} group '{name}', clause {number + 1}")
        for number, clause in enumerate(group.get("clauses") or [])
    )
    return FilterGroup(name, clauses)


def _compile_set(groups: Sequence[Mapping[str, Any]] | None, set_name: str) -> FilterSet:
    return FilterSet(
        tuple(_compile_group(group, index, set_name) for index, group in enumerate(groups or []))
    )


def compile_filter(scope: Mapping[str, Any] | None) -> ScopingFilter:
    """Compile a Graph `filter` (an objectMapping's `scope`); None lets everything through."""
    if not scope:
        return ScopingFilter()
    return ScopingFilter(
        scope=_compile_set(scope.get("groups"), "groups"),
        input=_compile_set(scope.get("inputFilterGroups"), "inputFilterGroups"),
        category=_compile_set(scope.get("categoryFilterGroups"), "categoryFilterGroups"),
    )
