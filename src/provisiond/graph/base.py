"""The base of the synchronization wire models and the CSDL primitive types they use.

Every model validates a request body (camelCase keys, unknown properties rejected, `@odata.*`
annotations ignored) and dumps a response body with `to_wire()`. Python-mode dumps
(`model_dump()`) keep rich values (enums, datetimes, timedeltas); only JSON mode applies the
wire forms below.

- `DateTimeOffset`: parsed by pydantic (fractions past microseconds, as in .NET's 7-digit
  `2019-03-20T15:47:50.4707552Z`, are truncated; a naive time is taken as UTC), emitted as UTC
  with `Z` and millisecond precision when there is a fraction (`2026-01-02T03:04:05.123Z`).
  `0001-01-01T00:00:00Z`, Graph's "never reached", round-trips.
- `Duration`: a `timedelta`. See `parse_duration` for how .NET `TimeSpan.MaxValue` is kept.
- `Guid`: a string, checked and written in canonical lower-case hyphenated form.
- `Collection[T]`: a list. OData collections are never null, so a JSON `null` reads as `[]`.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

T = TypeVar("T")


@functools.cache
def camel_name(column: str) -> str:
    """The Graph property name of a snake_case column or field (`user_principal_name` →
    `userPrincipalName`)."""
    first, *rest = column.split("_")
    return first + "".join(part.title() for part in rest)


def valid_upn(upn: str) -> bool:
    """A userPrincipalName Graph accepts: `local@domain`, both parts present, no space."""
    local, at, domain = upn.partition("@")
    return bool(at and local and domain) and " " not in upn


def _is_annotation(key: object) -> bool:
    return isinstance(key, str) and "@odata." in key


class GraphModel(BaseModel):
    """A Graph complex or entity type: camelCase on the wire, strict about unknown properties."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_odata_annotations(cls, data: Any) -> Any:
        # Clients echo `@odata.context`, `@odata.type` or `schema@odata.context` from responses;
        # Graph ignores instance annotations on input, so they must not trip `extra="forbid"`.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not _is_annotation(key)}
        return data

    def to_wire(self) -> dict[str, Any]:
        """The JSON body Graph would send: wire names, nulls kept, wire forms of every value."""
        return self.model_dump(mode="json", by_alias=True)


# DateTimeOffset


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None


def format_datetime(value: datetime) -> str:
    """Graph's timestamp form: UTC, `Z`, milliseconds only when there is a fraction."""
    value = _as_utc(value)
    # isoformat, unlike strftime("%Y"), pads year 1 to four digits.
    text = value.replace(tzinfo=None).isoformat(timespec="seconds")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


DateTimeOffset = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(format_datetime, return_type=str, when_used="json")
]


# Duration

TIMESPAN_MAX = timedelta(days=10675199, hours=2, minutes=48, seconds=5, microseconds=477580)
TIMESPAN_MAX_TEXT = "P10675199DT2H48M5.4775807S"

# OData's Edm.Duration is xs:dayTimeDuration: days, hours, minutes and seconds, no years or months.
_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)(?:\.(?P<fraction>\d+))?S)?)?",
    re.IGNORECASE,
)


def _clamp(value: timedelta) -> timedelta:
    return max(-TIMESPAN_MAX, min(TIMESPAN_MAX, value))


def parse_duration(value: object) -> timedelta:
    """Read an ISO 8601 day-time duration (`PT40M`) into a timedelta.

    Choice: clamp rather than keep text. Digits past microseconds are truncated, and values are
    clamped to .NET `TimeSpan.MaxValue`, the largest duration Graph can hold. Graph writes that
    value (`P10675199DT2H48M5.4775807S`) for a disabled schedule; it reads as `TIMESPAN_MAX`,
    which `format_duration` writes back verbatim, so it round-trips while every consumer still
    gets a plain timedelta to compute with.
    """
    if isinstance(value, timedelta):
        return _clamp(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an ISO 8601 duration")
    text = value.strip()
    match = _DURATION.fullmatch(text)
    if match is None or text.upper().endswith(("P", "T")):
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as 'PT40M'")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        parsed = timedelta(
            days=int(match["days"] or 0),
            hours=int(match["hours"] or 0),
            minutes=int(match["minutes"] or 0),
            seconds=int(match["seconds"] or 0),
            microseconds=int(fraction),
        )
    except OverflowError:
        parsed = timedelta.max
    return _clamp(-parsed if match["sign"] else parsed)


def format_duration(value: timedelta) -> str:
    """The ISO 8601 form .NET's XmlConvert writes: `PT40M`, `P1DT2H`, `PT0S`."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    if value >= TIMESPAN_MAX:
        return sign + TIMESPAN_MAX_TEXT
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or value.microseconds:
        fraction = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
        time += f"{seconds}{fraction}S"
    if not value.days and not time:
        return "PT0S"
    return sign + "P" + (f"{value.days}D" if value.days else "") + (f"T{time}" if time else "")


Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "duration", "examples": ["PT40M"]}),
]


# Guid and collections


def _canonical_guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a GUID") from None


Guid = Annotated[str, AfterValidator(_canonical_guid)]


def _null_as_empty(value: Any) -> Any:
    return [] if value is None else value


Collection = Annotated[list[T], BeforeValidator(_null_as_empty)]
