"""Microsoft's JavaScript Graph clients against provisiond over https (issue 10): the
graph-client 3.x, which sends no token to an http:// URL, and the Kiota-based
@microsoft/msgraph-sdk. Runs when Node and npm are on the machine (CI has them; elsewhere the
test skips saying why): installs tests/e2e/node/package.json's pinned packages from the npm
registry into a temporary directory and runs runbook.mjs against `provisiond serve --certfile`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.api.helpers import make_user
from tests.test_tls import serving_https

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed: the JavaScript client tests need them")
    folder = tmp_path_factory.mktemp("node")
    for name in ("package.json", "runbook.mjs"):
        shutil.copy(NODE_DIR / name, folder / name)
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return folder


def test_the_javascript_clients_run_a_runbook_over_https(node_modules: Path, tmp_path: Path) -> None:
    with serving_https(tmp_path) as server:
        client = httpx.Client(
            base_url=f"{server.base}/v1.0",
            headers={"Authorization": f"Bearer {server.token}"},
            verify=str(server.files.certfile),
        )
        app = client.post(
            "/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
            json={"displayName": "Node"},
        ).json()
        sp = app["servicePrincipal"]
        job = client.post(
            f"/servicePrincipals/{sp['id']}/synchronization/jobs", json={"templateId": "scim"}
        ).json()
        owner = make_user(client, "nodeuser")
        ref = {"@odata.id": f"{server.base}/v1.0/directoryObjects/{owner['id']}"}
        assert client.post(f"/servicePrincipals/{sp['id']}/owners/$ref", json=ref).status_code == 204
        tagged = client.patch(f"/servicePrincipals/{sp['id']}", json={"tags": ["node-runbook"]})
        assert tagged.status_code == 204, tagged.text
        client.close()  # a kept-alive connection would hold up the server's graceful stop
        run = subprocess.run(
            ["node", "runbook.mjs"],
            cwd=node_modules,
            env={
                **os.environ,
                "NODE_EXTRA_CA_CERTS": str(server.files.certfile),
                "BASE": server.base,
                "TOKEN": server.token,
                "SP": sp["id"],
                "APP_ID": sp["appId"],
                "JOB": job["id"],
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    steps = {s["step"]: s["value"] for s in map(json.loads, run.stdout.splitlines())}
    assert steps["servicePrincipalByAppId"] == sp["id"]
    assert steps["job"] == job["id"]
    assert steps["restart"] is None  # 204, no body, as documented
    assert steps["jobsByAppId"] == [job["id"]]
    assert steps["kiotaUsers"] == ["nodeuser@contoso.example"]
    assert steps["expandOwners"] == [["#microsoft.graph.user", owner["id"]]]
    assert steps["tagsAny"] == [sp["id"]]
    assert steps["search"] == ["nodeuser@contoso.example"]
    assert steps["logsQuery"] == 0  # no cycle has run: the query is accepted and answers empty
