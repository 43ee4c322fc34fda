"""Mappings and settings in the browser: edit an attribute mapping's expression, test it on
sample input, preview the change, save it and see it reach the SCIM app; a setting out of range
is refused on the page and changes nothing, a valid one is saved."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import sign_in
from tests.engine.helpers import provision, wait_for

USER0 = "user0@contoso.example"
EXPRESSION = 'Append([displayName], " (Contoso)")'


def test_edit_test_preview_and_save_a_mapping(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/mappings")
    page.get_by_role(
        "link", name="Edit displayName of urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ).or_(page.get_by_role("link", name="Edit displayName of User")).first.click()
    shot("mappings-edit")
    page.get_by_label("Source expression").fill(EXPRESSION)
    page.get_by_label("Test input, one name=value per line").fill("displayName=Ada Lovelace")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#test-result code.result")).to_have_text("Ada Lovelace (Contoso)")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-actions")).to_contain_text("User0 (Contoso)")
    shot("mappings-preview")
    assert setup.target_users()[USER0]["displayName"] == "User0"  # a preview writes nothing

    page.get_by_label("Source expression").fill("Append([displayName], ")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("does not parse")
    page.get_by_label("Source expression").fill(EXPRESSION)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.locator("table.mappings").first).to_contain_text(EXPRESSION)
    shot("mappings")
    wait_for(
        lambda: setup.target_users()[USER0]["displayName"] == "User0 (Contoso)",
        what="the new mapping in the app",
    )


def test_settings_are_validated_as_the_api_does(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=1, start=False)
    with server.client() as api:
        before = api.get(setup.job_url).json()["synchronizationJobSettings"]
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/settings")
    field = page.get_by_label("QuarantineTooManyDeletesThreshold")
    field.fill("-3")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("QuarantineTooManyDeletesThreshold")
    shot("settings-refused")
    with server.client() as api:
        assert api.get(setup.job_url).json()["synchronizationJobSettings"] == before
    page.get_by_label("QuarantineTooManyDeletesThreshold").fill("25")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.get_by_label("QuarantineTooManyDeletesThreshold")).to_have_value("25")
    shot("settings")
    with server.client() as api:
        settings = {
            s["name"]: s["value"] for s in api.get(setup.job_url).json()["synchronizationJobSettings"]
        }
    assert settings["QuarantineTooManyDeletesThreshold"] == "25"
