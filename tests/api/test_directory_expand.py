"""`$expand` on users, groups, service principals and applications, and the owners, memberOf
and directReports listings,
through HTTP on SQLite and PostgreSQL (`live_server`): one relationship per request, a nested
`$select`, at most 20 related objects, soft-deleted ones hidden, Graph's errors when misused."""

from __future__ import annotations

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app, make_user
from tests.api.test_directory import make_group
from tests.api.test_directory_query import listed
from tests.conftest import LiveServer

from provisiond.graph.directory import USER_DEFAULT_SELECT

ODATA = "@odata.type"


def ref(server: LiveServer, object_id: str) -> dict[str, str]:
    return {"@odata.id": f"{server.url}/v1.0/directoryObjects/{object_id}"}


def add_member(server: LiveServer, client: httpx.Client, group_id: str, member_id: str) -> None:
    response = client.post(f"/groups/{group_id}/members/$ref", json=ref(server, member_id))
    assert response.status_code == 204, response.text


def add_owner(server: LiveServer, client: httpx.Client, path: str, owner_id: str) -> None:
    response = client.post(f"{path}/owners/$ref", json=ref(server, owner_id))
    assert response.status_code == 204, response.text


def set_manager(server: LiveServer, client: httpx.Client, user_id: str, manager_id: str) -> None:
    response = client.put(f"/users/{user_id}/manager/$ref", json=ref(server, manager_id))
    assert response.status_code == 204, response.text


# --- manager ----------------------------------------------------------------------------------


