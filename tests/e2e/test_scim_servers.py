"""One provisioning flow, end to end, against two SCIM servers written by others: scim2-server
(behind its Entra-tolerant policy) and django-scim2 in a minimal Django project
(tests/django_scim_app), each a real HTTP server. The directory is driven through the Graph API
of a live server with its scheduler; what the apps hold is read back over SCIM, never from our
database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.helpers import make_user
from tests.conftest import LiveServer, ScimTarget
from tests.django_scim_app.launcher import django_scim_app
from tests.engine.helpers import Provisioned, provision, sqlite_engine_server

from provisiond.config import Settings
from provisiond.connectors.scim_requests import ENTERPRISE_USER, MANAGER_PATH, flatten_resource
from provisiond.services import templates

SERVERS = ["scim2-server", "django-scim2"]
GROUP = "Engineering"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def upn(i: int) -> str:
    return f"user{i}@contoso.example"


@pytest.fixture
def server(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The API and its scheduler on SQLite: storage is not the subject here."""
    with sqlite_engine_server(sqlite_url, settings) as live:
        yield live


@pytest.fixture(params=SERVERS)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScimTarget]:
    """A SCIM app written by others, serving on a free port."""
    if request.param == "scim2-server":
        yield request.getfixturevalue("scim_target")
    else:
        with django_scim_app(tmp_path / "django-scim2") as target:
            yield target


# --- reading the app over SCIM --------------------------------------------------------------------


def _all(app: ScimTarget, resource_type: str) -> list[dict[str, Any]]:
    return app.resources(resource_type)


def users_by_name(app: ScimTarget) -> dict[str, dict[str, Any]]:
    """The app's users by userName; a duplicate userName fails the test."""
    users = _all(app, "Users")
    names = [u["userName"] for u in users]
    assert len(names) == len(set(names)), f"duplicate users in the app: {sorted(names)}"
    return {u["userName"]: u for u in users}


def the_group(app: ScimTarget) -> dict[str, Any]:
    groups = _all(app, "Groups")
    assert [g["displayName"] for g in groups] == [GROUP], "exactly one group, no duplicates"
    return groups[0]


def member_ids(group: dict[str, Any]) -> list[str]:
    return sorted(str(m["value"]) for m in group.get("members") or [])


def manager_of(user: dict[str, Any]) -> object:
    """The manager's id, whichever form the app keeps it in."""
    return flatten_resource(user, [MANAGER_PATH])[MANAGER_PATH]


def app_patch(app: ScimTarget, path: str, *operations: dict[str, Any]) -> None:
    with app.client() as client:
        response = client.patch(path, json={"schemas": [PATCH_OP], "Operations": list(operations)})
    assert response.is_success, response.text


# --- driving the directory ------------------------------------------------------------------------


def settle(setup: Provisioned) -> dict[str, Any]:
    """Wait until the job has exported every change so far; its last cycle escrowed nothing."""
    row = setup.wait_idle()
    last = row["status"]["lastExecution"]
    assert last["state"] == "Succeeded", last
    assert last["countEscrowed"] == 0, last
    return row


def set_manager(setup: Provisioned, user: str, manager: str) -> None:
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{setup.users[manager]['id']}"}
    response = setup.client.put(f"/users/{setup.users[user]['id']}/manager/$ref", json=ref)
    assert response.status_code == 204, response.text


