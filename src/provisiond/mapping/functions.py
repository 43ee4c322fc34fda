"""The functions of the expression language: one registry of signatures and implementations.

Its length is Entra's function library: about 40 functions, one registration each.

Each function is registered with its Graph signature (served by `schema/functions` and used to
check argument counts and name parameters in Graph's tree form) and an implementation that
receives its arguments lazily, so IIF, Switch, Coalesce and SelectUniqueValue evaluate only the
branches they need.

Semantics follow the reference's function table and Microsoft's function documentation; every
documented example is pinned by a test. Choices where the documentation is silent:

* Null in, null out: a function whose main input is null returns null (the attribute does not
  flow), except where the documentation says otherwise (Left and Word give "", Count gives 0,
  the Is* predicates answer, Not(null) is True because Not is true for anything but True).
* Optional arguments: an omitted argument is null. `Replace` tells its modes apart by which
  arguments carry a non-empty value, except `replacementValue`, where an explicit "" counts
  (it is how the documented examples delete text).
* Join skips null and "" values (the documented `Join(", ", "", [surname], [givenName])` gives
  "Doe, John"), and gives null when nothing is left.
* Coalesce skips nulls only; its documented trailing `defaultValue` is simply its last source
  (the two are indistinguishable), so the signature lists one repeating `source`.
* IIF: "if the source attribute used within the IIF function is empty or null, the condition
  check fails". The documentation lists `IIF(IsPresent([country]), [country], "Other")` as
  unsupported, so a failed check is not "false": IIF evaluates to null (nothing flows).
* Switch compares text, so a boolean source matches the keys "True"/"False"; a null source
  matches the key "" (the documented way to test for empty). Entra's "Switch is null when its
  source did not change" quirk is a property of Entra's delta evaluation and is not reproduced:
  here every mapping is evaluated against the whole source object.
* Item's index is 1-based; an index below 1 is an error, one past the end is null.
* Split keeps .NET String.Split semantics: pieces are not trimmed ("a, b" on "," gives "a" and
  " b"; the documentation's sample output shows the space dropped, which .NET would not do).
* DateDiff follows VB.NET's DateDiff: d/h/n/s truncate the elapsed time, m and yyyy count
  calendar boundaries, ww counts Sunday-based weeks (this reproduces every documented row).
* DateFromNum: 0 and 0x7FFFFFFFFFFFFFFF ("never" in accountExpires) are null.
* FormatDateTime accepts dateTimeStyles but needs none: whitespace is always trimmed and values
  with an offset always come out in UTC (see `dotnet`). A date value (CDate, Now ...) is
  formatted directly; its inputFormat is not needed.
* ToLower/ToUpper accept a culture and apply invariant rules.
* SingleAppRoleAssignment and the AppRoleAssignmentsComplex pair read role assignments as dicts
  (`value`, `displayName`, as Entra serializes them) or as plain role names; with several roles
  SingleAppRoleAssignment takes the first. Whether roles are PATCHed with Add
  (AppRoleAssignmentsComplex) or Replace (AssertiveAppRoleAssignmentsComplex) is the engine's
  decision: it reads `CompiledExpression.functions`.
* SelectUniqueValue returns the first non-empty candidate the context's `is_unique` accepts and
  raises ExpressionEvaluationError (Entra escrows the object) when none is unique.
* PCase without separators follows .NET ToTitleCase over a lower-cased string (Entra's documented
  "PABLO GONSALVES (SECOND)" -> "Pablo Gonsalves (Second)"): a word starts at a letter after a
  separator character of the listed Unicode categories; an apostrophe does not end a word.
"""

from __future__ import annotations

import base64
import calendar
import re
import string
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from provisiond.graph.enums import AttributeType
from provisiond.mapping import dotnet
from provisiond.mapping.errors import ExpressionEvaluationError
from provisiond.mapping.values import (
    IGNORE_FLOW,
    EvaluationContext,
    as_bool,
    as_datetime,
    as_int,
    as_string,
    is_null,
    is_null_or_empty,
    lookup,
    single,
    values_of,
)

