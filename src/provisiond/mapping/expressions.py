"""Entra's attribute-mapping expression language: parse, print, convert, compile, evaluate.

The grammar, its AST, the printer, the tree-form conversion and the compiler are one language
that changes together, hence one module of about 600 lines.

    expr = parse('Join(" ", [givenName], [surname])')     # text -> AST (ExpressionSyntaxError)
    to_text(expr)                                         # AST -> canonical text
    to_mapping_source(expr) / from_mapping_source(tree)   # AST <-> Graph attributeMappingSource
    compiled = compile(expr)                              # once per schema, not per object
    compiled.evaluate({"givenName": "John", "surname": "Doe"}, EvaluationContext())  # "John Doe"

The grammar (reference §7 and Microsoft's function reference):

    expression := operand                      (the whole text, at most 10,000 characters)
    operand    := attribute | string | number | keyword | call
    attribute  := "[" name "]"                 a "]" closes it only once brackets balance, so
                                               [emails[type eq "work"].value] is one name
    string     := '"' ... '"'                  \\" and \\\\ are escapes
    number     := -?digits | &Hhexdigits
    keyword    := vbBinaryCompare | vbTextCompare        (InStr's compare types)
    call       := Name "(" [argument ("," argument)*] ")"   names are case-sensitive
    argument   := <empty> | operand [("=" | "<>" | ">" | ">=" | "<" | "<=") operand]

Whitespace may appear between any two tokens. Choices where the reference is silent:

* Positions in error messages are 0-based character offsets.
* A comparison is an argument form (IIF's condition, `CBool([a] = [b])`), never a whole
  expression, and its operands cannot be comparisons ("no AND or OR").
* An empty argument is only valid for an optional parameter; `F()` is a call without arguments.
* A backslash before anything but `"` or `\\` is kept literally (regex patterns in strings).
* Nesting deeper than 100 calls is a syntax error (it keeps the recursive parser bounded).
* In Graph's tree form a number is a Constant holding its decimal text and an empty argument is
  the empty Constant, as in Entra's own templates; a keyword is a Constant whose expression is
  the bare keyword; a comparison (which Graph never shows) is a Function source named after its
  operator with parameters `left` and `right`.
* Comparisons follow VB: numbers compare as numbers when either side is a number, dates as dates
  when either side is a date, anything else as case-sensitive text (null reads as "").
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from provisiond.mapping.errors import ExpressionError, ExpressionEvaluationError, ExpressionSyntaxError
from provisiond.mapping.functions import (
    FUNCTION_SIGNATURES,
    FUNCTIONS,
    Arguments,
    FunctionSignature,
    IgnoreFlow,
)
from provisiond.mapping.values import (
    IGNORE_FLOW,
    EvaluationContext,
    as_datetime,
    as_int,
    as_string,
    lookup,
    output,
    single,
)

__all__ = [
    "FUNCTION_SIGNATURES",
    "IGNORE_FLOW",
    "Attribute",
    "Comparison",
    "CompiledExpression",
    "EvaluationContext",
    "Expr",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FunctionCall",
    "FunctionSignature",
    "Keyword",
    "NumberLiteral",
    "Omitted",
    "StringLiteral",
    "compile",
    "from_mapping_source",
    "parse",
    "to_mapping_source",
    "to_text",
    "validate",
]

MAX_EXPRESSION_LENGTH: Final = 10_000
MAX_NESTING: Final = 100
KEYWORDS: Final = frozenset({"vbBinaryCompare", "vbTextCompare"})
COMPARISON_OPERATORS: Final = ("<>", ">=", "<=", "=", ">", "<")  # longest first, for the lexer


# --- the AST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """`[name]`: a source attribute."""

    name: str


@dataclass(frozen=True)
class StringLiteral:
    value: str


@dataclass(frozen=True)
class NumberLiteral:
    """An integer; `hex` only remembers how it was written (`&HF7`) and is not part of equality."""

    value: int
    hex: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Keyword:
    """A bare enum name such as `vbBinaryCompare`; it evaluates to its own name."""

    name: str


@dataclass(frozen=True)
class Omitted:
    """An optional argument left empty: `Replace([x], "a", , , "b", , )`."""


@dataclass(frozen=True)
class Comparison:
    operator: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class FunctionCall:
    name: str
    args: tuple[Expr, ...] = ()


Expr = Attribute | StringLiteral | NumberLiteral | Keyword | Omitted | Comparison | FunctionCall


# --- validation -------------------------------------------------------------------------------

_Place = Literal["top", "argument", "operand"]


def _unknown_function(name: str) -> str:
    folded = {known.casefold(): known for known in FUNCTIONS}
    suggestion = folded.get(name.casefold())
    hint = f" (function names are case-sensitive: did you mean '{suggestion}'?)" if suggestion else ""
    return f"Unknown function '{name}'{hint}"


def _call_problem(call: FunctionCall, nested: bool) -> str | None:
    """What is wrong with a call's name or arguments, or None."""
    definition = FUNCTIONS.get(call.name)
    if definition is None:
        return _unknown_function(call.name)
    signature = definition.signature
    if signature.top_level_only and nested:
        return f"{call.name} must be the whole expression; it cannot be nested"
    problem = signature.arity_error(len(call.args))
    if problem:
        return problem
    for index, arg in enumerate(call.args):
        parameter = signature.parameter(index)
        if isinstance(arg, Omitted) and parameter.required:
            return f"Argument {index + 1} ({parameter.name}) of {call.name} is required and cannot be empty"
    return None


