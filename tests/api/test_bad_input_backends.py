"""Bad input gets the same Graph error on SQLite and on PostgreSQL, and changes nothing
(DESIGN invariant 6). Every case runs on both backends (`live_server`).

The answers, case by case:

| input | status, code |
|---|---|
| JSON nested past `graph.text.MAX_JSON_DEPTH` (400) on any POST/PATCH/PUT | 400 BadRequest |
| NUL (`%00`) in a path segment, or in the query string | 400 BadRequest |
| NUL or a lone surrogate in a body string or property name, `$ref` bodies included | 400 BadRequest, naming the property |
| a forged `$skiptoken` holding a NUL or a lone surrogate | 400 BadRequest |
| a directory property past Graph's length limit, or a list past its count | 400 BadRequest, naming the property |
| a token for another tenant, or without `tid` | 401 InvalidAuthenticationToken |

The database going away (503), concurrent restores and the tenant at start-up have their own
tests below and in `tests/test_cli.py`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from tests.api.bulk_examples import BULK_REQUEST, UPLOAD
from tests.api.helpers import (
    CUSTOM_SCIM_APP_TEMPLATE,
    assert_graph_error,
    make_app,
    make_job,
    make_user,
    store_snapshot,
)
from tests.conftest import LiveServer, run_server

from provisiond.api.app import create_app
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.graph.odata import encode_skiptoken
from provisiond.graph.text import MAX_JSON_DEPTH
from provisiond.store.db import Database
from provisiond.store.tables import directory_changes

DEEP = b"[" * 100_000
USERS = "https://graph.microsoft.com/v1.0/users"


@dataclass(frozen=True)
class Case:
    """One bad request: `path` and `json` may name `{user}`, `{group}`, `{sp}`, `{job}`,
    `{inbound}` (an API2AAD job) and `{deleted}` (a soft-deleted user)."""

    id: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    status: int = 400
    code: str = "BadRequest"
    says: str | None = None
    tid: str | None = None  # the token's tid; "" for a token without one
    roles: tuple[str, ...] = ()  # an app-only token with these roles, else an administrator's


def _user_body(**extra: Any) -> dict[str, Any]:
    return {
        "accountEnabled": True,
        "displayName": "New",
        "mailNickname": "new",
        "userPrincipalName": "new@contoso.example",
        "passwordProfile": {"password": "Pa55word!"},
        **extra,
    }


def _group_body(**extra: Any) -> dict[str, Any]:
    return {"displayName": "G", "mailNickname": "g", "mailEnabled": False, "securityEnabled": True, **extra}


def _bulk(data: dict[str, Any]) -> bytes:
    operation = {"method": "POST", "bulkId": "1", "path": "/Users", "data": data}
    return json.dumps({"schemas": [BULK_REQUEST], "Operations": [operation]}).encode()


def _forged_skiptoken(payload: bytes) -> str:
    """A token as `encode_skiptoken` makes one, around a payload it would never write."""
    from provisiond.graph.odata import _b64, _checksum

    return _b64(payload + _checksum(payload))


def _deep_in(prefix: bytes) -> bytes:
    return prefix + DEEP


JSON_DEPTH = f"more than {MAX_JSON_DEPTH} levels"
SYNC = "/servicePrincipals/{sp}/synchronization"

CASES = [
    # JSON nested 100,000 deep, to every kind of write
    Case("deep-create-user", "POST", "/users", content=DEEP, says=JSON_DEPTH),
    Case("deep-patch-user", "PATCH", "/users/{user}", content=_deep_in(b'{"jobTitle": '), says=JSON_DEPTH),
    Case("deep-create-group", "POST", "/groups", content=_deep_in(b'{"displayName": '), says=JSON_DEPTH),
    Case("deep-member-ref", "POST", "/groups/{group}/members/$ref", content=DEEP, says=JSON_DEPTH),
    Case("deep-manager-ref", "PUT", "/users/{user}/manager/$ref", content=DEEP, says=JSON_DEPTH),
    Case("deep-secrets", "PUT", SYNC + "/secrets", content=DEEP, says=JSON_DEPTH),
    Case("deep-synchronization", "PUT", SYNC, content=_deep_in(b'{"secrets": '), says=JSON_DEPTH),
    Case("deep-job-patch", "PATCH", SYNC + "/jobs/{job}", content=DEEP, says=JSON_DEPTH),
    Case(
        "deep-job-schema",
        "PUT",
        SYNC + "/jobs/{job}/schema",
        content=_deep_in(b'{"directories": '),
        says=JSON_DEPTH,
    ),
    Case("deep-restart", "POST", SYNC + "/jobs/{job}/restart", content=DEEP, says=JSON_DEPTH),
    Case(
        "deep-parse-expression",
        "POST",
        SYNC + "/jobs/{job}/schema/parseExpression",
        content=DEEP,
        says=JSON_DEPTH,
    ),
    Case(
        "deep-instantiate",
        "POST",
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate",
        content=DEEP,
        says=JSON_DEPTH,
    ),
    Case(
        "deep-bulk-upload",
        "POST",
        SYNC + "/jobs/{inbound}/bulkUpload",
        content=_deep_in(b'{"Operations": '),
        content_type="application/scim+json",
        says=JSON_DEPTH,
        roles=(UPLOAD,),
    ),
    # just under the limit: parsed, then refused for its shape, not for its depth
    Case(
        "nested-below-the-limit",
        "POST",
        "/users",
        content=b'{"displayName": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}",
        says="displayName",
    ),
    # NUL in a path segment
    Case("nul-user-id", "GET", "/users/a%00b", says="NUL"),
    Case("nul-user-patch", "PATCH", "/users/a%00b", json={"jobTitle": "x"}, says="NUL"),
    Case("nul-group-id", "GET", "/groups/a%00b", says="NUL"),
    Case("nul-member-id", "DELETE", "/groups/{group}/members/a%00b/$ref", says="NUL"),
    Case("nul-service-principal-id", "GET", "/servicePrincipals/a%00b", says="NUL"),
    Case("nul-job-id", "GET", SYNC + "/jobs/a%00b", says="NUL"),
    Case("nul-deleted-item", "GET", "/directory/deletedItems/a%00b", says="NUL"),
    Case("nul-restore", "POST", "/directory/deletedItems/a%00b/restore", says="NUL"),
    # NUL in the query string
    Case("nul-filter-users", "GET", "/users?$filter=displayName%20eq%20'a%00b'", says="NUL"),
    Case("nul-filter-groups", "GET", "/groups?$filter=startswith(displayName,'%00')", says="NUL"),
    Case("nul-filter-logs", "GET", "/auditLogs/provisioning?$filter=jobId%20eq%20'%00'", says="NUL"),
    Case("nul-select", "GET", "/users/{user}?$select=display%00Name", says="NUL"),
    Case("nul-expand", "GET", "/users/{user}?$expand=man%00ager", says="NUL"),
    Case("deep-expand", "GET", "/groups?$expand=" + "members(" * 5000 + ")" * 5000, says="$expand"),
    Case("expand-all-of-members", "GET", "/groups/{group}?$expand=members($select=nope)", says="'nope'"),
    # a forged $skiptoken (its checksum is not a secret)
    Case("nul-skiptoken", "GET", "/users?$skiptoken=" + encode_skiptoken(["a\x00b"]), says="$skiptoken"),
    Case(
        "surrogate-skiptoken",
        "GET",
        "/groups?$skiptoken=" + _forged_skiptoken(b'["\\ud800"]'),
        says="$skiptoken",
    ),
    # NUL and lone surrogates in bodies
    Case("nul-display-name", "POST", "/users", json=_user_body(displayName="a\x00b"), says="'displayName'"),
    Case("nul-patch-user", "PATCH", "/users/{user}", json={"jobTitle": "a\x00b"}, says="'jobTitle'"),
    Case("nul-property-name", "PATCH", "/users/{user}", json={"job\x00Title": "x"}, says="property name"),
    Case(
        "nul-group-description", "POST", "/groups", json=_group_body(description="\x00"), says="'description'"
    ),
    Case(
        "nul-member-bind",
        "POST",
        "/groups",
        json=_group_body(**{"members@odata.bind": [f"{USERS}/a\x00"]}),
        says="members@odata.bind.0",
    ),
    Case(
        "nul-member-ref",
        "POST",
        "/groups/{group}/members/$ref",
        json={"@odata.id": f"{USERS}/a\x00b"},
        says="@odata.id",
    ),
    Case(
        "nul-manager-ref",
        "PUT",
        "/users/{user}/manager/$ref",
        json={"@odata.id": f"{USERS}/a\x00b"},
        says="@odata.id",
    ),
    Case(
        "nul-secret",
        "PUT",
        SYNC + "/secrets",
        json={"value": [{"key": "SecretToken", "value": "a\x00b"}]},
        says="value.0.value",
    ),
    Case("nul-job-template", "POST", SYNC + "/jobs", json={"templateId": "sc\x00im"}, says="templateId"),
    Case(
        "nul-job-setting",
        "PATCH",
        SYNC + "/jobs/{job}",
        json={"synchronizationJobSettings": [{"name": "X", "value": "\x00"}]},
        says="synchronizationJobSettings.0.value",
    ),
    Case(
        "nul-expression",
        "POST",
        SYNC + "/jobs/{job}/schema/parseExpression",
        json={"expression": "[a\x00]"},
        says="expression",
    ),
    Case(
        "nul-instantiate",
        "POST",
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate",
        json={"displayName": "a\x00"},
        says="displayName",
    ),
    Case(
        "nul-bulk-upload",
        "POST",
        SYNC + "/jobs/{inbound}/bulkUpload",
        content=_bulk({"externalId": "e\x00", "userName": "u@contoso.example"}),
        content_type="application/scim+json",
        says="externalId",
        roles=(UPLOAD,),
    ),
    Case(
        "surrogate-display-name",
        "POST",
        "/users",
        json=_user_body(displayName="\ud800"),
        says="lone surrogate",
    ),
    Case(
        "surrogate-group-patch",
        "PATCH",
        "/groups/{group}",
        json={"displayName": "x\udfffy"},
        says="'displayName'",
    ),
    Case(
        "surrogate-manager-ref",
        "PUT",
        "/users/{user}/manager/$ref",
        json={"@odata.id": f"{USERS}/\udbff"},
        says="@odata.id",
    ),
    Case(
        "surrogate-secret",
        "PUT",
        SYNC + "/secrets",
        json={"value": [{"key": "BaseAddress", "value": "https://\udc00"}]},
        says="lone surrogate",
    ),
    Case(
        "surrogate-restart",
        "POST",
        SYNC + "/jobs/{job}/restart",
        json={"criteria": {"resetScope": "\ud800"}},
        says="resetScope",
    ),
    # Graph's length limits and counts
    Case("long-display-name", "POST", "/users", json=_user_body(displayName="x" * 257), says="displayName"),
    Case(
        "huge-display-name",
        "PATCH",
        "/users/{user}",
        json={"displayName": "x" * 3_000_000},
        says="displayName",
    ),
    Case(
        "long-upn",
        "POST",
        "/users",
        json=_user_body(userPrincipalName="a" * 60 + "@" + "d" * 53),
        says="userPrincipalName",
    ),
    Case(
        "long-upn-local-part",
        "PATCH",
        "/users/{user}",
        json={"userPrincipalName": "a" * 65 + "@contoso.example"},
        says="userPrincipalName",
    ),
    Case("long-given-name", "PATCH", "/users/{user}", json={"givenName": "g" * 65}, says="givenName"),
    Case("long-surname", "PATCH", "/users/{user}", json={"surname": "s" * 65}, says="surname"),
    Case("long-job-title", "PATCH", "/users/{user}", json={"jobTitle": "j" * 129}, says="jobTitle"),
    Case("long-department", "PATCH", "/users/{user}", json={"department": "d" * 65}, says="department"),
    Case(
        "long-mail-nickname", "PATCH", "/users/{user}", json={"mailNickname": "m" * 65}, says="mailNickname"
    ),
    Case("long-employee-id", "PATCH", "/users/{user}", json={"employeeId": "1" * 17}, says="employeeId"),
    Case("long-mobile-phone", "PATCH", "/users/{user}", json={"mobilePhone": "1" * 65}, says="mobilePhone"),
    Case(
        "long-street-address",
        "PATCH",
        "/users/{user}",
        json={"streetAddress": "s" * 1025},
        says="streetAddress",
    ),
    Case("long-city", "PATCH", "/users/{user}", json={"city": "c" * 129}, says="city"),
    Case(
        "long-office-location",
        "PATCH",
        "/users/{user}",
        json={"officeLocation": "o" * 129},
        says="officeLocation",
    ),
    Case("long-mail", "PATCH", "/users/{user}", json={"mail": "m" * 250 + "@x.example"}, says="mail"),
    Case(
        "long-usage-location", "PATCH", "/users/{user}", json={"usageLocation": "USA"}, says="usageLocation"
    ),
    Case(
        "two-business-phones",
        "PATCH",
        "/users/{user}",
        json={"businessPhones": ["+1 555 0100", "+1 555 0101"]},
        says="businessPhones",
    ),
    Case(
        "many-business-phones",
        "POST",
        "/users",
        json=_user_body(businessPhones=["1"] * 100_000),
        says="businessPhones",
    ),
    Case(
        "many-other-mails",
        "PATCH",
        "/users/{user}",
        json={"otherMails": [f"m{i}@x.example" for i in range(251)]},
        says="otherMails",
    ),
    Case("long-other-mail", "PATCH", "/users/{user}", json={"otherMails": ["m" * 251]}, says="otherMails.0"),
    Case(
        "many-proxy-addresses",
        "PATCH",
        "/users/{user}",
        json={"proxyAddresses": ["smtp:a@x.example"] * 251},
        says="proxyAddresses",
    ),
    Case(
        "long-password",
        "PATCH",
        "/users/{user}",
        json={"passwordProfile": {"password": "p" * 257}},
        says="passwordProfile.password",
    ),
    Case("long-group-name", "POST", "/groups", json=_group_body(displayName="g" * 257), says="displayName"),
    Case(
        "long-group-description",
        "PATCH",
        "/groups/{group}",
        json={"description": "d" * 1025},
        says="description",
    ),
    Case(
        "long-group-nickname", "POST", "/groups", json=_group_body(mailNickname="n" * 65), says="mailNickname"
    ),
    Case(
        "many-group-members",
        "POST",
        "/groups",
        json=_group_body(**{"members@odata.bind": [f"{USERS}/{i}" for i in range(21)]}),
        says="members@odata.bind",
    ),
    Case(
        "long-member-ref",
        "POST",
        "/groups/{group}/members/$ref",
        json={"@odata.id": f"{USERS}/" + "x" * 2100},
        says="@odata.id",
    ),
    Case(
        "long-app-name",
        "POST",
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate",
        json={"displayName": "a" * 257},
        says="displayName",
    ),
    Case(
        "long-application-description",
        "POST",
        "/applications",
        json={"displayName": "A", "description": "d" * 1025},
        says="description",
    ),
    Case(
        "many-tags",
        "POST",
        "/servicePrincipals",
        json={"appId": str(uuid.uuid4()), "tags": ["t"] * 101},
        says="tags",
    ),
    # service principal and application updates
    Case("deep-sp-patch", "PATCH", "/servicePrincipals/{sp}", content=DEEP, says=JSON_DEPTH),
    Case(
        "null-sp-enabled",
        "PATCH",
        "/servicePrincipals/{sp}",
        json={"accountEnabled": None},
        says="accountEnabled",
    ),
    Case(
        "string-sp-assignment-required",
        "PATCH",
        "/servicePrincipals/{sp}",
        json={"appRoleAssignmentRequired": "yes"},
        says="appRoleAssignmentRequired",
    ),
    Case("sp-tags-not-a-list", "PATCH", "/servicePrincipals/{sp}", json={"tags": "HR"}, says="tags"),
    Case("sp-unknown-property", "PATCH", "/servicePrincipals/{sp}", json={"appId": "x"}, says="'appId'"),
    Case("null-app-name", "PATCH", "/applications/{app}", json={"displayName": None}, says="displayName"),
    Case(
        "long-app-patch-name",
        "PATCH",
        "/applications/{app}",
        json={"displayName": "a" * 257},
        says="displayName",
    ),
    Case(
        "nul-app-description",
        "PATCH",
        "/applications/{app}",
        json={"description": "\x00"},
        says="description",
    ),
    Case(
        "app-patch-not-found",
        "PATCH",
        "/applications/00000000-0000-0000-0000-000000000009",
        json={"description": "x"},
        status=404,
        code="Request_ResourceNotFound",
    ),
    # tokens for another tenant, or for none
    Case(
        "foreign-tenant",
        "GET",
        "/users",
        status=401,
        code="InvalidAuthenticationToken",
        says="tenant",
        tid=str(uuid.uuid4()),
    ),
    Case(
        "foreign-tenant-write",
        "POST",
        "/users",
        json=_user_body(),
        status=401,
        code="InvalidAuthenticationToken",
        says="tenant",
        tid="not-a-guid",
    ),
    Case("no-tenant", "GET", "/groups", status=401, code="InvalidAuthenticationToken", says="tid", tid=""),
]


@dataclass
class World:
    server: LiveServer
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        for name, value in self.ids.items():
            text = text.replace("{" + name + "}", value)
        return text


@pytest.fixture
def world(live_server: LiveServer) -> World:
    with live_server.client() as client:
        user = make_user(client, "ann")
        gone = make_user(client, "gone")
        assert client.delete(f"/users/{gone['id']}").status_code == 204
        group = client.post("/groups", json=_group_body(displayName="Eng", mailNickname="eng")).json()
        app = make_app(client)
        sp_id = app["servicePrincipal"]["id"]
        job = make_job(client, sp_id)
        inbound = make_job(client, sp_id, "API2AAD")
    ids = {
        "user": user["id"],
        "deleted": gone["id"],
        "group": group["id"],
        "sp": sp_id,
        "app": app["application"]["id"],
        "job": job["id"],
        "inbound": inbound["id"],
    }
    return World(live_server, ids)


def _token(server: LiveServer, case: Case) -> str:
    if case.roles:
        return server.token(roles=list(case.roles))
    if case.tid is None:
        return server.token()
    if case.tid == "":
        import jwt

        token = server.token()
        claims = jwt.decode(token, options={"verify_signature": False})
        claims.pop("tid")
        return jwt.encode(claims, server.settings.hs256_secret(), algorithm="HS256")
    return server.token(tenant_id=case.tid)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_alike_and_changes_nothing(world: World, case: Case) -> None:
    server = world.server
    before = store_snapshot(server.db)
    headers = {"Authorization": f"Bearer {_token(server, case)}", "Content-Type": case.content_type}
    body = case.content
    if case.json is not None:
        # ensure_ascii: a NUL goes out as "\\u0000", a lone surrogate as "\\ud800"
        body = world.fill(json.dumps(case.json)).encode()
    with httpx.Client(base_url=f"{server.url}/v1.0", timeout=60) as client:
        response = client.request(case.method, world.fill(case.path), content=body, headers=headers)
    error = assert_graph_error(response, case.status, case.code)
    if case.says:
        assert case.says in error["message"], error["message"]
    assert store_snapshot(server.db) == before


def test_the_deepest_legitimate_body_is_accepted(world: World) -> None:
    """A job schema whose mapping carries a parsed expression tree nested as deep as an expression
    may nest (100 calls): about 310 levels of JSON, under the limit on both backends."""
    from provisiond.mapping.expressions import MAX_NESTING

    path = world.fill(SYNC + "/jobs/{job}/schema")
    with world.server.client() as client:
        schema = client.get(path).json()
        tree: dict[str, Any] = {
            "expression": "[displayName]",
            "name": "displayName",
            "parameters": [],
            "type": "Attribute",
        }
        for _ in range(MAX_NESTING):
            tree = {"name": "ToUpper", "parameters": [{"key": "source", "value": tree}], "type": "Function"}
        tree["expression"] = "ToUpper(" * MAX_NESTING + "[displayName]" + ")" * MAX_NESTING
        rule = schema["synchronizationRules"][0]
        mapping = next(m for m in rule["objectMappings"] if m["sourceObjectName"] == "User")
        target = next(a for a in mapping["attributeMappings"] if a["targetAttributeName"] == "displayName")
        target["source"] = tree
        response = client.put(path, json=schema)
        assert response.status_code == 204, response.text
        saved = client.get(path).json()
    saved_rule = saved["synchronizationRules"][0]
    saved_mapping = next(m for m in saved_rule["objectMappings"] if m["sourceObjectName"] == "User")
    saved_target = next(
        a for a in saved_mapping["attributeMappings"] if a["targetAttributeName"] == "displayName"
    )
    assert saved_target["source"]["expression"] == tree["expression"]


# Concurrent restores


def test_concurrent_restores_restore_once_and_record_one_change(live_server: LiveServer) -> None:
    with live_server.client() as client:
        user = make_user(client, "twin")
        assert client.delete(f"/users/{user['id']}").status_code == 204
    before = _changes(live_server.db, user["id"], "restored")
    barrier = threading.Barrier(10)

    def restore(_: int) -> int:
        with live_server.client() as client:
            client.get(f"/directory/deletedItems/{user['id']}")  # connected and warm: a tight race
            barrier.wait()
            return client.post(f"/directory/deletedItems/{user['id']}/restore").status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(restore, range(10)))
    assert statuses.count(200) == 1, statuses
    assert all(s in (400, 404) for s in statuses if s != 200), statuses
    assert _changes(live_server.db, user["id"], "restored") == before + 1
    with live_server.client() as client:
        assert client.get(f"/users/{user['id']}").status_code == 200


def _changes(db: Database, object_id: str, change_type: str) -> int:
    with db.read() as conn:
        query = select(func.count()).where(
            directory_changes.c.object_id == object_id, directory_changes.c.change_type == change_type
        )
        return int(conn.execute(query).scalar_one())


# The database going away while serving


class TcpProxy:
    """A TCP proxy to the database that a test closes (connections refused, open ones cut) and
    opens again on the same port: the database's network going away, for real."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            # shutdown first: a thread blocked in accept() keeps a closed socket listening
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Outage:
    """Takes the served database away and brings it back."""

    server: LiveServer
    down: Any
    up: Any


