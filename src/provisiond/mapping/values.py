"""The values expressions and scoping filters work on, and the conversions between them.

A source object is a mapping of attribute name to value: `str`, `bool`, `int`, a list (a
multi-valued attribute; lists of dicts for `appRoleAssignments`), or None / absent for null.
Inside an expression a date is a UTC `datetime` until something needs its text, which is then
Entra's `M/d/yyyy h:mm:ss tt`; `output` applies that rule to a final result.

Conversions follow Entra's (VB-flavoured) rules: booleans read and print as "True"/"False"
(case-insensitive on input), integers print in decimal, an empty list is null. Choices where the
reference is silent:

* Attribute names are looked up exactly, then case-insensitively (Graph attribute names are
  case-insensitive, and hand-written expressions are not always cased like the schema).
* A multi-valued value where one value is needed is that value when it has exactly one, null
  when empty, and an error when it has several: silently picking one would flow wrong data.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from provisiond.mapping import dotnet


class _Sentinel(enum.Enum):
    IGNORE_FLOW = "IGNORE_FLOW"


IGNORE_FLOW: Final = _Sentinel.IGNORE_FLOW
"""What an expression returns when IgnoreFlowIfNullOrEmpty drops the attribute from the flow."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _always_unique(candidate: str) -> bool:
    """SelectUniqueValue's default: without a target to ask, every candidate is unique."""
    return True


@dataclass(frozen=True)
class EvaluationContext:
    """Everything an evaluation may need from outside the source object.

    `now` and `random` make Now/Guid/RandomString deterministic under test; `is_unique` lets the
    engine answer SelectUniqueValue's question against the target without this layer doing I/O.
    """

    now: Callable[[], datetime] = _utc_now
    random: random.Random = field(default_factory=random.SystemRandom)
    default_domain: str | None = None
    is_unique: Callable[[str], bool] = _always_unique


def lookup(source: Mapping[str, Any], name: str) -> Any:
    """The value of attribute `name`: exact match first, then case-insensitive; None if absent."""
    if name in source:
        return source[name]
    folded = name.casefold()
    return next((value for key, value in source.items() if key.casefold() == folded), None)


def is_null(value: Any) -> bool:
    """Null in Entra's sense: absent, or a multi-valued attribute without values."""
    return value is None or (isinstance(value, list) and not value)


def is_null_or_empty(value: Any) -> bool:
    return is_null(value) or value == ""


def values_of(value: Any) -> list[Any]:
    """A multi-valued view: a list as is, null as no values, anything else as one value."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def single(value: Any) -> Any:
    """The one value of a possibly multi-valued value (see the module docstring)."""
    if not isinstance(value, list):
        return value
    if len(value) > 1:
        raise ValueError(f"expected a single value but got {len(value)} values")
    return value[0] if value else None


def as_string(value: Any) -> str | None:
    """Text form: "True"/"False", decimal integers, Entra-formatted dates; None stays None."""
    value = single(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return dotnet.format_entra(value)
    raise ValueError(f"a {type(value).__name__} value has no text form")


def as_int(value: Any) -> int | None:
    """An integer from an int or its text (decimal, or VB hex `&HFF`); None stays None."""
    value = single(value)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text[2:], 16) if text[:2].upper() == "&H" else int(text)
        except ValueError:
            pass
    raise ValueError(f"'{as_string(value)}' is not an integer")


def as_bool(value: Any) -> bool:
    """VB's CBool: booleans as is, numbers are true when non-zero, "True"/"False" any case,
    null or "" false."""
    value = single(value)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return as_int(value) != 0


def as_datetime(value: Any) -> datetime | None:
    """A UTC datetime from a datetime or any date text CDate accepts; null or "" is None."""
    value = single(value)
    if value is None or isinstance(value, datetime):
        return value
    text = as_string(value)
    return dotnet.parse_datetime(text) if text else None


def output(value: Any) -> Any:
    """A final expression result as the engine receives it: dates become Entra's date text."""
    if isinstance(value, datetime):
        return dotnet.format_entra(value)
    if isinstance(value, list):
        return [output(item) for item in value]
    return value