def _balanced(name: str) -> bool:
    """Whether `[name]` reads back as this one attribute (every "]" closes an inner "[")."""
    depth = 0
    for char in name:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _node_problem(expr: Expr, place: _Place) -> str | None:
    match expr:
        case Attribute(name=name) if not name or not _balanced(name):
            return f"Attribute name {name!r} cannot be written as [name]"
        case Keyword(name=name) if name not in KEYWORDS:
            return f"Unknown keyword '{name}'"
        case Omitted() if place != "argument":
            return "An empty argument is only allowed in a function's argument list"
        case Comparison(operator=op) if place != "argument" or op not in COMPARISON_OPERATORS:
            return f"A comparison ({op}) is only allowed as a function argument"
        case FunctionCall():
            return _call_problem(expr, nested=place != "top")
    return None


def _check(expr: Expr, place: _Place) -> None:
    problem = _node_problem(expr, place)
    if problem:
        raise ExpressionSyntaxError(problem)
    if isinstance(expr, Comparison):
        _check(expr.left, "operand")
        _check(expr.right, "operand")
    elif isinstance(expr, FunctionCall):
        for arg in expr.args:
            _check(arg, "argument")


def validate(expr: Expr) -> None:
    """Raise ExpressionSyntaxError (without a position) if an AST is not a valid expression."""
    _check(expr, "top")


# --- parsing ----------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"&[Hh]([0-9A-Fa-f]+)|-?\d+")


