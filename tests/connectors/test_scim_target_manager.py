"""The local SCIM app (`provisiond.scim_target`, the demo's and the tests' target) reads the
enterprise manager in every form Entra and RFC 7643 write it, over HTTP, and keeps it as
`{"value": id}`, as apps built for Entra do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from provisiond.scim_target import ENTERPRISE_USER, MANAGER_PATH, serve_scim

TOKEN = "scim-target-manager"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(scope="module")
def scim() -> Iterator[httpx.Client]:
    server = serve_scim(TOKEN)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c
    server.stop()


def _user(scim: httpx.Client, **extra: Any) -> str:
    body = {"schemas": [CORE_USER, ENTERPRISE_USER], "userName": f"{uuid.uuid4().hex[:10]}@x.example"}
    response = scim.post("/Users", json={**body, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _patch(scim: httpx.Client, user_id: str, *operations: dict[str, Any]) -> httpx.Response:
    return scim.patch(f"/Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)})


def _manager(scim: httpx.Client, user_id: str) -> object:
    response = scim.get(f"/Users/{user_id}")
    assert response.status_code == 200, response.text
    return (response.json().get(ENTERPRISE_USER) or {}).get("manager")


@pytest.mark.parametrize("op", ["Add", "Replace", "add", "replace"])
@pytest.mark.parametrize("form", ["bare", "object"])
def test_add_or_replace_sets_the_manager_from_a_bare_id_or_an_object(
    scim: httpx.Client, op: str, form: str
) -> None:
    first, second, user = _user(scim), _user(scim), _user(scim)
    for manager in (first, second):  # set, then change
        value: object = manager if form == "bare" else {"value": manager}
        response = _patch(scim, user, {"op": op, "path": MANAGER_PATH, "value": value})
        assert response.status_code == 204, response.text
        assert _manager(scim, user) == {"value": manager}


def test_a_path_less_replace_with_the_manager_as_a_dotted_key_sets_it(scim: httpx.Client) -> None:
    manager, user = _user(scim), _user(scim)
    response = _patch(scim, user, {"op": "replace", "value": {MANAGER_PATH: manager, "title": "T"}})
    assert response.status_code == 204, response.text
    assert _manager(scim, user) == {"value": manager}
    assert scim.get(f"/Users/{user}").json()["title"] == "T"


@pytest.mark.parametrize(
    "removal",
    [
        {"op": "Remove", "path": MANAGER_PATH},
        {"op": "remove", "path": MANAGER_PATH},
        {"op": "Remove", "path": MANAGER_PATH, "value": "{manager}"},
        {"op": "Remove", "path": MANAGER_PATH, "value": {"value": "{manager}"}},
        {"op": "remove", "path": MANAGER_PATH + '[value eq "{manager}"]'},
        {"op": "Replace", "path": MANAGER_PATH, "value": ""},
    ],
    ids=["Remove", "remove", "by-bare-value", "by-object-value", "by-filter", "replace-empty"],
)
def test_every_removal_form_clears_the_manager(scim: httpx.Client, removal: dict[str, Any]) -> None:
    manager, user = _user(scim), _user(scim)
    assert _patch(scim, user, {"op": "Add", "path": MANAGER_PATH, "value": manager}).status_code == 204
    filled = {
        k: (v.replace("{manager}", manager) if isinstance(v, str) else {"value": manager})
        for k, v in removal.items()
    }
    response = _patch(scim, user, filled)
    assert response.status_code == 204, response.text
    assert _manager(scim, user) is None


def test_a_create_body_with_a_bare_manager_id_is_stored_as_an_object(scim: httpx.Client) -> None:
    manager = _user(scim)
    user = _user(scim, **{ENTERPRISE_USER: {"manager": manager, "department": "D"}})
    assert _manager(scim, user) == {"value": manager}


def test_other_writes_pass_untouched(scim: httpx.Client) -> None:
    user = _user(scim)
    response = _patch(scim, user, {"op": "Replace", "path": "displayName", "value": "Ada"})
    assert response.status_code == 204
    assert scim.get(f"/Users/{user}").json()["displayName"] == "Ada"
    # A malformed body still reaches scim2-server, which answers it.
    bad = scim.patch(
        f"/Users/{user}", content=b"{not json", headers={"Content-Type": "application/scim+json"}
    )
    assert bad.status_code == 400
