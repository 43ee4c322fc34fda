"""OData system query options as Microsoft Graph applies them to directory collections.

The parser, its AST and the reference evaluator change together (about 700 lines), so they stay
in one module.

Why not odata-query (0.10.0, tried on the provisioning-log filters, issue 10): it does not fit.
- Its dependency pins `sly==0.4`, while scim2-filter-parser (which we already use) pins
  `sly==0.5`: the two cannot be installed together without breaking one of them.
- Its SQLAlchemy Core transpiler maps identifiers to column names as spelled, and refuses
  `a/b` paths ("Relationship traversal is not yet implemented"): `sourceIdentity/displayName`
  and our camelCase-to-column mapping would need our own visitor anyway.
- `contains('50%_x')` becomes `LIKE '%' || '50%_x' || '%'`: the wildcards are not escaped.
- No type checking: `jobId eq 5` reaches the database (an error on PostgreSQL, a silent
  mismatch on SQLite, breaking "every backend answers alike"), and a date-only literal is
  compared as the text '2026-11-29'.
- Comparisons are case-sensitive, where ours fold case on both sides as Graph's directory does;
  `endswith` is accepted where Graph refuses it; errors are its exceptions ("Invalid field:
  jobId", "Failed to parse at: Token(type='WS' ...)"), not Graph's messages.
Keeping the hand-written parser costs about 100 lines per feature (contains and `$orderby` here);
adopting odata-query would cost a visitor, a type checker and an error translator of our own.

Date-only literals (`activityDateTime ge 2026-11-29`, Edm.Date) are accepted where a
DateTimeOffset is expected and read as midnight UTC of that day; an impossible date is refused
with a message naming the expected formats.

Pure functions over plain values: the API layer parses the query string with
`parse_query_options`, the store turns a `$filter` AST into SQL (`provisiond.store.odata_sql`),
and `evaluate` is the reference semantics both must agree on. Every client mistake raises
`ODataError`, whose message is the text of the Graph 400 `BadRequest` error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, assert_never, cast, get_args
from urllib.parse import quote
from uuid import UUID

from provisiond.graph.text import forbidden_character


class ODataError(ValueError):
    """A malformed or unsupported query option: the message is the Graph error text for the 400."""


ValueType = Literal["string", "bool", "guid", "datetime", "int"]
CompareOp = Literal["eq", "ne", "gt", "ge", "lt", "le"]
FilterOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "startswith", "contains"]
Value = str | bool | int | datetime | UUID | None

_COMPARE_OPS: frozenset[str] = frozenset(get_args(CompareOp))
_FILTER_OPS: frozenset[str] = frozenset(get_args(FilterOp))
_ORDERING_OPS = frozenset({"gt", "ge", "lt", "le"})
_EDM_TYPES: dict[str, str] = {
    "string": "Edm.String",
    "bool": "Edm.Boolean",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "int": "Edm.Int64",
    "null": "null",
}


# --- resource description -------------------------------------------------------------------


@dataclass(frozen=True)
class FilterableProperty:
    """How `$filter` may use one property: its value type and the operators Graph allows on it."""

    value_type: ValueType
    operators: frozenset[FilterOp]
    # A collection of values of `value_type` (tags, proxyAddresses): filtered only through
    # `any`, whose condition applies `operators` to each element.
    collection: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.operators) - _FILTER_OPS
        if unknown:
            raise ValueError(f"unknown filter operators {sorted(unknown)}")
        if self.operators & {"startswith", "contains"} and self.value_type != "string":
            raise ValueError("startswith and contains apply to string properties only")
        if self.value_type in ("bool", "guid") and self.operators & _ORDERING_OPS:
            raise ValueError(f"{self.value_type} properties have no ordering")


@dataclass(frozen=True)
class ResourceQuerySpec:
    """What one collection (users, groups, ...) lets clients select and filter on.

    `properties` are the selectable top-level names in Graph's casing; `filterable` keys are
    canonical property paths and may be nested (`statusInfo/status`). Clients may use any
    casing; it resolves to the canonical name.
    """

    type_name: str
    properties: Sequence[str]
    filterable: Mapping[str, FilterableProperty] = field(default_factory=dict)
    max_top: int = 999
    default_select: Sequence[str] | None = None
    # The properties `$orderby` may name; a resource with none refuses `$orderby` as unsupported.
    orderable: Sequence[str] = ()
    # The properties `$search` tokens may name; a resource with none refuses `$search`.
    searchable: Sequence[str] = ()
    # Navigation properties `$expand` may name, each with the spec its nested `$select` is
    # checked against; a resource with none refuses `$expand`.
    expandable: Mapping[str, ResourceQuerySpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_top < 1:
            raise ValueError("max_top must be at least 1")
        if len(self._properties_ci) != len(self.properties):
            raise ValueError("property names must be unique ignoring case")
        missing = [p for p in self.default_select or () if p not in self.properties]
        if missing:
            raise ValueError(f"default_select names unknown properties {missing}")
        unknown = [p for p in self.orderable if p not in self.properties]
        if unknown:
            raise ValueError(f"orderable names unknown properties {unknown}")

    @cached_property
    def _properties_ci(self) -> dict[str, str]:
        return {name.lower(): name for name in self.properties}

    @cached_property
    def _filterable_ci(self) -> dict[str, str]:
        return {name.lower(): name for name in self.filterable}

    def resolve_property(self, name: str) -> str:
        """The canonical spelling of a selectable property, or the Graph 'not found' error."""
        canonical = self._properties_ci.get(name.lower())
        if canonical is None:
            raise self._not_found(name)
        return canonical

    def resolve_filterable(self, name: str) -> tuple[str, FilterableProperty]:
        """The canonical path and filter rules of a property, telling apart unknown and unfilterable."""
        canonical = self._filterable_ci.get(name.lower())
        if canonical is not None:
            return canonical, self.filterable[canonical]
        if name.lower() in self._properties_ci:
            raise ODataError(f"Filtering on property '{self._properties_ci[name.lower()]}' is not supported.")
        raise self._not_found(name)

    def _not_found(self, name: str) -> ODataError:
        return ODataError(f"Could not find a property named '{name}' on type '{self.type_name}'.")


# --- $filter AST -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """`prop op value`; value is None only for `eq null` / `ne null`."""

    prop: str
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class In:
    prop: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class StartsWith:
    prop: str
    prefix: str


@dataclass(frozen=True)
class Contains:
    prop: str
    substring: str


@dataclass(frozen=True)
class SearchTerm:
    """`$search` `"prop:term"`: some word of the value (split at spaces and punctuation) starts
    with `term`, ignoring case."""

    prop: str
    term: str


@dataclass(frozen=True)
class AnyOf:
    """`prop/any(x: condition)`: some element of the collection `prop` meets `condition`, in
    which the element is the property `ELEMENT`."""

    prop: str
    condition: FilterNode


@dataclass(frozen=True)
class AllOf:
    """`prop/all(x: condition)`: every element of `prop` meets `condition` (true for an empty
    collection, as OData defines it)."""

    prop: str
    condition: FilterNode


ELEMENT = "$element"


@dataclass(frozen=True)
class And:
    left: FilterNode
    right: FilterNode


@dataclass(frozen=True)
class Or:
    left: FilterNode
    right: FilterNode


@dataclass(frozen=True)
class Not:
    operand: FilterNode


FilterNode = Comparison | In | StartsWith | Contains | SearchTerm | AnyOf | AllOf | And | Or | Not


# --- $filter lexer ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,) | (?P<colon>:)
    | (?P<string>'(?:[^']|'')*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:.+-]))
    | (?P<int>-?\d+)
    | (?P<ident>[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*)
    """,
    re.VERBOSE | re.ASCII,
)
_RESERVED = frozenset({"and", "or", "not", "in", "true", "false", "null", *_COMPARE_OPS})
# Bounds that keep the parser, `evaluate` and SQL compilation far from Python's recursion limit.
_MAX_NESTING = 32
_MAX_CLAUSES = 100
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.lower() in words


