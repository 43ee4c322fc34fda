"""Job settings that cannot break a job (issue 7 C): every setting the engine reads is checked on
`PATCH .../jobs/{jobId}` (type, range, finite), a bad value is a 400 naming the setting and
what it accepts, and nothing changes; names the engine does not know are kept as given."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer


@pytest.fixture
def job_url(live_server: LiveServer) -> str:
    with live_server.client() as client:
        sp_id = make_app(client)["servicePrincipal"]["id"]
        return f"/servicePrincipals/{sp_id}/synchronization/jobs/{make_job(client, sp_id)['id']}"


def patch(live_server: LiveServer, job_url: str, settings: list[dict[str, Any]]) -> Any:
    with live_server.client() as client:
        return client.patch(job_url, json={"synchronizationJobSettings": settings})


def settings_of(live_server: LiveServer, job_url: str) -> dict[str, str]:
    with live_server.client() as client:
        job = client.get(job_url).json()
    return {s["name"]: s["value"] for s in job["synchronizationJobSettings"]}


BAD = [
    ("EscrowBackoffCapMinutes", "1e309", "finite"),
    ("EscrowBackoffCapMinutes", "inf", "number"),
    ("EscrowBackoffBaseMinutes", "NaN", "number"),
    ("EscrowBackoffBaseMinutes", "0", "above 0"),
    ("EscrowBackoffCapMinutes", "99999999", "40320"),
    ("ExportConcurrency", "-5", "from 1 up to 256"),
    ("ExportConcurrency", "2.5", "integer"),
    ("ExportConcurrency", "1_0", "integer"),
    ("QuarantineTooManyDeletesThreshold", "lots", "integer"),
    ("QuarantineTooManyDeletesThreshold", "9" * 5000, "QuarantineTooManyDeletesThreshold"),
    ("QuarantineTooManyDeletesWindow", "P99999D", "P30D"),
    ("QuarantineTooManyDeletesWindow", "-PT5M", "PT0S"),
    ("QuarantineTooManyDeletesWindow", "40 minutes", "ISO 8601"),
    ("QuarantineFailureProportion", "1.5", "up to 1"),
    ("QuarantineDisableAfterDays", "-1", "above 0"),
    ("ExportTimeoutSeconds", "0", "from 1"),
    ("ExportRequestsPerSecond", "-1", "0 means unlimited"),
    ("MemberBatchSize", "100000", "1000"),
    ("ProvisioningLogRetentionDays", "0", "above 0"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD, ids=[f"{n}={v[:12]}" for n, v, _ in BAD])
def test_a_setting_the_engine_cannot_run_with_is_400_naming_it_and_changes_nothing(
    name: str, value: str, says: str, live_server: LiveServer, job_url: str
) -> None:
    before = store_snapshot(live_server.db)
    # Sent beside a valid change: the whole PATCH is refused.
    response = patch(
        live_server, job_url, [{"name": "ExportConcurrency", "value": "4"}, {"name": name, "value": value}]
    )
    error = assert_graph_error(response, 400, "RequestParameterInvalid")
    assert name in error["message"]
    assert says in error["message"]
    assert store_snapshot(live_server.db) == before


def test_valid_settings_are_kept_and_unknown_names_are_kept_as_given(
    live_server: LiveServer, job_url: str
) -> None:
    good = [
        {"name": "QuarantineTooManyDeletesThreshold", "value": "3"},
        {"name": "QuarantineTooManyDeletesWindow", "value": "PT2H"},
        {"name": "EscrowBackoffBaseMinutes", "value": "0.5"},
        {"name": "ExportRequestsPerSecond", "value": "0"},
        {"name": "SomeTemplateSetting", "value": "anything at all"},
    ]
    assert patch(live_server, job_url, good).status_code == 204
    stored = settings_of(live_server, job_url)
    assert {s["name"]: s["value"] for s in good}.items() <= stored.items()
    # A null value removes a setting (back to the default).
    assert (
        patch(live_server, job_url, [{"name": "QuarantineTooManyDeletesWindow", "value": None}]).status_code
        == 204
    )
    assert "QuarantineTooManyDeletesWindow" not in settings_of(live_server, job_url)
