"""`any` and `all` lambdas in $filter on collection properties (servicePrincipal tags, user proxyAddresses,
otherMails, businessPhones), run in SQL on both databases: `prop/any(x: x eq '...')`,
`startswith(x, '...')`, `or` inside; Graph's errors when misused."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.helpers import assert_graph_error, make_user
from tests.conftest import LiveServer


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(
        item.get("displayName") or item.get("userPrincipalName") for item in response.json()["value"]
    )


def test_service_principals_by_tag(live_server: LiveServer) -> None:
    client = live_server.client()
    for name, tags in (("Tagged", ["WindowsAzureActiveDirectoryIntegratedApp", "HR"]), ("Other", ["Sales"])):
        app = client.post("/applications", json={"displayName": name}).json()
        created = client.post("/servicePrincipals", json={"appId": app["appId"], "tags": tags})
        assert created.status_code == 201, created.text
    assert _names(client.get("/servicePrincipals", params={"$filter": "tags/any(t:t eq 'hr')"})) == ["Tagged"]
    both = "tags/any(t: t eq 'HR' or t eq 'Sales')"
    assert _names(client.get("/servicePrincipals", params={"$filter": both})) == ["Other", "Tagged"]
    prefix = "tags/any(x: startswith(x, 'windows'))"
    assert _names(client.get("/servicePrincipals", params={"$filter": prefix})) == ["Tagged"]
    negated = "not(tags/any(t:t eq 'HR'))"
    assert "Tagged" not in _names(client.get("/servicePrincipals", params={"$filter": negated}))


def test_service_principals_whose_tags_all_meet_a_condition(live_server: LiveServer) -> None:
    client = live_server.client()
    for name, tags in (("AllWin", ["WindowsA", "windowsB"]), ("Mixed", ["WindowsA", "HR"]), ("None", [])):
        app = client.post("/applications", json={"displayName": name}).json()
        created = client.post("/servicePrincipals", json={"appId": app["appId"], "tags": tags})
        assert created.status_code == 201, created.text
    every = "tags/all(t: startswith(t, 'windows'))"
    # An empty collection meets any `all`, as OData defines it.
    assert _names(client.get("/servicePrincipals", params={"$filter": every})) == ["AllWin", "None"]
    some_not = f"not({every})"
    assert _names(client.get("/servicePrincipals", params={"$filter": some_not})) == ["Mixed"]
    nonempty = f"{every} and tags/any(t: startswith(t, 'w'))"
    assert _names(client.get("/servicePrincipals", params={"$filter": nonempty})) == ["AllWin"]


def test_users_by_proxy_address_and_phone(live_server: LiveServer) -> None:
    client = live_server.client()
    make_user(client, "ann", proxyAddresses=["SMTP:ann@contoso.example", "smtp:a@contoso.example"])
    make_user(client, "bob", businessPhones=["+1 425 555 0100"])
    by_address = client.get(
        "/users", params={"$filter": "proxyAddresses/any(p:p eq 'smtp:a@contoso.example')"}
    )
    assert _names(by_address) == ["Ann"]
    by_phone = client.get(
        "/users",
        params={"$filter": "businessPhones/any(p:startswith(p,'+1 425')) and accountEnabled eq true"},
    )
    assert _names(by_phone) == ["Bob"]
    assert _names(client.get("/users", params={"$filter": "otherMails/any(m:m eq 'x@y')"})) == []


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("tags/all(t:t lt 'HR')", "Unsupported filter operator 'lt'"),
        ("tags/any(t: tags/all(u: u eq 'x'))", "Lambda operators cannot be nested"),
        ("displayName/any(t:t eq 'HR')", "applies to collections"),
        ("tags eq 'HR'", "is a collection"),
        ("tags/any(t:x eq 'HR')", "range variable 't'"),
        ("tags/any(t:t gt 'HR')", "Unsupported filter operator 'gt'"),
        ("tags/any(t t eq 'HR')", "':' expected"),
        ("tags/any(t:t eq 5)", "Incompatible types"),
    ],
)
def test_misused_lambdas_are_graph_errors(live_server: LiveServer, expression: str, says: str) -> None:
    error = assert_graph_error(
        live_server.client().get("/servicePrincipals", params={"$filter": expression}), 400
    )
    assert says in error["message"], error["message"]
