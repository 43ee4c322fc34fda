"""The console in a browser: sign in with a link, watch the initial cycle's progress to Active,
pause, start and restart from the job page and see the SCIM app follow, a quarantine shown and
lifted, a read-only identity without buttons, and a form without its CSRF token refused."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from tests.api.console.console_helpers import READ_ONLY
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.console.conftest import sign_in
from tests.engine.helpers import provision, wait_for
from tests.scim_target import Fault

USERS = 12


def _job_page(page: Any, server: LiveServer, sp_id: str, job_id: str) -> str:
    url = f"{server.url}/console/apps/{sp_id}/jobs/{job_id}"
    page.goto(url)
    return url


def test_sign_in_and_watch_the_initial_cycle_reach_active(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    page.goto(f"{server.url}/console")
    expect(page.get_by_role("heading", name="Sign in to the provisiond console")).to_be_visible()
    shot("signin")
    # A slow app (one export at a time, each user a quarter second, the group three seconds) so
    # that the cycle is seen running.
    scim_target.traffic.faults += [
        Fault(method="POST", path_contains="/Users", status=None, delay_seconds=0.25),
        Fault(method="POST", path_contains="/Groups", status=None, delay_seconds=3),
    ]
    setup = provision(server, scim_target, users=USERS, settings={"ExportConcurrency": "1"})
    sign_in(page, server)
    row = page.get_by_role("row").filter(has_text="Contoso SCIM")
    expect(row).to_be_visible()
    shot("applications")
    row.get_by_role("link", name="Contoso SCIM").click()
    bar = page.locator("#cycle-progress")
    expect(bar).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("Initial cycle")
    # The bar moves: the users' batch is recorded while the group is still being exported.
    page.wait_for_function("() => Number(document.querySelector('#cycle-progress')?.value) > 0")
    expect(page.locator("#progress .processed")).to_contain_text(f"{USERS}")
    shot("job-initial-cycle")
    expect(page.locator("#live-state")).to_have_text("Active", timeout=90_000)
    expect(page.locator("#state-badge")).to_have_text("Active")
    expect(page.locator("#statistics")).to_contain_text(f"{USERS} users")
    page.reload()
    expect(page.locator("svg.chart rect.exports").first).to_be_visible()
    shot("job-active")
    assert len(setup.target_users()) == USERS


def test_pause_start_and_restart_from_the_job_page(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=3)
    setup.wait_cycle(None)
    setup.wait_idle()
    sign_in(page, server)
    _job_page(page, server, setup.sp_id, setup.job_id)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Paused")
    expect(page.locator("#live-state")).to_have_text("Paused")
    assert setup.job_row()["schedule_state"] == "Paused"

    # A user changed in the app behind the engine's back stays as it is on a plain restart; a
    # restart with ConnectorDataStore matches everything again and corrects the drift.
    target = setup.target_users()["user0@contoso.example"]
    with scim_target.client() as app:
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Drifted"}],
        }
        assert app.patch(f"/Users/{target['id']}", json=patch).status_code in (200, 204)

    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("status")).to_contain_text("Started")
    expect(page.locator("#live-state")).to_have_text("Active")
    previous = setup.ended()
    page.get_by_role("link", name="Restart…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    for flag in ("Watermark", "Escrows", "QuarantineState"):
        expect(dialog.get_by_role("checkbox", name=flag)).to_be_checked()
    for flag in ("ConnectorDataStore", "ForceDeletes"):
        expect(dialog.get_by_role("checkbox", name=flag)).not_to_be_checked()
    dialog.get_by_role("checkbox", name="ConnectorDataStore").check()
    shot("restart-dialog")
    # Preview first: what the restart would do, nothing written; the drifted user is an update.
    dialog.get_by_role("button", name="Preview").click()
    counts = page.locator("#preview-counts")
    expect(counts).to_be_visible()
    expect(page.locator("#preview-actions")).to_contain_text("Drifted")
    expect(page.get_by_role("checkbox", name="ConnectorDataStore")).to_be_checked()
    shot("restart-preview")
    assert setup.target_users()["user0@contoso.example"]["displayName"] == "Drifted"
    page.get_by_role("button", name="Restart", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Restarted")
    setup.wait_cycle(previous)
    wait_for(
        lambda: setup.target_users()["user0@contoso.example"]["displayName"] != "Drifted",
        what="the drift corrected",
    )
    with server.client() as api:
        restarts = api.get(setup.job_url).json()
    assert restarts["schedule"]["state"] == "Active"


def test_a_rejected_token_shows_a_quarantine_banner_lifted_from_the_console(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=2, secrets={"SecretToken": "wrong"})
    setup.wait_cycle(None)
    sign_in(page, server)
    _job_page(page, server, setup.sp_id, setup.job_id)
    banner = page.locator("#quarantine")
    expect(banner).to_contain_text("Quarantined: EncounteredQuarantineException")
    expect(banner).to_contain_text("SystemForCrossDomainIdentityManagementInvalidCredentials")
    expect(banner).to_contain_text("Test connection")
    expect(page.locator("#live-state")).to_have_text("Quarantine")
    shot("job-quarantine")

    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("alert").first).to_contain_text("Test connection failed")
    # BaseAddress is shown, the token never.
    expect(page.get_by_label("BaseAddress")).to_have_value(scim_target.url)
    expect(page.get_by_label("SecretToken")).to_have_value("")
    page.get_by_label("SecretToken").fill(scim_target.token)
    page.locator("#secrets").get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Test connection succeeded")
    previous = setup.ended()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#quarantine")).to_have_count(0)
    setup.wait_cycle(previous)
    expect(page.locator("#live-state")).to_have_text("Active", timeout=30_000)
    assert set(setup.target_users()) == set(setup.users)
    # The chart of recent cycles shows both: the failed one shaded, then the one that exported.
    page.reload()
    expect(page.locator("svg.chart rect.hit")).to_have_count(2)
    expect(page.locator("svg.chart rect.failed-cycle")).to_have_count(1)
    expect(page.locator("svg.chart rect.exports")).to_have_count(1)
    shot("job-quarantine-lifted")


def test_a_read_only_identity_sees_no_action_buttons(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=2)
    setup.wait_cycle(None)
    sign_in(page, server, READ_ONLY)
    _job_page(page, server, setup.sp_id, setup.job_id)
    expect(page.locator("#statistics")).to_be_visible()
    for name in ("Start", "Pause", "Save", "Test connection"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Restart…")).to_have_count(0)
    expect(page.get_by_text("Delete job…")).to_have_count(0)
    shot("job-read-only")
    # Its forms, if it built them, would be refused.
    answer = page.request.post(f"{page.url}/pause", form={"csrf": _csrf(page)})
    assert answer.status == 403
    assert setup.job_row()["schedule_state"] == "Active"


def test_a_form_without_its_csrf_token_is_refused(
    page: Any, shot: Any, server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(server, scim_target, users=1, start=False)
    sign_in(page, server)
    _job_page(page, server, setup.sp_id, setup.job_id)
    # The Start button's form, with its token removed, as a forged cross-site form would be.
    page.locator('form[action$="/start"] input[name="csrf"]').evaluate("input => input.remove()")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    shot("csrf-refused")
    assert setup.job_row()["schedule_state"] == "Disabled"


def _csrf(page: Any) -> str:
    return str(page.locator('input[name="csrf"]').first.get_attribute("value"))
