"""Graph flags enums (CSDL `IsFlags="true"`) on the wire.

Graph sends a flags value as one JSON string of member names joined by commas. The docs write
`"Watermark, Escrows, QuarantineState"`, real responses also contain `"Add,Update,Delete"`, and
the case of member names is not documented (reference §4). So parsing is lenient: names in any
case, with or without spaces, composites such as `Full`, `None`, a JSON list of names (what some
kiota versions send) or an int. Formatting is canonical .NET `Enum.ToString()`: ascending value
order, `", "` between names, an exact composite collapsed into its name, `None` for 0.

The name helpers here are shared with `enums` for the plain enums' case-insensitive lookup.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, TypeVar, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

E = TypeVar("E", bound=enum.Enum)
F = TypeVar("F", bound=enum.IntFlag)


class FlagsParseError(ValueError):
    """A flags value that names no member of its enum, or is not a flags value at all."""


def wire_name(cls: type[enum.Enum]) -> str:
    """The CSDL name of an enum type, for error messages: `synchronizationJobRestartScope`."""
    return cls.__name__[:1].lower() + cls.__name__[1:]


@cache
def _members_by_folded_name(cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    return {name.casefold(): member for name, member in cls.__members__.items()}


def find_member(cls: type[E], name: str) -> E | None:
    """The member called `name` in any letter case (surrounding spaces ignored), or None."""
    return cast("E | None", _members_by_folded_name(cls).get(name.strip().casefold()))


def _all_bits(cls: type[enum.IntFlag]) -> int:
    bits = 0
    for member in cls.__members__.values():
        bits |= member.value
    return bits


def parse_flags(cls: type[F], value: object) -> F:
    """Read a flags value from any wire form; unknown names or bits raise `FlagsParseError`.

    The empty string (and an empty list) give the 0 value: whether "empty" means None or a
    default is the caller's decision (restart treats it as "Watermark, Escrows, QuarantineState").
    """
    if isinstance(value, cls):
        return value
    if isinstance(value, bool):
        raise FlagsParseError(f"{value!r} is not a valid {wire_name(cls)} value")
    if isinstance(value, int):
        if value < 0 or value & ~_all_bits(cls):
            raise FlagsParseError(f"{value} is not a valid {wire_name(cls)} value")
        return cls(value)
    if isinstance(value, str):
        names: Sequence[object] = value.split(",") if value.strip() else []
    elif isinstance(value, list | tuple):
        names = value
    else:
        raise FlagsParseError(f"{type(value).__name__} is not a valid {wire_name(cls)} value")
    result = cls(0)
    for name in names:
        if not isinstance(name, str):
            raise FlagsParseError(f"{name!r} is not a member of {wire_name(cls)}")
        member = find_member(cls, name)
        if member is None:
            raise FlagsParseError(f"{name.strip()!r} is not a member of {wire_name(cls)}")
        result |= member
    return result


def parse_flags_property(cls: type[F], value: object) -> F:
    """A flags property's value: as `parse_flags`, except that an empty string or list is
    refused. A client that cannot read flag strings writes "" back after a get-edit-put; taken
    as 0 it would switch a mapping's flowTypes off without a word. No flags is "None"."""
    if (isinstance(value, str) and not value.strip()) or (isinstance(value, list | tuple) and not value):
        raise FlagsParseError(f"an empty value is not a {wire_name(cls)}; write 'None' for no flags")
    return parse_flags(cls, value)


def format_flags(value: enum.IntFlag) -> str:
    """The canonical wire string, as .NET writes it: `15 | 32` -> `"Full, ForceDeletes"`.

    Like .NET, members are taken greedily from the highest value down (so an exact composite
    wins over its parts) and then written in ascending value order. 0 is `"None"`, the zero
    member every Graph flags enum declares.
    """
    cls = type(value)
    remaining = int(value)
    if remaining == 0:
        return "None"
    named: dict[int, str] = {}
    for name, member in cls.__members__.items():
        if member.value:
            named.setdefault(member.value, name)
    chosen: list[int] = []
    for bits in sorted(named, reverse=True):
        if remaining & bits == bits:
            chosen.append(bits)
            remaining -= bits
    if remaining:
        raise ValueError(f"{int(value)} has bits that are not members of {wire_name(cls)}")
    return ", ".join(named[bits] for bits in sorted(chosen))


@dataclass(frozen=True)
class FlagsType:
    """Pydantic metadata for a flags field: `Annotated[Scope, FlagsType(Scope)]`.

    Validates every form `parse_flags` takes but the empty one (`parse_flags_property`); JSON
    output is the canonical string, Python output (`model_dump()`) keeps the IntFlag.
    """

    enum_cls: type[enum.IntFlag]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            partial(parse_flags_property, self.enum_cls),
            serialization=core_schema.plain_serializer_function_ser_schema(format_flags, when_used="json"),
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        names = ", ".join(self.enum_cls.__members__)
        return {
            "type": "string",
            "title": wire_name(self.enum_cls),
            "description": f"Comma-separated combination of: {names}.",
        }
