"""Delta queries on users, groups and service principals, through real HTTP on SQLite and
PostgreSQL: a full first round with paging, then exactly the changes since, `$select` kept in
the tokens, bad tokens refused, and a token that outlives the server that issued it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_user
from tests.conftest import LiveServer, run_server

from provisiond.api.app import create_app
from provisiond.clock import SystemClock
from provisiond.graph.odata import encode_skiptoken
from provisiond.services.delta import DELTA, DeltaService, Position, encode_token
from provisiond.store.changelog import last_seq

MAXPAGESIZE_2 = {"Prefer": "odata.maxpagesize=2"}


def delta_round(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Every page of one round: (items, pages, the deltaLink of the last page)."""
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        next_url = page.get("@odata.nextLink")
        if next_url is not None:
            assert "@odata.deltaLink" not in page
        assert len(pages) < 50, "nextLink never ends"
    last = pages[-1]
    assert "$deltatoken=" in last["@odata.deltaLink"]
    items = [item for page in pages for item in page["value"]]
    return items, pages, last["@odata.deltaLink"]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), f"an object was reported twice in one round: {ids}"
    return {item["id"]: item for item in items}


def make_group(client: httpx.Client, name: str) -> dict[str, Any]:
    body = {"displayName": name.title(), "mailNickname": name, "mailEnabled": False, "securityEnabled": True}
    response = client.post("/groups", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def ok(response: httpx.Response, status: int = 204) -> None:
    assert response.status_code == status, response.text


# Users


def test_users_first_round_then_exactly_the_changes(live_server: LiveServer) -> None:
    with live_server.client() as client:
        made = {name: make_user(client, name) for name in ("ada", "bob", "cy", "dee", "eve")}
        items, pages, delta_link = delta_round(client, "/users/delta", MAXPAGESIZE_2)
        assert len(pages) == 3 and [len(p["value"]) for p in pages] == [2, 2, 1]
        assert pages[0]["@odata.context"].endswith("/v1.0/$metadata#users")
        first = by_id(items)
        assert set(first) == {u["id"] for u in made.values()}
        assert first[made["ada"]["id"]]["userPrincipalName"] == "ada@contoso.example"
        assert "accountEnabled" not in first[made["ada"]["id"]]  # v1.0's default properties

        ada, bob, cy, dee = (made[n]["id"] for n in ("ada", "bob", "cy", "dee"))
        ok(client.patch(f"/users/{ada}", json={"displayName": "Ada Lovelace"}))
        ok(client.delete(f"/users/{bob}"))
        ok(client.delete(f"/users/{cy}"))
        ok(client.post(f"/directory/deletedItems/{cy}/restore"), 200)
        ok(client.delete(f"/users/{dee}"))
        ok(client.delete(f"/directory/deletedItems/{dee}"))
        fay = make_user(client, "fay")["id"]

        items, _, delta_link = delta_round(client, delta_link, MAXPAGESIZE_2)
        second = by_id(items)
        assert set(second) == {ada, bob, cy, dee, fay}
        assert second[ada]["displayName"] == "Ada Lovelace"
        assert second[bob] == {"id": bob, "@removed": {"reason": "changed"}}
        assert second[cy]["userPrincipalName"] == "cy@contoso.example"
        assert second[dee] == {"id": dee, "@removed": {"reason": "deleted"}}
        assert second[fay]["userPrincipalName"] == "fay@contoso.example"

        items, pages, again = delta_round(client, delta_link)
        assert items == [] and len(pages) == 1
        ok(client.patch(f"/users/{cy}", json={"jobTitle": "Engineer"}))
        items, _, _ = delta_round(client, again)
        assert [item["id"] for item in items] == [cy]


def test_select_is_kept_across_pages_and_rounds(live_server: LiveServer) -> None:
    with live_server.client() as client:
        ids = [make_user(client, name)["id"] for name in ("ann", "ben", "cat")]
        items, pages, delta_link = delta_round(
            client, "/users/delta?$select=displayName,accountEnabled&$top=1"
        )
        assert len(pages) == 3
        assert "$select" not in pages[0]["@odata.nextLink"]
        assert pages[-1]["@odata.context"].endswith("#users(displayName,accountEnabled)")
        assert all(set(item) == {"id", "displayName", "accountEnabled"} for item in items)
        ok(client.patch(f"/users/{ids[1]}", json={"displayName": "Benjamin"}))
        items, _, _ = delta_round(client, delta_link)
        assert items == [{"id": ids[1], "displayName": "Benjamin", "accountEnabled": True}]


def test_function_call_form_beta_and_latest(live_server: LiveServer) -> None:
    with live_server.client(version="beta") as client:
        first = make_user(client, "gus")["id"]
        response = client.get("/users/delta()")
        assert response.status_code == 200, response.text
        assert [u["id"] for u in response.json()["value"]] == [first]
        assert "accountEnabled" in response.json()["value"][0]  # beta returns every property
        assert "/beta/users/delta?$deltatoken=" in response.json()["@odata.deltaLink"]
        latest = client.get("/users/delta?$deltatoken=latest").json()
        assert latest["value"] == []
        second = make_user(client, "hal")["id"]
        items, _, _ = delta_round(client, latest["@odata.deltaLink"])
        assert [u["id"] for u in items] == [second]


def test_bad_tokens_are_400_and_a_token_past_the_log_is_410(live_server: LiveServer) -> None:
    with live_server.client() as client:
        make_user(client, "ivy")
        _, _, delta_link = delta_round(client, "/users/delta", MAXPAGESIZE_2)
        token = delta_link.split("$deltatoken=")[1]
        groups_token = client.get("/groups/delta").json()["@odata.deltaLink"].split("$deltatoken=")[1]
        tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        for query in (
            "$deltatoken=not-a-token",
            f"$deltatoken={tampered}",
            f"$deltatoken={groups_token}",  # issued for another collection
            f"$skiptoken={token}",  # a delta token is no skip token
            f"$skiptoken={token}&$deltatoken={token}",
            "$filter=displayName eq 'x'",
            "$top=0",
        ):
            assert_graph_error(client.get(f"/users/delta?{query}"), 400, "BadRequest")
        ahead = encode_token(Position("user", DELTA, 10**9, 10**9, None, None, 100))
        error = assert_graph_error(client.get(f"/users/delta?$deltatoken={ahead}"), 410, "syncStateNotFound")
        assert "resync" in error["message"]


def test_a_delta_token_outlives_the_server_that_issued_it(live_server: LiveServer) -> None:
    """Tokens name change-log positions, not server memory: a second API process on the same
    database (or the same one restarted) continues the round and the next one."""
    with live_server.client() as client:
        ids = [make_user(client, name)["id"] for name in ("jo", "kim", "lu")]
        response = client.get("/users/delta", headers={"Prefer": "odata.maxpagesize=1"})
        next_link = response.json()["@odata.nextLink"]
        ok(client.patch(f"/users/{ids[0]}", json={"displayName": "Jo Changed"}))
    url, server, thread = run_server(create_app(live_server.settings, live_server.db, SystemClock()))
    try:
        other = LiveServer(url, live_server.settings, live_server.db)
        with other.client() as client:
            moved = next_link.replace(live_server.url, url)
            items, _, delta_link = delta_round(client, moved)
            assert [u["id"] for u in items] == sorted(ids)[1:]
            items, _, _ = delta_round(client, delta_link)
            assert [(u["id"], u["displayName"]) for u in items] == [(ids[0], "Jo Changed")]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# Groups


def member_ref(user_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}


def test_groups_first_round_lists_members_then_members_delta(live_server: LiveServer) -> None:
    with live_server.client() as client:
        u1, u2, u3 = sorted(make_user(client, name)["id"] for name in ("mo", "ned", "oz"))
        g1, g2, g3, g4 = (make_group(client, name)["id"] for name in ("sales", "ops", "legal", "temp"))
        for user in (u1, u2):
            ok(client.post(f"/groups/{g1}/members/$ref", json=member_ref(user)))
        ok(client.post(f"/groups/{g2}/members/$ref", json=member_ref(g3)))

        items, pages, delta_link = delta_round(client, "/groups/delta", MAXPAGESIZE_2)
        assert len(pages) == 2
        first = by_id(items)
        assert set(first) == {g1, g2, g3, g4}
        assert first[g1]["displayName"] == "Sales"
        assert sorted(first[g1]["members@delta"], key=lambda m: m["id"]) == [
            {"@odata.type": "#microsoft.graph.user", "id": u1},
            {"@odata.type": "#microsoft.graph.user", "id": u2},
        ]
        assert first[g2]["members@delta"] == [{"@odata.type": "#microsoft.graph.group", "id": g3}]
        assert first[g4]["members@delta"] == []

        ok(client.post(f"/groups/{g1}/members/$ref", json=member_ref(u3)))
        ok(client.delete(f"/groups/{g1}/members/{u1}/$ref"))
        ok(client.delete(f"/users/{u2}"))
        ok(client.delete(f"/directory/deletedItems/{u2}"))  # purged: leaves g1 too
        ok(client.patch(f"/groups/{g2}", json={"description": "Operations"}))
        ok(client.delete(f"/groups/{g3}"))
        ok(client.delete(f"/groups/{g4}"))
        ok(client.delete(f"/directory/deletedItems/{g4}"))

        items, _, delta_link = delta_round(client, delta_link, MAXPAGESIZE_2)
        second = by_id(items)
        assert set(second) == {g1, g2, g3, g4}
        assert second[g1]["displayName"] == "Sales"
        assert second[g1]["members@delta"] == [
            {"@odata.type": "#microsoft.graph.user", "id": u1, "@removed": {"reason": "deleted"}},
            {"id": u2, "@removed": {"reason": "deleted"}},  # gone for good: its type is not known
            {"@odata.type": "#microsoft.graph.user", "id": u3},
        ]
        assert second[g2]["description"] == "Operations"
        # g3, its member, was soft-deleted: it left g2's member list, as GET members shows.
        assert second[g2]["members@delta"] == [
            {"@odata.type": "#microsoft.graph.group", "id": g3, "@removed": {"reason": "deleted"}}
        ]
        assert second[g3] == {"id": g3, "@removed": {"reason": "changed"}}
        assert second[g4] == {"id": g4, "@removed": {"reason": "deleted"}}
        items, _, _ = delta_round(client, delta_link)
        assert items == []


def test_groups_select_members_asks_for_members_delta(live_server: LiveServer) -> None:
    with live_server.client() as client:
        user = make_user(client, "pat")["id"]
        group = make_group(client, "finance")["id"]
        ok(client.post(f"/groups/{group}/members/$ref", json=member_ref(user)))
        plain = client.get("/groups/delta?$select=displayName").json()
        assert plain["value"] == [{"id": group, "displayName": "Finance"}]
        items, _, delta_link = delta_round(client, "/groups/delta?$select=displayName,members")
        assert items == [
            {
                "id": group,
                "displayName": "Finance",
                "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": user}],
            }
        ]
        ok(client.delete(f"/groups/{group}/members/{user}/$ref"))
        items, _, _ = delta_round(client, delta_link)
        assert items == [
            {
                "id": group,
                "displayName": "Finance",
                "members@delta": [
                    {"@odata.type": "#microsoft.graph.user", "id": user, "@removed": {"reason": "deleted"}}
                ],
            }
        ]


