"""Flags enums on the wire (reference §4): lenient parsing, canonical .NET formatting."""

from __future__ import annotations

import enum
import functools
import operator
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from provisiond.graph.enums import (
    DirectoryDefinitionDiscoverabilities,
    ObjectFlowTypes,
    SynchronizationJobRestartScope,
)
from provisiond.graph.flags import (
    FlagsParseError,
    FlagsType,
    find_member,
    format_flags,
    parse_flags,
    wire_name,
)

Scope = SynchronizationJobRestartScope
FLAGS_ENUMS: list[type[enum.IntFlag]] = [Scope, ObjectFlowTypes, DirectoryDefinitionDiscoverabilities]


def _valid_values(cls: type[enum.IntFlag]) -> list[int]:
    mask = functools.reduce(operator.or_, (m.value for m in cls.__members__.values()), 0)
    return [value for value in range(mask + 1) if value & ~mask == 0]


@pytest.mark.parametrize(
    "text",
    [
        "Watermark, Escrows",
        "Watermark,Escrows",
        "watermark,ESCROWS",
        "  Escrows ,   wAtErMaRk  ",
    ],
)
def test_restart_scope_parses_names_with_or_without_spaces_in_any_case(text: str) -> None:
    assert parse_flags(Scope, text) == 6
    assert parse_flags(Scope, text) is Scope.Escrows | Scope.Watermark


def test_composite_names_parse_to_their_value() -> None:
    assert parse_flags(Scope, "Full") == 15
    assert parse_flags(Scope, "full, forcedeletes") == 47
    assert parse_flags(Scope, "Full, Escrows") == 15


def test_none_and_empty_string_parse_to_zero() -> None:
    assert parse_flags(Scope, "None") == 0
    assert parse_flags(Scope, "none") == 0
    assert parse_flags(Scope, "") == 0
    assert parse_flags(Scope, "   ") == 0
    assert parse_flags(Scope, []) == 0


def test_json_list_of_names_parses() -> None:
    assert parse_flags(Scope, ["Watermark", "escrows", "QuarantineState"]) == 14
    assert parse_flags(ObjectFlowTypes, ("Add", "Update")) == 3


def test_int_parses_and_unknown_bits_are_rejected() -> None:
    assert parse_flags(Scope, 47) == Scope.Full | Scope.ForceDeletes
    assert parse_flags(Scope, 0) == 0
    with pytest.raises(FlagsParseError, match=r"^64 is not a valid synchronizationJobRestartScope value$"):
        parse_flags(Scope, 64)
    with pytest.raises(FlagsParseError, match=r"^-1 is not a valid"):
        parse_flags(Scope, -1)


def test_booleans_and_other_types_are_rejected() -> None:
    with pytest.raises(FlagsParseError, match=r"^True is not a valid objectFlowTypes value$"):
        parse_flags(ObjectFlowTypes, True)
    with pytest.raises(FlagsParseError, match=r"^dict is not a valid objectFlowTypes value$"):
        parse_flags(ObjectFlowTypes, {"Add": True})
    with pytest.raises(FlagsParseError, match=r"^1 is not a member of objectFlowTypes$"):
        parse_flags(ObjectFlowTypes, ["Add", 1])


def test_unknown_member_error_names_it() -> None:
    with pytest.raises(FlagsParseError) as caught:
        parse_flags(Scope, "Watermark, Bogus")
    assert str(caught.value) == "'Bogus' is not a member of synchronizationJobRestartScope"
    assert isinstance(caught.value, ValueError)


def test_empty_item_between_commas_is_rejected() -> None:
    with pytest.raises(FlagsParseError, match=r"^'' is not a member of objectFlowTypes$"):
        parse_flags(ObjectFlowTypes, "Add,,Update")


