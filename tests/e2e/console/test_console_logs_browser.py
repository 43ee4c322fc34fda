"""The provisioning logs in the browser: filter by action, status and identity, page, and open
an entry to see its steps, its changed properties (old → new) and an error with its hint."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import sign_in
from tests.engine.helpers import provision
from tests.scim_target import Fault

USER0 = "user0@contoso.example"


def test_filter_the_logs_and_open_an_entry(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    scim_target.traffic.faults.append(Fault(method="POST", body_contains="user2@contoso.example", status=400))
    setup = provision(server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    previous = setup.ended()
    user0 = setup.users[USER0]
    assert setup.client.patch(f"/users/{user0['id']}", json={"jobTitle": "Engineer"}).status_code == 204
    setup.wait_cycle(previous)
    sign_in(page, server)
    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}")
    page.get_by_role("link", name="Provisioning logs").click()
    entries = page.locator("#log-entries tbody tr")
    expect(entries.first).to_be_visible()
    shot("logs")

    page.get_by_label("Action").select_option("update")
    page.get_by_label("Identity (UPN or id)").fill(USER0)
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(USER0)
    entries.first.get_by_role("link").first.click()
    expect(page.locator("#steps li").first).to_be_visible()
    changes = page.locator("#changes")
    expect(changes).to_contain_text("title")
    expect(changes).to_contain_text("→ Engineer")
    shot("log-entry")

    page.goto(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/logs")
    page.get_by_label("Status").select_option("failure")
    page.get_by_role("button", name="Filter").click()
    expect(entries.first).to_contain_text("user2@contoso.example")
    entries.first.get_by_role("link").first.click()
    error = page.locator("#entry-error")
    expect(error).to_contain_text("SystemForCrossDomainIdentityManagement")
    expect(error).to_contain_text("Hint:")
    shot("log-entry-failure")

    # A filter that is not valid says so and shows nothing.
    page.goto(
        f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/logs?identity=nobody@contoso.example"
    )
    expect(page.get_by_role("alert")).to_contain_text("No user has the user principal name")