class _Parser:
    """A recursive-descent parser over one expression text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def error(self, message: str, position: int | None = None) -> ExpressionSyntaxError:
        at = self.pos if position is None else position
        return ExpressionSyntaxError(f"{message} at position {at}", at)

    def expected(self, what: str) -> ExpressionSyntaxError:
        char = self.peek()
        found = f"found '{char}'" if char else "found the end of the expression"
        return ExpressionSyntaxError(f"Expected {what} at position {self.pos}, {found}", self.pos)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def whole(self) -> Expr:
        self.skip_space()
        expr = self.operand(place="top")
        self.skip_space()
        if self.pos != len(self.text):
            raise self.expected("the end of the expression")
        return expr

    def operand(self, place: _Place) -> Expr:
        char = self.peek()
        if char == "[":
            return self.attribute()
        if char == '"':
            return self.string()
        if char.isdigit() or char in ("-", "&"):
            return self.number()
        if char.isalpha() or char == "_":
            return self.call_or_keyword(place)
        raise self.expected("an attribute, a string, a number or a function call")

    def attribute(self) -> Attribute:
        start, depth = self.pos, 0
        for index in range(start, len(self.text)):
            depth += {"[": 1, "]": -1}.get(self.text[index], 0)
            if depth == 0:
                self.pos = index + 1
                if index == start + 1:
                    raise self.error("Empty attribute name", start)
                return Attribute(self.text[start + 1 : index])
        self.pos = len(self.text)
        raise self.error(f"Expected ']' to close the attribute opened at position {start}")

    def string(self) -> StringLiteral:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return StringLiteral("".join(chars))
            escaped = char == "\\" and self.text[self.pos + 1 : self.pos + 2] in ('"', "\\")
            chars.append(self.text[self.pos + 1] if escaped else char)
            self.pos += 2 if escaped else 1
        raise self.error(f"Expected '\"' to close the string opened at position {start}")

    def number(self) -> NumberLiteral:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.expected("a number")
        self.pos = match.end()
        hex_digits = match.group(1)
        return (
            NumberLiteral(int(hex_digits, 16), hex=True) if hex_digits else NumberLiteral(int(match.group()))
        )

    def call_or_keyword(self, place: _Place) -> Keyword | FunctionCall:
        match = _IDENTIFIER.match(self.text, self.pos)
        assert match is not None  # operand() saw a letter or "_"
        name, start = match.group(), self.pos
        self.pos = match.end()
        self.skip_space()
        if self.peek() != "(":
            if name in KEYWORDS:
                return Keyword(name)
            raise self.expected(f"'(' after the function name '{name}'")
        if name not in FUNCTIONS:
            raise self.error(_unknown_function(name), start)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"Expression nests more than {MAX_NESTING} function calls", start)
        self.pos += 1
        call = FunctionCall(name, self.arguments())
        self.depth -= 1
        problem = _call_problem(call, nested=place != "top")
        if problem:
            raise self.error(problem, start)
        return call

    def arguments(self) -> tuple[Expr, ...]:
        self.skip_space()
        if self.peek() == ")":
            self.pos += 1
            return ()
        args: list[Expr] = []
        while True:
            args.append(self.argument())
            self.skip_space()
            char = self.peek()
            if char not in (",", ")"):
                raise self.expected("')' or ','")
            self.pos += 1
            if char == ")":
                return tuple(args)

    def argument(self) -> Expr:
        self.skip_space()
        if self.peek() in (",", ")"):
            return Omitted()
        left = self.operand(place="argument")
        self.skip_space()
        op = next((op for op in COMPARISON_OPERATORS if self.text.startswith(op, self.pos)), None)
        if op is None:
            return left
        self.pos += len(op)
        self.skip_space()
        return Comparison(op, left, self.operand(place="operand"))


def parse(text: str) -> Expr:
    """Parse expression text; raises ExpressionSyntaxError naming the position and what was expected."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(
            f"Expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
            f" (at position {MAX_EXPRESSION_LENGTH})",
            MAX_EXPRESSION_LENGTH,
        )
    return _Parser(text).whole()


# --- text -------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_text(expr: Expr) -> str:
    """The canonical text of an expression: `Name(a, b)`, `[x] = "y"`, decimal numbers unless
    written in hex; `parse(to_text(e)) == e` for every valid `e`."""
    match expr:
        case Attribute(name=name):
            return f"[{name}]"
        case StringLiteral(value=value):
            return _quote(value)
        case NumberLiteral(value=value, hex=True) if value >= 0:
            return f"&H{value:X}"
        case NumberLiteral(value=value):
            return str(value)
        case Keyword(name=name):
            return name
        case Omitted():
            return ""
        case Comparison(operator=op, left=left, right=right):
            return f"{to_text(left)} {op} {to_text(right)}"
        case FunctionCall(name=name, args=args):
            return f"{name}({', '.join(to_text(arg) for arg in args)})"


