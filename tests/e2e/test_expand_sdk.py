"""`$expand` and the relationship listings through msgraph-sdk's request builders (v1.0 and
beta): the SDK deserializes the expanded manager, members and owners, and the memberOf,
directReports, transitive and owners pages, into its own typed models."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from tests.api.helpers import make_app, make_user
from tests.api.test_directory import make_group
from tests.api.test_directory_expand import add_member, add_owner, set_manager
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS


def config(builder_module: Any, builder: str, **query: Any) -> RequestConfiguration[Any]:
    parameters = getattr(getattr(builder_module, builder), f"{builder}GetQueryParameters")
    return RequestConfiguration(query_parameters=parameters(**query))


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_the_sdk_reads_expanded_relationships(version: str, live_server: LiveServer) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)
    with live_server.client() as http:
        boss = make_user(http, "boss", displayName="Boss")
        worker = make_user(http, "worker", displayName="Worker")
        set_manager(live_server, http, worker["id"], boss["id"])
        group = make_group(http, "crew")
        sub = make_group(http, "sub")
        for member in (worker, sub):
            add_member(live_server, http, group["id"], member["id"])
        sp = make_app(http)["servicePrincipal"]
        add_owner(live_server, http, f"/servicePrincipals/{sp['id']}", boss["id"])

    users = await client.users.get(
        request_configuration=config(
            sdk.module("users.users_request_builder"),
            "UsersRequestBuilder",
            expand=["manager($select=id,displayName)"],
        )
    )
    managers = {u.id: u.manager for u in users.value}
    assert managers[boss["id"]] is None
    manager = managers[worker["id"]]
    assert isinstance(manager, sdk.model("User", "user"))
    assert (manager.id, manager.display_name) == (boss["id"], "Boss")

    crew = await client.groups.by_group_id(group["id"]).get(
        request_configuration=config(
            sdk.module("groups.item.group_item_request_builder"),
            "GroupItemRequestBuilder",
            expand=["members"],
        )
    )
    kinds = {m.id: type(m).__name__ for m in crew.members}
    assert kinds == {worker["id"]: "User", sub["id"]: "Group"}

    keyed = await client.service_principals_with_app_id(sp["appId"]).get(
        request_configuration=config(
            sdk.module("service_principals_with_app_id.service_principals_with_app_id_request_builder"),
            "ServicePrincipalsWithAppIdRequestBuilder",
            expand=["owners"],
        )
    )
    assert [(type(o).__name__, o.id) for o in keyed.owners] == [("User", boss["id"])]

    # The relationship listings, through their own request builders.
    reports = await client.users.by_user_id(boss["id"]).direct_reports.get()
    assert [(type(r).__name__, r.id) for r in reports.value] == [("User", worker["id"])]
    member_of = await client.users.by_user_id(worker["id"]).member_of.get()
    assert [(type(g).__name__, g.id) for g in member_of.value] == [("Group", group["id"])]
    owners = await client.service_principals.by_service_principal_id(sp["id"]).owners.get()
    assert [o.id for o in owners.value] == [boss["id"]]
    nested = await client.groups.by_group_id(group["id"]).transitive_members.get()
    assert sorted(m.id for m in nested.value) == sorted([worker["id"], sub["id"]])
    above = await client.users.by_user_id(worker["id"]).transitive_member_of.get()
    assert [g.id for g in above.value] == [group["id"]]