def _tokenize(text: str) -> list[_Token]:
    """Split `$filter` text into tokens, ending with an `end` token at len(text)."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise _bad_character(text, pos)
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _bad_character(text: str, pos: int) -> ODataError:
    if text[pos] == "'":
        return ODataError(f"There is an unterminated string literal at position {pos} in '{text}'.")
    return ODataError(f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{text}'.")


# --- $filter parser --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    """A literal before it is checked against the type of the property it is compared with."""

    kind: str  # a ValueType other than "guid", or "null"
    value: Value
    text: str


class _FilterParser:
    """Recursive descent over `or` < `and` < `not` < comparison / function / parentheses."""

    def __init__(self, text: str, spec: ResourceQuerySpec) -> None:
        self._text = text
        self._spec = spec
        self._tokens = _tokenize(text)
        self._index = 0
        self._nesting = 0
        self._clauses = 0
        # Inside `prop/any(x: ...)`: the range variable and the rules of the collection's elements.
        self._element: tuple[str, FilterableProperty] | None = None

    def parse(self) -> FilterNode:
        node = self._or()
        if self._peek().kind != "end":
            raise self._error("Syntax error", self._peek())
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _accept_word(self, word: str) -> bool:
        if self._peek().is_word(word):
            self._index += 1
            return True
        return False

    def _expect(self, kind: str, complaint: str) -> _Token:
        if self._peek().kind != kind:
            raise self._error(complaint, self._peek())
        return self._advance()

    def _error(self, complaint: str, token: _Token) -> ODataError:
        return ODataError(f"{complaint} at position {token.pos} in '{self._text}'.")

    def _or(self) -> FilterNode:
        node = self._and()
        while self._accept_word("or"):
            node = Or(node, self._and())
        return node

    def _and(self) -> FilterNode:
        node = self._unary()
        while self._accept_word("and"):
            node = And(node, self._unary())
        return node

    def _unary(self) -> FilterNode:
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise ODataError(f"The $filter expression is nested more than {_MAX_NESTING} levels deep.")
        try:
            if self._accept_word("not"):
                return Not(self._unary())
            return self._primary()
        finally:
            self._nesting -= 1

    def _primary(self) -> FilterNode:
        token = self._peek()
        if token.kind == "lparen":
            self._advance()
            node = self._or()
            self._expect("rparen", "')' or operator expected")
            return node
        if token.kind != "ident" or token.text.lower() in _RESERVED:
            raise self._error("Expression expected", token)
        self._advance()
        self._clauses += 1
        if self._clauses > _MAX_CLAUSES:
            raise ODataError(f"The $filter expression has more than {_MAX_CLAUSES} clauses.")
        if self._peek().kind == "lparen":
            return self._function(token)
        return self._comparison(token)

    def _function(self, name: _Token) -> FilterNode:
        last_segment = name.text.rsplit("/", 1)[-1].lower()
        if last_segment in ("any", "all"):
            if "/" not in name.text:
                raise ODataError(
                    f"The lambda operator '{last_segment}' needs a collection: prop/{last_segment}(x: ...)."
                )
            return self._lambda(name, last_segment)
        function = name.text.lower()
        if function not in ("startswith", "contains"):
            raise ODataError(f"Function '{name.text}' is not supported in $filter.")
        self._advance()
        prop = self._property(function)
        self._expect("comma", "')' or ',' expected")
        literal = self._literal()
        self._expect("rparen", "')' or ',' expected")
        if literal.kind != "string":
            raise ODataError(
                f"The second argument of {function} on '{prop}' must be a string, not {literal.text}."
            )
        assert isinstance(literal.value, str)
        return StartsWith(prop, literal.value) if function == "startswith" else Contains(prop, literal.value)

    def _lambda(self, name: _Token, operator: str) -> FilterNode:
        """`prop/any(x: condition on x)` or `prop/all(x: ...)` on a collection property."""
        prop, rules = self._spec.resolve_filterable(name.text.rsplit("/", 1)[0])
        if not rules.collection:
            raise ODataError(f"The lambda operator '{operator}' applies to collections; '{prop}' is not one.")
        if self._element is not None:
            raise ODataError("Lambda operators cannot be nested.")
        self._expect("lparen", "'(' expected")
        variable = self._expect("ident", "Range variable expected")
        if variable.text.lower() in _RESERVED or "/" in variable.text:
            raise self._error("Range variable expected", variable)
        self._expect("colon", "':' expected")
        self._element = (variable.text, rules)
        try:
            condition = self._or()
        finally:
            self._element = None
        self._expect("rparen", "')' or operator expected")
        return AnyOf(prop, condition) if operator == "any" else AllOf(prop, condition)

    def _resolve(self, text: str) -> tuple[str, FilterableProperty]:
        """A property path, or inside a lambda its range variable (the element)."""
        if self._element is not None:
            variable, rules = self._element
            if text == variable:
                return ELEMENT, replace(rules, collection=False)
            raise ODataError(f"Inside a lambda, compare the range variable '{variable}', not '{text}'.")
        prop, rules = self._spec.resolve_filterable(text)
        if rules.collection:
            raise ODataError(f"'{prop}' is a collection: filter it with {prop}/any(x: x eq '...').")
        return prop, rules

    def _comparison(self, prop_token: _Token) -> FilterNode:
        prop, rules = self._resolve(prop_token.text)
        op_token = self._advance()
        op = op_token.text.lower()
        if op_token.kind != "ident" or op not in _COMPARE_OPS | {"in"}:
            raise self._error("Comparison operator expected", op_token)
        _check_operator(prop, rules, op)
        if op == "in":
            return In(prop, tuple(_typed_value(prop, rules, lit, op) for lit in self._literal_list()))
        return Comparison(prop, cast(CompareOp, op), _typed_value(prop, rules, self._literal(), op))

    def _property(self, op: str) -> str:
        token = self._expect("ident", "Property name expected")
        prop, rules = self._resolve(token.text)
        _check_operator(prop, rules, op)
        return prop

    def _literal_list(self) -> list[_Literal]:
        self._expect("lparen", "'(' expected")
        literals = [self._literal()]
        while self._peek().kind == "comma":
            self._advance()
            literals.append(self._literal())
        self._expect("rparen", "')' or ',' expected")
        return literals

    def _literal(self) -> _Literal:
        token = self._advance()
        if token.kind == "string":
            return _Literal("string", token.text[1:-1].replace("''", "'"), token.text)
        if token.kind == "int":
            return _Literal("int", self._int(token), token.text)
        if token.kind == "datetime":
            return _Literal("datetime", self._datetime(token), token.text)
        if token.kind == "date":
            return _Literal("datetime", self._date(token), token.text)
        if token.is_word("true", "false"):
            return _Literal("bool", token.text.lower() == "true", token.text)
        if token.is_word("null"):
            return _Literal("null", None, token.text)
        raise self._error("Expression expected", token)

    def _int(self, token: _Token) -> int:
        value = int(token.text)
        if value not in _INT64:
            raise self._error(f"Integer literal {token.text} out of range", token)
        return value

    def _date(self, token: _Token) -> datetime:
        """A date-only literal (Edm.Date) compared with a DateTimeOffset: midnight UTC that day."""
        try:
            return datetime.fromisoformat(token.text).replace(tzinfo=UTC)
        except ValueError:
            raise self._error(
                f"Invalid date literal {token.text} (expected yyyy-mm-dd or yyyy-mm-ddThh:mm:ssZ)", token
            ) from None

    def _datetime(self, token: _Token) -> datetime:
        try:
            return datetime.fromisoformat(token.text).astimezone(UTC)
        except ValueError:
            raise self._error(f"Invalid datetime literal {token.text}", token) from None


def _check_operator(prop: str, rules: FilterableProperty, op: str) -> None:
    if op not in rules.operators:
        raise ODataError(f"Unsupported filter operator '{op}' on property '{prop}'.")


def _typed_value(prop: str, rules: FilterableProperty, literal: _Literal, op: str) -> Value:
    """The literal as the property's type, or the error naming the property and the literal."""
    if literal.kind == "null":
        if op not in ("eq", "ne"):
            raise ODataError(f"The value null cannot be used with operator '{op}' on property '{prop}'.")
        return None
    if rules.value_type == "guid" and literal.kind == "string":
        return _guid(str(literal.value))
    if literal.kind != rules.value_type:
        raise ODataError(
            f"Incompatible types in $filter: property '{prop}' is {_EDM_TYPES[rules.value_type]} "
            f"but the value {literal.text} is {_EDM_TYPES[literal.kind]}."
        )
    return literal.value


