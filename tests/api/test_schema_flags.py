"""Flags properties of a job schema (`flowTypes`, `discoverabilities`) on PUT .../schema: an
empty string or list, what a client that cannot read flag strings writes back after a
get-edit-put, is a 400 naming the property and saves nothing; unknown members too; "None" is
how no flags are written, and is kept."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job
from tests.conftest import LiveServer


def _job_schema(server: LiveServer) -> tuple[Any, str, dict[str, Any]]:
    client = server.client()
    sp_id = make_app(client)["servicePrincipal"]["id"]
    url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{make_job(client, sp_id)['id']}/schema"
    return client, url, client.get(url).json()


@pytest.mark.parametrize(("value", "named"), [("", "flowTypes"), ([], "flowTypes"), ("Add, Bogus", "Bogus")])
def test_an_empty_or_unknown_flow_types_value_is_refused(
    live_server: LiveServer, value: Any, named: str
) -> None:
    client, url, schema = _job_schema(live_server)
    schema["synchronizationRules"][0]["objectMappings"][0]["flowTypes"] = value
    error = assert_graph_error(client.put(url, json=schema), 400, "BadRequest")
    assert named in error["message"]
    saved = client.get(url).json()["synchronizationRules"][0]["objectMappings"][0]["flowTypes"]
    assert saved == "Add, Update, Delete"


def test_an_empty_discoverabilities_value_is_refused(live_server: LiveServer) -> None:
    client, url, schema = _job_schema(live_server)
    schema["directories"][0]["discoverabilities"] = ""
    error = assert_graph_error(client.put(url, json=schema), 400, "BadRequest")
    assert "discoverabilities" in error["message"]


def test_none_is_kept_as_no_flags(live_server: LiveServer) -> None:
    client, url, schema = _job_schema(live_server)
    schema["synchronizationRules"][0]["objectMappings"][0]["flowTypes"] = "None"
    assert client.put(url, json=schema).status_code == 204
    saved = client.get(url).json()["synchronizationRules"][0]["objectMappings"][0]["flowTypes"]
    assert saved == "None"
