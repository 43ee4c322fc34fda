"""The console with the keyboard only: from the applications list to a job, the restart dialog
opened, closed with Escape, opened again and previewed, and the logs tab reached, no mouse."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import sign_in
from tests.engine.helpers import provision


def tab_to(page: Any, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible text is `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => (document.activeElement?.innerText || document.activeElement?.value || '').trim()"
        )
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_a_job_can_be_restarted_with_a_preview_from_the_keyboard(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=2)
    setup.wait_cycle(None)
    sign_in(page, server)
    tab_to(page, "Contoso SCIM")
    page.keyboard.press("Enter")
    expect(page.locator("#live-state")).to_have_text("Active")

    tab_to(page, "Restart…")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # closes it, and focus is back on the button that opened it
    expect(dialog).to_be_hidden()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    writes = len([r for r in scim_target.traffic.matching() if r.method != "GET"])
    tab_to(page, "Preview")
    page.keyboard.press("Enter")
    expect(page.locator("#preview-counts")).to_be_visible()
    shot("keyboard-restart-preview")
    assert len([r for r in scim_target.traffic.matching() if r.method != "GET"]) == writes

    # The preview is a page of its own (the dialog's form was sent); its tabs are reachable too.
    tab_to(page, "Provisioning logs")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/console/apps/{setup.sp_id}/jobs/{setup.job_id}/logs")