STRING, INTEGER, BOOLEAN, DATETIME = (
    AttributeType.String,
    AttributeType.Integer,
    AttributeType.Boolean,
    AttributeType.DateTime,
)


# --- signatures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter as Graph's attributeMappingParameterSchema describes it."""

    name: str
    type: AttributeType = STRING
    required: bool = True
    multiple: bool = False

    def as_graph(self) -> dict[str, Any]:
        return {
            "allowMultipleOccurrences": self.multiple,
            "name": self.name,
            "required": self.required,
            "type": self.type.value,
        }


@dataclass(frozen=True)
class FunctionSignature:
    """A function's parameters: fixed ones first, then an optional repeating group.

    The repeating group is the run of `multiple` parameters (Join's `source`, Switch's `key`,
    `value`); it must appear `min_repeats` times or more, always complete.
    """

    name: str
    parameters: tuple[Parameter, ...]
    min_repeats: int = 1
    top_level_only: bool = False

    @property
    def fixed(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if not p.multiple)

    @property
    def repeating(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.multiple)

    def parameter(self, index: int) -> Parameter:
        """The parameter the argument at `index` binds to (for a valid argument count)."""
        fixed, repeating = self.fixed, self.repeating
        if index < len(fixed):
            return fixed[index]
        return repeating[(index - len(fixed)) % len(repeating)]

    def _listing(self) -> str:
        names = [p.name for p in self.parameters]
        return ", ".join([*names, "..."] if self.repeating else names)

    def arity_error(self, count: int) -> str | None:
        """Why `count` arguments do not fit this function, or None when they do."""
        fixed, repeating = self.fixed, self.repeating
        if not repeating:
            low = max((i + 1 for i, p in enumerate(fixed) if p.required), default=0)
            if low <= count <= len(fixed):
                return None
            expected = str(low) if low == len(fixed) else f"{low} to {len(fixed)}"
            plural = "" if expected == "1" else "s"
            return f"{self.name} expects {expected} argument{plural} ({self._listing()}), got {count}"
        low = len(fixed) + len(repeating) * self.min_repeats
        if count >= low and (count - len(fixed)) % len(repeating) == 0:
            return None
        together = "/".join(p.name for p in repeating)
        pairing = f", with {together} always together" if len(repeating) > 1 else ""
        return f"{self.name} expects at least {low} arguments ({self._listing()}){pairing}, got {count}"

    def as_graph(self) -> dict[str, Any]:
        """The attributeMappingFunctionSchema JSON of `schema/functions`."""
        return {
            "id": self.name,
            "name": self.name,
            "parameters": [p.as_graph() for p in self.parameters],
        }


# --- arguments --------------------------------------------------------------------------------


class IgnoreFlow(Exception):
    """Raised through enclosing calls when IgnoreFlowIfNullOrEmpty triggers below them."""


class Node(Protocol):
    """A compiled argument: what a function needs to know about it and how to evaluate it."""

    @property
    def omitted(self) -> bool: ...

    @property
    def attributes(self) -> frozenset[str]: ...

    def evaluate(self, source: Mapping[str, Any], context: EvaluationContext) -> Any: ...


class Arguments:
    """The arguments of one call, evaluated only when a function reads them."""

    __slots__ = ("_nodes", "context", "source")

    def __init__(self, nodes: Sequence[Node], source: Mapping[str, Any], context: EvaluationContext) -> None:
        self._nodes = nodes
        self.source = source
        self.context = context

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, index: int) -> Any:
        """The value of argument `index`; null when it is absent."""
        if index >= len(self._nodes):
            return None
        value = self._nodes[index].evaluate(self.source, self.context)
        if value is IGNORE_FLOW:
            raise IgnoreFlow
        return value

    def string(self, index: int) -> str | None:
        return as_string(self[index])

    def integer(self, index: int) -> int | None:
        return as_int(self[index])

    def omitted(self, index: int) -> bool:
        """Whether the argument was left empty (`Replace([x], , ...)`) or not given at all."""
        return index >= len(self._nodes) or self._nodes[index].omitted

    def attributes(self, index: int) -> frozenset[str]:
        """The source attributes argument `index` reads (IIF's null-condition rule needs them)."""
        return self._nodes[index].attributes if index < len(self._nodes) else frozenset()


