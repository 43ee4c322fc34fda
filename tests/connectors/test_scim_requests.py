"""The SCIM requests Entra sends: exact shapes from the reference (entra-engine-behavior.md §5 and §6),
and a round trip of every builder through a real scim2-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from tests.scim_target import start_scim_server

from provisiond.connectors.scim_requests import (
    ENTERPRISE_USER,
    MANAGER_PATH,
    MEMBERS_PATH,
    FlatValue,
    ScimFormat,
    disable_operations,
    flatten_resource,
    format_for_base_address,
    group_resource,
    manager_operations,
    match_query_params,
    member_operations,
    parse_path,
    patch_body,
    update_operations,
    user_filter,
    user_resource,
)

DEFAULT, COMPLIANT = ScimFormat.DEFAULT, ScimFormat.COMPLIANT
BOTH_FORMATS = pytest.mark.parametrize("fmt", [DEFAULT, COMPLIANT], ids=["default", "compliant"])
E = f"{ENTERPRISE_USER}:"
WORK_EMAIL = 'emails[type eq "work"].value'
OTHER_EMAILS = 'emails[type eq "other"].value'
ROLE = 'roles[primary eq "True"].value'
TOKEN = "scim-requests-test"


def default_mapped_values(user_name: str) -> dict[str, FlatValue]:
    """Every target attribute the default customappsso user mapping writes (manager aside)."""
    work = 'addresses[type eq "work"].'
    return {
        "userName": user_name,
        "active": True,
        "displayName": "Ada Lovelace",
        "title": "Analyst",
        WORK_EMAIL: user_name,
        "preferredLanguage": "en-GB",
        "name.givenName": "Ada",
        "name.familyName": "Lovelace",
        "name.formatted": "Ada Lovelace",
        work + "formatted": "Building 1",
        work + "streetAddress": "1 Main St",
        work + "locality": "London",
        work + "region": "LDN",
        work + "postalCode": "N1 9GU",
        work + "country": "GB",
        'phoneNumbers[type eq "work"].value': "+44 20 0000 0001",
        'phoneNumbers[type eq "mobile"].value': "+44 7700 000001",
        "externalId": "ada",
        E + "employeeNumber": "1815",
        E + "department": "Engines",
        E + "organization": "Contoso",
        ROLE: "Admin",
    }


# --- exact shapes ----------------------------------------------------------------------------


def test_user_resource_reproduces_the_reference_post_sample() -> None:
    values: dict[str, FlatValue] = {
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee",
        "active": "True",  # the default `active` expression yields a string
        WORK_EMAIL: "Test_User_fd0ea19b@testuser.com",
        "name.formatted": "givenName familyName",
        "name.familyName": "familyName",
        "name.givenName": "givenName",
        ROLE: None,  # mapped, but the user has no app role
    }
    assert user_resource(values) == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
    }


def test_user_resource_nests_every_path_kind_and_merges_items_of_one_filter() -> None:
    values = default_mapped_values("ada@contoso.com") | {OTHER_EMAILS: ["a1@contoso.com", "a2@contoso.com"]}
    resource = user_resource(values)
    assert resource["emails"] == [
        {"type": "work", "value": "ada@contoso.com", "primary": True},
        {"type": "other", "value": "a1@contoso.com"},
        {"type": "other", "value": "a2@contoso.com"},
    ]
    assert resource["addresses"] == [
        {
            "type": "work",
            "formatted": "Building 1",
            "streetAddress": "1 Main St",
            "locality": "London",
            "region": "LDN",
            "postalCode": "N1 9GU",
            "country": "GB",
        }
    ]
    assert resource["phoneNumbers"] == [
        {"type": "work", "value": "+44 20 0000 0001"},
        {"type": "mobile", "value": "+44 7700 000001"},
    ]
    assert resource["roles"] == [{"primary": True, "value": "Admin"}]
    assert resource[ENTERPRISE_USER] == {
        "employeeNumber": "1815",
        "department": "Engines",
        "organization": "Contoso",
    }
    assert resource["name"] == {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"}


def test_user_resource_leaves_out_null_values() -> None:
    resource = user_resource({"userName": "u", "title": None, "name.givenName": None, E + "department": None})
    assert resource == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
        "userName": "u",
        "meta": {"resourceType": "User"},
    }


def test_references_are_not_values_of_a_resource_or_an_update() -> None:
    with pytest.raises(ValueError, match="manager_operations"):
        user_resource({"userName": "u", MANAGER_PATH: "m1"})
    with pytest.raises(ValueError, match="member_operations"):
        update_operations({}, {MEMBERS_PATH: ["u1"]}, DEFAULT)


def test_group_resource_is_created_without_members() -> None:
    # The reference's sample also lists the legacy ADSCIM schema URI, a quirk fixed outside customappsso jobs.
    values: dict[str, FlatValue] = {
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
    }
    assert group_resource(values) == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }


@pytest.mark.parametrize(
    ("base_address", "expected"),
    [
        ("https://host/scim/?aadOptscim062020", COMPLIANT),
        ("https://host/scim?tenant=1&AADOPTSCIM062020=", COMPLIANT),
        ("https://host/scim", DEFAULT),
        ("https://host/aadOptscim062020/scim", DEFAULT),
    ],
)
def test_only_the_flag_in_the_query_string_selects_the_compliant_format(
    base_address: str, expected: ScimFormat
) -> None:
    assert format_for_base_address(base_address) is expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (DEFAULT, {"op": "Replace", "path": "active", "value": "False"}),
        (COMPLIANT, {"op": "replace", "path": "active", "value": False}),
    ],
)
def test_disable_matches_the_format_table(fmt: ScimFormat, expected: dict[str, Any]) -> None:
    assert disable_operations(fmt) == [expected]
    assert update_operations({"active": "True"}, {"active": "False"}, fmt) == [expected]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (DEFAULT, {"op": "Add", "path": "nickName", "value": "Babs"}),
        (COMPLIANT, {"op": "add", "path": "nickName", "value": "Babs"}),
    ],
)
def test_a_newly_present_single_value_is_added_as_in_the_format_table(
    fmt: ScimFormat, expected: dict[str, Any]
) -> None:
    assert update_operations({"nickName": None}, {"nickName": "Babs"}, fmt) == [expected]


def _several_attributes() -> tuple[dict[str, FlatValue], dict[str, FlatValue]]:
    old: dict[str, FlatValue] = {
        "displayName": "Old",
        WORK_EMAIL: "old@contoso.com",
        "name.givenName": "Oldgiven",
        "name.familyName": "Oldfamily",
        E + "employeeNumber": "1",
    }
    new: dict[str, FlatValue] = {
        "displayName": "Bjfe",
        WORK_EMAIL: "TestMhvaes@test.microsoft.com",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        E + "employeeNumber": "Onedw",
    }
    return old, new


def test_default_format_replaces_several_attributes_one_op_each() -> None:
    old, new = _several_attributes()
    assert update_operations(old, new, DEFAULT) == [
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": WORK_EMAIL, "value": "TestMhvaes@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "name.familyName", "value": "Unua"},
        {"op": "Replace", "path": E + "employeeNumber", "value": "Onedw"},
    ]


def test_compliant_format_replaces_filtered_items_by_path_and_the_rest_in_one_dotted_op() -> None:
    old, new = _several_attributes()
    assert update_operations(old, new, COMPLIANT) == [
        {"op": "replace", "path": WORK_EMAIL, "value": "TestMhvaes@test.microsoft.com"},
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                E + "employeeNumber": "Onedw",
            },
        },
    ]


def test_patch_body_reproduces_the_reference_patch_sample() -> None:
    old: dict[str, FlatValue] = {WORK_EMAIL: "email@microsoft.com", "name.familyName": "familyName"}
    new: dict[str, FlatValue] = {
        WORK_EMAIL: "updatedEmail@microsoft.com",
        "name.familyName": "updatedFamilyName",
    }
    assert patch_body(update_operations(old, new, DEFAULT)) == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    }


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (DEFAULT, {"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}),
        (COMPLIANT, {"op": "remove", "path": 'members[value eq "u1091"]'}),
    ],
)
def test_member_removal_matches_the_format_table(fmt: ScimFormat, expected: dict[str, Any]) -> None:
    assert member_operations([], ["u1091"], fmt) == [[expected]]


def test_unchanged_values_send_nothing_even_when_spelled_differently() -> None:
    old: dict[str, FlatValue] = {"active": "True", "title": "A", OTHER_EMAILS: ["x"]}
    new: dict[str, FlatValue] = {"active": True, "title": "A", OTHER_EMAILS: ["x"], "nickName": None}
    assert update_operations(old, new, DEFAULT) == []


@BOTH_FORMATS
def test_a_value_that_became_null_is_removed_by_path(fmt: ScimFormat) -> None:
    assert update_operations({"title": "A", WORK_EMAIL: "a@b.c"}, {"title": None}, fmt) == [
        {"op": fmt.op("Remove"), "path": "title"},
        {"op": fmt.op("Remove"), "path": WORK_EMAIL},
    ]


@BOTH_FORMATS
def test_a_list_value_changes_element_by_element(fmt: ScimFormat) -> None:
    ops = update_operations({OTHER_EMAILS: ["a@x.y", 'q"@x.y']}, {OTHER_EMAILS: ["a@x.y", "c@x.y"]}, fmt)
    assert ops == [
        {"op": fmt.op("Remove"), "path": 'emails[type eq "other" and value eq "q\\"@x.y"]'},
        {"op": fmt.op("Add"), "path": "emails", "value": [{"type": "other", "value": "c@x.y"}]},
    ]


def test_the_default_dialect_sets_the_manager_as_entra_does_with_the_bare_id() -> None:
    assert manager_operations("m1", DEFAULT) == [{"op": "Add", "path": MANAGER_PATH, "value": "m1"}]
    assert manager_operations(None, DEFAULT) == [{"op": "Remove", "path": MANAGER_PATH}]


def test_the_compliant_dialect_sets_the_manager_as_an_rfc_7643_complex_value() -> None:
    assert manager_operations("m1", COMPLIANT) == [
        {"op": "add", "path": MANAGER_PATH, "value": {"value": "m1"}}
    ]
    assert manager_operations(None, COMPLIANT) == [{"op": "remove", "path": MANAGER_PATH}]


@pytest.mark.parametrize(("fmt", "manager"), [(DEFAULT, "m1"), (COMPLIANT, {"value": "m1"})])
def test_a_manager_in_a_create_body_takes_the_dialects_form(fmt: ScimFormat, manager: object) -> None:
    resource = user_resource({"userName": "u", E + "department": "D"}, manager="m1", fmt=fmt)
    assert resource[ENTERPRISE_USER] == {"department": "D", "manager": manager}
    assert flatten_resource(resource, [MANAGER_PATH]) == {MANAGER_PATH: "m1"}
    assert ENTERPRISE_USER not in user_resource({"userName": "u"})


def test_member_changes_are_batched_by_count_adds_first() -> None:
    batches = member_operations(["a", "b", "c"], ["d", "e"], DEFAULT, batch_size=2)
    assert batches == [
        [{"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}],
        [
            {"op": "Add", "path": "members", "value": [{"value": "c"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "d"}]},
        ],
        [{"op": "Remove", "path": "members", "value": [{"value": "e"}]}],
    ]
    assert member_operations([], [], DEFAULT) == []
    with pytest.raises(ValueError):
        member_operations(["a"], [], DEFAULT, batch_size=0)


def test_filters_escape_quotes_and_backslashes() -> None:
    assert user_filter("userName", 'we"ird\\name') == 'userName eq "we\\"ird\\\\name"'
    assert match_query_params("externalId", "x") == {"filter": 'externalId eq "x"'}
    assert match_query_params("displayName", 'Sales "EU"', group=True) == {
        "filter": 'displayName eq "Sales \\"EU\\""',
        "excludedAttributes": "members",
    }


def test_paths_resolve_extensions_core_urns_and_filters_generically() -> None:
    manager_value = parse_path(f"{E}manager.value")
    assert (manager_value.schema, manager_value.attribute, manager_value.sub) == (
        ENTERPRISE_USER,
        "manager",
        "value",
    )
    core = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName")
    assert (core.schema, core.attribute, core.sub) == (None, "name", "givenName")
    role = parse_path(ROLE)
    assert (role.filter_key, role.filter_value, role.sub) == ("primary", "True", "value")
    for bad in ('emails[type eq "work"]', "a b", "name..x"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_flatten_reads_filters_case_insensitively_and_references_as_ids() -> None:
    resource = {
        "userName": "u",
        "active": False,
        "emails": [{"type": "Work", "value": "w@x.y"}, {"type": "other", "value": "o@x.y"}],
        "roles": [{"primary": True, "value": "Admin"}],
        ENTERPRISE_USER: {"manager": {"value": "m1", "$ref": "../Users/m1"}, "department": "D"},
    }
    paths = ["userName", "active", WORK_EMAIL, OTHER_EMAILS, ROLE, MANAGER_PATH, E + "department", "title"]
    assert flatten_resource(resource, paths, multivalued={OTHER_EMAILS}) == {
        "userName": "u",
        "active": False,
        WORK_EMAIL: "w@x.y",
        OTHER_EMAILS: ["o@x.y"],
        ROLE: "Admin",
        MANAGER_PATH: "m1",
        E + "department": "D",
        "title": None,
    }
    group = {"displayName": "G", "members": [{"value": "u1"}, {"value": "u2", "type": "User"}]}
    assert flatten_resource(group, [MEMBERS_PATH]) == {MEMBERS_PATH: ["u1", "u2"]}


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ({"value": "m1", "$ref": "../Users/m1"}, "m1"),
        ("m1", "m1"),  # the bare id, as some apps built for Entra keep what Entra sent
        ({"value": 7}, "7"),  # an app with integer ids
        ("", None),
        ({"value": ""}, None),
        ({"displayName": "no id"}, None),
        (None, None),
    ],
)
def test_the_manager_reads_back_from_either_form(stored: object, read: str | None) -> None:
    resource = {"userName": "u", ENTERPRISE_USER: {"manager": stored}}
    assert flatten_resource(resource, [MANAGER_PATH]) == {MANAGER_PATH: read}


# --- round trip through scim2-server ---------------------------------------------------------


@pytest.fixture(scope="module")
def scim() -> Iterator[httpx.Client]:
    """A real scim2-server with the Entra-tolerant policy, shared by this module's tests."""
    base_url, stop = start_scim_server(TOKEN)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        yield client
    stop()