def test_create_update_manager_disable_members_and_full_restart(server: LiveServer, app: ScimTarget) -> None:
    # user0..2 are members of the assigned group; user3 and user4 are not. Every user is also
    # assigned directly, so that group membership changes move members, not scope.
    setup = provision(server, app, users=3, start=False)
    for i in (3, 4):
        user = make_user(setup.client, f"user{i}", givenName=f"Given{i}", surname=f"Sur{i}", mail=upn(i))
        setup.users[user["userPrincipalName"]] = user
    for user in setup.users.values():
        setup.assign(user["id"])
    group_id = setup.groups[GROUP]["id"]
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204

    # Initial cycle: every user and the group with its members.
    setup.wait_cycle(None)
    settle(setup)
    users = users_by_name(app)
    assert sorted(users) == [upn(i) for i in range(5)]
    ids = {name: str(u["id"]) for name, u in users.items()}
    assert all(u["active"] is True for u in users.values())
    assert users[upn(1)]["displayName"] == "User1"
    assert member_ids(the_group(app)) == sorted(ids[upn(i)] for i in range(3))

    # Update displayName and jobTitle.
    changed = {"displayName": "Ada Lovelace", "jobTitle": "Engineer"}
    assert setup.client.patch(f"/users/{setup.users[upn(0)]['id']}", json=changed).status_code == 204
    settle(setup)
    user0 = users_by_name(app)[upn(0)]
    assert (user0["displayName"], user0.get("title")) == ("Ada Lovelace", "Engineer")

    # Set a manager, then change it.
    set_manager(setup, upn(1), upn(0))
    settle(setup)
    assert manager_of(users_by_name(app)[upn(1)]) == ids[upn(0)]
    set_manager(setup, upn(1), upn(2))
    settle(setup)
    assert manager_of(users_by_name(app)[upn(1)]) == ids[upn(2)]
    if app.traffic is not None:  # scim2-server records what reached it: Entra's bare id
        sent = [json.loads(r.body) for r in app.traffic.matching("PATCH", body_contains=":manager")]
        assert [op["value"] for body in sent for op in body["Operations"]] == [ids[upn(0)], ids[upn(2)]]

    # Disable a user.
    disabled = {"accountEnabled": False}
    assert setup.client.patch(f"/users/{setup.users[upn(4)]['id']}", json=disabled).status_code == 204
    settle(setup)
    assert users_by_name(app)[upn(4)]["active"] is False

    # Add a member and remove one.
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{setup.users[upn(3)]['id']}"}
    assert setup.client.post(f"/groups/{group_id}/members/$ref", json=ref).status_code == 204
    gone = setup.users[upn(0)]["id"]
    assert setup.client.delete(f"/groups/{group_id}/members/{gone}/$ref").status_code == 204
    settle(setup)
    assert member_ids(the_group(app)) == sorted(ids[upn(i)] for i in (1, 2, 3))

    # Drift behind the engine's back, then a Full restart: everything is matched again in the
    # app (no duplicate, the same ids), the drift is corrected, references stay right.
    app_patch(app, f"/Users/{ids[upn(3)]}", {"op": "replace", "path": "displayName", "value": "Drifted"})
    before = setup.ended()
    response = setup.client.post(f"{setup.job_url}/restart", json={"criteria": {"resetScope": "Full"}})
    assert response.status_code == 204, response.text
    setup.wait_cycle(before)
    row = settle(setup)
    assert row["status"]["lastExecution"]["countImported"] >= 6  # five users and the group

    users = users_by_name(app)
    assert {name: str(u["id"]) for name, u in users.items()} == ids
    assert (users[upn(0)]["displayName"], users[upn(0)].get("title")) == ("Ada Lovelace", "Engineer")
    assert users[upn(3)]["displayName"] == "User3"
    assert {name: u["active"] for name, u in users.items()} == {upn(i): i != 4 for i in range(5)}
    assert {name: manager_of(u) for name, u in users.items()} == {
        upn(i): ids[upn(2)] if i == 1 else None for i in range(5)
    }
    group = the_group(app)
    assert member_ids(group) == sorted(ids[upn(i)] for i in (1, 2, 3))
    assert len(group["members"]) == 3  # no member twice


def test_discover_reads_each_app_schema(server: LiveServer, app: ScimTarget) -> None:
    setup = provision(server, app, users=0, assign=False, start=False)
    response = setup.client.post(f"{setup.job_url}/schema/directories/{templates.SCIM_DIRECTORY_ID}/discover")
    assert response.status_code == 200, response.text
    objects = {o["name"]: {a["name"]: a for a in o["attributes"]} for o in response.json()["objects"]}
    user = objects[ENTERPRISE_USER]
    assert user["userName"]["type"] == "String"
    assert user[MANAGER_PATH]["type"] == "Reference"
    assert [r["referencedObjectName"] for r in user[MANAGER_PATH]["referencedObjects"]] == [ENTERPRISE_USER]
    group = next(attrs for name, attrs in objects.items() if name.endswith(":Group"))
    assert group["members"]["type"] == "Reference"


def test_the_django_app_refuses_a_wrong_token(tmp_path: Path) -> None:
    with django_scim_app(tmp_path) as target:
        response = httpx.get(f"{target.url}/Users", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