@pytest.fixture
def outage(database_url: str, settings: Settings, tmp_path: Path) -> Iterator[Outage]:
    """On PostgreSQL, the server reaches the database through a TcpProxy the test closes. On
    SQLite, another process holds the database's write lock (a backup, a `sqlite3` shell), and
    the server's writers give up after a short busy timeout."""
    if database_url.startswith("postgresql"):
        url = make_url(database_url)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        served = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        db = Database(served)
        down, up = proxy.close, proxy.open
    else:
        db = Database(database_url, sqlite_busy_timeout=0.5)
        path = make_url(database_url).database
        holder: list[sqlite3.Connection] = []

        def down() -> None:
            lock = sqlite3.connect(str(path), isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            holder.append(lock)

        def up() -> None:
            lock = holder.pop()
            lock.execute("ROLLBACK")
            lock.close()

        proxy = None
    db.migrate()
    url_, server, thread = run_server(create_app(settings, db, SystemClock()))
    try:
        yield Outage(LiveServer(url_, settings, db), down, up)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
        if proxy is not None:
            proxy.close()


def test_an_unreachable_database_is_503_with_retry_after_and_the_service_recovers(outage: Outage) -> None:
    server = outage.server
    with server.client() as client:
        make_user(client, "before")
        outage.down()
        try:
            response = client.post("/users", json=_user_body(userPrincipalName="during@contoso.example"))
            error = assert_graph_error(response, 503, "ServiceUnavailable")
            assert int(response.headers["Retry-After"]) > 0
            assert "database" in error["message"]
        finally:
            outage.up()
        after = client.post("/users", json=_user_body(userPrincipalName="after@contoso.example"))
        assert after.status_code == 201, after.text
        names = [u["userPrincipalName"] for u in client.get("/users").json()["value"]]
    assert sorted(names) == ["after@contoso.example", "before@contoso.example"]
