"""msgraph-sdk (v1.0) request builders' query parameters against the live server: `$orderby`,
`$search` with the ConsistencyLevel header, and lambda `$filter`s."""

from __future__ import annotations

from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from tests.api.helpers import make_user
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS


async def every_page(builder: Any, config: Any) -> list[Any]:
    response = await builder.get(request_configuration=config)
    items = list(response.value or [])
    while response.odata_next_link:
        response = await builder.with_url(response.odata_next_link).get(request_configuration=config)
        items.extend(response.value or [])
    return items


async def test_orderby_through_the_sdk(live_server: LiveServer) -> None:
    client = FLAVOURS["v1.0"].client(live_server, "v1.0")
    with live_server.client() as http:
        for nick, name in [("nia", "Olga"), ("oli", "Mona"), ("pam", "Nora")]:
            make_user(http, nick, displayName=name)
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(orderby=["displayName desc"], top=2)
    config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    users = await every_page(client.users, config)
    assert [u.display_name for u in users] == ["Olga", "Nora", "Mona"]

    advanced = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        orderby=["createdDateTime"], count=True, top=1, select=["id", "createdDateTime"]
    )
    config = RequestConfiguration(query_parameters=advanced)
    config.headers.add("ConsistencyLevel", "eventual")
    stamps = [u.created_date_time for u in await every_page(client.users, config)]
    assert len(stamps) == 3 and stamps == sorted(stamps)


async def test_search_through_the_sdk(live_server: LiveServer) -> None:
    client = FLAVOURS["v1.0"].client(live_server, "v1.0")
    with live_server.client() as http:
        for nick, name in [("rex", "Rex Sato"), ("sol", "Sol Satori"), ("ty", "Ty Wu")]:
            make_user(http, nick, displayName=name)
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(search='"displayName:sat"')
    config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    config.headers.add("ConsistencyLevel", "eventual")
    assert sorted(u.display_name for u in await every_page(client.users, config)) == [
        "Rex Sato",
        "Sol Satori",
    ]


async def test_a_lambda_filter_through_the_sdk(live_server: LiveServer) -> None:
    from msgraph.generated.service_principals.service_principals_request_builder import (
        ServicePrincipalsRequestBuilder,
    )

    client = FLAVOURS["v1.0"].client(live_server, "v1.0")
    with live_server.client() as http:
        for name, tags in (("Payroll", ["HR"]), ("CRM", ["Sales"])):
            app = http.post("/applications", json={"displayName": name}).json()
            assert (
                http.post("/servicePrincipals", json={"appId": app["appId"], "tags": tags}).status_code == 201
            )
    query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
        filter="tags/any(t:t eq 'HR')"
    )
    config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    found = await every_page(client.service_principals, config)
    assert [sp.tags for sp in found] == [["HR"]]
    every = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
        filter="tags/all(t:t eq 'Sales')"
    )
    found = await every_page(client.service_principals, RequestConfiguration(query_parameters=every))
    assert [sp.tags for sp in found] == [["Sales"]]
