""".NET behaviours the expression language inherits: date formats, FILETIME, regex dialect.

Entra's engine is written in .NET, so its date functions speak .NET custom date and time format
strings, `DateFromNum`/`NumFromDate` speak Active Directory FILETIME, and `Replace` and the
scoping operators speak .NET regular expressions. This module re-implements just those pieces.

Choices where .NET's behaviour depends on the machine or is out of reach:

* Culture is the invariant culture (English month and day names, `AM`/`PM`, `/` and `:`).
* Every datetime is timezone-aware UTC. A parsed offset (`zzz`, `K`, `Z`, `+08:00`) converts the
  value to UTC, which is what .NET does on Entra's servers (their local zone is UTC); a value
  without an offset is taken as UTC.
* A format that gives no date parts parses to 0001-01-01 (.NET would use "today", which a pure
  function cannot know).
* A single-character format string is a .NET standard format (`o`, `s`, `u`, `d`, `G` ...),
  expanded to its invariant-culture custom pattern.
* Regular expressions are Python's `re` after translating the .NET-only named-group syntax
  (`(?<name>...)`, `(?'name'...)`, `\\k<name>`) and the `$` substitutions of replacement strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

ENTRA_DATE_FORMAT = "M/d/yyyy h:mm:ss tt"
"""How Entra renders a DateTime as a string (CDate, DateAdd, Now ...)."""

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_TICKS_PER_MICROSECOND = 10

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_STANDARD_FORMATS = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}

# A run of one specifier letter, a quoted literal, an escaped character, or any other character.
_TOKEN = re.compile(r"""y+|M+|d+|h+|H+|m+|s+|f+|F+|t+|z+|K|g+|'[^']*'?|"[^"]*"?|\\.?|%|.""", re.DOTALL)


# --- format strings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """One piece of a format string: a specifier (`kind` letter and run length) or a literal."""

    kind: str
    count: int = 0
    literal: str = ""


@lru_cache(maxsize=256)
def _tokens(fmt: str) -> tuple[_Token, ...]:
    fmt = _STANDARD_FORMATS.get(fmt, fmt) if len(fmt) == 1 else fmt
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(fmt):
        text = match.group()
        if text[0] in "'\"":
            tokens.append(_Token("literal", literal=text[1:].removesuffix(text[0])))
        elif text[0] == "\\":
            tokens.append(_Token("literal", literal=text[1:]))
        elif text == "%":
            continue  # "%d" makes a lone specifier a custom format; the specifier follows
        elif text[0] in "yMdhHmsfFtzKg":
            tokens.append(_Token(text[0], len(text)))
        else:
            tokens.append(_Token("literal", literal=text))
    return tuple(tokens)


def _offset_text(value: datetime, count: int) -> str:
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, minutes = divmod(minutes, 60)
    if count == 1:
        return f"{sign}{hours}"
    if count == 2:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def _fraction(value: datetime, count: int, trim: bool) -> str:
    digits = f"{value.microsecond:06d}0"[: min(count, 7)]
    return digits.rstrip("0") if trim else digits


def _number(value: int, count: int) -> str:
    """`h` is the bare number, `hh` (and longer runs) zero-pads it to two digits."""
    return f"{value}" if count == 1 else f"{value:02d}"


def _year(value: int, count: int) -> str:
    return _number(value % 100, count) if count <= 2 else f"{value:0{count}d}"


def _name(names: tuple[str, ...], index: int, count: int) -> str:
    return names[index] if count >= 4 else names[index][:3]


def _format_token(value: datetime, token: _Token) -> str:
    n = token.count
    match token.kind:
        case "literal":
            return token.literal
        case "y":
            return _year(value.year, n)
        case "M":
            return _number(value.month, n) if n <= 2 else _name(MONTHS, value.month - 1, n)
        case "d":
            return _number(value.day, n) if n <= 2 else _name(DAYS, value.weekday(), n)
        case "h":
            return _number(value.hour % 12 or 12, n)
        case "H":
            return _number(value.hour, n)
        case "m":
            return _number(value.minute, n)
        case "s":
            return _number(value.second, n)
        case "f" | "F":
            return _fraction(value, n, trim=token.kind == "F")
        case "t":
            designator = "AM" if value.hour < 12 else "PM"
            return designator[:n]
        case "z":
            return _offset_text(value, n)
        case "K":
            return "Z" if value.utcoffset() == timedelta(0) else _offset_text(value, 3)
        case _:  # "g": the era
            return "A.D."


