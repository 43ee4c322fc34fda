"""Every class of bad input gets a Graph error envelope with the right status, and changes nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from tests.api.helpers import assert_graph_error, make_app, make_job, make_user, store_snapshot
from tests.conftest import LiveServer


@pytest.fixture
def job(sqlite_server: LiveServer) -> tuple[str, str]:
    with sqlite_server.client() as client:
        app = make_app(client)
        sp_id = app["servicePrincipal"]["id"]
        return sp_id, make_job(client, sp_id)["id"]


def test_unknown_route_is_a_400_naming_the_segment(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        error = assert_graph_error(client.get("/nonsense"), 400, "BadRequest")
    assert "nonsense" in error["message"]


def test_unknown_version_is_a_graph_error(sqlite_server: LiveServer) -> None:
    response = httpx.get(
        f"{sqlite_server.url}/v9.9/users", headers={"Authorization": f"Bearer {sqlite_server.token()}"}
    )
    assert_graph_error(response, 400, "BadRequest")


def test_wrong_method_is_405(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        assert_graph_error(client.put("/users", json={}), 405)
        assert store_snapshot(sqlite_server.db) == before


def test_unsupported_media_type_is_415_and_creates_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post("/users", content=b"displayName=x", headers={"Content-Type": "text/plain"})
        assert_graph_error(response, 415, "UnsupportedMediaType")
        assert store_snapshot(sqlite_server.db) == before


def test_malformed_json_is_400_and_creates_nothing(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(
            "/users", content=b'{"displayName": ', headers={"Content-Type": "application/json"}
        )
        error = assert_graph_error(response, 400, "BadRequest")
        assert "Unable to read JSON request payload" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_a_json_array_body_is_400(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        assert_graph_error(client.post("/users", json=[1, 2]), 400, "BadRequest")


@pytest.mark.parametrize(
    ("field", "value"),
    [("accountEnabled", "yes"), ("displayName", 42), ("otherMails", "a@b.c"), ("businessPhones", [1])],
)
def test_wrong_types_are_400_naming_the_property_and_create_nothing(
    sqlite_server: LiveServer, field: str, value: object
) -> None:
    body = {
        "accountEnabled": True,
        "displayName": "X",
        "mailNickname": "x",
        "userPrincipalName": "x@contoso.example",
        "passwordProfile": {"password": "p"},
        field: value,
    }
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        error = assert_graph_error(client.post("/users", json=body), 400, "BadRequest")
        assert field in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_unknown_property_is_400_naming_it(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        user = make_user(client, "ann")
        before = store_snapshot(sqlite_server.db)
        error = assert_graph_error(client.patch(f"/users/{user['id']}", json={"favouriteColour": "red"}), 400)
        assert "favouriteColour" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_missing_required_property_is_400_naming_it(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        error = assert_graph_error(
            client.post("/groups", json={"displayName": "g", "mailNickname": "g"}), 400
        )
        assert "mailEnabled" in error["message"]


@pytest.mark.parametrize("scope", ["Watermark, Bogus", "Full,Nope", '["Escrows", "Sideways"]'])
def test_unknown_reset_scope_member_is_400_naming_it_and_records_no_restart(
    sqlite_server: LiveServer, job: tuple[str, str], scope: str
) -> None:
    sp_id, job_id = job
    value = json.loads(scope) if scope.startswith("[") else scope
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(
            f"/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/restart",
            json={"criteria": {"resetScope": value}},
        )
        error = assert_graph_error(response, 400, "BadRequest")
        bad = next(n for n in ("Bogus", "Nope", "Sideways") if n in scope)
        assert bad in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_wrong_type_for_reset_scope_is_400(sqlite_server: LiveServer, job: tuple[str, str]) -> None:
    sp_id, job_id = job
    with sqlite_server.client() as client:
        response = client.post(
            f"/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/restart",
            json={"criteria": {"resetScope": {}}},
        )
        assert_graph_error(response, 400)


def test_unknown_secret_key_is_400_and_stores_nothing(
    sqlite_server: LiveServer, job: tuple[str, str]
) -> None:
    sp_id, _ = job
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        body = {"value": [{"key": "BaseAddress", "value": "https://x"}, {"key": "Favourite", "value": "1"}]}
        error = assert_graph_error(
            client.put(f"/servicePrincipals/{sp_id}/synchronization/secrets", json=body), 400
        )
        assert "Favourite" in error["message"]
        assert store_snapshot(sqlite_server.db) == before


def test_body_above_four_mebibytes_is_413(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        before = store_snapshot(sqlite_server.db)
        big = b'{"displayName": "' + b"x" * (4 * 1024 * 1024) + b'"}'
        response = client.post("/users", content=big, headers={"Content-Type": "application/json"})
        assert_graph_error(response, 413, "RequestEntityTooLarge")
        assert store_snapshot(sqlite_server.db) == before


def test_chunked_body_above_four_mebibytes_is_413(sqlite_server: LiveServer) -> None:
    def chunks():  # no Content-Length: the limit must hold while streaming
        yield b'{"displayName": "'
        for _ in range(5):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    with sqlite_server.client() as client:
        response = client.post("/users", content=chunks(), headers={"Content-Type": "application/json"})
        assert_graph_error(response, 413, "RequestEntityTooLarge")


@pytest.mark.parametrize(
    "name",
    # NUL and lone surrogates are refused (tests/api/test_bad_input_backends.py); the rest is kept.
    ["Robert'); DROP TABLE users;--", "Zoë \u202e\u0007 <script>alert(1)</script>", "名前 🙂 %_\\"],
)
def test_hostile_strings_are_stored_and_returned_verbatim(sqlite_server: LiveServer, name: str) -> None:
    with sqlite_server.client() as client:
        user = make_user(client, "hostile", displayName=name)
        assert client.get(f"/users/{user['id']}").json()["displayName"] == name
        escaped = name.replace("'", "''")
        found = client.get("/users", params={"$filter": f"displayName eq '{escaped}'"}).json()["value"]
        assert [u["id"] for u in found] == [user["id"]]
        prefix = client.get("/users", params={"$filter": "startswith(displayName, '%')"}).json()["value"]
        assert prefix == []  # '%' is a literal, not a wildcard


def test_unsupported_query_option_is_400_naming_it(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        error = assert_graph_error(client.get("/users", params={"$skip": "5"}), 400, "BadRequest")
        assert "$skip" in error["message"]
        error = assert_graph_error(client.get("/users", params={"$orderby": "mail"}), 400, "BadRequest")
        assert "mail" in error["message"]
        error = assert_graph_error(client.get("/users", params={"$filter": "favourite eq 'x'"}), 400)
        assert "favourite" in error["message"]


def test_client_request_id_is_echoed(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        response = client.get("/nonsense", headers={"client-request-id": "abc-123"})
        assert response.headers["client-request-id"] == "abc-123"
        assert response.json()["error"]["innerError"]["client-request-id"] == "abc-123"
        ok = client.get("/users")
        assert ok.headers["request-id"] and ok.headers["client-request-id"]


def test_unexpected_exception_is_a_500_envelope(sqlite_server: LiveServer) -> None:
    from tests.conftest import run_server

    from provisiond.api.app import create_app

    app: FastAPI = create_app(sqlite_server.settings, sqlite_server.db)

    @app.get("/v1.0/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    url, server, thread = run_server(app)
    try:
        response = httpx.get(f"{url}/v1.0/boom")
        error = assert_graph_error(response, 500, "generalException")
        assert "kaboom" not in error["message"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
