"""The built-in synchronization templates: the facts the engine and the Graph API rely on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisiond.services import templates as t

APP_ID = "3f2a8c41-5b7d-4e0a-9c6f-1d2e3f4a5b6c"
JOB_ID = f"scim.0123456789abcdef0123456789abcdef.{APP_ID}"

MAPPING_KEYS = {
    "defaultValue",
    "exportMissingReferences",
    "flowBehavior",
    "flowType",
    "matchingPriority",
    "source",
    "targetAttributeName",
}


def _rule(template_id: str) -> dict[str, Any]:
    (rule,) = t.template_schema(template_id)["synchronizationRules"]
    return rule


def _object_mapping(template_id: str, target_object: str) -> dict[str, Any]:
    return next(m for m in _rule(template_id)["objectMappings"] if m["targetObjectName"] == target_object)


def _by_target(object_mapping: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["targetAttributeName"]: m for m in object_mapping["attributeMappings"]}


def _attribute_names(schema: dict[str, Any], directory: str, object_name: str) -> set[str]:
    (definition,) = [d for d in schema["directories"] if d["name"] == directory]
    (obj,) = [o for o in definition["objects"] if o["name"] == object_name]
    return {a["name"] for a in obj["attributes"]}


def _attribute_sources(source: dict[str, Any] | None) -> Iterator[str]:
    """Every Attribute name a mapping source reads, through nested function parameters."""
    if source is None:
        return
    if source["type"] == "Attribute":
        yield source["name"]
    for parameter in source["parameters"] or []:
        yield from _attribute_sources(parameter["value"])


def _all_mappings() -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    for template_id in t.TEMPLATE_IDS:
        schema = t.template_schema(template_id)
        for rule in schema["synchronizationRules"]:
            for object_mapping in rule["objectMappings"]:
                for mapping in object_mapping["attributeMappings"]:
                    yield schema, {**rule, "objectMapping": object_mapping}, mapping


def test_scim_user_mapping_matches_on_username_first() -> None:
    users = _object_mapping("scim", t.SCIM_USER)
    matching = sorted(
        (m["matchingPriority"], m["targetAttributeName"], m["source"]["name"])
        for m in users["attributeMappings"]
        if m["matchingPriority"] > 0
    )
    assert matching == [(1, "userName", "userPrincipalName")]
    assert users["sourceObjectName"] == "User"
    assert users["name"] == "Provision Azure Active Directory Users"
    assert users["flowTypes"] == "Add, Update, Delete"


def test_active_flows_from_switch_on_is_soft_deleted() -> None:
    source = _by_target(_object_mapping("scim", t.SCIM_USER))["active"]["source"]
    assert source["type"] == "Function"
    assert source["name"] == "Switch"
    assert source["expression"] == 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'
    parameters = [(p["key"], p["value"]["type"], p["value"]["name"]) for p in source["parameters"]]
    assert parameters == [
        ("source", "Attribute", "IsSoftDeleted"),
        ("defaultValue", "Constant", ""),
        ("key", "Constant", "False"),
        ("value", "Constant", "True"),
        ("key", "Constant", "True"),
        ("value", "Constant", "False"),
    ]
    assert source["parameters"][1]["value"]["expression"] == '""'


def test_function_sources_render_their_arguments() -> None:
    mappings = _by_target(_object_mapping("scim", t.SCIM_USER))
    assert mappings["name.formatted"]["source"]["expression"] == 'Join(" ", [givenName], [surname])'
    item = mappings['phoneNumbers[type eq "work"].value']["source"]
    assert item["expression"] == "Item([businessPhones], 1)"
    # A number reads bare in the call but is stored as a quoted Constant, as Graph does.
    assert item["parameters"][1] == {
        "key": "index",
        "value": {"expression": '"1"', "name": "1", "parameters": [], "type": "Constant"},
    }
    roles = mappings['roles[primary eq "True"].value']["source"]
    assert roles["expression"] == "SingleAppRoleAssignment([appRoleAssignments])"


def test_group_mapping_carries_display_name_members_and_external_id() -> None:
    groups = _object_mapping("scim", t.SCIM_GROUP)
    assert groups["sourceObjectName"] == "Group"
    assert groups["name"] == "Provision Azure Active Directory Groups"
    pairs = {
        (m["source"]["name"], m["targetAttributeName"], m["matchingPriority"])
        for m in groups["attributeMappings"]
    }
    assert pairs == {
        ("displayName", "displayName", 1),
        ("objectId", "externalId", 0),
        ("members", "members", 0),
    }
    assert {"key": "OriginalJoiningProperty", "value": "displayName"} in groups["metadata"]


def test_object_mappings_are_users_then_groups_with_graph_metadata() -> None:
    rule = _rule("scim")
    assert [m["targetObjectName"] for m in rule["objectMappings"]] == [t.SCIM_USER, t.SCIM_GROUP]
    assert rule["sourceDirectoryName"] == "Azure Active Directory"
    assert rule["targetDirectoryName"] == "customappsso"
    assert rule["priority"] == 1
    metadata = {e["key"]: e["value"] for e in rule["objectMappings"][0]["metadata"]}
    assert metadata["Disposition"] == '"Normal"'
    assert metadata["EscrowBehavior"] == '"Default"'
    assert metadata["IsCustomerDefined"] == metadata["ExcludeFromReporting"] == "false"
    assert [e["key"] for e in rule["metadata"]] == [
        "defaultSourceObjectMappings",
        "supportsProvisionOnDemand",
    ]


def test_every_attribute_source_names_a_source_attribute_that_exists() -> None:
    checked = 0
    for schema, rule, mapping in _all_mappings():
        object_mapping = rule["objectMapping"]
        source_names = _attribute_names(
            schema, rule["sourceDirectoryName"], object_mapping["sourceObjectName"]
        )
        target_names = _attribute_names(
            schema, rule["targetDirectoryName"], object_mapping["targetObjectName"]
        )
        for name in _attribute_sources(mapping["source"]):
            assert name in source_names, (object_mapping["name"], name)
        assert mapping["targetAttributeName"] in target_names, (object_mapping["name"], mapping)
        checked += 1
    assert checked > 40


def test_no_mapping_targets_the_scim_primary_key() -> None:
    for _schema, rule, mapping in _all_mappings():
        if rule["targetDirectoryName"] == "customappsso":
            assert mapping["targetAttributeName"] != "id"


def test_every_object_has_exactly_one_anchor() -> None:
    for template_id in t.TEMPLATE_IDS:
        for directory in t.template_schema(template_id)["directories"]:
            for obj in directory["objects"]:
                anchors = [a["name"] for a in obj["attributes"] if a["anchor"]]
                assert len(anchors) == 1, (directory["name"], obj["name"], anchors)


def test_every_mapping_has_graph_property_names() -> None:
    for _schema, _, mapping in _all_mappings():
        assert set(mapping) == MAPPING_KEYS
        assert mapping["flowBehavior"] == "FlowWhenChanged"
        assert mapping["exportMissingReferences"] is False
        source = mapping["source"]
        assert set(source) == {"expression", "name", "parameters", "type"}
        if source["type"] == "Attribute":
            assert source["expression"] == f"[{source['name']}]"
            assert source["parameters"] == []


def test_scim_mappings_use_entra_defaults() -> None:
    for mapping in _object_mapping("scim", t.SCIM_USER)["attributeMappings"]:
        assert mapping["flowType"] == "Always"
        assert mapping["defaultValue"] is None
        expected = 1 if mapping["targetAttributeName"] == "userName" else 0
        assert mapping["matchingPriority"] == expected


def test_template_schema_returns_independent_copies() -> None:
    first = t.template_schema("scim")
    first["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"].clear()
    first["directories"][0]["objects"][0]["attributes"][0]["name"] = "mutated"
    second = t.template_schema("scim")
    assert second["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
    assert second["directories"][0]["objects"][0]["attributes"][0]["name"] == "objectId"
    templates = t.builtin_templates(APP_ID)
    templates[0]["schema"]["version"] = "mutated"
    assert t.builtin_templates(APP_ID)[0]["schema"]["version"] == t.TEMPLATE_SCHEMA_VERSION
    settings = t.default_job_settings("scim")
    settings.clear()
    assert t.default_job_settings("scim")


def test_template_schema_ids_and_unknown_templates() -> None:
    assert t.template_schema("scim")["id"] == "scim.00000000000000000000000000000000"
    assert t.template_schema("API2AAD")["id"] == "API2AAD.00000000000000000000000000000000"
    assert t.template_schema("scim")["version"]
    for function in (t.template_schema, t.default_job_settings):
        with pytest.raises(KeyError):
            function("Slack")


def test_builtin_templates_shape() -> None:
    scim, api = t.builtin_templates(APP_ID)
    assert [scim["id"], api["id"]] == list(t.TEMPLATE_IDS)
    assert scim["applicationId"] == api["applicationId"] == APP_ID
    assert (scim["default"], api["default"]) == (True, False)
    assert scim["discoverable"] is api["discoverable"] is True
    assert (scim["factoryTag"], api["factoryTag"]) == ("scim", "API2AAD")
    metadata = {e["key"]: e["value"] for e in scim["metadata"]}
    assert metadata["GalleryApplicationIdentifier"] == APP_ID
    assert metadata["GalleryApplicationKey"] == "scim"
    assert metadata["ConfigurationFields"] == '[{"name":"baseaddress"},{"name":"secrettoken","secret":true}]'
    assert [d["name"] for d in scim["schema"]["directories"]] == ["Azure Active Directory", "customappsso"]
    aad = scim["schema"]["directories"][0]
    assert aad["id"] == t.AAD_DIRECTORY_ID
    assert (aad["discoverabilities"], aad["readOnly"], aad["version"]) == ("None", False, None)
    user = next(o for o in aad["objects"] if o["name"] == "User")
    assert {e["key"]: e["value"] for e in user["metadata"]} == {
        "IsSoftDeletionSupported": "true",
        "ConnectorDataStorageRequired": "true",
        "IsSynchronizeAllSupported": "true",
        "PropertyNameAccountEnabled": "accountEnabled",
        "PropertyNameSoftDeleted": "IsSoftDeleted",
    }
    manager = next(a for a in user["attributes"] if a["name"] == "manager")
    assert manager["type"] == "Reference"
    assert manager["referencedObjects"] == [{"referencedObjectName": "User", "referencedProperty": None}]


def test_default_job_settings() -> None:
    assert t.default_job_settings("scim") == [
        {"name": "AzureIngestionAttributeOptimization", "value": "False"},
        {"name": "LookaheadQueryEnabled", "value": "False"},
        {"name": "QuarantineTooManyDeletesThreshold", "value": "500"},
    ]
    assert {"name": "QuarantineTooManyDeletesThreshold", "value": "500"} in t.default_job_settings("API2AAD")


def test_api2aad_matches_external_id_to_employee_id() -> None:
    rule = _rule("API2AAD")
    assert rule["name"] == "USER_INBOUND_USER"
    assert (rule["sourceDirectoryName"], rule["targetDirectoryName"]) == ("API", "Azure Active Directory")
    (users,) = rule["objectMappings"]
    assert (users["sourceObjectName"], users["targetObjectName"]) == (t.SCIM_USER, "User")
    matching = [
        (m["matchingPriority"], m["source"]["name"], m["targetAttributeName"])
        for m in users["attributeMappings"]
        if m["matchingPriority"] > 0
    ]
    assert matching == [(1, "externalId", "employeeId")]
    mappings = _by_target(users)
    assert mappings["accountEnabled"]["source"]["name"] == "active"
    assert mappings["userPrincipalName"]["source"]["name"] == "userName"
    assert mappings["manager"]["source"]["name"] == t.ENTERPRISE + "manager"
    targets = [m["targetAttributeName"] for m in users["attributeMappings"]]
    assert len(targets) == len(set(targets))


def test_api_manager_reference_resolves_by_external_id() -> None:
    schema = t.template_schema("API2AAD")
    (api,) = [d for d in schema["directories"] if d["name"] == "API"]
    (user,) = api["objects"]
    manager = next(a for a in user["attributes"] if a["name"] == t.ENTERPRISE + "manager")
    assert manager["referencedObjects"] == [
        {"referencedObjectName": t.SCIM_USER, "referencedProperty": "externalId"}
    ]


def test_templates_validate_against_the_graph_models() -> None:
    models = pytest.importorskip("provisiond.graph.synchronization")
    for template in t.builtin_templates(APP_ID):
        models.SynchronizationTemplate.model_validate(template)
        models.SynchronizationSchema.model_validate(template["schema"])
    models.SynchronizationSchema.model_validate({**t.template_schema("API2AAD"), "id": JOB_ID})