def format_datetime(value: datetime, fmt: str) -> str:
    """`DateTime.ToString(fmt, CultureInfo.InvariantCulture)`."""
    out: list[str] = []
    for token in _tokens(fmt):
        text = _format_token(value, token)
        if token.kind == "F" and not text and out and out[-1].endswith("."):
            out[-1] = out[-1][:-1]  # .NET drops the separator of an all-zero "F" fraction
        out.append(text)
    return "".join(out)


def format_entra(value: datetime) -> str:
    """The `M/d/yyyy h:mm:ss tt` string every Entra date function returns."""
    return format_datetime(value, ENTRA_DATE_FORMAT)


# --- parsing with a format (DateTime.ParseExact) ----------------------------------------------


@dataclass
class _Fields:
    """Date parts collected while matching a format, assembled by `to_datetime`."""

    year: int = 1
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0
    pm: bool | None = None
    offset: timedelta | None = None
    twelve_hour: bool = False

    def to_datetime(self) -> datetime:
        hour = self.hour
        if self.twelve_hour:
            hour = hour % 12 + (12 if self.pm else 0)
        elif self.pm and hour < 12:
            hour += 12
        naive = datetime(self.year, self.month, self.day, hour, self.minute, self.second, self.microsecond)
        zone = timezone(self.offset) if self.offset is not None else UTC
        return naive.replace(tzinfo=zone).astimezone(UTC)


Setter = Callable[[_Fields, str], None]
"""How the text one format token matched updates the fields."""


def _two_digit_year(text: str) -> int:
    """.NET's TwoDigitYearMax is 2049: 00-49 are 2000s, 50-99 are 1900s."""
    year = int(text)
    return year + (2000 if year < 50 else 1900) if len(text) <= 2 else year


def _parse_offset(text: str) -> timedelta | None:
    """`Z`, `+08`, `+08:00` or `+0800` as an offset; "" (an optional `K`) is no offset."""
    if not text:
        return None
    if text.upper() == "Z":
        return timedelta(0)
    digits = text[1:].replace(":", "")
    hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


_MONTH_NUMBERS = {name.lower(): number for number, full in enumerate(MONTHS, 1) for name in (full, full[:3])}


def _set(attr: str, convert: Callable[[str], object]) -> Setter:
    return lambda fields, text: setattr(fields, attr, convert(text))


def _set_hour12(fields: _Fields, text: str) -> None:
    fields.hour, fields.twelve_hour = int(text), True


def _set_pm(fields: _Fields, text: str) -> None:
    fields.pm = text.upper().startswith("P")


def _ignore(fields: _Fields, text: str) -> None:
    """Day names and eras are checked by the pattern but carry no information."""


def _fraction_micros(text: str) -> int:
    return int((text + "000000")[:6]) if text else 0


def _names_pattern(names: tuple[str, ...], count: int) -> str:
    return "|".join(name[:3] if count == 3 else name for name in names)


def _token_rule(token: _Token) -> tuple[str, Setter]:
    """The regex fragment a token matches and how the matched text updates the fields."""
    n = token.count
    digits = r"\d{1,2}" if n == 1 else r"\d{2}"
    match token.kind:
        case "y":
            return (digits if n <= 2 else rf"\d{{{max(n, 4)}}}"), _set("year", _two_digit_year)
        case "M" if n >= 3:
            return _names_pattern(MONTHS, n), _set("month", lambda text: _MONTH_NUMBERS[text.lower()])
        case "M":
            return digits, _set("month", int)
        case "d" if n >= 3:
            return _names_pattern(DAYS, n), _ignore
        case "d":
            return digits, _set("day", int)
        case "h":
            return digits, _set_hour12
        case "H":
            return digits, _set("hour", int)
        case "m":
            return digits, _set("minute", int)
        case "s":
            return digits, _set("second", int)
        case "f":
            return rf"\d{{{min(n, 7)}}}", _set("microsecond", _fraction_micros)
        case "F":
            return rf"\d{{0,{min(n, 7)}}}", _set("microsecond", _fraction_micros)
        case "t":
            return ("[AP]" if n == 1 else "[AP]M"), _set_pm
        case "z":
            return (r"[+-]\d{1,2}" if n < 3 else r"[+-]\d{2}:\d{2}"), _set("offset", _parse_offset)
        case "K":
            return r"Z|[+-]\d{2}:\d{2}|", _set("offset", _parse_offset)
        case _:  # "g": the era
            return r"A\.?D\.?|", _ignore