Implementation = Callable[[Arguments], Any]


@dataclass(frozen=True)
class FunctionDefinition:
    signature: FunctionSignature
    implementation: Implementation


FUNCTIONS: dict[str, FunctionDefinition] = {}


def _function(
    name: str, *parameters: Parameter, min_repeats: int = 1, top_level_only: bool = False
) -> Callable[[Implementation], Implementation]:
    """Register an implementation under `name` with its signature."""

    def register(implementation: Implementation) -> Implementation:
        signature = FunctionSignature(name, parameters, min_repeats, top_level_only)
        FUNCTIONS[name] = FunctionDefinition(signature, implementation)
        return implementation

    return register


def _optional(name: str, type: AttributeType = STRING) -> Parameter:
    return Parameter(name, type, required=False)


def _repeating(name: str) -> Parameter:
    return Parameter(name, multiple=True)


# --- text -------------------------------------------------------------------------------------


@_function("Append", Parameter("source"), Parameter("suffix"))
def _append(args: Arguments) -> str | None:
    source = args.string(0)
    return None if source is None else source + (args.string(1) or "")


@_function("Join", Parameter("separator"), _repeating("source"))
def _join(args: Arguments) -> str | None:
    separator = args.string(0) or ""
    texts = [as_string(value) for index in range(1, len(args)) for value in values_of(args[index])]
    kept = [text for text in texts if text]
    return separator.join(kept) if kept else None


@_function("Left", Parameter("string"), Parameter("numChars", INTEGER))
def _left(args: Arguments) -> str:
    text, count = args.string(0), args.integer(1)
    if text is None:
        return ""
    return text if count is None or count < 0 else text[:count]


@_function("Mid", Parameter("source"), Parameter("start", INTEGER), Parameter("length", INTEGER))
def _mid(args: Arguments) -> str | None:
    source, start, length = args.string(0), args.integer(1), args.integer(2)
    if source is None or start is None or length is None:
        return None
    if start < 1 or length < 0:
        raise ValueError(f"start must be 1 or more and length 0 or more (got {start}, {length})")
    return source[start - 1 : start - 1 + length]


@_function(
    "InStr",
    Parameter("value1"),
    Parameter("value2"),
    _optional("start", INTEGER),
    _optional("compareType"),
)
def _in_str(args: Arguments) -> int | None:
    haystack, needle, start = args.string(0), args.string(1), args.integer(2)
    if haystack is None or needle is None:
        return None
    start = 1 if start is None else start
    if start < 1:
        raise ValueError(f"start must be 1 or more (got {start})")
    if _is_text_compare(args.string(3)):
        haystack, needle = haystack.lower(), needle.lower()
    return haystack.find(needle, start - 1) + 1


def _is_text_compare(compare_type: str | None) -> bool:
    """VB's compare modes: vbBinaryCompare (0, the default) or vbTextCompare (1)."""
    if compare_type in (None, "", "vbBinaryCompare", "0"):
        return False
    if compare_type in ("vbTextCompare", "1"):
        return True
    raise ValueError(f"compareType must be vbBinaryCompare or vbTextCompare, not '{compare_type}'")


@_function("Word", Parameter("string"), Parameter("wordNumber", INTEGER), Parameter("delimiters"))
def _word(args: Arguments) -> str:
    text, number, delimiters = args.string(0), args.integer(1), args.string(2) or ""
    if not text or number is None or number < 1:
        return ""
    words = [w for w in re.split(f"[{re.escape(delimiters)}]", text) if w] if delimiters else [text]
    return words[number - 1] if number <= len(words) else ""


@_function("StripSpaces", Parameter("source"))
def _strip_spaces(args: Arguments) -> str | None:
    source = args.string(0)
    return None if source is None else source.replace(" ", "")


@_function("ToLower", Parameter("source"), _optional("culture"))
def _to_lower(args: Arguments) -> str | None:
    source = args.string(0)
    return None if source is None else source.lower()


