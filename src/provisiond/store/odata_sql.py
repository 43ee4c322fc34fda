"""`$filter` ASTs as SQLAlchemy Core conditions, with the semantics of `odata.evaluate`.

`any` lambdas compile to EXISTS over the JSON array's elements (`json_elements`).

Every leaf compiles to a condition that is TRUE or FALSE, never NULL: a NULL column makes a
comparison FALSE (TRUE for `ne`), as in the evaluator, so `not` cannot flip an UNKNOWN into a
mismatch. Strings compare through `lower()` on both sides, so the column and the literal are
folded by the same function.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, assert_never
from uuid import UUID

from sqlalchemy import ColumnElement, String, and_, exists, func, literal, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from provisiond.graph.odata import (
    ELEMENT,
    SEARCH_SEPARATORS,
    AllOf,
    And,
    AnyOf,
    Comparison,
    Contains,
    FilterNode,
    In,
    Not,
    Or,
    SearchTerm,
    StartsWith,
    Value,
)

_LIKE_ESCAPE = "\\"
_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def compile_filter(node: FilterNode, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
    """The WHERE condition for `node`; `columns` maps each canonical property path to its column."""
    match node:
        case And(left, right):
            return and_(compile_filter(left, columns), compile_filter(right, columns))
        case Or(left, right):
            return or_(compile_filter(left, columns), compile_filter(right, columns))
        case Not(operand):
            return not_(compile_filter(operand, columns))
        case Comparison(prop, op, value):
            return _comparison(columns[prop], op, value)
        case In(prop, values):
            column = columns[prop]
            return and_(column.is_not(None), _operand(column, values[0]).in_([_bind(v) for v in values]))
        case StartsWith(prop, prefix):
            return _like(columns[prop], _like_escaped(prefix) + "%")
        case Contains(prop, substring):
            return _like(columns[prop], "%" + _like_escaped(substring) + "%")
        case AnyOf(prop, condition):
            # Some element of the JSON array meets the condition, the element as column `value`.
            elements = json_elements(columns[prop]).table_valued("value")
            inner = compile_filter(condition, {ELEMENT: elements.c.value})
            return exists(select(literal(1)).select_from(elements).where(inner))
        case AllOf(prop, condition):
            # No element fails the condition. Elements are never null, so NOT is exact here.
            elements = json_elements(columns[prop]).table_valued("value")
            inner = compile_filter(condition, {ELEMENT: elements.c.value})
            return and_(
                columns[prop].is_not(None), ~exists(select(literal(1)).select_from(elements).where(~inner))
            )
        case SearchTerm(prop, term):
            # A word starts with the term: at the start, or after any separator.
            escaped = _like_escaped(term)
            starts = [_like(columns[prop], escaped + "%")]
            starts += [
                _like(columns[prop], "%" + _like_escaped(sep) + escaped + "%") for sep in SEARCH_SEPARATORS
            ]
            return or_(*starts)
    assert_never(node)


def _like(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    folded = func.lower(literal(pattern, String))
    return and_(column.is_not(None), func.lower(column).like(folded, escape=_LIKE_ESCAPE))


def _comparison(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    if value is None:
        return column.is_(None) if op == "eq" else column.is_not(None)
    test = _OPERATORS[op](_operand(column, value), _bind(value))
    if op == "ne":
        return or_(column.is_(None), test)
    return and_(column.is_not(None), test)


def _operand(column: ColumnElement[Any], value: Value) -> ColumnElement[Any]:
    """The column side: folded for strings, as is otherwise (its type binds the literal)."""
    return func.lower(column) if isinstance(value, str) else column


def _bind(value: Value) -> Any:
    """The literal side; guids are stored as canonical lowercase text, so they compare exactly."""
    if isinstance(value, str):
        return func.lower(literal(value, String))
    if isinstance(value, UUID):
        return str(value)
    return value


def _like_escaped(text: str) -> str:
    """`text` as part of a LIKE pattern matching it literally: `%`, `_` and the escape escaped."""
    return "".join(_LIKE_ESCAPE + char if char in "%_" + _LIKE_ESCAPE else char for char in text)


class json_elements(GenericFunction[Any]):
    """The elements of a JSON array column as rows with a text column `value`: SQLite's
    `json_each`, PostgreSQL's `json_array_elements_text` (the column is `json` there)."""

    name = "json_each"
    inherit_cache = True


@compiles(json_elements, "postgresql")
def _json_elements_postgresql(element: json_elements, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array_elements_text({compiler.process(element.clauses, **kw)})"