def test_soft_deleting_and_restoring_a_member_shows_in_members_delta(live_server: LiveServer) -> None:
    with live_server.client() as client:
        user = make_user(client, "sam")["id"]
        nested = make_group(client, "nested")["id"]
        group = make_group(client, "crew")["id"]
        for member in (user, nested):
            ok(client.post(f"/groups/{group}/members/$ref", json=member_ref(member)))
        _, _, delta_link = delta_round(client, "/groups/delta?$select=displayName,members")

        ok(client.delete(f"/users/{user}"))
        ok(client.delete(f"/groups/{nested}"))
        items, _, delta_link = delta_round(client, delta_link)
        second = by_id(items)
        # The group's member list no longer shows them (GET members agrees), so delta says so.
        removed = [
            {"@odata.type": "#microsoft.graph.user", "id": user, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.group", "id": nested, "@removed": {"reason": "deleted"}},
        ]
        # In member-id order, as members@delta always is.
        assert second[group]["members@delta"] == sorted(removed, key=lambda m: m["id"])
        assert second[nested] == {"id": nested, "@removed": {"reason": "changed"}}
        assert client.get(f"/groups/{group}/members").json()["value"] == []

        ok(client.post(f"/directory/deletedItems/{user}/restore"), 200)
        items, _, _ = delta_round(client, delta_link)
        third = by_id(items)
        assert third[group]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": user}]
        assert [m["id"] for m in client.get(f"/groups/{group}/members").json()["value"]] == [user]


def test_a_large_group_is_split_across_pages_of_the_first_round(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DeltaService, "members_per_page", 3)
    with live_server.client() as client:
        users = sorted(make_user(client, f"m{i}")["id"] for i in range(6))
        a, b, c = sorted(make_group(client, name)["id"] for name in ("ga", "gb", "gc"))
        for user in users[:5]:
            ok(client.post(f"/groups/{a}/members/$ref", json=member_ref(user)))
        for user in users[4:]:
            ok(client.post(f"/groups/{b}/members/$ref", json=member_ref(user)))

        _, pages, delta_link = delta_round(client, "/groups/delta?$select=displayName,members")
        listed = [(g["id"], [m["id"] for m in g["members@delta"]]) for page in pages for g in page["value"]]
        # Three members a page, in member-id order; a group cut short opens the next page.
        assert listed == [
            (a, users[0:3]),
            (a, users[3:5]),
            (b, users[4:5]),
            (b, users[5:6]),
            (c, []),
        ]
        assert [len(page["value"]) for page in pages] == [1, 2, 2]
        # The round ends as any other: the next one holds only later changes.
        ok(client.delete(f"/groups/{b}/members/{users[5]}/$ref"))
        items, _, _ = delta_round(client, delta_link)
        assert [(g["id"], g["members@delta"]) for g in items] == [
            (b, [{"@odata.type": "#microsoft.graph.user", "id": users[5], "@removed": {"reason": "deleted"}}])
        ]


def test_a_first_round_token_from_before_member_paging_still_reads(live_server: LiveServer) -> None:
    with live_server.client() as client:
        group = make_group(client, "old")["id"]
        with live_server.db.read() as conn:
            end = last_seq(conn)
        # A $skiptoken as the earlier release wrote it: eight fields, no member position.
        old = encode_skiptoken(["delta1", "group", "i", 0, end, "", "", 5])
        response = client.get(f"/groups/delta?$skiptoken={old}")
        assert response.status_code == 200, response.text
        assert [g["id"] for g in response.json()["value"]] == [group]
        assert "@odata.deltaLink" in response.json()


# Service principals

CUSTOM_SCIM_APP_TEMPLATE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"


def make_service_principal(client: httpx.Client, name: str) -> str:
    response = client.post(
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate", json={"displayName": name}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["servicePrincipal"]["id"])


def test_service_principals_first_round_then_creates_and_deletes(live_server: LiveServer) -> None:
    with live_server.client() as client:
        sp1, sp2, sp3 = (make_service_principal(client, name) for name in ("Alpha", "Beta", "Gamma"))
        items, pages, delta_link = delta_round(
            client, "/servicePrincipals/delta?$select=displayName,appId", MAXPAGESIZE_2
        )
        assert len(pages) == 2
        first = by_id(items)
        assert set(first) == {sp1, sp2, sp3}
        assert set(first[sp1]) == {"id", "displayName", "appId"} and first[sp1]["displayName"] == "Alpha"
        ok(client.delete(f"/servicePrincipals/{sp2}"))
        sp4 = make_service_principal(client, "Delta")
        items, _, delta_link = delta_round(client, delta_link)
        second = by_id(items)
        assert set(second) == {sp2, sp4}
        assert second[sp2] == {"id": sp2, "@removed": {"reason": "deleted"}}
        assert second[sp4]["displayName"] == "Delta" and set(second[sp4]) == {"id", "displayName", "appId"}
        items, _, _ = delta_round(client, delta_link)
        assert items == []
