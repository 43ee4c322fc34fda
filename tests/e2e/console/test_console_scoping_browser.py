"""Scoping filters in the browser: the mappings page shows each object mapping's filter as
readable clauses; the editor adds and removes groups and clauses; a clause the schema
validation refuses is shown with its message and changes nothing; Save shows the preview
(users leaving scope would be disabled, and when that is more than the deletion threshold the
guard's verdict says so first); Apply saves it and the app shows those users inactive."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import cycle_counts, cycles, shown_counts, sign_in
from tests.engine.helpers import provision

USERS = "Provision Azure Active Directory Users"


def _clause(page: Any, group: int, clause: int, attribute: str, operator: str, values: str = "") -> None:
    where = f"Group {group} clause {clause}"
    page.get_by_label(f"{where} attribute").fill(attribute)
    page.get_by_label(f"{where} operator").select_option(operator)
    page.get_by_label(f"{where} values").fill(values)


def test_edit_a_scoping_filter_preview_the_disables_and_apply(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=4, settings={"QuarantineTooManyDeletesThreshold": "1"})
    setup.wait_cycle(None)
    setup.wait_idle()
    with server.client() as api:
        schema_before = api.get(f"{setup.job_url}/schema").json()
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/mappings")
    expect(page.locator("#scope-0-0")).to_contain_text("None: every assigned user is in scope")
    page.get_by_role("link", name=f"Edit the scoping filter of {USERS}").click()

    # Group 1: givenName is Given0 or Given1, and the account is enabled.
    page.get_by_role("button", name="Add group (or)").click()
    expect(page.get_by_label("Group 1 clause 1 attribute")).to_be_focused()
    _clause(page, 1, 1, "givenName", "EQUALS", "Given0\nGiven1")
    page.get_by_role("button", name="Add clause to group 1").click()
    expect(page.get_by_label("Group 1 clause 1 values")).to_have_value("Given0\nGiven1")
    _clause(page, 1, 2, "accountEnabled", "IS TRUE")

    # A clause the schema validation refuses: shown with its message, nothing changed.
    page.get_by_role("button", name="Add group (or)").click()
    _clause(page, 2, 1, "employeeId", "Greater_Than", "abc")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("needs integer values")
    expect(page.locator("#preview")).to_have_count(0)
    expect(page.get_by_label("Group 2 clause 1 values")).to_have_value("abc")
    shot("scoping-refused")
    with server.client() as api:
        assert api.get(f"{setup.job_url}/schema").json() == schema_before
    page.get_by_role("button", name="Remove group 2").click()
    expect(page.locator("#group-1")).to_have_count(0)
    shot("scoping")

    # Two users would leave scope: more disables than the threshold of 1, so the guard would trip.
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#change")).to_contain_text(
        'givenName EQUALS "Given0" or "Given1" and accountEnabled IS TRUE'
    )
    expect(page.locator("#guard-verdict")).to_contain_text("The accidental-deletion guard would trip")
    expect(page.get_by_role("button", name="Apply this change")).to_have_class("danger")
    shot("scoping-guard")
    page.get_by_role("button", name="Back to editing").click()
    expect(page.get_by_label("Group 1 clause 2 operator")).to_have_value("IS TRUE")

    # With the threshold raised, the same change disables them.
    with server.client() as api:
        body = {"synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": "10"}]}
        assert api.patch(setup.job_url, json=body).status_code == 204
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#guard-verdict")).to_contain_text("This change disables 2")
    previewed = shown_counts(page)
    assert previewed[("User", "disable")] == 2, previewed
    actions = page.locator("#preview-actions")
    for upn in ("user2@contoso.example", "user3@contoso.example"):
        expect(actions.locator("tr", has_text=upn)).to_contain_text("disable")
    expect(actions).not_to_contain_text("user0@contoso.example")
    shot("scoping-preview")
    assert all(u["active"] for u in setup.target_users().values())

    before, previous = cycles(setup), setup.ended()
    page.get_by_role("button", name="Apply this change").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    scope = page.locator("#scope-0-0")
    expect(scope).to_contain_text('givenName EQUALS "Given0" or "Given1"')
    expect(scope).to_contain_text("accountEnabled IS TRUE")
    shot("scoping-mappings")
    setup.wait_cycle(previous)
    active = {upn: u["active"] for upn, u in setup.target_users().items()}
    assert active == {
        "user0@contoso.example": True,
        "user1@contoso.example": True,
        "user2@contoso.example": False,
        "user3@contoso.example": False,
    }
    assert cycle_counts(setup, before) == previewed
