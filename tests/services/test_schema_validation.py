"""The check every schema passes before it is saved: each attribute-mapping source and scoping
filter of every rule compiles, and a bad one is a 400 naming the mapping, attribute and position."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisiond.services import templates
from provisiond.services.errors import BadRequest
from provisiond.services.schema_validation import validate_schema

USERS = "Provision Azure Active Directory Users"
GROUPS = "Provision Azure Active Directory Groups"


def scim_schema() -> dict[str, Any]:
    return templates.template_schema("scim")


def object_mapping(schema: dict[str, Any], name: str, rule: int = 0) -> dict[str, Any]:
    return next(m for m in schema["synchronizationRules"][rule]["objectMappings"] if m["name"] == name)


def mapping_for(schema: dict[str, Any], target: str, name: str = USERS) -> dict[str, Any]:
    return next(
        a for a in object_mapping(schema, name)["attributeMappings"] if a["targetAttributeName"] == target
    )


def rejected(schema: dict[str, Any]) -> str:
    with pytest.raises(BadRequest) as raised:
        validate_schema(schema)
    assert raised.value.status == 400
    assert raised.value.code == "InvalidSchema"
    return raised.value.message


@pytest.mark.parametrize("template_id", templates.TEMPLATE_IDS)
def test_every_built_in_template_schema_is_valid(template_id: str) -> None:
    validate_schema(templates.template_schema(template_id))


def test_an_expression_text_that_does_not_parse_names_mapping_attribute_and_position() -> None:
    schema = scim_schema()
    mapping_for(schema, "active")["source"]["expression"] = (
        'Switch([IsSoftDeleted], , "False", "True" "True", "False")'
    )
    message = rejected(schema)
    assert message.startswith(f"Object mapping '{USERS}', attribute 'active': ")
    assert "Expected ')' or ',' at position 42, found '\"'" in message


def test_a_function_text_is_checked_even_when_its_tree_is_valid() -> None:
    schema = scim_schema()
    source = mapping_for(schema, "name.formatted")["source"]
    source["expression"] = source["expression"].replace("Join(", "join(")
    assert "did you mean 'Join'?" in rejected(schema)


def test_a_function_tree_without_text_is_checked() -> None:
    schema = scim_schema()
    source = mapping_for(schema, "name.formatted")["source"]
    del source["expression"]
    validate_schema(schema)
    source["parameters"] = source["parameters"][:1]  # Join with a separator and no source
    assert "Join expects at least 2 arguments" in rejected(schema)


def test_an_attribute_source_is_read_from_its_name_when_its_text_is_odd() -> None:
    schema = scim_schema()
    mapping_for(schema, "displayName")["source"]["expression"] = "displayName"
    validate_schema(schema)


@pytest.mark.parametrize(
    ("clause", "problem"),
    [
        (
            {"operatorName": "LIKE", "sourceOperandName": "mail", "targetOperand": {"values": ["x"]}},
            "unknown operator 'LIKE'",
        ),
        (
            {"operatorName": "EQUALS", "sourceOperandName": "mail", "targetOperand": {"values": []}},
            "needs at least one targetOperand value",
        ),
        (
            {
                "operatorName": "Greater_Than",
                "sourceOperandName": "employeeId",
                "targetOperand": {"values": ["x"]},
            },
            "needs integer values",
        ),
        (
            {
                "operatorName": "REGEX MATCH",
                "sourceOperandName": "mail",
                "targetOperand": {"values": ["(unclosed"]},
            },
            "invalid regular expression",
        ),
        (
            {"operatorName": "IS NULL", "sourceOperandName": None, "targetOperand": None},
            "sourceOperandName is missing",
        ),
    ],
)
@pytest.mark.parametrize("filter_set", ["groups", "inputFilterGroups", "categoryFilterGroups"])
def test_a_bad_scoping_clause_names_mapping_group_and_clause(
    filter_set: str, clause: dict[str, Any], problem: str
) -> None:
    schema = scim_schema()
    good = {"operatorName": "IS TRUE", "sourceOperandName": "accountEnabled", "targetOperand": None}
    object_mapping(schema, GROUPS)["scope"] = {
        filter_set: [{"name": "Engineering", "clauses": [good, clause]}]
    }
    message = rejected(schema)
    assert message.startswith(f"Object mapping '{GROUPS}': {filter_set} group 'Engineering', clause 2: ")
    assert problem in message


def test_every_rule_is_checked_and_the_rule_is_named_when_there_are_several() -> None:
    schema = scim_schema()
    second = copy.deepcopy(schema["synchronizationRules"][0])
    second.update(id="second-rule", name="SECOND_RULE", priority=2)
    schema["synchronizationRules"].append(second)
    validate_schema(schema)
    object_mapping(schema, USERS, rule=1)["attributeMappings"][0]["source"] = {
        "expression": "Nope([x])",
        "name": "Nope",
        "type": "Function",
    }
    message = rejected(schema)
    assert "Unknown function 'Nope' at position 0" in message
    assert message.endswith("(synchronization rule 'SECOND_RULE')")


def test_select_unique_value_nested_in_another_function_is_rejected() -> None:
    schema = scim_schema()
    mapping_for(schema, "userName")["source"] = {
        "expression": "ToLower(SelectUniqueValue([mail], [userPrincipalName]))",
        "name": "ToLower",
        "type": "Function",
    }
    assert "SelectUniqueValue must be the whole expression" in rejected(schema)
