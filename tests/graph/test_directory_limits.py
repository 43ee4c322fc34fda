"""Every length limit of a directory input model fits the column that stores the property, so a
value the API accepts is stored alike on SQLite and PostgreSQL (never truncated, never a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import String, Table

from provisiond.graph.directory import (
    ApplicationCreate,
    GroupCreate,
    GroupUpdate,
    UserCreate,
    UserUpdate,
)
from provisiond.store.tables import applications, groups, users


def _max_length(model: type[BaseModel], name: str) -> int | None:
    """The maxLength of a property's strings (its items' for a list), from the JSON schema."""
    schema = model.model_json_schema(by_alias=False, mode="validation")
    prop = schema["properties"][name]
    for option in [prop, *prop.get("anyOf", [])]:
        option = option.get("items", option)
        if "maxLength" in option:
            return int(option["maxLength"])
    return None


@pytest.mark.parametrize(
    ("model", "table"),
    [
        (UserCreate, users),
        (UserUpdate, users),
        (GroupCreate, groups),
        (GroupUpdate, groups),
        (ApplicationCreate, applications),
    ],
    ids=lambda x: getattr(x, "__name__", getattr(x, "name", "")),
)
def test_every_string_limit_fits_its_column(model: type[BaseModel], table: Table) -> None:
    checked = 0
    for name in model.model_fields:
        column = table.columns.get(name)
        if column is None or not isinstance(column.type, String) or column.type.length is None:
            continue
        limit = _max_length(model, name)
        assert limit is not None, f"{model.__name__}.{name} has no length limit"
        assert limit <= column.type.length, f"{model.__name__}.{name}: {limit} > {column.type.length}"
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"displayName": "x" * 257}, "displayName"),
        ({"userPrincipalName": "a" * 65 + "@contoso.example"}, "64 characters may come before"),
        ({"userPrincipalName": "a@" + "d" * 49}, "48 characters may come after"),
        ({"userPrincipalName": "a" * 60 + "@" + "d" * 53}, "userPrincipalName"),
        ({"businessPhones": ["+1 555 0100", "+1 555 0101"]}, "businessPhones"),
        ({"otherMails": [f"m{i}@x.example" for i in range(251)]}, "otherMails"),
        ({"otherMails": ["m" * 251]}, "otherMails"),
        ({"employeeId": "1" * 17}, "employeeId"),
        ({"usageLocation": "USA"}, "usageLocation"),
    ],
)
def test_user_limits_name_the_property(body: dict[str, Any], says: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=says):
        UserUpdate.model_validate(body)


def test_values_at_the_limits_are_accepted() -> None:
    UserUpdate.model_validate(
        {
            "displayName": "x" * 256,
            "userPrincipalName": "a" * 64 + "@" + "d" * 48,
            "businessPhones": ["+1 555 0100"],
            "otherMails": ["m" * 250] * 250,
            "streetAddress": "s" * 1024,
        }
    )
    GroupCreate.model_validate(
        {
            "displayName": "g" * 256,
            "description": "d" * 1024,
            "mailNickname": "n" * 64,
            "mailEnabled": False,
            "securityEnabled": True,
            "members@odata.bind": ["https://graph.microsoft.com/v1.0/users/x"] * 20,
        }
    )
