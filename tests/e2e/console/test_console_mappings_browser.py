"""Mappings and settings in the browser: edit an attribute mapping's expression, test it on
sample input or on a user picked as you type (the user's attributes as a cycle reads them),
Save it (which shows the preview of the change first: counts, the deletion
guard's verdict, the first planned changes), go back to editing, Apply, and see the change
reach the SCIM app with the counts the preview showed; a preview that runs in the background
says so on its own page and offers Apply when it is done. A setting out of range is refused on
the page and changes nothing, a valid one is saved."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import cycle_counts, cycles, shown_counts, sign_in
from tests.engine.helpers import provision

from provisiond.services.preview import PreviewService

USER0 = "user0@contoso.example"
EXPRESSION = 'Append([displayName], " (Contoso)")'
EDIT_DISPLAY_NAME = "Edit displayName of urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_save_shows_the_preview_then_applies_the_mapping(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/mappings")
    page.get_by_role("link", name=EDIT_DISPLAY_NAME).click()
    shot("mappings-edit")
    page.get_by_label("Source expression").fill(EXPRESSION)
    page.get_by_label("Test input, one name=value per line").fill("displayName=Ada Lovelace")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#test-result code.result")).to_have_text("Ada Lovelace (Contoso)")

    # Save shows what the change would do, and saves nothing.
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Review before saving")).to_be_visible()
    expect(page.locator("#change")).to_contain_text("[displayName]")
    expect(page.locator("#change")).to_contain_text(EXPRESSION)
    expect(page.locator("#preview-actions")).to_contain_text("User0 (Contoso)")
    expect(page.locator("#guard-verdict")).to_contain_text("Nothing would be disabled or deleted")
    previewed = shown_counts(page)
    assert previewed.get(("User", "update")) == 2, previewed
    shot("mappings-save-preview")
    assert setup.target_users()[USER0]["displayName"] == "User0"

    # Back to editing keeps the edit; a bad expression is refused before any preview.
    page.get_by_role("button", name="Back to editing").click()
    expect(page.get_by_label("Source expression")).to_have_value(EXPRESSION)
    page.get_by_label("Source expression").fill("Append([displayName], ")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("does not parse")
    expect(page.locator("#preview")).to_have_count(0)

    page.get_by_label("Source expression").fill(EXPRESSION)
    page.get_by_role("button", name="Save").click()
    assert shown_counts(page) == previewed
    before, previous = cycles(setup), setup.ended()
    page.get_by_role("button", name="Apply this change").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.locator("table.mappings").first).to_contain_text(EXPRESSION)
    shot("mappings")
    setup.wait_cycle(previous)
    assert setup.target_users()[USER0]["displayName"] == "User0 (Contoso)"
    assert cycle_counts(setup, before) == previewed


@pytest.fixture
def slow_previews(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every preview runs in the background (as a large directory's does) and waits for the
    returned event before it starts, so the test sees it running."""
    gate = threading.Event()
    run = PreviewService._run

    def gated(self: PreviewService, *args: Any) -> None:
        gate.wait(60)
        run(self, *args)

    monkeypatch.setattr(PreviewService, "inline_limit", 0)  # every directory is large
    monkeypatch.setattr(PreviewService, "_run", gated)
    return gate


def test_a_background_preview_offers_apply_when_it_is_done(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget, slow_previews: threading.Event
) -> None:
    setup = provision(server, scim_target, users=2)
    setup.wait_cycle(None)
    setup.wait_idle()
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/mappings")
    page.get_by_role("link", name=EDIT_DISPLAY_NAME).click()
    page.get_by_label("Source expression").fill(EXPRESSION)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(
        re.compile(r".*/jobs/" + setup.job_id + r"/previews/[0-9a-f-]+\?kind=attribute&.*")
    )
    expect(page.locator("#still-running")).to_contain_text("still running")
    expect(page.get_by_role("button", name="Apply this change")).to_have_count(0)
    shot("mappings-preview-running")

    slow_previews.set()  # the page reloads itself until the preview is done
    expect(page.locator("#preview-actions")).to_contain_text("User0 (Contoso)")
    previewed = shown_counts(page)
    before, previous = cycles(setup), setup.ended()
    page.get_by_role("button", name="Apply this change").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    setup.wait_cycle(previous)
    assert setup.target_users()[USER0]["displayName"] == "User0 (Contoso)"
    assert cycle_counts(setup, before) == previewed


def test_an_expression_tested_on_a_chosen_user(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=3, start=False)
    with server.client() as api:
        user2 = setup.users["user2@contoso.example"]["id"]
        assert api.patch(f"/users/{user2}", json={"accountEnabled": False}).status_code == 204
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/mappings")
    page.get_by_role("link", name=EDIT_DISPLAY_NAME).click()
    page.get_by_label("Source expression").fill('Join(" | ", [displayName], [mail], [IsSoftDeleted])')
    search = page.get_by_label("or test on a user")
    search.press_sequentially("user1", delay=30)
    expect(page.locator('#test-user-options option[value="user1@contoso.example"]')).to_have_count(1)
    search.fill("user1@contoso.example")
    search.press("Enter")  # tests on the user, not on the sample input
    expect(page.locator("#test-result code.result")).to_have_text("User1 | user1@contoso.example | False")
    expect(page.locator("#tested-on")).to_contain_text("user1@contoso.example")
    expect(page.get_by_label("or test on a user")).to_have_value("user1@contoso.example")
    page.get_by_text("The source attributes it was evaluated on").click()
    expect(page.locator("details.attributes")).to_contain_text("givenName")
    shot("test-on-user")

    # A disabled account is soft-deleted for the engine: the expression sees that.
    page.get_by_label("or test on a user").fill("user2@contoso.example")
    page.get_by_role("button", name="Test on this user").click()
    expect(page.locator("#test-result code.result")).to_have_text("User2 | user2@contoso.example | True")
    expect(page.locator("#tested-on")).to_contain_text("active False")

    # An evaluation error is the answer, and a name that is no one's says so.
    page.get_by_label("Source expression").fill("CDate([displayName])")
    page.get_by_role("button", name="Test on this user").click()
    expect(page.locator("#test-result")).to_contain_text("ExpressionEvaluationFailed")
    page.get_by_label("or test on a user").fill("nobody@contoso.example")
    page.get_by_role("button", name="Test on this user").click()
    expect(page.get_by_role("alert")).to_contain_text("does not exist")
    assert setup.target_users() == {}  # testing provisions nothing


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