# --- Graph's tree form (attributeMappingSource) -----------------------------------------------


def _source(
    expression: str, name: str, kind: str, parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"expression": expression, "name": name, "parameters": parameters or [], "type": kind}


def _parameters(keys: list[str], args: tuple[Expr, ...]) -> list[dict[str, Any]]:
    return [{"key": key, "value": to_mapping_source(arg)} for key, arg in zip(keys, args, strict=True)]


def to_mapping_source(expr: Expr) -> dict[str, Any]:
    """Graph's attributeMappingSource JSON for an expression (parameter keys from the signature).

    A whole expression that is just a number becomes a Constant and so reads back as its text,
    which evaluates the same everywhere a number is accepted.
    """
    match expr:
        case Attribute(name=name):
            return _source(f"[{name}]", name, "Attribute")
        case Keyword(name=name):
            return _source(name, name, "Constant")
        case StringLiteral(value=value):
            return _source(_quote(value), value, "Constant")
        case NumberLiteral(value=value):
            return _source(_quote(str(value)), str(value), "Constant")
        case Omitted():
            return _source('""', "", "Constant")
        case Comparison(operator=op, left=left, right=right):
            return _source(to_text(expr), op, "Function", _parameters(["left", "right"], (left, right)))
        case FunctionCall(name=name, args=args):
            signature = FUNCTION_SIGNATURES[name]
            keys = [signature.parameter(index).name for index in range(len(args))]
            return _source(to_text(expr), name, "Function", _parameters(keys, args))


def _from_tree(source: Mapping[str, Any]) -> Expr:
    """Build from `type`, `name` and `parameters` alone."""
    kind = str(source.get("type") or "Attribute").casefold()
    name = source.get("name")
    if kind == "attribute":
        if not name:
            raise ExpressionSyntaxError("An Attribute source needs a name")
        return Attribute(str(name))
    if kind == "constant":
        return StringLiteral(str(name or ""))
    if kind != "function":
        raise ExpressionSyntaxError(f"Unknown attributeMappingSource type '{source.get('type')}'")
    args = tuple(
        Omitted() if parameter.get("value") is None else _from_tree(parameter["value"])
        for parameter in source.get("parameters") or []
    )
    if name in COMPARISON_OPERATORS:
        if len(args) != 2:
            raise ExpressionSyntaxError(f"A comparison ({name}) needs exactly two parameters")
        return Comparison(str(name), args[0], args[1])
    return FunctionCall(str(name or ""), args)


def from_mapping_source(source: Mapping[str, Any]) -> Expr:
    """An expression from Graph's attributeMappingSource JSON.

    The `expression` text is authoritative when present and valid; otherwise the tree is used.
    """
    text = source.get("expression")
    if text:
        try:
            return parse(str(text))
        except ExpressionSyntaxError as error:
            try:
                return from_mapping_source(
                    {key: value for key, value in source.items() if key != "expression"}
                )
            except ExpressionSyntaxError:
                raise error from None
    expr = _from_tree(source)
    validate(expr)
    return expr


# --- compilation and evaluation ---------------------------------------------------------------

Evaluator = Callable[[Mapping[str, Any], EvaluationContext], Any]


@dataclass(frozen=True)
class _Node:
    """A compiled AST node (it satisfies `functions.Node`)."""

    evaluate: Evaluator
    attributes: frozenset[str] = frozenset()
    omitted: bool = False