def test_full_and_force_deletes_format_as_full_comma_force_deletes() -> None:
    assert format_flags(Scope(15 | 32)) == "Full, ForceDeletes"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Scope(0), "None"),
        (Scope(15), "Full"),
        (Scope(6), "Escrows, Watermark"),
        (Scope(14), "Escrows, Watermark, QuarantineState"),
        (Scope(1 | 32), "ConnectorDataStore, ForceDeletes"),
        (ObjectFlowTypes(7), "Add, Update, Delete"),
        (ObjectFlowTypes(4), "Delete"),
        (DirectoryDefinitionDiscoverabilities(3), "AttributeNames, AttributeDataTypes"),
        (
            DirectoryDefinitionDiscoverabilities(31),
            "AttributeNames, AttributeDataTypes, AttributeReadOnly, ReferenceAttributes, UnknownFutureValue",
        ),
    ],
)
def test_format_is_canonical_dotnet_order_and_spacing(value: enum.IntFlag, text: str) -> None:
    assert format_flags(value) == text


def test_docs_request_order_is_reformatted_in_value_order() -> None:
    assert format_flags(parse_flags(Scope, "Watermark, Escrows, QuarantineState")) == (
        "Escrows, Watermark, QuarantineState"
    )


def test_format_rejects_bits_outside_the_enum() -> None:
    with pytest.raises(ValueError, match=r"^64 has bits that are not members of objectFlowTypes$"):
        format_flags(ObjectFlowTypes(64))


@pytest.mark.parametrize("cls", FLAGS_ENUMS, ids=wire_name)
def test_format_parse_round_trips_for_every_value(cls: type[enum.IntFlag]) -> None:
    for value in _valid_values(cls):
        text = format_flags(cls(value))
        assert parse_flags(cls, text) == value
        assert format_flags(parse_flags(cls, text)) == text


@given(data=st.data())
def test_format_of_parse_of_format_is_stable(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(FLAGS_ENUMS))
    value = data.draw(st.sampled_from(_valid_values(cls)))
    text = format_flags(cls(value))
    assert format_flags(parse_flags(cls, text)) == text
    assert int(parse_flags(cls, text)) == value


def _any_case(name: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in name)).map("".join)


@given(data=st.data())
def test_any_spelling_of_a_name_set_parses_to_its_union(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(FLAGS_ENUMS))
    names = data.draw(st.lists(st.sampled_from(list(cls.__members__)), min_size=1, max_size=5))
    spelled = [data.draw(_any_case(name)) for name in names]
    padding = st.sampled_from(["", " ", "  ", "\t"])
    text = ",".join(data.draw(padding) + name + data.draw(padding) for name in spelled)
    expected = functools.reduce(operator.or_, (cls[name] for name in names), cls(0))
    assert parse_flags(cls, text) == expected
    assert parse_flags(cls, spelled) == expected


@given(value=st.integers(min_value=-(2**40), max_value=2**40))
def test_any_int_either_round_trips_or_is_rejected(value: int) -> None:
    try:
        parsed = parse_flags(Scope, value)
    except FlagsParseError:
        assert value < 0 or value & ~47
    else:
        assert parse_flags(Scope, format_flags(parsed)) == value


class _Color(enum.IntFlag):
    """A non-Graph flags enum, to show FlagsType is generic."""

    vars()["None"] = 0
    Red = 1
    Green = 2
    Yellow = 3
    Blue = 4


class _Paint(BaseModel):
    color: Annotated[_Color, FlagsType(_Color)]


def test_flags_type_validates_every_form_and_serializes_to_canonical_string() -> None:
    for raw in ("red, green", "Red,Green", ["GREEN", "red"], 3, "Yellow"):
        paint = _Paint.model_validate({"color": raw})
        assert paint.color is _Color.Yellow
        assert paint.model_dump(mode="json") == {"color": "Yellow"}
        assert paint.model_dump() == {"color": _Color.Yellow}
    assert _Paint(color=_Color(5)).model_dump_json() == '{"color":"Red, Blue"}'


def test_flags_type_validation_error_names_the_member() -> None:
    with pytest.raises(ValidationError) as caught:
        _Paint.model_validate({"color": "Red, Purple"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("color",)
    assert error["msg"] == "Value error, 'Purple' is not a member of _Color"


def test_flags_type_json_schema_is_a_string() -> None:
    schema = _Paint.model_json_schema()["properties"]["color"]
    assert schema["type"] == "string"
    assert schema["description"] == "Comma-separated combination of: None, Red, Green, Yellow, Blue."


def test_find_member_folds_case_and_trims() -> None:
    assert find_member(Scope, " quarantinestate ") is Scope.QuarantineState
    assert find_member(Scope, "Quarantine") is None
