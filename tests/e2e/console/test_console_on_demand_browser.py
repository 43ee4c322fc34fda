"""Provision on demand in the browser: search a user as you type, run it, see its steps, and
find it in the SCIM app (the job not even started)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import sign_in
from tests.engine.helpers import provision

USER1 = "user1@contoso.example"


def test_provision_one_user_on_demand(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=3, start=False)
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}")
    page.get_by_role("link", name="Provision on demand").click()
    search = page.get_by_label("User principal name, group name or object id")
    search.press_sequentially("user1", delay=30)
    expect(page.locator(f'#subject-options option[value="{USER1}"]')).to_have_count(1)
    search.fill(USER1)
    page.get_by_role("button", name="Provision").click()
    expect(page.locator("#record-status")).to_have_text("success")
    expect(page.locator("#record")).to_contain_text("EntryExportAdd")
    shot("on-demand")
    assert set(setup.target_users()) == {USER1}

    # A name that is no one's says so, and provisions nothing.
    page.get_by_label("User principal name, group name or object id").fill("nobody@contoso.example")
    page.get_by_role("button", name="Provision").click()
    expect(page.get_by_role("alert")).to_contain_text("does not exist")
    assert set(setup.target_users()) == {USER1}