def _guid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise ODataError(f"Invalid object identifier '{text}'.") from None


def parse_filter(text: str, spec: ResourceQuerySpec) -> FilterNode:
    """Parse and type-check one `$filter` expression against a resource."""
    return _FilterParser(text, spec).parse()


# --- system query options --------------------------------------------------------------------

_SUPPORTED_OPTIONS = frozenset(
    {"top", "skiptoken", "select", "filter", "count", "orderby", "search", "expand"}
)
_UNSUPPORTED_OPTIONS = frozenset({"skip", "format", "apply", "compute", "levels"})
_ORDERBY_ITEM = re.compile(r"\s*([A-Za-z_][\w/]*)(?:\s+(asc|desc))?\s*", re.IGNORECASE | re.ASCII)
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class QueryOptions:
    """The supported options of one request; `skiptoken` is still opaque (see `decode_skiptoken`)."""

    top: int | None = None
    skiptoken: str | None = None
    select: list[str] | None = None
    filter: FilterNode | None = None
    count: bool = False
    orderby: OrderBy | None = None
    search: FilterNode | None = None
    expand: Expand | None = None


@dataclass(frozen=True)
class Expand:
    """`$expand=prop` or `$expand=prop($select=a,b)`: one navigation property, canonical name."""

    prop: str
    select: list[str] | None = None


