"""What the API refuses, the console shows as a page with the same status and message, inside the
signed-in page (its navigation and sign-out), for every page of a job."""

from __future__ import annotations

import pytest
from tests.api.console.console_helpers import READ_ONLY, signed_in
from tests.api.helpers import make_app, make_job
from tests.conftest import LiveServer

PAGES = ["", "/logs", "/on-demand", "/mappings", "/settings"]


@pytest.mark.parametrize("suffix", PAGES)
def test_an_unknown_job_is_a_404_page(sqlite_server: LiveServer, suffix: str) -> None:
    sp_id = make_app(sqlite_server.client())["servicePrincipal"]["id"]
    client, _ = signed_in(sqlite_server)
    job_id = f"scim.nope.{'0' * 32}"
    answer = client.get(f"/console/apps/{sp_id}/jobs/{job_id}{suffix}")
    assert answer.status_code == 404, answer.text
    assert f"The synchronization job &#39;{job_id}&#39; was not found" in answer.text
    assert "Sign out" in answer.text


def test_a_job_of_an_unknown_service_principal_is_a_404_page(sqlite_server: LiveServer) -> None:
    client, _ = signed_in(sqlite_server)
    answer = client.get(f"/console/apps/{'0' * 8}-0000-0000-0000-{'0' * 12}/jobs/x")
    assert answer.status_code == 404, answer.text


def test_a_page_the_identity_may_not_open_is_a_403_page_naming_the_permission(
    sqlite_server: LiveServer,
) -> None:
    sp_id = make_app(sqlite_server.client())["servicePrincipal"]["id"]
    job_id = make_job(sqlite_server.client(), sp_id)["id"]
    reader, _ = signed_in(sqlite_server, READ_ONLY)
    answer = reader.get(f"/console/apps/{sp_id}/jobs/{job_id}/on-demand")
    assert answer.status_code == 403, answer.text
    assert "Synchronization.ReadWrite.All" in answer.text