def _value(node: _Node, source: Mapping[str, Any], context: EvaluationContext) -> Any:
    value = node.evaluate(source, context)
    if value is IGNORE_FLOW:
        raise IgnoreFlow
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Both operands in one domain: dates, numbers or text (see the module docstring)."""
    if isinstance(left, datetime) or isinstance(right, datetime):
        dates = as_datetime(left), as_datetime(right)
        if None not in dates:
            return dates
    if _is_number(left) or _is_number(right):
        try:
            numbers = as_int(left), as_int(right)
        except ValueError:
            numbers = None, None
        if None not in numbers:
            return numbers
    return as_string(left) or "", as_string(right) or ""


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _compile_comparison(op: str, left: _Node, right: _Node) -> _Node:
    compare = _OPERATORS[op]

    def evaluate(source: Mapping[str, Any], context: EvaluationContext) -> bool:
        operands = _comparable(single(_value(left, source, context)), single(_value(right, source, context)))
        return bool(compare(*operands))

    return _Node(evaluate, left.attributes | right.attributes)


def _compile_call(name: str, args: tuple[_Node, ...]) -> _Node:
    implementation = FUNCTIONS[name].implementation

    def evaluate(source: Mapping[str, Any], context: EvaluationContext) -> Any:
        try:
            return implementation(Arguments(args, source, context))
        except (ExpressionError, IgnoreFlow):
            raise
        except (ValueError, ArithmeticError, re.error) as exc:
            raise ExpressionEvaluationError(f"{name}: {exc}") from exc

    return _Node(evaluate, frozenset().union(*(arg.attributes for arg in args)))


def _constant(value: Any) -> _Node:
    return _Node(lambda source, context: value)


def _compile(expr: Expr) -> _Node:
    match expr:
        case Attribute(name=name):
            return _Node(lambda source, context: lookup(source, name), frozenset({name}))
        case StringLiteral(value=value) | NumberLiteral(value=value):
            return _constant(value)
        case Keyword(name=name):
            return _constant(name)
        case Omitted():
            return _Node(lambda source, context: None, omitted=True)
        case Comparison(operator=op, left=left, right=right):
            return _compile_comparison(op, _compile(left), _compile(right))
        case FunctionCall(name=name, args=args):
            return _compile_call(name, tuple(_compile(arg) for arg in args))


def _walk(expr: Expr) -> Iterator[Expr]:
    yield expr
    if isinstance(expr, Comparison):
        yield from _walk(expr.left)
        yield from _walk(expr.right)
    elif isinstance(expr, FunctionCall):
        for arg in expr.args:
            yield from _walk(arg)


_DEFAULT_CONTEXT = EvaluationContext()


@dataclass(frozen=True)
class CompiledExpression:
    """An expression ready to evaluate against many source objects.

    `attributes` are the source attributes it reads; `functions` the functions it calls (the
    engine checks for Redact, AssertiveAppRoleAssignmentsComplex and IsSoftDeleted-style usage).
    """

    expr: Expr
    text: str
    attributes: frozenset[str]
    functions: frozenset[str]
    _root: _Node = field(repr=False, compare=False)
    # The attribute name when the whole expression is one `[attribute]` (most mappings): lets
    # `flows.values` read it straight from the source object.
    plain_attribute: str | None = field(default=None, repr=False, compare=False)

    def evaluate(self, source: Mapping[str, Any], context: EvaluationContext | None = None) -> Any:
        """The value for one source object: text, bool, int, list, None (nothing flows) or
        IGNORE_FLOW; raises ExpressionEvaluationError when the object's data does not fit."""
        try:
            value = self._root.evaluate(source, context or _DEFAULT_CONTEXT)
        except IgnoreFlow:
            return IGNORE_FLOW
        return value if value is IGNORE_FLOW else output(value)


def compile(expr: Expr) -> CompiledExpression:
    """Validate and compile an AST once; evaluate the result per object."""
    validate(expr)
    root = _compile(expr)
    return CompiledExpression(
        expr=expr,
        text=to_text(expr),
        attributes=root.attributes,
        functions=frozenset(node.name for node in _walk(expr) if isinstance(node, FunctionCall)),
        _root=root,
        plain_attribute=expr.name if isinstance(expr, Attribute) else None,
    )