@dataclass(frozen=True)
class OrderBy:
    """`$orderby=prop [asc|desc]`: one canonical property and its direction (asc by default)."""

    prop: str
    descending: bool = False


def parse_query_options(
    params: Mapping[str, str] | Iterable[tuple[str, str]], *, resource: ResourceQuerySpec
) -> QueryOptions:
    """Validate a request's OData options; pass every (key, value) pair so duplicates are caught."""
    raw = _collect_options(params.items() if isinstance(params, Mapping) else params)
    return QueryOptions(
        top=_parse_top(raw["top"], resource.max_top) if "top" in raw else None,
        skiptoken=raw.get("skiptoken"),
        select=_parse_select(raw.get("select", ""), resource),
        filter=parse_filter(raw["filter"], resource) if raw.get("filter", "").strip() else None,
        count=_parse_count(raw["count"]) if "count" in raw else False,
        orderby=_parse_orderby(raw["orderby"], resource) if "orderby" in raw else None,
        search=parse_search(raw["search"], resource) if "search" in raw else None,
        expand=parse_expand(raw["expand"], resource) if "expand" in raw else None,
    )


_EXPAND_ITEM = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*", re.ASCII | re.DOTALL)


def parse_expand(text: str, spec: ResourceQuerySpec) -> Expand | None:
    """One navigation property, optionally with a nested `$select`, as Graph's directory allows.

    Graph expands a single relationship per request on directory objects ("The result of
    parsing $expand contained at least 2 items, but the maximum allowed is 1") and accepts no
    nested option but `$select`; an empty `$expand` means none.
    """
    if not spec.expandable:
        raise ODataError("Query option '$expand' is not supported.")
    if not text.strip():
        return None
    items = _split_top_level(text, ",")
    if items is None:
        raise ODataError(f"Syntax error: invalid $expand value '{text}': unbalanced parentheses.")
    if len(items) > 1:
        raise ODataError(
            "The result of parsing $expand contained at least 2 items, but the maximum allowed is 1."
        )
    if items[0].strip() == "*":
        raise ODataError("Query option '$expand=*' is not supported; name the relationship to expand.")
    match = _EXPAND_ITEM.fullmatch(items[0])
    if match is None:
        raise ODataError(f"Syntax error: invalid $expand value '{text}'.")
    prop = _resolve_navigation(match.group(1), spec)
    target = spec.expandable[prop]
    select = None
    nested = match.group(2)
    if nested is not None and nested.strip():
        for option in _split_top_level(nested, ";") or [nested]:
            key, eq, value = option.partition("=")
            name = key.strip().lower().removeprefix("$")
            if not eq or not key.strip().startswith("$"):
                raise ODataError(
                    f"Syntax error: invalid $expand value '{text}': expected $select=... inside."
                )
            if name != "select":
                raise ODataError(f"Query option '${name}' is not supported inside $expand; only $select is.")
            if select is not None:
                raise ODataError(
                    "Query option '$select' was specified more than once, but it must be specified at most once."
                )
            select = _parse_select(value, target) or None
    return Expand(prop, select)


