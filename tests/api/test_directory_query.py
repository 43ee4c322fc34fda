"""`$orderby`, `$search` and lambda `$filter`s on users, groups, applications and service
principals, through HTTP on SQLite and PostgreSQL (`live_server`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_user
from tests.api.test_directory import all_pages, make_group
from tests.conftest import LiveServer

EVENTUAL = {"ConsistencyLevel": "eventual"}
SORTING_NOT_SUPPORTED = "Sorting not supported for current query."


def listed(
    client: httpx.Client, path: str, headers: dict[str, str] | None = None, **params: str
) -> list[dict[str, Any]]:
    """Every item of a collection across its pages, in the order served."""
    pages = []
    response = client.get(path, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if "@odata.nextLink" not in page:
            break
        response = client.get(page["@odata.nextLink"], headers=headers)
        assert len(pages) < 50
    return [item for page in pages for item in page["value"]]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["displayName"] for item in items]


# --- $orderby ---------------------------------------------------------------------------------


def test_orderby_users_display_name_and_upn_asc_desc_with_paging(live_server: LiveServer) -> None:
    with live_server.client() as client:
        # Display names in another order than the UPNs, and a tie broken by id.
        for nick, name in [("dan", "bob"), ("amy", "Eve"), ("cal", "alice"), ("eli", "Carl"), ("bea", "bob")]:
            make_user(client, nick, displayName=name)
        for top in ("2", "100"):
            asc = listed(client, "/users", **{"$orderby": "displayName", "$top": top})
            assert [n.lower() for n in names(asc)] == ["alice", "bob", "bob", "carl", "eve"]
            bobs = [u["id"] for u in asc if u["displayName"] == "bob"]
            assert bobs == sorted(bobs)
            desc = listed(client, "/users", **{"$orderby": "displayName desc", "$top": top})
            assert [u["id"] for u in desc] == [u["id"] for u in reversed(asc)]
            upn = listed(client, "/users", **{"$orderby": "userPrincipalName asc", "$top": top})
            assert [u["userPrincipalName"].split("@")[0] for u in upn] == ["amy", "bea", "cal", "dan", "eli"]
            upn_desc = listed(client, "/users", **{"$orderby": "UserPrincipalName DESC", "$top": top})
            assert [u["id"] for u in upn_desc] == [u["id"] for u in reversed(upn)]


def test_orderby_created_date_time_needs_the_advanced_query_parameters(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ids = [make_user(client, nick)["id"] for nick in ("ann", "ben", "cat", "dov")]
        for params, headers in [
            ({"$orderby": "createdDateTime"}, None),
            ({"$orderby": "createdDateTime", "$count": "true"}, None),
            ({"$orderby": "createdDateTime"}, EVENTUAL),
        ]:
            error = assert_graph_error(
                client.get("/users", params=params, headers=headers), 400, "Request_UnsupportedQuery"
            )
            assert error["message"] == SORTING_NOT_SUPPORTED
        advanced = {"$count": "true", "$top": "3", "$select": "id,createdDateTime"}
        asc = listed(client, "/users", EVENTUAL, **{"$orderby": "createdDateTime asc", **advanced})
        assert sorted(u["id"] for u in asc) == sorted(ids)
        stamps = [u["createdDateTime"] for u in asc]
        assert stamps == sorted(stamps)
        desc = listed(client, "/users", EVENTUAL, **{"$orderby": "createdDateTime desc", **advanced})
        assert [u["id"] for u in desc] == [u["id"] for u in reversed(asc)]


def test_orderby_with_filter_needs_the_advanced_query_parameters(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for nick in ("zed", "zoe", "zak", "ola"):
            make_user(client, nick)
        query = {"$orderby": "displayName desc", "$filter": "startswith(displayName,'z')"}
        error = assert_graph_error(client.get("/users", params=query), 400, "Request_UnsupportedQuery")
        assert error["message"] == SORTING_NOT_SUPPORTED
        response = client.get("/users", params={**query, "$count": "true", "$top": "2"}, headers=EVENTUAL)
        assert response.json()["@odata.count"] == 3
        assert names(listed(client, "/users", EVENTUAL, **query, **{"$count": "true", "$top": "2"})) == [
            "Zoe",
            "Zed",
            "Zak",
        ]


def test_orderby_groups_applications_and_service_principals(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for nick in ("gamma", "alpha", "beta"):
            make_group(client, nick)
        assert names(listed(client, "/groups", **{"$orderby": "displayName", "$top": "2"})) == [
            "Alpha",
            "Beta",
            "Gamma",
        ]
        stamps = [
            g["createdDateTime"]
            for g in listed(
                client,
                "/groups",
                EVENTUAL,
                **{"$orderby": "createdDateTime desc", "$count": "true", "$top": "1"},
            )
        ]
        assert stamps == sorted(stamps, reverse=True) and len(stamps) == 3
        for name in ("Pear", "apple", "Mango"):
            response = client.post("/applications", json={"displayName": name})
            assert response.status_code == 201, response.text
            app_id = response.json()["appId"]
            assert client.post("/servicePrincipals", json={"appId": app_id}).status_code == 201
        for path in ("/applications", "/servicePrincipals"):
            error = assert_graph_error(
                client.get(path, params={"$orderby": "displayName"}), 400, "Request_UnsupportedQuery"
            )
            assert error["message"] == SORTING_NOT_SUPPORTED
            advanced = {"$count": "true", "$top": "2"}
            assert names(listed(client, path, EVENTUAL, **{"$orderby": "displayName desc", **advanced})) == [
                "Pear",
                "Mango",
                "apple",
            ]
        created = listed(
            client, "/applications", EVENTUAL, **{"$orderby": "createdDateTime", "$count": "true"}
        )
        assert names(created) == ["Pear", "apple", "Mango"]


@pytest.mark.parametrize(
    ("path", "orderby", "message"),
    [
        (
            "/users",
            "mail",
            "Sorting on property 'mail' is not supported; $orderby supports displayName, "
            "userPrincipalName, createdDateTime.",
        ),
        (
            "/groups",
            "mailNickname desc",
            "Sorting on property 'mailNickname' is not supported; $orderby supports displayName, createdDateTime.",
        ),
        (
            "/users",
            "displayName,id",
            "Invalid $orderby value 'displayName,id': only one property can be sorted on.",
        ),
        (
            "/users",
            "displayName sideways",
            "Invalid $orderby value 'displayName sideways': expected a property name and asc or desc.",
        ),
        (
            "/servicePrincipals",
            "nope",
            "Could not find a property named 'nope' on type 'microsoft.graph.servicePrincipal'.",
        ),
    ],
)
def test_orderby_refuses_other_properties_and_bad_values(
    sqlite_server: LiveServer, path: str, orderby: str, message: str
) -> None:
    with sqlite_server.client() as client:
        response = client.get(path, params={"$orderby": orderby, "$count": "true"}, headers=EVENTUAL)
        assert assert_graph_error(response, 400, "BadRequest")["message"] == message


def test_orderby_skiptoken_of_another_ordering_is_refused(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        for nick in ("kai", "lea", "max"):
            make_user(client, nick)
        plain = client.get("/users", params={"$top": "1"}).json()["@odata.nextLink"]
        token = httpx.URL(plain).params["$skiptoken"]
        response = client.get("/users", params={"$orderby": "displayName", "$skiptoken": token})
        assert assert_graph_error(response, 400)["message"] == "Invalid $skiptoken value."
        _ = all_pages


# --- $search ----------------------------------------------------------------------------------

SEARCH_NEEDS_HEADER = (
    "Request with $search query parameter only works through MSGraph with a special request header: "
    "'ConsistencyLevel: eventual'"
)


def test_search_users_groups_and_service_principals(live_server: LiveServer) -> None:
    with live_server.client() as client:
        make_user(client, "jsmith", displayName="John Smith")
        make_user(client, "jdoe", displayName="Jane Doe-Smithers")
        make_user(client, "pct", displayName="50%_off")
        make_user(client, "mary", displayName="Mary Jones")

        def search(path: str, text: str) -> list[str]:
            return sorted(names(listed(client, path, EVENTUAL, **{"$search": text, "$top": "1"})))

        assert search("/users", '"displayName:smi"') == ["Jane Doe-Smithers", "John Smith"]
        assert search("/users", '"displayName:jo"') == ["John Smith", "Mary Jones"]
        assert search("/users", '"displayName:ith"') == []  # a word prefix, not a substring
        assert search("/users", '"displayName:smi" AND "displayName:john"') == ["John Smith"]
        assert search("/users", '"displayName:mary" OR "userPrincipalName:jdoe"') == [
            "Jane Doe-Smithers",
            "Mary Jones",
        ]
        assert search("/users", '"displayName:50%_"') == ["50%_off"]
        assert search("/users", '"displayName:5%"') == []  # LIKE wildcards are literal
        make_group(client, "finance")
        assert search("/groups", '"displayName:fin"') == ["Finance"]
        app = client.post("/applications", json={"displayName": "Payroll Sync"}).json()
        assert client.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
        assert search("/servicePrincipals", '"displayName:sync"') == ["Payroll Sync"]
        response = client.get("/users", params={"$search": '"displayName:jo"'})
        error = assert_graph_error(response, 400, "Request_UnsupportedQuery")
        assert error["message"] == SEARCH_NEEDS_HEADER


@pytest.mark.parametrize(
    "text",
    [
        "displayName:jo",
        '"displayName:jo',
        '"displayName"',
        '"displayName:"',
        '"a:b" AND',
        '"displayName:x" "mail:y"',
        "AND",
    ],
)
def test_malformed_search_is_400(sqlite_server: LiveServer, text: str) -> None:
    with sqlite_server.client() as client:
        response = client.get("/users", params={"$search": text}, headers=EVENTUAL)
        assert_graph_error(response, 400)
