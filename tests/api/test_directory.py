"""Users, groups, members, managers and the deleted-items bin, through real HTTP.

Tests whose subject is storage (create/get/list/paging, uniqueness, soft delete, restore, purge,
the change log) run on SQLite and PostgreSQL through `live_server`; the rest use `sqlite_server`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from tests.api.helpers import assert_graph_error, make_user, store_snapshot
from tests.conftest import LiveServer

from provisiond.store.changelog import changes_after, last_seq
from provisiond.store.tables import users

GRAPH = "https://graph.microsoft.com/v1.0"
UPN_CONFLICT = "Another object with the same value for property userPrincipalName already exists."
DUPLICATE_MEMBER = (
    "One or more added object references already exist for the following modified properties: 'members'."
)
GRAPH_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
# What Graph v1.0 returns for a user when the request has no $select.
V1_DEFAULT_USER_PROPERTIES = {
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
}

Change = tuple[str, str, str, str | None]


def ref(kind: str, object_id: str) -> dict[str, str]:
    return {"@odata.id": f"{GRAPH}/{kind}/{object_id}"}


def make_group(client: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    body = {
        "displayName": name.title(),
        "mailNickname": name,
        "mailEnabled": False,
        "securityEnabled": True,
        **extra,
    }
    response = client.post("/groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def changes(server: LiveServer, after: int = 0) -> list[Change]:
    with server.db.read() as conn:
        rows = changes_after(conn, after)
    seqs = [row.seq for row in rows]
    assert seqs == sorted(set(seqs)), seqs
    return [(row.object_type, row.object_id, row.change_type, row.related_id) for row in rows]


def log_position(server: LiveServer) -> int:
    with server.db.read() as conn:
        return last_seq(conn)


def all_pages(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every page of a collection, following `@odata.nextLink` until there is none."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        next_url = page.get("@odata.nextLink")
        assert len(pages) < 50, "nextLink never ends"
    return pages


def member_ids(client: httpx.Client, group_id: str) -> list[str]:
    response = client.get(f"/groups/{group_id}/members")
    assert response.status_code == 200, response.text
    return sorted(m["id"] for m in response.json()["value"])


def assert_upn_conflict(response: httpx.Response) -> None:
    error = assert_graph_error(response, 400, "Request_BadRequest")
    assert error["message"] == UPN_CONFLICT
    assert [(d["code"], d.get("target")) for d in error["details"]] == [
        ("ObjectConflict", "userPrincipalName")
    ]


# Create and read


def test_create_user_returns_201_with_entity_context_id_timestamp_and_member_type(
    live_server: LiveServer,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    with live_server.client() as client:
        response = client.post(
            "/users",
            json={
                "accountEnabled": True,
                "displayName": "Ann Lee",
                "mailNickname": "ann",
                "userPrincipalName": "ann@contoso.example",
                "passwordProfile": {"password": "Pa55word!"},
            },
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["@odata.context"] == f"{live_server.url}/v1.0/$metadata#users/$entity"
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert GRAPH_TIMESTAMP.match(body["createdDateTime"]), body["createdDateTime"]
    created = datetime.fromisoformat(body["createdDateTime"].replace("Z", "+00:00"))
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["userType"] == "Member"
    assert body["userPrincipalName"] == "ann@contoso.example"
    assert body["displayName"] == "Ann Lee"
    assert body["accountEnabled"] is True
    assert "passwordProfile" not in body


def test_get_user_by_id_and_by_user_principal_name_in_any_case(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        make_user(client, "bob")
        for key in (ann["id"], "ann@contoso.example", "ANN@CONTOSO.EXAMPLE", "Ann@Contoso.Example"):
            response = client.get(f"/users/{key}")
            assert response.status_code == 200, (key, response.text)
            body = response.json()
            assert body["@odata.context"] == f"{live_server.url}/v1.0/$metadata#users/$entity"
            assert body["id"] == ann["id"]
            assert body["userPrincipalName"] == "ann@contoso.example"


def test_get_unknown_user_is_404_resource_not_found(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        missing = str(uuid.uuid4())
        error = assert_graph_error(client.get(f"/users/{missing}"), 404, "Request_ResourceNotFound")
        assert missing in error["message"]
        assert_graph_error(client.get("/users/nobody@contoso.example"), 404, "Request_ResourceNotFound")


def test_v1_get_returns_the_default_property_subset(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann", jobTitle="Engineer", department="Sales")
        body = client.get(f"/users/{ann['id']}").json()
        assert set(body) == {"@odata.context", *V1_DEFAULT_USER_PROPERTIES}
        assert "accountEnabled" not in body
        assert "department" not in body
        assert body["jobTitle"] == "Engineer"
        assert body["businessPhones"] == []

        listed = client.get("/users").json()["value"]
        assert [set(u) for u in listed] == [V1_DEFAULT_USER_PROPERTIES]


def test_v1_select_account_enabled_returns_it(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        body = client.get(f"/users/{ann['id']}", params={"$select": "accountEnabled"}).json()
    assert body == {
        "@odata.context": f"{sqlite_server.url}/v1.0/$metadata#users(accountEnabled)/$entity",
        "accountEnabled": True,
    }


def test_beta_get_returns_every_property(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann", department="Sales")
    with sqlite_server.client(version="beta") as beta:
        body = beta.get(f"/users/{ann['id']}").json()
    assert body["@odata.context"] == f"{sqlite_server.url}/beta/$metadata#users/$entity"
    assert body["accountEnabled"] is True
    assert body["department"] == "Sales"
    assert body["mailNickname"] == "ann"
    assert body["userType"] == "Member"
    assert body["createdDateTime"] == ann["createdDateTime"]
    assert set(body) > V1_DEFAULT_USER_PROPERTIES | {"accountEnabled", "createdDateTime", "userType"}
    assert "deletedDateTime" not in body


def test_select_returns_only_those_properties_and_names_them_in_the_context(
    sqlite_server: LiveServer,
) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        body = client.get(f"/users/{ann['id']}", params={"$select": "displayName,id"}).json()
    assert body == {
        "@odata.context": f"{sqlite_server.url}/v1.0/$metadata#users(displayName,id)/$entity",
        "displayName": "Ann",
        "id": ann["id"],
    }


# userPrincipalName uniqueness


def test_creating_a_user_principal_name_taken_in_any_case_is_a_conflict_and_changes_nothing(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        make_user(client, "ann")
        before = store_snapshot(live_server.db)
        response = client.post(
            "/users",
            json={
                "accountEnabled": True,
                "displayName": "Other Ann",
                "mailNickname": "ann2",
                "userPrincipalName": "ANN@Contoso.Example",
                "passwordProfile": {"password": "Pa55word!"},
            },
        )
        assert_upn_conflict(response)
        assert store_snapshot(live_server.db) == before
        assert len(client.get("/users").json()["value"]) == 1


def test_patching_a_user_principal_name_onto_another_users_is_a_conflict_and_changes_nothing(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        make_user(client, "ann")
        bob = make_user(client, "bob")
        before = store_snapshot(live_server.db)
        response = client.patch(
            f"/users/{bob['id']}", json={"userPrincipalName": "Ann@CONTOSO.example", "jobTitle": "Boss"}
        )
        assert_upn_conflict(response)
        assert store_snapshot(live_server.db) == before
        body = client.get(f"/users/{bob['id']}").json()
        assert body["userPrincipalName"] == "bob@contoso.example"
        assert body["jobTitle"] is None


def test_patching_own_user_principal_name_to_another_case_is_allowed(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        response = client.patch(f"/users/{ann['id']}", json={"userPrincipalName": "Ann@Contoso.example"})
        assert response.status_code == 204, response.text
        assert client.get(f"/users/{ann['id']}").json()["userPrincipalName"] == "Ann@Contoso.example"


# PATCH


def test_patch_updates_only_the_properties_sent(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann", jobTitle="Engineer", department="Sales", otherMails=["a@x.example"])
        response = client.patch(f"/users/{ann['id']}", json={"jobTitle": "Lead"})
        assert response.status_code == 204, response.text
        assert response.content == b""
    with sqlite_server.client(version="beta") as beta:
        body = beta.get(f"/users/{ann['id']}").json()
    assert body["jobTitle"] == "Lead"
    assert body["department"] == "Sales"
    assert body["displayName"] == "Ann"
    assert body["otherMails"] == ["a@x.example"]
    assert body["accountEnabled"] is True
    assert body["userPrincipalName"] == "ann@contoso.example"


def test_patch_by_user_principal_name_updates_the_live_user_and_logs_one_change(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        with live_server.db.read() as conn:
            before = last_seq(conn)
        response = client.patch("/users/ANN@contoso.example", json={"jobTitle": "Lead"})
        assert response.status_code == 204, response.text
        assert client.get(f"/users/{ann['id']}?$select=jobTitle").json()["jobTitle"] == "Lead"
    with live_server.db.read() as conn:
        changes = changes_after(conn, before)
    assert [(c.object_id, c.change_type) for c in changes] == [(ann["id"], "updated")]


def test_patch_of_a_deleted_user_is_not_found_and_changes_nothing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann", jobTitle="Engineer")
        assert client.delete(f"/users/{ann['id']}").status_code == 204
        snapshot = store_snapshot(live_server.db)
        for key in (ann["id"], "ann@contoso.example", str(uuid.uuid4())):
            response = client.patch(f"/users/{key}", json={"jobTitle": "Lead"})
            assert_graph_error(response, 404, "Request_ResourceNotFound")
    assert store_snapshot(live_server.db) == snapshot
    with live_server.db.read() as conn:
        title = conn.execute(select(users.c.job_title).where(users.c.id == ann["id"])).scalar_one()
    assert title == "Engineer"


def test_patch_null_clears_a_single_valued_property(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann", jobTitle="Engineer", department="Sales")
        assert client.patch(f"/users/{ann['id']}", json={"department": None}).status_code == 204
    with sqlite_server.client(version="beta") as beta:
        body = beta.get(f"/users/{ann['id']}").json()
    assert body["department"] is None
    assert body["jobTitle"] == "Engineer"


def test_patch_list_properties_replace_the_whole_list(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(
            client, "ann", otherMails=["a@x.example", "b@x.example"], businessPhones=["+1 555 0100"]
        )
        response = client.patch(f"/users/{ann['id']}", json={"otherMails": ["c@x.example"]})
        assert response.status_code == 204, response.text
        assert client.patch(f"/users/{ann['id']}", json={"businessPhones": None}).status_code == 204
    with sqlite_server.client(version="beta") as beta:
        body = beta.get(f"/users/{ann['id']}").json()
    assert body["otherMails"] == ["c@x.example"]
    assert body["businessPhones"] == []


# Listing, paging, counting, filtering


def test_top_pages_through_every_user_exactly_once(live_server: LiveServer) -> None:
    with live_server.client() as client:
        created = {make_user(client, f"user{i}")["id"] for i in range(7)}
        pages = all_pages(client, "/users?$top=3")
    assert [len(p["value"]) for p in pages] == [3, 3, 1]
    assert all("@odata.nextLink" in p for p in pages[:-1])
    assert "@odata.nextLink" not in pages[-1]
    seen = [u["id"] for p in pages for u in p["value"]]
    assert len(seen) == 7
    assert set(seen) == created
    assert all(p["@odata.context"] == f"{live_server.url}/v1.0/$metadata#users" for p in pages)


def test_next_link_keeps_filter_and_select(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sales = {make_user(client, f"sales{i}", department="Sales")["id"] for i in range(5)}
        for i in range(2):
            make_user(client, f"ops{i}", department="Ops")
        pages = all_pages(client, "/users?$filter=department eq 'Sales'&$select=displayName,id&$top=2")
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    for page in pages[:-1]:
        params = httpx.URL(page["@odata.nextLink"]).params
        assert params["$filter"] == "department eq 'Sales'"
        assert params["$select"] == "displayName,id"
        assert params["$top"] == "2"
        assert params["$skiptoken"]
    for page in pages:
        assert page["@odata.context"] == f"{live_server.url}/v1.0/$metadata#users(displayName,id)"
        assert all(set(u) == {"displayName", "id"} for u in page["value"])
    assert {u["id"] for p in pages for u in p["value"]} == sales


def test_count_true_adds_the_total_count(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for i in range(7):
            make_user(client, f"user{i}", department="Sales" if i < 4 else "Ops")
        body = client.get("/users", params={"$count": "true", "$top": "3"}).json()
        assert body["@odata.count"] == 7
        assert len(body["value"]) == 3
        filtered = client.get("/users", params={"$count": "true", "$filter": "department eq 'Ops'"}).json()
        assert filtered["@odata.count"] == 3
        assert len(filtered["value"]) == 3
        assert "@odata.count" not in client.get("/users").json()


def test_users_count_segment_is_a_plain_text_number(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for i in range(7):
            make_user(client, f"user{i}", department="Sales" if i < 4 else "Ops")
        response = client.get("/users/$count")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "7"
        filtered = client.get("/users/$count", params={"$filter": "department eq 'Sales'"})
        assert filtered.text == "4"


def test_filter_on_users_supports_eq_ne_startswith_and_or(live_server: LiveServer) -> None:
    with live_server.client() as client:
        make_user(client, "ann", department="Sales", jobTitle="Engineer")
        make_user(client, "bob", department="Sales", jobTitle="Manager")
        make_user(client, "carol", department="Ops", jobTitle="Engineer")
        make_user(client, "dave")
        cases = {
            "department eq 'Sales'": ["Ann", "Bob"],
            "department eq 'sales'": ["Ann", "Bob"],
            "department ne 'Sales'": ["Carol", "Dave"],
            "startswith(displayName,'ca')": ["Carol"],
            "startswith(userPrincipalName,'D')": ["Dave"],
            "department eq 'Sales' and jobTitle eq 'Engineer'": ["Ann"],
            "department eq 'Ops' or jobTitle eq 'Manager'": ["Bob", "Carol"],
            "userPrincipalName eq 'BOB@contoso.example'": ["Bob"],
        }
        found = {}
        for expression in cases:
            response = client.get("/users", params={"$filter": expression})
            assert response.status_code == 200, (expression, response.text)
            found[expression] = sorted(u["displayName"] for u in response.json()["value"])
    assert found == cases


def test_filter_on_groups_security_enabled(live_server: LiveServer) -> None:
    with live_server.client() as client:
        security = make_group(client, "engineers")
        make_group(client, "announcements", mailEnabled=True, securityEnabled=False, groupTypes=["Unified"])
        body = client.get("/groups", params={"$filter": "securityEnabled eq true"}).json()
        assert [g["id"] for g in body["value"]] == [security["id"]]
        assert body["@odata.context"] == f"{live_server.url}/v1.0/$metadata#groups"
        assert client.get("/groups/$count", params={"$filter": "securityEnabled eq false"}).text == "1"


# Soft delete, restore, purge


def test_deleted_user_is_404_and_listed_in_deleted_items(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        bob = make_user(client, "bob")
        response = client.delete(f"/users/{ann['id']}")
        assert response.status_code == 204, response.text
        assert response.content == b""

        assert_graph_error(client.get(f"/users/{ann['id']}"), 404, "Request_ResourceNotFound")
        assert_graph_error(client.get("/users/ann@contoso.example"), 404, "Request_ResourceNotFound")
        assert [u["id"] for u in client.get("/users").json()["value"]] == [bob["id"]]
        assert client.get("/users/$count").text == "1"

        deleted = client.get("/directory/deletedItems/microsoft.graph.user").json()
        assert deleted["@odata.context"] == (
            f"{live_server.url}/v1.0/$metadata#directory/deletedItems/microsoft.graph.user"
        )
        [item] = deleted["value"]
        assert item["@odata.type"] == "#microsoft.graph.user"
        assert item["id"] == ann["id"]
        assert item["userPrincipalName"] == "ann@contoso.example"
        assert GRAPH_TIMESTAMP.match(item["deletedDateTime"]), item["deletedDateTime"]

        one = client.get(f"/directory/deletedItems/{ann['id']}").json()
        assert one["@odata.type"] == "#microsoft.graph.user"
        assert one["deletedDateTime"] == item["deletedDateTime"]

        assert_graph_error(client.delete(f"/users/{ann['id']}"), 404, "Request_ResourceNotFound")


def test_restore_brings_a_deleted_user_back(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        assert client.delete(f"/users/{ann['id']}").status_code == 204
        response = client.post(f"/directory/deletedItems/{ann['id']}/restore")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.type"] == "#microsoft.graph.user"
        assert body["id"] == ann["id"]
        assert body["userPrincipalName"] == "ann@contoso.example"

        assert client.get(f"/users/{ann['id']}").json()["id"] == ann["id"]
        assert [u["id"] for u in client.get("/users").json()["value"]] == [ann["id"]]
        assert client.get("/directory/deletedItems/microsoft.graph.user").json()["value"] == []
        assert_graph_error(
            client.post(f"/directory/deletedItems/{ann['id']}/restore"), 404, "Request_ResourceNotFound"
        )


def test_purge_removes_a_deleted_user_for_good(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        assert client.delete(f"/users/{ann['id']}").status_code == 204
        response = client.delete(f"/directory/deletedItems/{ann['id']}")
        assert response.status_code == 204, response.text

        assert_graph_error(
            client.post(f"/directory/deletedItems/{ann['id']}/restore"), 404, "Request_ResourceNotFound"
        )
        assert_graph_error(
            client.get(f"/directory/deletedItems/{ann['id']}"), 404, "Request_ResourceNotFound"
        )
        assert_graph_error(client.get(f"/users/{ann['id']}"), 404, "Request_ResourceNotFound")
        assert client.get("/directory/deletedItems/microsoft.graph.user").json()["value"] == []
        # The name is free again once the object is gone.
        assert make_user(client, "ann")["id"] != ann["id"]


def test_purging_a_live_user_is_404_and_changes_nothing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        before = store_snapshot(live_server.db)
        assert_graph_error(
            client.delete(f"/directory/deletedItems/{ann['id']}"), 404, "Request_ResourceNotFound"
        )
        assert store_snapshot(live_server.db) == before
        assert client.get(f"/users/{ann['id']}").status_code == 200


def test_user_principal_name_reused_while_soft_deleted_blocks_restore_with_conflict(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        first = make_user(client, "ann")
        assert client.delete(f"/users/{first['id']}").status_code == 204
        second = make_user(client, "ann", userPrincipalName="ANN@contoso.example")
        assert second["id"] != first["id"]

        before = store_snapshot(live_server.db)
        assert_upn_conflict(client.post(f"/directory/deletedItems/{first['id']}/restore"))
        assert store_snapshot(live_server.db) == before
        deleted = client.get("/directory/deletedItems/microsoft.graph.user").json()["value"]
        assert [u["id"] for u in deleted] == [first["id"]]
        assert [u["id"] for u in client.get("/users").json()["value"]] == [second["id"]]


# Manager


def test_put_manager_ref_sets_the_manager(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        boss = make_user(client, "boss")
        response = client.put(f"/users/{ann['id']}/manager/$ref", json=ref("users", boss["id"]))
        assert response.status_code == 204, response.text
        assert response.content == b""
        manager = client.get(f"/users/{ann['id']}/manager")
        assert manager.status_code == 200, manager.text
        body = manager.json()
    assert body["@odata.context"] == f"{sqlite_server.url}/v1.0/$metadata#directoryObjects/$entity"
    assert body["@odata.type"] == "#microsoft.graph.user"
    assert body["id"] == boss["id"]
    assert body["displayName"] == "Boss"
    assert body["userPrincipalName"] == "boss@contoso.example"


def test_get_manager_of_a_user_without_one_is_404(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        assert_graph_error(client.get(f"/users/{ann['id']}/manager"), 404, "Request_ResourceNotFound")


def test_delete_manager_ref_clears_the_manager(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        boss = make_user(client, "boss")
        assert (
            client.put(f"/users/{ann['id']}/manager/$ref", json=ref("users", boss["id"])).status_code == 204
        )
        response = client.delete(f"/users/{ann['id']}/manager/$ref")
        assert response.status_code == 204, response.text
        assert_graph_error(client.get(f"/users/{ann['id']}/manager"), 404, "Request_ResourceNotFound")
        assert_graph_error(client.delete(f"/users/{ann['id']}/manager/$ref"), 404, "Request_ResourceNotFound")


def test_unknown_manager_is_404_and_changes_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        missing = str(uuid.uuid4())
        before = store_snapshot(sqlite_server.db)
        response = client.put(f"/users/{ann['id']}/manager/$ref", json=ref("users", missing))
        error = assert_graph_error(response, 404, "Request_ResourceNotFound")
        assert missing in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_self_as_manager_is_400_and_changes_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        ann = make_user(client, "ann")
        before = store_snapshot(sqlite_server.db)
        response = client.put(f"/users/{ann['id']}/manager/$ref", json=ref("users", ann["id"]))
        error = assert_graph_error(response, 400)
        assert error["message"] == "A user cannot be their own manager."
        assert store_snapshot(sqlite_server.db) == before
        assert_graph_error(client.get(f"/users/{ann['id']}/manager"), 404, "Request_ResourceNotFound")


def test_purging_the_manager_clears_the_reports_manager(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        boss = make_user(client, "boss")
        assert (
            client.put(f"/users/{ann['id']}/manager/$ref", json=ref("users", boss["id"])).status_code == 204
        )
        assert client.delete(f"/users/{boss['id']}").status_code == 204
        position = log_position(live_server)
        assert client.delete(f"/directory/deletedItems/{boss['id']}").status_code == 204
        assert_graph_error(client.get(f"/users/{ann['id']}/manager"), 404, "Request_ResourceNotFound")
        assert client.get(f"/users/{ann['id']}").status_code == 200
    assert changes(live_server, position) == [
        ("user", ann["id"], "managerChanged", None),
        ("user", boss["id"], "hardDeleted", None),
    ]


# Groups and members


def test_create_group_with_members_bind_returns_201_and_lists_the_members(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        bob = make_user(client, "bob")
        response = client.post(
            "/groups",
            json={
                "displayName": "Engineers",
                "mailNickname": "engineers",
                "mailEnabled": False,
                "securityEnabled": True,
                "members@odata.bind": [f"{GRAPH}/directoryObjects/{ann['id']}", f"{GRAPH}/users/{bob['id']}"],
            },
        )
        assert response.status_code == 201, response.text
        group = response.json()
        assert group["@odata.context"] == f"{live_server.url}/v1.0/$metadata#groups/$entity"
        assert str(uuid.UUID(group["id"])) == group["id"]
        assert group["displayName"] == "Engineers"
        assert group["mailEnabled"] is False
        assert group["securityEnabled"] is True
        assert group["groupTypes"] == []
        assert GRAPH_TIMESTAMP.match(group["createdDateTime"])

        members = client.get(f"/groups/{group['id']}/members").json()
    assert members["@odata.context"] == f"{live_server.url}/v1.0/$metadata#directoryObjects"
    assert sorted((m["@odata.type"], m["id"]) for m in members["value"]) == sorted(
        [("#microsoft.graph.user", ann["id"]), ("#microsoft.graph.user", bob["id"])]
    )


def test_create_group_binding_an_unknown_member_is_404_and_creates_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        missing = str(uuid.uuid4())
        response = client.post(
            "/groups",
            json={
                "displayName": "Engineers",
                "mailNickname": "engineers",
                "mailEnabled": False,
                "securityEnabled": True,
                "members@odata.bind": [f"{GRAPH}/directoryObjects/{missing}"],
            },
        )
        assert_graph_error(response, 404, "Request_ResourceNotFound")
        assert store_snapshot(sqlite_server.db) == before


def test_add_member_ref_adds_and_adding_twice_is_400(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        group = make_group(client, "engineers")
        response = client.post(f"/groups/{group['id']}/members/$ref", json=ref("directoryObjects", ann["id"]))
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert member_ids(client, group["id"]) == [ann["id"]]

        before = store_snapshot(live_server.db)
        again = client.post(f"/groups/{group['id']}/members/$ref", json=ref("directoryObjects", ann["id"]))
        error = assert_graph_error(again, 400, "Request_BadRequest")
        assert error["message"] == DUPLICATE_MEMBER
        assert store_snapshot(live_server.db) == before
        assert member_ids(client, group["id"]) == [ann["id"]]


def test_add_unknown_member_is_404_and_changes_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        group = make_group(client, "engineers")
        before = store_snapshot(sqlite_server.db)
        missing = str(uuid.uuid4())
        response = client.post(f"/groups/{group['id']}/members/$ref", json=ref("directoryObjects", missing))
        assert_graph_error(response, 404, "Request_ResourceNotFound")
        assert store_snapshot(sqlite_server.db) == before


def test_delete_member_ref_removes_the_member(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        bob = make_user(client, "bob")
        group = make_group(client, "engineers", **{"members@odata.bind": [f"{GRAPH}/users/{ann['id']}"]})
        assert (
            client.post(f"/groups/{group['id']}/members/$ref", json=ref("users", bob["id"])).status_code
            == 204
        )
        response = client.delete(f"/groups/{group['id']}/members/{ann['id']}/$ref")
        assert response.status_code == 204, response.text
        assert member_ids(client, group["id"]) == [bob["id"]]
        assert_graph_error(
            client.delete(f"/groups/{group['id']}/members/{ann['id']}/$ref"), 404, "Request_ResourceNotFound"
        )


def test_a_group_can_be_a_member_of_another_group_but_not_of_itself(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        outer = make_group(client, "everyone")
        inner = make_group(client, "engineers")
        response = client.post(f"/groups/{outer['id']}/members/$ref", json=ref("groups", inner["id"]))
        assert response.status_code == 204, response.text
        [member] = client.get(f"/groups/{outer['id']}/members").json()["value"]
        assert member["@odata.type"] == "#microsoft.graph.group"
        assert member["id"] == inner["id"]
        assert member["displayName"] == "Engineers"

        before = store_snapshot(sqlite_server.db)
        itself = client.post(f"/groups/{outer['id']}/members/$ref", json=ref("groups", outer["id"]))
        assert_graph_error(itself, 400)
        assert store_snapshot(sqlite_server.db) == before


def test_soft_deleted_user_is_hidden_from_members_until_restored(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        bob = make_user(client, "bob")
        group = make_group(
            client,
            "engineers",
            **{"members@odata.bind": [f"{GRAPH}/users/{ann['id']}", f"{GRAPH}/users/{bob['id']}"]},
        )
        assert client.delete(f"/users/{ann['id']}").status_code == 204
        assert member_ids(client, group["id"]) == [bob["id"]]
        assert client.post(f"/directory/deletedItems/{ann['id']}/restore").status_code == 200
        assert member_ids(client, group["id"]) == sorted([ann["id"], bob["id"]])


def test_group_soft_delete_and_restore(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")
        group = make_group(client, "engineers", **{"members@odata.bind": [f"{GRAPH}/users/{ann['id']}"]})
        assert client.delete(f"/groups/{group['id']}").status_code == 204
        assert_graph_error(client.get(f"/groups/{group['id']}"), 404, "Request_ResourceNotFound")
        assert client.get("/groups").json()["value"] == []

        deleted = client.get("/directory/deletedItems/microsoft.graph.group").json()
        assert deleted["@odata.context"] == (
            f"{live_server.url}/v1.0/$metadata#directory/deletedItems/microsoft.graph.group"
        )
        [item] = deleted["value"]
        assert item["@odata.type"] == "#microsoft.graph.group"
        assert item["id"] == group["id"]
        assert GRAPH_TIMESTAMP.match(item["deletedDateTime"])

        response = client.post(f"/directory/deletedItems/{group['id']}/restore")
        assert response.status_code == 200, response.text
        assert response.json()["@odata.type"] == "#microsoft.graph.group"
        assert client.get(f"/groups/{group['id']}").json()["displayName"] == "Engineers"
        assert member_ids(client, group["id"]) == [ann["id"]]
        assert client.get("/directory/deletedItems/microsoft.graph.group").json()["value"] == []


# Change log


def test_every_user_write_appends_to_the_change_log_in_order(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")["id"]
        boss = make_user(client, "boss")["id"]
        assert client.patch(f"/users/{ann}", json={"jobTitle": "Engineer"}).status_code == 204
        assert client.put(f"/users/{ann}/manager/$ref", json=ref("users", boss)).status_code == 204
        assert client.delete(f"/users/{ann}/manager/$ref").status_code == 204
        assert client.delete(f"/users/{ann}").status_code == 204
        assert client.post(f"/directory/deletedItems/{ann}/restore").status_code == 200
        assert client.delete(f"/users/{ann}").status_code == 204
        assert client.delete(f"/directory/deletedItems/{ann}").status_code == 204
    assert changes(live_server) == [
        ("user", ann, "created", None),
        ("user", boss, "created", None),
        ("user", ann, "updated", None),
        ("user", ann, "managerChanged", boss),
        ("user", ann, "managerChanged", None),
        ("user", ann, "softDeleted", None),
        ("user", ann, "restored", None),
        ("user", ann, "softDeleted", None),
        ("user", ann, "hardDeleted", None),
    ]


def test_group_writes_append_member_added_and_removed_with_the_member_id(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")["id"]
        bob = make_user(client, "bob")["id"]
        position = log_position(live_server)
        group = make_group(client, "engineers", **{"members@odata.bind": [f"{GRAPH}/users/{ann}"]})["id"]
        assert client.post(f"/groups/{group}/members/$ref", json=ref("users", bob)).status_code == 204
        assert client.delete(f"/groups/{group}/members/{ann}/$ref").status_code == 204
        assert client.patch(f"/groups/{group}", json={"description": "All engineers"}).status_code == 204
        assert client.delete(f"/users/{bob}").status_code == 204
        assert client.delete(f"/directory/deletedItems/{bob}").status_code == 204
        assert client.delete(f"/groups/{group}").status_code == 204
        assert client.post(f"/directory/deletedItems/{group}/restore").status_code == 200
    assert changes(live_server, position) == [
        ("group", group, "created", None),
        ("group", group, "memberAdded", ann),
        ("group", group, "memberAdded", bob),
        ("group", group, "memberRemoved", ann),
        ("group", group, "updated", None),
        ("user", bob, "softDeleted", None),
        ("group", group, "memberRemoved", bob),
        ("user", bob, "hardDeleted", None),
        ("group", group, "softDeleted", None),
        ("group", group, "restored", None),
    ]


def test_failed_writes_append_nothing_to_the_change_log(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ann = make_user(client, "ann")["id"]
        bob = make_user(client, "bob")["id"]
        group = make_group(client, "engineers", **{"members@odata.bind": [f"{GRAPH}/users/{ann}"]})["id"]
        position = log_position(live_server)
        before = store_snapshot(live_server.db)

        duplicate = {
            "accountEnabled": True,
            "displayName": "Ann Again",
            "mailNickname": "ann2",
            "userPrincipalName": "Ann@contoso.example",
            "passwordProfile": {"password": "Pa55word!"},
        }
        assert_upn_conflict(client.post("/users", json=duplicate))
        assert_upn_conflict(client.patch(f"/users/{bob}", json={"userPrincipalName": "ANN@contoso.example"}))
        assert_graph_error(client.put(f"/users/{ann}/manager/$ref", json=ref("users", ann)), 400)
        assert_graph_error(client.post(f"/groups/{group}/members/$ref", json=ref("users", ann)), 400)
        assert_graph_error(client.post(f"/directory/deletedItems/{ann}/restore"), 404)

        assert changes(live_server, position) == []
        assert store_snapshot(live_server.db) == before


# Permissions


def test_user_read_all_can_list_users_but_not_create_them(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as admin:
        make_user(admin, "ann")
    token = sqlite_server.token(scopes=["User.Read.All"])
    with sqlite_server.client(token) as reader:
        listed = reader.get("/users")
        assert listed.status_code == 200, listed.text
        assert [u["userPrincipalName"] for u in listed.json()["value"]] == ["ann@contoso.example"]

        before = store_snapshot(sqlite_server.db)
        response = reader.post(
            "/users",
            json={
                "accountEnabled": True,
                "displayName": "Bob",
                "mailNickname": "bob",
                "userPrincipalName": "bob@contoso.example",
                "passwordProfile": {"password": "Pa55word!"},
            },
        )
        error = assert_graph_error(response, 403, "Authorization_RequestDenied")
        assert "User.ReadWrite.All" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_app_with_group_read_all_cannot_add_members(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as admin:
        ann = make_user(admin, "ann")
        group = make_group(admin, "engineers")
    token = sqlite_server.token(roles=["Group.Read.All"], app_id=str(uuid.uuid4()))
    with sqlite_server.client(token) as app:
        assert app.get(f"/groups/{group['id']}/members").status_code == 200

        before = store_snapshot(sqlite_server.db)
        response = app.post(f"/groups/{group['id']}/members/$ref", json=ref("users", ann["id"]))
        error = assert_graph_error(response, 403, "Authorization_RequestDenied")
        assert "GroupMember.ReadWrite.All" in error["message"]
        assert store_snapshot(sqlite_server.db) == before