def _resolve_navigation(name: str, spec: ResourceQuerySpec) -> str:
    canonical = {p.lower(): p for p in spec.expandable}.get(name.lower())
    if canonical is not None:
        return canonical
    if name.lower() in {p.lower() for p in spec.properties}:
        raise ODataError(
            f"Property '{name}' on type '{spec.type_name}' is not a navigation property or complex "
            "property. Only navigation properties can be expanded."
        )
    raise ODataError(f"Could not find a property named '{name}' on type '{spec.type_name}'.")


def _split_top_level(text: str, separator: str) -> list[str] | None:
    """`text` split on `separator` outside parentheses and quotes; None when they do not balance."""
    parts, depth, start, quoted = [], 0, 0, False
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth or quoted:
        return None
    parts.append(text[start:])
    return parts


# Word separators of `$search` (Graph tokenizes on spaces, casing and punctuation).
SEARCH_SEPARATORS = " .-_@,;:/()"
_SEARCH_TOKEN = re.compile(r'\s*(?:(?P<clause>"[^"]*")|(?P<op>AND|OR)(?=\s|"|$))\s*', re.ASCII)


def parse_search(text: str, spec: ResourceQuerySpec) -> FilterNode:
    """`"prop:term"` clauses joined by AND (binding tighter) and OR."""
    if not spec.searchable:
        raise ODataError("Query option '$search' is not supported.")
    pos, expect_clause = 0, True
    disjuncts: list[FilterNode] = []
    current: FilterNode | None = None
    joiner = "OR"
    while pos < len(text):
        match = _SEARCH_TOKEN.match(text, pos)
        if match is None or (match.group("clause") is None) == expect_clause or match.end() == pos:
            raise ODataError(f"Syntax error: invalid $search value '{text}' at position {pos}.")
        pos = match.end()
        if expect_clause:
            clause = _search_clause(match.group("clause")[1:-1], spec, text)
            if joiner == "AND" and current is not None:
                current = And(current, clause)
            else:
                if current is not None:
                    disjuncts.append(current)
                current = clause
        else:
            joiner = match.group("op")
        expect_clause = not expect_clause
    if current is None or expect_clause:
        raise ODataError(f"Syntax error: invalid $search value '{text}'.")
    disjuncts.append(current)
    node = disjuncts[0]
    for other in disjuncts[1:]:
        node = Or(node, other)
    return node