def test_expand_manager_on_users_gives_the_manager_or_leaves_the_property_out(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        boss = make_user(client, "boss", displayName="Boss")
        worker = make_user(client, "worker", displayName="Worker")
        set_manager(live_server, client, worker["id"], boss["id"])
        page = client.get("/users", params={"$expand": "manager"})
        assert page.status_code == 200, page.text
        assert page.json()["@odata.context"].endswith("$metadata#users(manager())")
        by_id = {u["id"]: u for u in page.json()["value"]}
        assert "manager" not in by_id[boss["id"]]
        manager = by_id[worker["id"]]["manager"]
        # v1.0 shows a user's default properties, after the type annotation.
        assert list(manager) == [ODATA, *USER_DEFAULT_SELECT]
        assert manager[ODATA] == "#microsoft.graph.user"
        assert (manager["id"], manager["displayName"]) == (boss["id"], "Boss")


def test_expand_manager_with_nested_select_and_an_outer_select(live_server: LiveServer) -> None:
    with live_server.client() as client:
        boss = make_user(client, "boss", displayName="Boss", jobTitle="CEO")
        worker = make_user(client, "worker")
        set_manager(live_server, client, worker["id"], boss["id"])
        params = {"$select": "displayName", "$expand": "Manager($select=id,jobTitle)"}
        one = client.get(f"/users/{worker['id']}", params=params)
        assert one.status_code == 200, one.text
        body = one.json()
        assert body["@odata.context"].endswith("$metadata#users(displayName,manager(id,jobTitle))/$entity")
        # The outer $select leaves out id; the expansion still lands on the right user.
        assert {k: v for k, v in body.items() if k != "@odata.context"} == {
            "displayName": worker["displayName"],
            "manager": {ODATA: "#microsoft.graph.user", "id": boss["id"], "jobTitle": "CEO"},
        }
        listed_worker = [u for u in listed(client, "/users", **params) if "manager" in u]
        assert listed_worker == [{k: v for k, v in body.items() if k != "@odata.context"}]


def test_a_soft_deleted_manager_is_not_expanded_and_returns_when_restored(live_server: LiveServer) -> None:
    with live_server.client() as client:
        boss = make_user(client, "boss")
        worker = make_user(client, "worker")
        set_manager(live_server, client, worker["id"], boss["id"])
        assert client.delete(f"/users/{boss['id']}").status_code == 204
        assert "manager" not in client.get(f"/users/{worker['id']}", params={"$expand": "manager"}).json()
        assert client.post(f"/directory/deletedItems/{boss['id']}/restore").status_code == 200
        shown = client.get(f"/users/{worker['id']}", params={"$expand": "manager"}).json()
        assert shown["manager"]["id"] == boss["id"]


def test_beta_expands_a_manager_with_all_its_properties(live_server: LiveServer) -> None:
    with live_server.client() as v1, live_server.client(version="beta") as beta:
        boss = make_user(v1, "boss", department="Sales")
        worker = make_user(v1, "worker")
        set_manager(live_server, v1, worker["id"], boss["id"])
        manager = beta.get(f"/users/{worker['id']}", params={"$expand": "manager"}).json()["manager"]
        assert manager["department"] == "Sales"
        assert (
            "department"
            not in v1.get(f"/users/{worker['id']}", params={"$expand": "manager"}).json()["manager"]
        )


# --- members and owners -----------------------------------------------------------------------


def test_expand_members_gives_the_first_twenty_live_members_in_id_order(live_server: LiveServer) -> None:
    with live_server.client() as client:
        group = make_group(client, "big")
        users = [make_user(client, f"u{i:02}") for i in range(23)]
        nested = make_group(client, "nested")
        for member in [*users, nested]:
            add_member(live_server, client, group["id"], member["id"])
        gone = sorted(users, key=lambda u: u["id"])[0]
        assert client.delete(f"/users/{gone['id']}").status_code == 204
        live_ids = sorted([u["id"] for u in users if u is not gone] + [nested["id"]])

        body = client.get(f"/groups/{group['id']}", params={"$expand": "members"}).json()
        assert body["@odata.context"].endswith("$metadata#groups(members())/$entity")
        members = body["members"]
        assert [m["id"] for m in members] == live_ids[:20]
        kinds = {u["id"]: "#microsoft.graph.user" for u in users} | {nested["id"]: "#microsoft.graph.group"}
        assert [m[ODATA] for m in members] == [kinds[i] for i in live_ids[:20]]
        assert "members@odata.nextLink" not in body


def test_expand_members_nested_select_returns_what_each_member_type_has(live_server: LiveServer) -> None:
    with live_server.client() as client:
        group = make_group(client, "team")
        user = make_user(client, "ann")
        sub = make_group(client, "sub")
        add_member(live_server, client, group["id"], user["id"])
        add_member(live_server, client, group["id"], sub["id"])
        empty = make_group(client, "empty")
        params = {"$expand": "members($select=id,userPrincipalName,securityEnabled)", "$select": "id"}
        page = {g["id"]: g for g in listed(client, "/groups", **params)}
        members = {m["id"]: m for m in page[group["id"]]["members"]}
        assert members[user["id"]] == {
            ODATA: "#microsoft.graph.user",
            "id": user["id"],
            "userPrincipalName": user["userPrincipalName"],
        }
        assert members[sub["id"]] == {
            ODATA: "#microsoft.graph.group",
            "id": sub["id"],
            "securityEnabled": True,
        }
        assert page[empty["id"]]["members"] == []


def test_expand_owners_on_groups_service_principals_and_applications(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann, bob = make_user(client, "ann"), make_user(client, "bob")
        created = make_app(client)
        sp, app = created["servicePrincipal"], created["application"]
        group = make_group(
            client, "owned", **{"owners@odata.bind": [ref(live_server, ann["id"])["@odata.id"]]}
        )
        for path in (f"/servicePrincipals/{sp['id']}", f"/applications/{app['id']}"):
            for user in (ann, bob):
                add_owner(live_server, client, path, user["id"])
        expected = sorted([ann["id"], bob["id"]])
        for path in (f"/servicePrincipals/{sp['id']}", f"/applications/{app['id']}"):
            owners = client.get(path, params={"$expand": "owners($select=id,displayName)"}).json()["owners"]
            assert [o["id"] for o in owners] == expected
            assert all(set(o) == {ODATA, "id", "displayName"} for o in owners)
        keyed = client.get(f"/servicePrincipals(appId='{sp['appId']}')", params={"$expand": "owners"})
        assert [o["id"] for o in keyed.json()["owners"]] == expected
        sps = listed(client, "/servicePrincipals", **{"$expand": "owners", "$filter": f"id eq '{sp['id']}'"})
        assert [o["id"] for o in sps[0]["owners"]] == expected
        groups = listed(client, "/groups", **{"$expand": "owners", "$filter": f"id eq '{group['id']}'"})
        assert [o["id"] for o in groups[0]["owners"]] == [ann["id"]]


def test_owners_listings_return_full_objects_and_page(live_server: LiveServer) -> None:
    with live_server.client() as client:
        users = [make_user(client, f"o{i}", jobTitle="Owner") for i in range(3)]
        sp = make_app(client)["servicePrincipal"]
        group = make_group(client, "g")
        for user in users:
            add_owner(live_server, client, f"/servicePrincipals/{sp['id']}", user["id"])
        expected = sorted(u["id"] for u in users)
        paged = listed(client, f"/servicePrincipals/{sp['id']}/owners", **{"$top": "2"})
        assert [o["id"] for o in paged] == expected
        assert all(o[ODATA] == "#microsoft.graph.user" and o["jobTitle"] == "Owner" for o in paged)
        selected = client.get(f"/servicePrincipals/{sp['id']}/owners", params={"$select": "id"}).json()
        assert selected["value"] == [{ODATA: "#microsoft.graph.user", "id": i} for i in expected]
        assert client.get(f"/groups/{group['id']}/owners").json()["value"] == []
        assert_graph_error(client.get("/groups/00000000-0000-0000-0000-000000000001/owners"), 404)


def test_expand_app_role_assigned_to_on_service_principals(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sp = make_app(client)["servicePrincipal"]
        user = make_user(client, "ann", displayName="Ann")
        body = {
            "principalId": user["id"],
            "resourceId": sp["id"],
            "appRoleId": "00000000-0000-0000-0000-000000000000",
        }
        assert client.post(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo", json=body).status_code == 201
        shown = client.get(
            f"/servicePrincipals/{sp['id']}",
            params={"$expand": "appRoleAssignedTo($select=principalId,principalDisplayName)"},
        ).json()["appRoleAssignedTo"]
        assert shown == [{"principalId": user["id"], "principalDisplayName": "Ann"}]
        full = client.get(f"/servicePrincipals/{sp['id']}", params={"$expand": "appRoleAssignedTo"}).json()
        listed_there = client.get(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo").json()["value"]
        assert full["appRoleAssignedTo"] == listed_there


def test_expand_pages_by_at_most_one_hundred_objects(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for i in range(102):
            make_group(client, f"g{i:03}")
        page = client.get("/groups", params={"$expand": "members", "$top": "999"}).json()
        assert len(page["value"]) == 100
        rest = client.get(page["@odata.nextLink"]).json()
        assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
        assert all(g["members"] == [] for g in page["value"] + rest["value"])


# --- memberOf and directReports -------------------------------------------------------------


def test_member_of_and_direct_reports_as_listings_and_expansions(live_server: LiveServer) -> None:
    with live_server.client() as client:
        boss = make_user(client, "boss")
        reports = sorted((make_user(client, f"r{i}") for i in range(3)), key=lambda u: u["id"])
        for report in reports:
            set_manager(live_server, client, report["id"], boss["id"])
        groups = sorted((make_group(client, f"g{i}") for i in range(3)), key=lambda g: g["id"])
        parent = make_group(client, "parent")
        for group in groups:
            add_member(live_server, client, group["id"], boss["id"])
        add_member(live_server, client, parent["id"], groups[0]["id"])
        assert client.delete(f"/users/{reports[1]['id']}").status_code == 204  # soft-deleted: gone
        assert client.delete(f"/groups/{groups[2]['id']}").status_code == 204

        live_reports = [reports[0]["id"], reports[2]["id"]]
        paged = listed(client, f"/users/{boss['userPrincipalName']}/directReports", **{"$top": "1"})
        assert [(r[ODATA], r["id"]) for r in paged] == [("#microsoft.graph.user", i) for i in live_reports]
        member_of = listed(client, f"/users/{boss['id']}/memberOf", **{"$select": "id,displayName"})
        assert member_of == [
            {ODATA: "#microsoft.graph.group", "id": g["id"], "displayName": g["displayName"]}
            for g in groups[:2]
        ]
        nested = client.get(f"/groups/{groups[0]['id']}/memberOf").json()["value"]
        assert [g["id"] for g in nested] == [parent["id"]]

        expanded = client.get(f"/users/{boss['id']}", params={"$expand": "directReports($select=id)"}).json()
        assert expanded["directReports"] == [{ODATA: "#microsoft.graph.user", "id": i} for i in live_reports]
        expanded = client.get(
            f"/users/{boss['id']}", params={"$expand": "memberOf($select=displayName)"}
        ).json()
        assert [g["displayName"] for g in expanded["memberOf"]] == [g["displayName"] for g in groups[:2]]
        expanded = client.get(f"/groups/{groups[0]['id']}", params={"$expand": "memberOf"}).json()
        assert [g["id"] for g in expanded["memberOf"]] == [parent["id"]]

        assert_graph_error(client.get("/users/nobody@contoso.example/memberOf"), 404)
        assert_graph_error(client.get(f"/groups/{groups[2]['id']}/memberOf"), 404)  # soft-deleted


def test_transitive_members_and_member_of_follow_live_nested_groups(live_server: LiveServer) -> None:
    with live_server.client() as client:
        top, mid, low, dead = (make_group(client, name) for name in ("top", "mid", "low", "dead"))
        ann, bob, cat = (make_user(client, name) for name in ("ann", "bob", "cat"))
        for group, member in [
            (top, mid),
            (mid, low),
            (low, ann),
            (mid, bob),
            (top, bob),  # reached twice: listed once
            (low, top),  # a cycle: the walk still ends
            (top, dead),
            (dead, cat),
        ]:
            add_member(live_server, client, group["id"], member["id"])
        assert client.delete(f"/groups/{dead['id']}").status_code == 204  # its members drop out

        every = sorted(x["id"] for x in (top, mid, low, ann, bob))
        paged = listed(client, f"/groups/{top['id']}/transitiveMembers", **{"$top": "2"})
        assert [m["id"] for m in paged] == every
        kinds = {m["id"]: m[ODATA] for m in paged}
        assert kinds[ann["id"]] == "#microsoft.graph.user" and kinds[mid["id"]] == "#microsoft.graph.group"

        of_ann = listed(client, f"/users/{ann['userPrincipalName']}/transitiveMemberOf", **{"$select": "id"})
        assert of_ann == [
            {ODATA: "#microsoft.graph.group", "id": i} for i in sorted(g["id"] for g in (top, mid, low))
        ]
        of_cat = client.get(f"/users/{cat['id']}/transitiveMemberOf").json()["value"]
        assert of_cat == []  # only through a soft-deleted group
        of_low = listed(client, f"/groups/{low['id']}/transitiveMemberOf")
        assert sorted(g["id"] for g in of_low) == sorted(g["id"] for g in (top, mid, low))


# --- misuse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expand", "message"),
    [
        ("/users", "manager,manager", "contained at least 2 items, but the maximum allowed is 1"),
        ("/groups", "members,owners", "contained at least 2 items, but the maximum allowed is 1"),
        (
            "/users",
            "ownedObjects",
            "Could not find a property named 'ownedObjects' on type 'microsoft.graph.user'",
        ),
        ("/users", "manager,memberOf", "contained at least 2 items, but the maximum allowed is 1"),
        ("/users", "displayName", "Only navigation properties can be expanded"),
        ("/users", "*", "$expand=*"),
        ("/users", "manager($filter=id eq 'x')", "'$filter' is not supported inside $expand"),
        ("/users", "manager($top=1)", "'$top' is not supported inside $expand"),
        ("/users", "manager($select=nope)", "Could not find a property named 'nope'"),
        ("/users", "manager(", "unbalanced parentheses"),
        ("/users", "manager)", "unbalanced parentheses"),
        ("/users", "manager(select=id)", "expected $select=... inside"),
        ("/groups", "members($select=id;$select=id)", "'$select' was specified more than once"),
        ("/users/delta", "manager", "not supported on delta"),
        ("/applications", "appRoleAssignedTo", "Could not find a property named 'appRoleAssignedTo'"),
    ],
)
def test_misused_expand_is_a_400_naming_the_problem(
    live_server: LiveServer, path: str, expand: str, message: str
) -> None:
    with live_server.client() as client:
        error = assert_graph_error(client.get(path, params={"$expand": expand}), 400, "BadRequest")
        assert message in error["message"]


def test_expand_on_resources_without_relationships_is_refused(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sp = make_app(client)["servicePrincipal"]
        sync = f"/servicePrincipals/{sp['id']}/synchronization"
        for path in (f"{sync}/jobs", f"{sync}/templates"):
            error = assert_graph_error(client.get(path, params={"$expand": "owners"}), 400, "BadRequest")
            assert error["message"] == "Query option '$expand' is not supported."
        members = client.get(
            f"/groups/{make_group(client, 'x')['id']}/members", params={"$expand": "manager"}
        )
        assert "$expand" in assert_graph_error(members, 400)["message"]