@lru_cache(maxsize=256)
def _exact_pattern(fmt: str) -> tuple[re.Pattern[str], tuple[Setter, ...]]:
    parts: list[str] = []
    setters: list[Setter] = []
    for token in _tokens(fmt):
        if token.kind == "literal":
            parts.append(re.escape(token.literal))
            continue
        fragment, setter = _token_rule(token)
        parts.append(f"({fragment})")
        setters.append(setter)
    return re.compile("".join(parts), re.IGNORECASE), tuple(setters)


def parse_exact(text: str, fmt: str) -> datetime:
    """`DateTime.ParseExact(text, fmt, InvariantCulture)` with leading/trailing white allowed."""
    pattern, setters = _exact_pattern(fmt)
    match = pattern.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' does not match the date format '{fmt}'")
    fields = _Fields()
    for setter, group in zip(setters, match.groups(), strict=True):
        setter(fields, group)
    return fields.to_datetime()


# --- parsing any common date string (CDate, DateAdd, NumFromDate ...) --------------------------

_ISO = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,7}))?)?)?"
    r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_US = re.compile(
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})"
    r"(?:\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,7}))?)?"
    r"\s*(?P<designator>[AP]M)?)?"
    r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def parse_datetime(text: str) -> datetime:
    """A date in ISO 8601 (with or without time or offset, `2020-03-16-07:00` included) or Entra's
    own `M/d/yyyy h:mm:ss tt`, as UTC: what CDate accepts in Entra's documented examples."""
    stripped = text.strip()
    match = _ISO.fullmatch(stripped) or _US.fullmatch(stripped)
    if match is None:
        raise ValueError(f"'{text}' is not a recognised date")
    parts = match.groupdict()
    designator = (parts.get("designator") or "").upper()
    fields = _Fields(
        year=int(parts["year"]),
        month=int(parts["month"]),
        day=int(parts["day"]),
        hour=int(parts["hour"] or 0),
        minute=int(parts["minute"] or 0),
        second=int(parts["second"] or 0),
        microsecond=_fraction_micros(parts["fraction"] or ""),
        pm=designator == "PM" if designator else None,
        twelve_hour=bool(designator),
        offset=_parse_offset(parts["offset"] or ""),
    )
    return fields.to_datetime()


# --- FILETIME ---------------------------------------------------------------------------------


def from_filetime(ticks: int) -> datetime:
    """Active Directory's 100-nanosecond ticks since 1601-01-01 UTC, as a datetime."""
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // _TICKS_PER_MICROSECOND)


def to_filetime(value: datetime) -> int:
    """The inverse of `from_filetime` (e.g. for `accountExpires`)."""
    delta = value.astimezone(UTC) - _FILETIME_EPOCH
    return (delta // timedelta(microseconds=1)) * _TICKS_PER_MICROSECOND


# --- regular expressions ----------------------------------------------------------------------

_DOTNET_GROUP = re.compile(r"\\.|\(\?<(?![=!])(\w+)>|\(\?'(\w+)'|\\k<(\w+)>")
_DOTNET_SUBSTITUTION = re.compile(r"\$(?:\{(\w+)\}|(\d+)|(\$))")


def _translate_group(match: re.Match[str]) -> str:
    name, quoted, backreference = match.groups()
    if name or quoted:
        return f"(?P<{name or quoted}>"
    if backreference:
        return f"(?P={backreference})"
    return match.group()


@lru_cache(maxsize=512)
def regex(pattern: str) -> re.Pattern[str]:
    """A .NET pattern compiled for Python `re` (named-group syntax translated)."""
    return re.compile(_DOTNET_GROUP.sub(_translate_group, pattern))


def expand_replacement(template: str, match: re.Match[str]) -> str:
    """A .NET replacement string (`${name}`, `$1`, `$$`) expanded for one match."""

    def substitute(sub: re.Match[str]) -> str:
        name, number, dollar = sub.groups()
        if dollar:
            return "$"
        return match.group(name if name else int(number)) or ""

    return _DOTNET_SUBSTITUTION.sub(substitute, template)
