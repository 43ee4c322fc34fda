"""Discovery of a SCIM app's /ResourceTypes and /Schemas into a directoryDefinition: against the
real scim2-server, against a scripted server that misbehaves, and as a pure function."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from scim2_models import ResourceType, Schema
from tests.conftest import ScimTarget, free_port
from tests.scripted_server import Answer, json_answer, scripted_server

from provisiond.connectors.scim import ConnectionProblem, ScimConnectionError
from provisiond.connectors.scim_discovery import (
    ENTERPRISE_USER,
    ServiceDescription,
    describe,
    fetch_service_description,
    refresh_directory,
)
from provisiond.graph.synchronization import DirectoryDefinition
from provisiond.services import templates

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def _customappsso() -> dict[str, Any]:
    schema = templates.template_schema("scim")
    return next(d for d in schema["directories"] if d["name"] == templates.SCIM_DIRECTORY)


def _attributes(directory: dict[str, Any], object_name: str) -> dict[str, dict[str, Any]]:
    obj = next(o for o in directory["objects"] if o["name"] == object_name)
    return {a["name"]: a for a in obj["attributes"]}


def _attr(name: str, type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type, "multiValued": False, "required": False, **extra}


def _schema(urn: str, *attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": urn.rsplit(":", 1)[-1],
        "attributes": list(attributes),
    }


def _resource_type(name: str, schema: str, *extensions: tuple[str, bool]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": f"/{name}s",
        "schema": schema,
        "schemaExtensions": [{"schema": urn, "required": required} for urn, required in extensions],
    }


def _description(resource_types: list[dict[str, Any]], schemas: list[dict[str, Any]]) -> ServiceDescription:
    return describe(
        [ResourceType.model_validate(rt) for rt in resource_types],
        [Schema.model_validate(s) for s in schemas],
    )


def _list(resources: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {
        "schemas": [LIST],
        "totalResults": len(resources) if total is None else total,
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


# --- against the real scim2-server -------------------------------------------------------------


def test_scim2_server_discovery_names_attributes_as_entra_writes_them(scim_target: ScimTarget) -> None:
    description = fetch_service_description(scim_target.url, scim_target.token)
    directory = refresh_directory(_customappsso(), description, mapped={}, discovered_at=NOW)

    assert [o["name"] for o in directory["objects"]] == [templates.SCIM_USER, templates.SCIM_GROUP]
    user = _attributes(directory, templates.SCIM_USER)
    assert user["id"]["anchor"] and user["id"]["mutability"] == "ReadOnly"
    assert [a for a in user.values() if a["anchor"]] == [user["id"]]
    assert user["userName"]["required"] is True
    assert user["active"]["type"] == "Boolean"
    assert user["password"]["mutability"] == "WriteOnly"
    assert user["externalId"]["caseExact"] is True
    for name in ("name.givenName", 'emails[type eq "work"].value', 'phoneNumbers[type eq "fax"].value'):
        assert user[name]["type"] == "String" and not user[name]["multivalued"]
    assert 'roles[primary eq "True"].value' in user
    assert user['x509Certificates[primary eq "True"].value']["type"] == "Binary"
    assert user[ENTERPRISE_USER + ":employeeNumber"]["type"] == "String"
    manager = user[ENTERPRISE_USER + ":manager"]
    assert manager["type"] == "Reference" and not manager["multivalued"]
    assert manager["referencedObjects"] == [
        {"referencedObjectName": templates.SCIM_USER, "referencedProperty": None}
    ]
    assert user["groups"]["mutability"] == "ReadOnly" and user["groups"]["type"] == "Reference"
    group = _attributes(directory, templates.SCIM_GROUP)
    assert group["members"]["multivalued"] and group["members"]["type"] == "Reference"
    assert [r["referencedObjectName"] for r in group["members"]["referencedObjects"]] == [
        templates.SCIM_USER,
        templates.SCIM_GROUP,
    ]
    assert group["displayName"]["required"] is True
    assert directory["discoverabilities"] == (
        "AttributeNames, AttributeDataTypes, AttributeReadOnly, ReferenceAttributes"
    )
    assert directory["discoveryDateTime"].startswith("2026-11-29T05:00:00")
    assert directory["id"] == templates.SCIM_DIRECTORY_ID and directory["name"] == "customappsso"
    DirectoryDefinition.model_validate(directory)  # the wire shape Graph clients read back


def test_every_default_mapping_target_is_among_the_discovered_attributes(scim_target: ScimTarget) -> None:
    directory = refresh_directory(
        _customappsso(),
        fetch_service_description(scim_target.url, scim_target.token),
        mapped={},
        discovered_at=NOW,
    )
    schema = templates.template_schema("scim")
    for mapping in schema["synchronizationRules"][0]["objectMappings"]:
        discovered = _attributes(directory, mapping["targetObjectName"])
        for attribute_mapping in mapping["attributeMappings"]:
            assert attribute_mapping["targetAttributeName"] in discovered


def test_an_unchanged_app_is_discovered_with_the_same_version(scim_target: ScimTarget) -> None:
    first = fetch_service_description(scim_target.url, scim_target.token)
    second = fetch_service_description(scim_target.url, scim_target.token)
    assert first.version == second.version
    directory = refresh_directory(_customappsso(), first, mapped={}, discovered_at=NOW)
    assert directory["version"] == first.version


def test_discovery_sends_the_secret_token_and_drops_the_base_address_query(scim_target: ScimTarget) -> None:
    fetch_service_description(scim_target.url + "?aadOptscim062020", scim_target.token)
    paths = [path for _, path in scim_target.traffic.requests]
    assert paths == ["/v2/ResourceTypes", "/v2/Schemas"]


def test_a_wrong_secret_token_is_an_unauthorized_problem(scim_target: ScimTarget) -> None:
    with pytest.raises(ScimConnectionError) as caught:
        fetch_service_description(scim_target.url, "not-the-token")
    assert caught.value.problem is ConnectionProblem.UNAUTHORIZED
    assert "401" in caught.value.detail


# --- against a misbehaving server -----------------------------------------------------------------

USER_SCHEMA = _schema(CORE_USER, _attr("userName", required=True))
USER_TYPE = _resource_type("User", CORE_USER)


def test_a_closed_port_is_an_unreachable_problem() -> None:
    with pytest.raises(ScimConnectionError) as caught:
        fetch_service_description(f"http://127.0.0.1:{free_port()}/scim", "token")
    assert caught.value.problem is ConnectionProblem.UNREACHABLE


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ({}, "answered HTTP 404"),
        ({"/scim/ResourceTypes": Answer(500, b"oops")}, "answered HTTP 500"),
        ({"/scim/ResourceTypes": Answer(200, b"<html>", "text/html")}, "did not answer with JSON"),
        (
            {"/scim/ResourceTypes": json_answer({"Resources": "nope"})},
            "not answer with a valid SCIM ListResponse",
        ),
        (
            {
                "/scim/ResourceTypes": json_answer(_list([USER_TYPE])),
                "/scim/Schemas": json_answer([USER_SCHEMA]),
            },
            "not answer with a valid SCIM ListResponse",
        ),
        (
            {
                "/scim/ResourceTypes": json_answer(_list([USER_TYPE])),
                "/scim/Schemas": json_answer(_list([{**USER_SCHEMA, "id": "not a urn"}])),
            },
            "Resources.0.id",
        ),
        (
            {"/scim/ResourceTypes": json_answer(_list([USER_TYPE])), "/scim/Schemas": json_answer(_list([]))},
            f"uses the schema '{CORE_USER}', which /Schemas does not define",
        ),
        (
            {
                "/scim/ResourceTypes": json_answer(_list([])),
                "/scim/Schemas": json_answer(_list([USER_SCHEMA])),
            },
            "lists no resource type",
        ),
    ],
)
def test_a_server_that_is_not_scim_is_named_as_such(script: dict[str, Any], says: str) -> None:
    with scripted_server(script) as server, pytest.raises(ScimConnectionError) as caught:
        fetch_service_description(server.url, "token")
    assert caught.value.problem is ConnectionProblem.NOT_SCIM
    assert says in caught.value.detail


def _with_vendor_members(list_response: dict[str, Any]) -> dict[str, Any]:
    """The ListResponse with members RFC 7643/7644 do not define, where apps put them: on the
    ListResponse itself, on each resource, on nested objects (attributes, sub-attributes,
    schema extensions), and an unknown extension URN key."""

    def decorate(node: Any) -> Any:
        if isinstance(node, list):
            return [decorate(item) for item in node]
        if not isinstance(node, dict):
            return node
        return {**{k: decorate(v) for k, v in node.items()}, "x-vendorHint": {"any": ["shape"]}}

    resources = [
        {
            **decorate(r),
            "meta": {"resourceType": "Schema", "location": "/scim/x", "version": 'W/"1"'},
            "urn:example:vendor:2.0:Annotations": {"owner": "team"},
        }
        for r in list_response["Resources"]
    ]
    return {**list_response, "Resources": resources, "meta": {"resourceType": "ListResponse"}, "id": 7}


def test_members_rfc_7644_does_not_define_are_ignored_wherever_they_are() -> None:
    group_schema = {
        **_schema(CORE_GROUP, _attr("displayName")),
        "attributes": [
            _attr("displayName", required=True),
            {**_attr("members", "complex", multiValued=True), "subAttributes": [_attr("value")]},
        ],
    }
    types = _list([USER_TYPE, _resource_type("Group", CORE_GROUP, (ENTERPRISE_USER, False))])
    schemas = _list([USER_SCHEMA, group_schema, _schema(ENTERPRISE_USER, _attr("employeeNumber"))])
    with scripted_server(
        {"/scim/ResourceTypes": json_answer(types), "/scim/Schemas": json_answer(schemas)}
    ) as s:
        plain = fetch_service_description(s.url, "token")
    script = {
        "/scim/ResourceTypes": json_answer(_with_vendor_members(types)),
        "/scim/Schemas": json_answer(_with_vendor_members(schemas)),
    }
    with scripted_server(script) as server:
        decorated = fetch_service_description(server.url, "token")
    # The same description: the unknown members change neither what is read nor the version.
    assert decorated.version == plain.version
    assert refresh_directory(_customappsso(), decorated, mapped={}, discovered_at=NOW) == refresh_directory(
        _customappsso(), plain, mapped={}, discovered_at=NOW
    )


def test_a_list_response_without_total_results_is_one_page() -> None:
    # RFC 7644 requires totalResults; django-scim2 leaves it out of /ResourceTypes and /Schemas.
    def untold(resources: list[dict[str, Any]]) -> dict[str, Any]:
        return {"schemas": [LIST], "Resources": resources}

    script = {
        "/scim/ResourceTypes": json_answer(untold([USER_TYPE])),
        "/scim/Schemas": json_answer(untold([USER_SCHEMA])),
    }
    with scripted_server(script) as server:
        description = fetch_service_description(server.url, "token")
        paths = [path for _, path, _ in server.requests]
    assert paths == ["/scim/ResourceTypes", "/scim/Schemas"]
    assert [rt.name for rt in description.resource_types] == ["User"]
    assert set(description.schemas) == {CORE_USER.lower()}


@pytest.mark.parametrize(
    ("types", "says"),
    [
        ([{**USER_TYPE, "schema": None}], "has no name or no schema"),
        ([{k: v for k, v in USER_TYPE.items() if k != "name"}], "has no name or no schema"),
        ([{**USER_TYPE, "schemaExtensions": "urn:x"}], "Resources.0.schemaExtensions"),
    ],
    ids=["no-schema", "no-name", "malformed-extensions"],
)
def test_what_discovery_needs_must_still_be_there_and_well_formed(types: list[Any], says: str) -> None:
    script = {
        "/scim/ResourceTypes": json_answer(_with_vendor_members(_list(types))),
        "/scim/Schemas": json_answer(_list([USER_SCHEMA])),
    }
    with scripted_server(script) as server, pytest.raises(ScimConnectionError) as caught:
        fetch_service_description(server.url, "token")
    assert caught.value.problem is ConnectionProblem.NOT_SCIM
    assert says in caught.value.detail


def test_a_forbidden_answer_is_an_unauthorized_problem() -> None:
    with scripted_server({"/scim/ResourceTypes": Answer(403, b"{}")}) as server:
        with pytest.raises(ScimConnectionError) as caught:
            fetch_service_description(server.url, "token")
        assert server.requests[0][2]["Authorization"] == "Bearer token"
    assert caught.value.problem is ConnectionProblem.UNAUTHORIZED


def test_paged_schemas_are_read_to_the_last_page() -> None:
    group_schema = _schema(CORE_GROUP, _attr("displayName"))

    def schemas(query: dict[str, list[str]]) -> Answer:
        start = int(query.get("startIndex", ["1"])[0])
        page = [USER_SCHEMA] if start == 1 else [group_schema]
        return json_answer({**_list(page, total=2), "startIndex": start})

    script = {
        "/scim/ResourceTypes": json_answer(_list([USER_TYPE, _resource_type("Group", CORE_GROUP)])),
        "/scim/Schemas": schemas,
    }
    with scripted_server(script) as server:
        description = fetch_service_description(server.url, "token")
        paths = [path for _, path, _ in server.requests]
    assert paths == ["/scim/ResourceTypes", "/scim/Schemas", "/scim/Schemas?startIndex=2"]
    assert set(description.schemas) == {CORE_USER.lower(), CORE_GROUP.lower()}


def test_a_server_that_pages_forever_is_not_scim() -> None:
    def schemas(query: dict[str, list[str]]) -> Answer:
        return json_answer(_list([USER_SCHEMA], total=10_000))

    script = {"/scim/ResourceTypes": json_answer(_list([USER_TYPE])), "/scim/Schemas": schemas}
    with scripted_server(script) as server, pytest.raises(ScimConnectionError) as caught:
        fetch_service_description(server.url, "token")
    assert caught.value.problem is ConnectionProblem.NOT_SCIM
    assert "kept announcing more results" in caught.value.detail


# --- the pure refresh ---------------------------------------------------------------------------------

CUSTOM = "urn:contoso:params:scim:schemas:extension:2.0:User"


def _custom_app() -> ServiceDescription:
    user = _schema(
        CORE_USER,
        _attr("userName", required=True, caseExact=True),
        _attr("loginCount", "integer", mutability="readOnly"),
        _attr("score", "decimal"),
        _attr("hiredAt", "dateTime"),
        _attr("avatar", "binary"),
        _attr("enabled", "boolean"),
        _attr("homepage", "reference", referenceTypes=["external"]),
        _attr("sponsor", "reference", referenceTypes=["User"]),
        _attr("tags", multiValued=True),
        {
            **_attr("badges", "complex", multiValued=True),
            "subAttributes": [_attr("code"), _attr("issuer")],
        },
        {
            **_attr("audit", "complex", mutability="readOnly", required=True),
            "subAttributes": [_attr("createdBy", required=True), _attr("note", mutability="readWrite")],
        },
    )
    extension = _schema(CUSTOM, _attr("costCode", required=True), _attr("region"))
    enterprise = _schema(ENTERPRISE_USER, _attr("employeeNumber", required=True))
    return _description(
        [_resource_type("User", CORE_USER, (CUSTOM, True), (ENTERPRISE_USER, False))],
        [user, extension, enterprise],
    )


def _empty_directory(*objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "d1",
        "name": "app",
        "discoverabilities": "None",
        "discoveryDateTime": None,
        "objects": list(objects),
        "readOnly": False,
        "version": None,
    }


def test_types_mutability_and_required_follow_the_schema() -> None:
    directory = refresh_directory(_empty_directory(), _custom_app(), mapped={}, discovered_at=NOW)
    user = _attributes(directory, ENTERPRISE_USER)
    kinds = {name: (a["type"], a["multivalued"], a["mutability"], a["required"]) for name, a in user.items()}
    assert kinds["userName"] == ("String", False, "ReadWrite", True)
    assert user["userName"]["caseExact"] is True
    assert kinds["loginCount"] == ("Integer", False, "ReadOnly", False)
    assert kinds["score"] == ("String", False, "ReadWrite", False)
    assert kinds["hiredAt"] == ("DateTime", False, "ReadWrite", False)
    assert kinds["avatar"] == ("Binary", False, "ReadWrite", False)
    assert kinds["enabled"] == ("Boolean", False, "ReadWrite", False)
    assert kinds["homepage"] == ("String", False, "ReadWrite", False)
    assert kinds["sponsor"][0] == "Reference"
    assert user["sponsor"]["referencedObjects"][0]["referencedObjectName"] == ENTERPRISE_USER
    assert kinds["tags"] == ("String", True, "ReadWrite", False)
    assert kinds["badges.code"] == ("String", True, "ReadWrite", False)
    # A read-only complex attribute makes its sub-attributes read-only; required only if both are.
    assert kinds["audit.createdBy"] == ("String", False, "ReadOnly", True)
    assert kinds["audit.note"] == ("String", False, "ReadOnly", False)
    # A required extension makes its required attributes required; an optional one does not.
    assert kinds[CUSTOM + ":costCode"][3] is True
    assert kinds[CUSTOM + ":region"][3] is False
    assert kinds[ENTERPRISE_USER + ":employeeNumber"][3] is False
    assert list(user)[:2] == ["id", "externalId"]


def test_a_new_object_takes_the_enterprise_name_and_soft_deletes_only_with_active() -> None:
    directory = refresh_directory(_empty_directory(), _custom_app(), mapped={}, discovered_at=NOW)
    (user,) = directory["objects"]
    assert user["name"] == ENTERPRISE_USER
    assert user["metadata"] == [{"key": "IsSoftDeletionSupported", "value": "false"}]

    with_active = _description(
        [_resource_type("Device", "urn:contoso:2.0:Device")],
        [_schema("urn:contoso:2.0:Device", _attr("active", "boolean"))],
    )
    (device,) = refresh_directory(_empty_directory(), with_active, mapped={}, discovered_at=NOW)["objects"]
    assert device["name"] == "urn:contoso:2.0:Device"
    assert {m["key"]: m["value"] for m in device["metadata"]} == {
        "IsSoftDeletionSupported": "true",
        "PropertyNameAccountEnabled": "active",
    }


def test_an_existing_object_keeps_its_name_metadata_and_administrator_settings() -> None:
    old_user = {
        "name": "User",
        "metadata": [{"key": "IsSoftDeletionSupported", "value": "true"}],
        "supportedApis": ["custom"],
        "attributes": [
            {
                **_attributes(
                    refresh_directory(_empty_directory(), _custom_app(), mapped={}, discovered_at=NOW),
                    ENTERPRISE_USER,
                )["userName"],
                "type": "Integer",
                "required": False,
                "defaultValue": "nobody",
                "flowNullValues": True,
            }
        ],
    }
    directory = refresh_directory(_empty_directory(old_user), _custom_app(), mapped={}, discovered_at=NOW)
    (user,) = directory["objects"]
    assert user["name"] == "User"
    assert user["metadata"] == old_user["metadata"] and user["supportedApis"] == ["custom"]
    user_name = _attributes(directory, "User")["userName"]
    # Discovered characteristics are replaced; what an administrator set stays.
    assert (user_name["type"], user_name["required"]) == ("String", True)
    assert (user_name["defaultValue"], user_name["flowNullValues"]) == ("nobody", True)


def test_undescribed_attributes_and_objects_survive_only_when_mapped_or_customer_defined() -> None:
    def attribute(name: str, customer: bool = False) -> dict[str, Any]:
        metadata = [{"key": "IsCustomerDefined", "value": "true"}] if customer else []
        return {"name": name, "type": "String", "metadata": metadata}

    current = _empty_directory(
        {
            "name": ENTERPRISE_USER,
            "attributes": [attribute("mappedGone"), attribute("gone"), attribute("mine", True)],
        },
        {"name": "Printer", "attributes": [attribute("location")]},
        {"name": "Robot", "attributes": []},
    )
    mapped = {ENTERPRISE_USER: ["MAPPEDGONE"], "Printer": ["location"]}
    directory = refresh_directory(current, _custom_app(), mapped=mapped, discovered_at=NOW)
    assert [o["name"] for o in directory["objects"]] == [ENTERPRISE_USER, "Printer"]
    user = _attributes(directory, ENTERPRISE_USER)
    assert "mappedGone" in user and "mine" in user and "gone" not in user
    assert "userName" in user


def test_refresh_leaves_its_input_untouched() -> None:
    current = _customappsso()
    before = copy.deepcopy(current)
    refresh_directory(current, _custom_app(), mapped={}, discovered_at=NOW)
    assert current == before


def test_a_changed_schema_is_discovered_with_a_new_version() -> None:
    other = _description([USER_TYPE], [_schema(CORE_USER, _attr("userName"), _attr("nickName"))])
    assert _custom_app().version == _custom_app().version
    assert other.version != _custom_app().version


def test_a_resource_type_listed_twice_is_not_scim() -> None:
    with pytest.raises(ScimConnectionError) as caught:
        _description([USER_TYPE, USER_TYPE], [USER_SCHEMA])
    assert "twice" in caught.value.detail