def _search_clause(clause: str, spec: ResourceQuerySpec, text: str) -> FilterNode:
    prop, colon, term = clause.partition(":")
    if not colon or not term.strip():
        raise ODataError(
            f"Syntax error: invalid $search value '{text}': expected \"property:value\" clauses."
        )
    canonical = {p.lower(): p for p in spec.searchable}.get(prop.strip().lower())
    if canonical is None:
        raise ODataError(f"Searching on property '{prop.strip()}' is not supported.")
    return SearchTerm(canonical, term.strip())


def _option_name(key: str) -> str | None:
    """The bare lowercase name of a supported option, None for a non-OData parameter."""
    lowered = key.lower()
    bare = lowered.removeprefix("$")
    if bare in _SUPPORTED_OPTIONS:
        return bare
    if bare in _UNSUPPORTED_OPTIONS or lowered.startswith("$"):
        raise ODataError(f"Query option '${bare}' is not supported.")
    return None


def _collect_options(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs:
        name = _option_name(key)
        if name is None:
            continue
        if name in found:
            raise ODataError(
                f"Query option '${name}' was specified more than once, but it must be specified at most once."
            )
        found[name] = value
    return found


def _parse_top(text: str, max_top: int) -> int:
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= max_top:
        return int(text)
    raise ODataError(f"Invalid $top value '{text}': must be an integer between 1 and {max_top}.")


def _parse_orderby(text: str, spec: ResourceQuerySpec) -> OrderBy | None:
    """One `prop [asc|desc]` clause on an orderable property; an empty `$orderby` means none."""
    if not spec.orderable:
        raise ODataError("Query option '$orderby' is not supported.")
    if not text.strip():
        return None
    items = text.split(",")
    if len(items) > 1:
        raise ODataError(f"Invalid $orderby value '{text}': only one property can be sorted on.")
    match = _ORDERBY_ITEM.fullmatch(items[0])
    if match is None:
        raise ODataError(f"Invalid $orderby value '{text}': expected a property name and asc or desc.")
    prop = spec.resolve_property(match.group(1))
    if prop not in spec.orderable:
        supported = ", ".join(spec.orderable)
        raise ODataError(f"Sorting on property '{prop}' is not supported; $orderby supports {supported}.")
    return OrderBy(prop, (match.group(2) or "asc").lower() == "desc")


def _parse_count(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ODataError(f"Invalid $count value '{text}': must be true or false.")
    return text.lower() == "true"


def _parse_select(text: str, spec: ResourceQuerySpec) -> list[str] | None:
    """Canonical names in request order, duplicates dropped; an empty `$select` means no `$select`."""
    if not text.strip():
        return None
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise ODataError(f"Invalid $select value '{text}': empty property name.")
    if items == ["*"]:
        return list(spec.properties)
    return list(dict.fromkeys(spec.resolve_property(item) for item in items))


# --- evaluation ------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def evaluate(node: FilterNode, obj: Mapping[str, Any]) -> bool:
    """Whether `obj` (keyed by canonical names, nested for `a/b` paths) matches the filter.

    This is the reference semantics: strings compare case-insensitively, a missing value is
    null, and a comparison with null is false except `ne` (so `not` of it is true).
    """
    match node:
        case And(left, right):
            return evaluate(left, obj) and evaluate(right, obj)
        case Or(left, right):
            return evaluate(left, obj) or evaluate(right, obj)
        case Not(operand):
            return not evaluate(operand, obj)
        case Comparison(prop, op, value):
            return _compare(_lookup(obj, prop), op, value)
        case In(prop, values):
            actual = _lookup(obj, prop)
            return any(_compare(actual, "eq", value) for value in values)
        case StartsWith(prop, prefix):
            actual = _lookup(obj, prop)
            return actual is not None and str(actual).lower().startswith(prefix.lower())
        case Contains(prop, substring):
            actual = _lookup(obj, prop)
            return actual is not None and substring.lower() in str(actual).lower()
        case AnyOf(prop, condition):
            elements = _lookup(obj, prop)
            return isinstance(elements, list) and any(evaluate(condition, {ELEMENT: e}) for e in elements)
        case AllOf(prop, condition):
            elements = _lookup(obj, prop)
            return isinstance(elements, list) and all(evaluate(condition, {ELEMENT: e}) for e in elements)
        case SearchTerm(prop, term):
            actual = _lookup(obj, prop)
            words = re.split("[" + re.escape(SEARCH_SEPARATORS) + "]", str(actual or "").lower())
            return actual is not None and any(w.startswith(term.lower()) for w in words if w)
    assert_never(node)


def _lookup(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a `/`-separated path, None when any step is missing."""
    value: Any = obj
    for step in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _compare(actual: Any, op: str, expected: Value) -> bool:
    if expected is None:
        return (actual is None) == (op == "eq")
    if actual is None:
        return op == "ne"
    return _OPERATORS[op](_normalise(actual, expected), _normalise(expected, expected))


def _normalise(value: Any, like: Value) -> Any:
    """Bring a value into the comparable form of the literal `like` (both sides go through this)."""
    if isinstance(like, str):
        return str(value).lower()
    if isinstance(like, UUID):
        return str(value)
    if isinstance(like, datetime):
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return value


# --- $select ---------------------------------------------------------------------------------


def apply_select(
    obj: Mapping[str, Any], select: Sequence[str] | None, spec: ResourceQuerySpec
) -> dict[str, Any]:
    """The representation to return: `@odata.*` annotations, then the selected properties.

    Without `$select` the resource's default set applies (Graph v1.0 users return a subset);
    a selected property the object lacks is returned as null, as Graph does.
    """
    chosen = select if select is not None else spec.default_select
    if chosen is None:
        return dict(obj)
    annotations = {key: value for key, value in obj.items() if key.startswith("@odata.")}
    return annotations | {name: obj.get(name) for name in chosen}


# --- paging ----------------------------------------------------------------------------------

_CHECKSUM_BYTES = 4
SkipKey = tuple[str | int, ...]


def encode_skiptoken(key: Sequence[str | int]) -> str:
    """An opaque, URL-safe token for keyset paging: base64url of the JSON key plus a checksum.

    The checksum catches truncated or edited tokens; it is not a signature, since a forged key
    only starts the page elsewhere in a result the client may read anyway.
    """
    payload = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return _b64(payload + _checksum(payload))


def decode_skiptoken(token: str) -> SkipKey:
    """The key `encode_skiptoken` was given, or ODataError for anything it did not produce."""
    raw = _unb64(token)
    payload, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
    if len(raw) <= _CHECKSUM_BYTES or not hmac.compare_digest(checksum, _checksum(payload)):
        raise _invalid_skiptoken()
    try:
        key = json.loads(payload)
    except ValueError:
        raise _invalid_skiptoken() from None
    if not isinstance(key, list) or not all(_is_key_part(part) for part in key):
        raise _invalid_skiptoken()
    return tuple(key)


def _is_key_part(part: object) -> bool:
    # The checksum is not a secret, so a client can forge a token: its strings must be text
    # every backend can compare (no NUL, no lone surrogate).
    if isinstance(part, str):
        return forbidden_character(part) is None
    return isinstance(part, int) and not isinstance(part, bool)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(token: str) -> bytes:
    """Decode only the canonical form, so no two distinct tokens name the same key."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid_skiptoken() from None
    if _b64(raw) != token:
        raise _invalid_skiptoken()
    return raw


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()[:_CHECKSUM_BYTES]


def _invalid_skiptoken() -> ODataError:
    return ODataError("Invalid $skiptoken value.")


def next_link(base_url: str, query_pairs: Sequence[tuple[str, str]], skiptoken: str) -> str:
    """`@odata.nextLink`: the request's URL (without query) and options, with a new `$skiptoken`.

    Values are percent-encoded in full (`+`, `&`, `'` included), so the link survives any client.
    """
    kept = [(key, value) for key, value in query_pairs if key.lower().removeprefix("$") != "skiptoken"]
    pairs = [*kept, ("$skiptoken", skiptoken)]
    return (
        base_url + "?" + "&".join(f"{quote(key, safe='$')}={quote(value, safe='')}" for key, value in pairs)
    )
