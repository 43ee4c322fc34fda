"""Saving a job schema made on an older version (services/synchronization.py put_job_schema with
`expected_version`, the console's Apply after a preview): refused, and nothing is saved."""

from __future__ import annotations

import pytest
from tests.api.helpers import make_app, make_job
from tests.conftest import LiveServer

from provisiond.clock import SystemClock
from provisiond.runtime import build_services
from provisiond.services.errors import Conflict


def test_a_schema_saved_meanwhile_makes_a_stale_save_a_conflict(live_server: LiveServer) -> None:
    client = live_server.client()
    sp_id = make_app(client)["servicePrincipal"]["id"]
    job_id = make_job(client, sp_id)["id"]
    sync = build_services(live_server.settings, live_server.db, SystemClock()).synchronization
    sp = {"id": sp_id}
    job = sync.job(sp, job_id)
    version = job["schema_version"]
    schema = sync.job_schema(job)
    sync.put_job_schema(sp, job_id, schema, expected_version=version)  # current: saved
    saved = sync.job(sp, job_id)["schema_version"]
    assert saved == version + 1
    with pytest.raises(Conflict):
        sync.put_job_schema(sp, job_id, schema, expected_version=version)  # made on the old one
    assert sync.job(sp, job_id)["schema_version"] == saved