def _unique_name() -> str:
    return f"{uuid.uuid4().hex[:12]}@contoso.com"


def _create(scim: httpx.Client, resource_type: str, body: Mapping[str, Any]) -> str:
    response = scim.post(f"/{resource_type}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _create_user(scim: httpx.Client, values: Mapping[str, FlatValue] | None = None) -> str:
    return _create(scim, "Users", user_resource(values or {"userName": _unique_name()}))


def _patch(scim: httpx.Client, resource_type: str, target_id: str, operations: list[dict[str, Any]]) -> None:
    response = scim.patch(f"/{resource_type}/{target_id}", json=patch_body(operations))
    assert response.is_success, response.text


def _get(scim: httpx.Client, resource_type: str, target_id: str) -> dict[str, Any]:
    response = scim.get(f"/{resource_type}/{target_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_created_user_reads_back_as_the_values_sent(scim: httpx.Client) -> None:
    values = default_mapped_values(_unique_name())
    target_id = _create_user(scim, values)
    assert flatten_resource(_get(scim, "Users", target_id), values) == values


@BOTH_FORMATS
def test_update_operations_bring_the_target_to_the_new_values(scim: httpx.Client, fmt: ScimFormat) -> None:
    old = default_mapped_values(_unique_name()) | {OTHER_EMAILS: ["o1@contoso.com", "o2@contoso.com"]}
    target_id = _create_user(scim, old)
    new = old | {
        "displayName": "Ada King",
        "title": None,  # removed
        WORK_EMAIL: _unique_name(),
        "name.familyName": "King",
        'addresses[type eq "work"].locality': "Ockham",
        'phoneNumbers[type eq "fax"].value': "+44 20 0000 0002",  # newly present, no such item yet
        E + "department": "Mathematics",
        E + "employeeNumber": None,  # removed
        OTHER_EMAILS: ["o2@contoso.com", "o3@contoso.com"],
        ROLE: "User",
    }
    _patch(scim, "Users", target_id, update_operations(old, new, fmt))
    resource = _get(scim, "Users", target_id)
    assert flatten_resource(resource, new, multivalued={OTHER_EMAILS}) == new


@BOTH_FORMATS
def test_disable_leaves_the_user_inactive(scim: httpx.Client, fmt: ScimFormat) -> None:
    # DEFAULT sends "False" as a string; scim2-server coerces it to the boolean.
    target_id = _create_user(scim, {"userName": _unique_name(), "active": True})
    _patch(scim, "Users", target_id, disable_operations(fmt))
    assert _get(scim, "Users", target_id)["active"] is False


@BOTH_FORMATS
def test_manager_is_set_changed_then_removed(scim: httpx.Client, fmt: ScimFormat) -> None:
    first, second, user_id = _create_user(scim), _create_user(scim), _create_user(scim)
    for manager_id in (first, second):
        _patch(scim, "Users", user_id, manager_operations(manager_id, fmt))
        stored = _get(scim, "Users", user_id)[ENTERPRISE_USER]["manager"]
        assert stored == {"value": manager_id}  # the app keeps RFC 7643's form whatever was sent
    _patch(scim, "Users", user_id, manager_operations(None, fmt))
    assert flatten_resource(_get(scim, "Users", user_id), [MANAGER_PATH]) == {MANAGER_PATH: None}


@BOTH_FORMATS
def test_a_user_created_with_its_manager_reads_it_back(scim: httpx.Client, fmt: ScimFormat) -> None:
    manager_id = _create_user(scim)
    body = user_resource({"userName": _unique_name()}, manager=manager_id, fmt=fmt)
    user_id = _create(scim, "Users", body)
    assert flatten_resource(_get(scim, "Users", user_id), [MANAGER_PATH]) == {MANAGER_PATH: manager_id}


@BOTH_FORMATS
def test_group_members_are_added_in_batches_and_removed(scim: httpx.Client, fmt: ScimFormat) -> None:
    users = [_create_user(scim) for _ in range(5)]
    group_id = _create(
        scim, "Groups", group_resource({"displayName": f"g-{uuid.uuid4()}", "externalId": "g"})
    )
    assert "members" not in _get(scim, "Groups", group_id)

    batches = member_operations(users, [], fmt, batch_size=2)
    assert [len(batch[0]["value"]) for batch in batches] == [2, 2, 1]
    for batch in batches:
        _patch(scim, "Groups", group_id, batch)
    assert set(flatten_resource(_get(scim, "Groups", group_id), [MEMBERS_PATH])[MEMBERS_PATH] or []) == set(
        users
    )

    # DEFAULT's `Remove` with a value is not RFC 7644; a strict scim2-server answers 400, the
    # Entra-tolerant policy of the test target applies it (peers-and-stack.md §1.4).
    for batch in member_operations([], users[:3], fmt, batch_size=2):
        _patch(scim, "Groups", group_id, batch)
    assert set(flatten_resource(_get(scim, "Groups", group_id), [MEMBERS_PATH])[MEMBERS_PATH] or []) == set(
        users[3:]
    )


def test_user_filter_finds_exactly_the_user_whose_name_has_a_quote_and_a_backslash(
    scim: httpx.Client,
) -> None:
    stem = uuid.uuid4().hex[:8]
    tricky = f'{stem}"odd\\name'
    for user_name in (tricky, f"{stem}odd\\name", f'{stem}"odd'):
        _create_user(scim, {"userName": user_name})
    response = scim.get("/Users", params=match_query_params("userName", tricky))
    assert response.status_code == 200, response.text
    assert [user["userName"] for user in response.json()["Resources"]] == [tricky]


def test_group_query_finds_the_group_by_display_name_without_members(scim: httpx.Client) -> None:
    name = f'Sales "{uuid.uuid4().hex[:8]}"'
    group_id = _create(scim, "Groups", group_resource({"displayName": name}))
    _patch(scim, "Groups", group_id, member_operations([_create_user(scim)], [], DEFAULT)[0])
    response = scim.get("/Groups", params=match_query_params("displayName", name, group=True))
    assert response.status_code == 200, response.text
    resources = response.json()["Resources"]
    assert [(g["id"], "members" in g) for g in resources] == [(group_id, False)]
