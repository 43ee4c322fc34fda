"""msgraph-sdk's delta request builders (`client.users.delta`, `groups.delta`,
`service_principals.delta`) against the live server, on v1.0 and beta: a full first round
followed through `odata_next_link`, then changes, then deletes, read through `odata_delta_link`."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from tests.api.helpers import make_user
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS, instantiate_scim_app


def small_pages(select: list[str] | None = None) -> RequestConfiguration[Any]:
    config: RequestConfiguration[Any] = RequestConfiguration()
    config.headers.add("Prefer", "odata.maxpagesize=2")
    if select is not None:

        class Query:
            def __init__(self) -> None:
                self.select = select

            def get_query_parameter(self, name: str) -> str:
                return "%24select" if name == "select" else name

        config.query_parameters = Query()
    return config


async def sdk_round(builder: Any, url: str | None = None, config: Any = None) -> tuple[list[Any], int, str]:
    """One round through the SDK: every item, the number of pages, and the deltaLink."""
    response = await (builder.with_url(url) if url else builder).get(request_configuration=config)
    items, pages = list(response.value or []), 1
    while response.odata_next_link:
        assert response.odata_delta_link is None
        response = await builder.with_url(response.odata_next_link).get(request_configuration=config)
        items.extend(response.value or [])
        pages += 1
    assert response.odata_delta_link
    return items, pages, response.odata_delta_link


def removed(item: Any) -> str | None:
    reason = (item.additional_data or {}).get("@removed")
    return None if reason is None else str(reason["reason"])


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_user_delta_through_the_sdk(version: str, live_server: LiveServer) -> None:
    client = FLAVOURS[version].client(live_server, version)
    with live_server.client(version=version) as http:
        ids = [make_user(http, name)["id"] for name in ("ria", "sam", "tom", "uma", "vic")]

        items, pages, delta_link = await sdk_round(client.users.delta, config=small_pages())
        assert pages == 3
        assert sorted(u.id for u in items) == sorted(ids)
        assert {u.user_principal_name for u in items} >= {"ria@contoso.example", "vic@contoso.example"}

        ria, sam, tom, uma, _ = ids
        assert http.patch(f"/users/{ria}", json={"displayName": "Ria Changed"}).status_code == 204
        wen = make_user(http, "wen")["id"]
        items, _, delta_link = await sdk_round(client.users.delta, delta_link)
        assert {u.id: u.display_name for u in items} == {ria: "Ria Changed", wen: "Wen"}

        assert http.delete(f"/users/{sam}").status_code == 204
        assert http.delete(f"/users/{tom}").status_code == 204
        assert http.delete(f"/directory/deletedItems/{tom}").status_code == 204
        items, _, delta_link = await sdk_round(client.users.delta, delta_link)
        assert {u.id: removed(u) for u in items} == {sam: "changed", tom: "deleted"}

        assert http.patch(f"/users/{uma}", json={"jobTitle": "Lead"}).status_code == 204
        items, _, _ = await sdk_round(client.users.delta, delta_link)
        assert [(u.id, u.job_title) for u in items] == [(uma, "Lead")]


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_group_and_service_principal_delta_through_the_sdk(
    version: str, live_server: LiveServer
) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)
    with live_server.client(version=version) as http:
        user = make_user(http, "xan")["id"]
        body = {"displayName": "Team", "mailNickname": "team", "mailEnabled": False, "securityEnabled": True}
        group = http.post("/groups", json=body).json()["id"]
        items, _, group_link = await sdk_round(
            client.groups.delta, config=small_pages(["displayName", "members"])
        )
        assert [(g.id, g.display_name) for g in items] == [(group, "Team")]
        assert items[0].additional_data["members@delta"] == []

        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"}
        assert http.post(f"/groups/{group}/members/$ref", json=ref).status_code == 204
        items, _, group_link = await sdk_round(client.groups.delta, group_link)
        assert [g.id for g in items] == [group]
        members = items[0].additional_data["members@delta"]  # the SDK reads GUID text as UUIDs
        assert [{k: str(v) for k, v in m.items()} for m in members] == [
            {"@odata.type": "#microsoft.graph.user", "id": user}
        ]

        # A soft-deleted member leaves the group's member list: members@delta says so.
        assert http.delete(f"/users/{user}").status_code == 204
        items, _, group_link = await sdk_round(client.groups.delta, group_link)
        members = items[0].additional_data["members@delta"]
        assert [(str(m["id"]), m["@removed"]["reason"]) for m in members] == [(user, "deleted")]

        assert http.delete(f"/groups/{group}").status_code == 204
        items, _, _ = await sdk_round(client.groups.delta, group_link)
        assert [(g.id, removed(g)) for g in items] == [(group, "changed")]

        created = await instantiate_scim_app(sdk, client, "Delta App")
        sp = created.service_principal.id
        items, _, sp_link = await sdk_round(client.service_principals.delta)
        assert [(s.id, s.display_name) for s in items] == [(sp, "Delta App")]
        # An update through the SDK's PATCH shows in the next round.
        patch = sdk.model("ServicePrincipal", "service_principal")(tags=["delta-tag"])
        await client.service_principals.by_service_principal_id(sp).patch(patch)
        items, _, sp_link = await sdk_round(client.service_principals.delta, sp_link)
        assert [(s.id, s.tags) for s in items] == [(sp, ["delta-tag"])]
        await client.service_principals.by_service_principal_id(sp).delete()
        items, _, _ = await sdk_round(client.service_principals.delta, sp_link)
        assert [(s.id, removed(s)) for s in items] == [(sp, "deleted")]