@_function("ToUpper", Parameter("source"), _optional("culture"))
def _to_upper(args: Arguments) -> str | None:
    source = args.string(0)
    return None if source is None else source.upper()


_TITLE_CASE_SEPARATORS = frozenset(
    {"Zs", "Zl", "Zp", "Cc", "Cf", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}
)


def _is_title_case_separator(char: str) -> bool:
    """ToTitleCase's word separators; the apostrophe is punctuation but stays inside a word."""
    return char != "'" and unicodedata.category(char) in _TITLE_CASE_SEPARATORS


def _title_case(text: str) -> str:
    """.NET ToTitleCase over lower-cased text: the first letter of each word goes upper case."""
    out: list[str] = []
    in_word = False
    for char in text.lower():
        if not in_word and char.isalpha():
            out.append(char.upper())
            in_word = True
            continue
        if _is_title_case_separator(char):
            in_word = False
        out.append(char)
    return "".join(out)


def _proper_case(text: str, separators: str) -> str:
    """Upper-case the first character after each of `separators`, lower-case everything else."""
    out: list[str] = []
    at_start = True
    for char in text:
        out.append(char.upper() if at_start else char.lower())
        at_start = char in separators
    return "".join(out)


@_function("PCase", Parameter("source"), _optional("wordSeparators"))
def _pcase(args: Arguments) -> str | None:
    source, separators = args.string(0), args.string(1)
    if source is None:
        return None
    return _proper_case(source, separators) if separators else _title_case(source)


# The documented table's letters that are not a base letter plus combining marks (U+0131 is
# the dotless i).
_DIACRITIC_LIGATURES = str.maketrans(
    {
        "æ": "ae",
        "Æ": "AE",
        "ø": "oe",
        "Ø": "OE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "\u0131": "i",
    }
)


@_function("NormalizeDiacritics", Parameter("source"))
def _normalize_diacritics(args: Arguments) -> str | None:
    """Strip combining marks (which covers every accented letter of the documented table), then
    spell out the table's ligatures and stroked letters."""
    source = args.string(0)
    if source is None:
        return None
    decomposed = unicodedata.normalize("NFD", source)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", bare).translate(_DIACRITIC_LIGATURES)


@_function(
    "Replace",
    Parameter("source"),
    _optional("oldValue"),
    _optional("regexPattern"),
    _optional("regexGroupName"),
    _optional("replacementValue"),
    _optional("replacementAttributeName"),
    _optional("template"),
)
def _replace(args: Arguments) -> str | None:
    """The five documented modes, chosen by which arguments are given."""
    source, old_value, pattern = args.string(0), args.string(1), args.string(2)
    if pattern:
        return _replace_regex(args, source, dotnet.regex(pattern), args.string(3))
    if not old_value or source is None:
        return source
    template = args.string(6)
    if template:
        return template.replace(old_value, source)
    return source.replace(old_value, args.string(4) or "")


def _replace_regex(
    args: Arguments, source: str | None, pattern: re.Pattern[str], group: str | None
) -> str | None:
    if group and group not in pattern.groupindex:
        raise ValueError(f"the pattern has no group named '{group}'")
    fallback = None if args.omitted(5) else args.string(5)
    if group and not args.omitted(5) and fallback != "":
        return source or _extract_group(pattern, group, fallback)
    if source is None:
        return None
    replacement = args.string(4) or ""
    if group:
        return _replace_group(pattern, group, replacement, source)
    return pattern.sub(lambda match: dotnet.expand_replacement(replacement, match), source)


def _extract_group(pattern: re.Pattern[str], group: str, text: str | None) -> str | None:
    """Replace's fallback mode: the group's text in the replacement attribute, if it matches."""
    match = pattern.search(text or "")
    return match.group(group) if match else None


def _replace_group(pattern: re.Pattern[str], group: str, replacement: str, source: str) -> str:
    """Replace only the text captured by `group` in each match."""
    out: list[str] = []
    last = 0
    for match in pattern.finditer(source):
        start, end = match.span(group)
        if start < 0:
            continue
        out += [source[last:start], dotnet.expand_replacement(replacement, match)]
        last = end
    return "".join(out) + source[last:]


