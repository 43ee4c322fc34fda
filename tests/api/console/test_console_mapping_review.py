"""A mapping change's Save and Apply over HTTP: Save saves nothing, Apply without the CSRF token
or by a read-only identity is refused, an Apply after someone else saved the schema shows a
fresh preview instead, a background preview's page offers Apply only for a change this
session signed, a scoping filter is refused exactly where PUT .../schema refuses it (its
other filter sets kept when it is saved), and testing an expression on a user needs the
permission to read users."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.api.console.console_helpers import READ_ONLY, signed_in
from tests.api.helpers import store_snapshot
from tests.conftest import APPLICATION_ADMINISTRATOR, LiveServer, ScimTarget
from tests.engine.helpers import Provisioned, provision, wait_for

from provisiond.services.preview import PreviewService

EXPRESSION = 'Append([displayName], " (Contoso)")'
APPLY = re.compile(r'<form method="post" action="[^"]+/mappings/apply"')
FIELD = re.compile(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">')


def _setup(server: LiveServer, scim: ScimTarget) -> tuple[Provisioned, str]:
    setup = provision(server, scim, users=2, start=False)
    return setup, f"/console/apps/{setup.sp_id}/jobs/{setup.job_id}"


def _display_name_position(setup: Provisioned) -> dict[str, str]:
    schema = setup.client.get(f"{setup.job_url}/schema").json()
    mappings = schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
    attr = next(i for i, m in enumerate(mappings) if m["targetAttributeName"] == "displayName")
    return {"rule": "0", "object": "0", "attr": str(attr)}


def _schema(setup: Provisioned) -> dict[str, Any]:
    return dict(setup.client.get(f"{setup.job_url}/schema").json())


def _apply_fields(html: str) -> dict[str, str]:
    """The hidden fields of the review page's Apply form."""
    form = html[html.index('action="', APPLY.search(html).start()) :]  # type: ignore[union-attr]
    form = form[: form.index("</form>")]
    return {name: value.replace("&#34;", '"').replace("&quot;", '"') for name, value in FIELD.findall(form)}


def _save(client: httpx.Client, path: str, csrf: str, position: dict[str, str]) -> httpx.Response:
    return client.post(
        f"{path}/mappings/edit",
        data={"csrf": csrf, **position, "expression": EXPRESSION, "action": "save"},
        follow_redirects=False,
    )