@_function("ConvertToBase64", Parameter("source"))
def _convert_to_base64(args: Arguments) -> str | None:
    """Base64 of the UTF-16LE ("Unicode") bytes, as .NET's Encoding.Unicode gives them."""
    source = args.string(0)
    return None if source is None else base64.b64encode(source.encode("utf-16-le")).decode("ascii")


@_function("ConvertToUTF8Hex", Parameter("source"))
def _convert_to_utf8_hex(args: Arguments) -> str | None:
    source = args.string(0)
    return None if source is None else source.encode("utf-8").hex().upper()


@_function("Redact", Parameter("value"))
def _redact(args: Arguments) -> Any:
    """The value flows unchanged; logs show "[Redact]" (the engine reads `functions`)."""
    return args[0]


# --- multi-valued -----------------------------------------------------------------------------


@_function("Split", Parameter("source"), Parameter("delimiter"))
def _split(args: Arguments) -> list[str] | None:
    source, delimiter = args.string(0), args.string(1)
    if source is None:
        return None
    return source.split(delimiter) if delimiter else [source]


@_function("Item", Parameter("attribute"), Parameter("index", INTEGER))
def _item(args: Arguments) -> Any:
    values, index = values_of(args[0]), args.integer(1)
    if index is None:
        return None
    if index < 1:
        raise ValueError(f"the index is 1-based; {index} is not a valid index")
    return values[index - 1] if index <= len(values) else None


@_function("Count", Parameter("attribute"))
def _count(args: Arguments) -> int:
    return len(values_of(args[0]))


@_function("RemoveDuplicates", Parameter("attribute"))
def _remove_duplicates(args: Arguments) -> list[Any] | None:
    value = args[0]
    if is_null(value):
        return None
    unique: list[Any] = []
    for item in values_of(value):
        if item not in unique:  # values may be dicts, which cannot go in a set
            unique.append(item)
    return unique


# --- app roles --------------------------------------------------------------------------------


def _roles(value: Any) -> list[tuple[str, str]]:
    """(value, display name) of each role assignment: dicts as Entra serializes them, or names."""
    roles: list[tuple[str, str]] = []
    for assignment in values_of(value):
        if isinstance(assignment, Mapping):
            role = assignment.get("value") or assignment.get("displayName")
            display = assignment.get("displayName") or role
        else:
            role = display = as_string(assignment)
        if role:
            roles.append((str(role), str(display)))
    return roles


@_function("SingleAppRoleAssignment", Parameter("source"))
def _single_app_role_assignment(args: Arguments) -> str | None:
    roles = _roles(args[0])
    return roles[0][0] if roles else None


def _complex_roles(args: Arguments) -> list[dict[str, Any]] | None:
    """SCIM `roles` values as Entra provisions them: every role with primary=false."""
    roles = [
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": display, "value": role}
        for role, display in _roles(args[0])
    ]
    return roles or None


_function("AppRoleAssignmentsComplex", Parameter("source"))(_complex_roles)
_function("AssertiveAppRoleAssignmentsComplex", Parameter("source"))(_complex_roles)


# --- conversion and tests ---------------------------------------------------------------------


@_function("CBool", Parameter("expression"))
def _cbool(args: Arguments) -> bool:
    return as_bool(args[0])


@_function("CStr", Parameter("value"))
def _cstr(args: Arguments) -> str | None:
    return args.string(0)


@_function("BitAnd", Parameter("value1", INTEGER), Parameter("value2", INTEGER))
def _bit_and(args: Arguments) -> int | None:
    first, second = args.integer(0), args.integer(1)
    return None if first is None or second is None else first & second


@_function("Not", Parameter("source", BOOLEAN))
def _not(args: Arguments) -> bool:
    """True for anything but a true value ("True" in any case, or the boolean)."""
    value = single(args[0])
    return not (value is True or (isinstance(value, str) and value.strip().lower() == "true"))


@_function("IsNull", Parameter("expression"))
def _is_null(args: Arguments) -> bool:
    return is_null(args[0])


@_function("IsNullOrEmpty", Parameter("expression"))
def _is_null_or_empty(args: Arguments) -> bool:
    return is_null_or_empty(args[0])


@_function("IsPresent", Parameter("expression"))
def _is_present(args: Arguments) -> bool:
    return not is_null_or_empty(args[0])


@_function("IsString", Parameter("expression"))
def _is_string(args: Arguments) -> bool:
    return isinstance(single(args[0]), str)


@_function("IgnoreFlowIfNullOrEmpty", Parameter("expression"))
def _ignore_flow_if_null_or_empty(args: Arguments) -> Any:
    value = args[0]
    return IGNORE_FLOW if is_null_or_empty(value) else value


# --- control flow -----------------------------------------------------------------------------


@_function("IIF", Parameter("condition", BOOLEAN), Parameter("valueIfTrue"), Parameter("valueIfFalse"))
def _iif(args: Arguments) -> Any:
    if any(is_null_or_empty(lookup(args.source, name)) for name in args.attributes(0)):
        return None
    return args[1] if as_bool(args[0]) else args[2]


@_function(
    "Switch",
    Parameter("source"),
    _optional("defaultValue"),
    _repeating("key"),
    _repeating("value"),
)
def _switch(args: Arguments) -> Any:
    source = args.string(0) or ""
    for index in range(2, len(args), 2):
        if args.string(index) == source:
            return args[index + 1]
    return args[1]


@_function("Coalesce", _repeating("source"))
def _coalesce(args: Arguments) -> Any:
    for index in range(len(args)):
        value = args[index]
        if not is_null(value):
            return value
    return None


@_function("SelectUniqueValue", _repeating("uniqueValueRule"), min_repeats=2, top_level_only=True)
def _select_unique_value(args: Arguments) -> str:
    candidates: list[str] = []
    for index in range(len(args)):
        candidate = args.string(index)
        if candidate and args.context.is_unique(candidate):
            return candidate
        candidates += [candidate] if candidate else []
    raise ExpressionEvaluationError(
        f"SelectUniqueValue: no candidate is unique in the target (tried {', '.join(candidates) or 'none'})"
    )


# --- dates ------------------------------------------------------------------------------------