def test_save_saves_nothing_and_apply_needs_the_csrf_token(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, path = _setup(sqlite_server, scim_target)
    client, csrf = signed_in(sqlite_server)
    before = _schema(setup)
    review = _save(client, path, csrf, _display_name_position(setup))
    assert review.status_code == 200, review.text
    assert "Apply this change" in review.text and 'id="preview-counts"' in review.text
    assert _schema(setup) == before
    fields = _apply_fields(review.text)
    assert fields["expression"] == EXPRESSION and fields["kind"] == "attribute"
    snapshot = store_snapshot(sqlite_server.db)
    for csrf_sent in ("", csrf[:-2] + "xx"):
        refused = client.post(f"{path}/mappings/apply", data={**fields, "csrf": csrf_sent, "step": "apply"})
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert store_snapshot(sqlite_server.db) == snapshot
    applied = client.post(
        f"{path}/mappings/apply", data={**fields, "csrf": csrf, "step": "apply"}, follow_redirects=False
    )
    assert applied.status_code == 303, applied.text
    assert applied.headers["location"].endswith("/mappings?notice=mappings-saved")
    mappings = _schema(setup)["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
    assert any(m["source"].get("expression") == EXPRESSION for m in mappings)
    client.close()


def test_apply_after_someone_else_saved_shows_a_fresh_preview(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, path = _setup(sqlite_server, scim_target)
    client, csrf = signed_in(sqlite_server)
    fields = _apply_fields(_save(client, path, csrf, _display_name_position(setup)).text)
    # Someone saves another change through the API meanwhile.
    schema = _schema(setup)
    schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0]["defaultValue"] = "x"
    assert setup.client.put(f"{setup.job_url}/schema", json=schema).status_code == 204
    theirs = _schema(setup)
    again = client.post(f"{path}/mappings/apply", data={**fields, "csrf": csrf, "step": "apply"})
    assert again.status_code == 200, again.text
    assert "saved by someone else" in again.text and "Apply this change" in again.text
    assert _schema(setup) == theirs
    fresh = _apply_fields(again.text)
    assert int(fresh["version"]) > int(fields["version"])
    client.post(f"{path}/mappings/apply", data={**fresh, "csrf": csrf, "step": "apply"})
    mappings = _schema(setup)["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
    assert mappings[0].get("defaultValue") == "x"  # their change is kept
    assert any(m["source"].get("expression") == EXPRESSION for m in mappings)
    client.close()


def test_a_read_only_identity_cannot_save_or_apply(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, path = _setup(sqlite_server, scim_target)
    admin, admin_csrf = signed_in(sqlite_server)
    fields = _apply_fields(_save(admin, path, admin_csrf, _display_name_position(setup)).text)
    reader, csrf = signed_in(sqlite_server, READ_ONLY)
    before = store_snapshot(sqlite_server.db)
    assert _save(reader, path, csrf, _display_name_position(setup)).status_code == 403
    refused = reader.post(f"{path}/mappings/apply", data={**fields, "csrf": csrf, "step": "apply"})
    assert refused.status_code == 403 and "Synchronization.ReadWrite.All" in refused.text
    assert store_snapshot(sqlite_server.db) == before
    admin.close()
    reader.close()


def test_a_background_preview_offers_apply_only_for_this_sessions_change(
    sqlite_server: LiveServer, scim_target: ScimTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PreviewService, "inline_limit", 0)  # every directory is large
    setup, path = _setup(sqlite_server, scim_target)
    client, csrf = signed_in(sqlite_server)
    saved = _save(client, path, csrf, _display_name_position(setup))
    assert saved.status_code == 303, saved.text
    location = saved.headers["location"]
    assert "/previews/" in location and "sig=" in location
    # Still running at first or not, the page offers Apply once the preview is done.
    signed = wait_for(
        lambda: (
            (page := client.get(location)).status_code == 200 and "still running" not in page.text and page
        ),
        what="the preview to finish",
    )
    assert "Apply this change" in signed.text
    forged = client.get(location.replace("Contoso", "Fabrikam"))
    assert forged.status_code == 200
    assert "Apply this change" not in forged.text and "not made in your session" in forged.text
    other, _ = signed_in(sqlite_server)  # another session's page of the same link
    assert "Apply this change" not in other.get(location).text
    client.close()
    other.close()


def _scope_form(csrf: str, clauses: list[tuple[str, str, str]], op: str = "save") -> dict[str, str]:
    form = {
        "csrf": csrf,
        "rule": "0",
        "object": "0",
        "groups": "1",
        "g0-clauses": str(len(clauses)),
        "op": op,
    }
    for c, (attribute, operator, values) in enumerate(clauses):
        form |= {f"g0-c{c}-attribute": attribute, f"g0-c{c}-operator": operator, f"g0-c{c}-values": values}
    return form


def test_a_scoping_filter_is_refused_as_put_schema_refuses_it_and_keeps_the_other_sets(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, path = _setup(sqlite_server, scim_target)
    schema = _schema(setup)
    kept = [
        {
            "name": "only Sales",
            "clauses": [
                {
                    "sourceOperandName": "department",
                    "operatorName": "EQUALS",
                    "targetOperand": {"values": ["Sales"]},
                }
            ],
        }
    ]
    schema["synchronizationRules"][0]["objectMappings"][0]["scope"] = {"inputFilterGroups": kept}
    assert setup.client.put(f"{setup.job_url}/schema", json=schema).status_code == 204
    client, csrf = signed_in(sqlite_server)
    before = _schema(setup)
    for clauses, message in (
        ([("department", "LIKE", "Sales")], "unknown operator 'LIKE'"),
        ([("department", "REGEX MATCH", "(")], "invalid regular expression"),
        ([("department", "EQUALS", "")], "needs at least one targetOperand value"),
        ([("", "EQUALS", "Sales")], "sourceOperandName is missing"),
    ):
        refused = client.post(f"{path}/mappings/scope", data=_scope_form(csrf, clauses))
        assert refused.status_code == 400, refused.text
        assert message in refused.text.replace("&#39;", "'")
        assert 'id="preview"' not in refused.text
    gone = client.post(f"{path}/mappings/scope", data=_scope_form(csrf, [], op="remove-clause:0:3"))
    assert gone.status_code == 400 and "not in the filter any more" in gone.text
    assert _schema(setup) == before

    review = client.post(
        f"{path}/mappings/scope", data=_scope_form(csrf, [("accountEnabled", "is true", "x")])
    )
    assert review.status_code == 200, review.text
    fields = _apply_fields(review.text)
    applied = client.post(
        f"{path}/mappings/apply", data={**fields, "csrf": csrf, "step": "apply"}, follow_redirects=True
    )
    assert applied.status_code == 200 and "Saved" in applied.text
    assert "accountEnabled IS TRUE" in applied.text
    scope = _schema(setup)["synchronizationRules"][0]["objectMappings"][0]["scope"]
    assert scope["inputFilterGroups"] == kept
    # The operator in the engine's spelling, and no value for an operator that takes none.
    assert scope["groups"] == [
        {
            "name": None,
            "clauses": [
                {
                    "sourceOperandName": "accountEnabled",
                    "operatorName": "IS TRUE",
                    "targetOperand": {"values": []},
                }
            ],
        }
    ]
    client.close()


def test_testing_on_a_user_needs_the_permission_to_read_users(
    sqlite_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup, path = _setup(sqlite_server, scim_target)
    claims = {"scp": "Synchronization.ReadWrite.All", "wids": [APPLICATION_ADMINISTRATOR], "oid": "writer"}
    client, csrf = signed_in(sqlite_server, claims)
    position = _display_name_position(setup)
    editor = client.get(f"{path}/mappings/edit", params=position)
    assert editor.status_code == 200, editor.text
    assert "or test on a user" not in editor.text
    form = {"csrf": csrf, **position, "expression": "[displayName]", "action": "test-user"}
    refused = client.post(f"{path}/mappings/edit", data={**form, "test_user": "user0@contoso.example"})
    assert refused.status_code == 403 and "may not read users" in refused.text
    assert "User0" not in refused.text
    admin, admin_csrf = signed_in(sqlite_server)
    tested = admin.post(
        f"{path}/mappings/edit", data={**form, "csrf": admin_csrf, "test_user": "user0@contoso.example"}
    )
    assert tested.status_code == 200 and '<code class="result">User0</code>' in tested.text
    client.close()
    admin.close()