_FIXED_INTERVALS = {
    "d": timedelta(days=1),
    "ww": timedelta(weeks=1),
    "h": timedelta(hours=1),
    "n": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_MONTH_INTERVALS = {"m": 1, "yyyy": 12}
_NEVER_EXPIRES = 0x7FFFFFFFFFFFFFFF


def _interval(text: str | None) -> str:
    interval = (text or "").strip().lower()
    if interval not in _FIXED_INTERVALS and interval not in _MONTH_INTERVALS:
        raise ValueError(f"interval must be one of yyyy, m, d, ww, h, n, s (got '{text}')")
    return interval


def _add_months(value: datetime, months: int) -> datetime:
    """Calendar month arithmetic; the day is clipped to the target month's length (.NET AddMonths)."""
    year, month = divmod(value.month - 1 + months, 12)
    year += value.year
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _week_start(value: datetime) -> datetime:
    """The Sunday that starts `value`'s week (VB's default first day of the week)."""
    return value - timedelta(days=(value.weekday() + 1) % 7)


def _truncated(elapsed: timedelta, unit: timedelta) -> int:
    """Whole units, truncated toward zero like VB's Fix."""
    return int(elapsed / unit)


@_function("DateAdd", Parameter("interval"), Parameter("value", INTEGER), Parameter("dateTime", DATETIME))
def _date_add(args: Arguments) -> datetime | None:
    interval, amount, when = _interval(args.string(0)), args.integer(1), as_datetime(args[2])
    if amount is None or when is None:
        return None
    if interval in _MONTH_INTERVALS:
        return _add_months(when, amount * _MONTH_INTERVALS[interval])
    return when + amount * _FIXED_INTERVALS[interval]


@_function("DateDiff", Parameter("interval"), Parameter("date1", DATETIME), Parameter("date2", DATETIME))
def _date_diff(args: Arguments) -> int | None:
    interval, first, second = _interval(args.string(0)), as_datetime(args[1]), as_datetime(args[2])
    if first is None or second is None:
        return None
    if interval == "yyyy":
        return second.year - first.year
    if interval == "m":
        return (second.year - first.year) * 12 + second.month - first.month
    if interval == "ww":
        days = _truncated(_week_start(second) - _week_start(first), timedelta(days=1))
        return int(days / 7)
    return _truncated(second - first, _FIXED_INTERVALS[interval])


@_function("CDate", Parameter("expression"))
def _cdate(args: Arguments) -> datetime | None:
    return as_datetime(args[0])


@_function("Now")
def _now(args: Arguments) -> datetime:
    return args.context.now().astimezone(UTC)


@_function("DateFromNum", Parameter("value", INTEGER))
def _date_from_num(args: Arguments) -> datetime | None:
    ticks = args.integer(0)
    if ticks is None or ticks <= 0 or ticks >= _NEVER_EXPIRES:
        return None
    return dotnet.from_filetime(ticks)


@_function("NumFromDate", Parameter("value"))
def _num_from_date(args: Arguments) -> int | None:
    when = as_datetime(args[0])
    return None if when is None else dotnet.to_filetime(when)


@_function(
    "FormatDateTime",
    Parameter("source"),
    _optional("dateTimeStyles"),
    Parameter("inputFormat"),
    Parameter("outputFormat"),
)
def _format_date_time(args: Arguments) -> str | None:
    value, output_format = single(args[0]), args.string(3)
    if is_null_or_empty(value):
        return None
    if not output_format:
        raise ValueError("outputFormat is empty")
    when = (
        value
        if isinstance(value, datetime)
        else dotnet.parse_exact(str(as_string(value)), args.string(2) or "")
    )
    return dotnet.format_datetime(when, output_format)


# --- generated values -------------------------------------------------------------------------


@_function("Guid")
def _guid(args: Arguments) -> str:
    return str(uuid.UUID(int=args.context.random.getrandbits(128), version=4))


@_function("DefaultDomain")
def _default_domain(args: Arguments) -> str | None:
    return args.context.default_domain


_SPECIAL_CHARACTERS = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
_RANDOM_STRING_MAX = 256


@_function(
    "RandomString",
    Parameter("length", INTEGER),
    Parameter("minimumNumbers", INTEGER),
    Parameter("minimumSpecialCharacters", INTEGER),
    Parameter("minimumCapital", INTEGER),
    Parameter("minimumLowerCase", INTEGER),
    _optional("charactersToAvoid"),
)
def _random_string(args: Arguments) -> str:
    """At least the requested numbers of each class, the rest from all classes, shuffled;
    the password-complexity special characters; never a character from charactersToAvoid."""
    counts = [args.integer(index) for index in range(5)]
    if any(count is None or count < 0 for count in counts):
        raise ValueError("length and the minimum counts must be integers of 0 or more")
    length, *minimums = (int(count or 0) for count in counts)
    if length > _RANDOM_STRING_MAX or sum(minimums) > length:
        raise ValueError(f"length must be at most {_RANDOM_STRING_MAX} and at least the sum of the minimums")
    avoid = set(args.string(5) or "")
    classes = [string.digits, _SPECIAL_CHARACTERS, string.ascii_uppercase, string.ascii_lowercase]
    pools = ["".join(c for c in chars if c not in avoid) for chars in classes]
    everything = "".join(pools)
    if (length and not everything) or any(m and not pool for m, pool in zip(minimums, pools, strict=True)):
        raise ValueError("charactersToAvoid leaves no character to choose from")
    rng = args.context.random
    chosen = [rng.choice(pool) for minimum, pool in zip(minimums, pools, strict=True) for _ in range(minimum)]
    chosen += [rng.choice(everything) for _ in range(length - len(chosen))]
    rng.shuffle(chosen)
    return "".join(chosen)


FUNCTION_SIGNATURES: Mapping[str, FunctionSignature] = MappingProxyType(
    {name: FUNCTIONS[name].signature for name in sorted(FUNCTIONS)}
)
"""Every function's signature by name, in name order: what `schema/functions` serves."""
