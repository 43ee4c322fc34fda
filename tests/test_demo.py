"""`provisiond demo`: the sample directory generator, and the command run as a user would run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from provisiond.demo import SampleDirectory, generate_directory
from provisiond.graph.directory import GroupCreate, UserCreate
from tests.conftest import free_port

CLI = [sys.executable, "-c", "from provisiond.cli import app; app()"]
READY = "Ctrl-C stops the demo."


# The sample directory


@pytest.mark.parametrize("size", [1, 2, 10, 40, 300])
def test_the_sample_directory_is_deterministic_and_well_formed(size: int) -> None:
    sample = generate_directory(size)
    assert sample == generate_directory(size)
    assert len(sample.users) == size
    assert [u.index for u in sample.users] == list(range(size))
    upns = [u.user_principal_name for u in sample.users]
    assert len(set(upns)) == size
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@contoso\.example", upn) for upn in upns)
    _assert_manager_chain_ends_at_the_ceo(sample)
    assert sample.assigned_users or any(g.assigned for g in sample.groups)
    scope = sample.in_scope()
    assert scope
    # Whoever is provisioned has their manager provisioned too, so every manager reference resolves.
    assert all(sample.users[i].manager is None or sample.users[i].manager in scope for i in scope)


def test_a_few_hundred_people_look_like_a_company() -> None:
    sample = generate_directory(300)
    departments = {u.department for u in sample.users} - {"Executive"}
    assert len(departments) >= 8
    assert len({u.job_title for u in sample.users}) >= 20
    assert len({(u.given_name, u.surname) for u in sample.users}) > 250
    groups = {g.display_name: g for g in sample.groups}
    assert {"Engineering", "Sales", "Managers", "Project Phoenix"} <= set(groups)
    assert all(g.members for g in sample.groups)
    assert 0 < len([g for g in sample.groups if g.assigned]) < len(sample.groups)
    assert sample.assigned_users
    assert len(sample.in_scope()) < len(sample.users)  # some people are not assigned
    depth = max(_chain_length(sample, i) for i in range(len(sample.users)))
    assert depth == 4  # CEO, department head, team lead, team member
    assert generate_directory(300, seed=1) != sample


def test_the_sample_bodies_are_valid_graph_requests() -> None:
    sample = generate_directory(300)  # the demo's size: its groups have more members than one request binds
    for user in sample.users:
        UserCreate.model_validate(user.graph_body())
    for group in sample.groups:
        GroupCreate.model_validate(group.graph_body([f"id-{i}" for i in group.members]))


def _chain_length(sample: SampleDirectory, index: int) -> int:
    length, seen, current = 1, {index}, sample.users[index].manager
    while current is not None:
        assert current not in seen, f"manager cycle through {current}"
        seen.add(current)
        length += 1
        current = sample.users[current].manager
    return length


def _assert_manager_chain_ends_at_the_ceo(sample: SampleDirectory) -> None:
    assert sample.users[0].manager is None
    for user in sample.users[1:]:
        assert user.manager is not None
        assert user.manager < user.index  # managers come first: no cycles
        _chain_length(sample, user.index)


# The command


class Demo:
    """`provisiond demo` in a subprocess, its output collected as it comes."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIOND_")}
        self.process = subprocess.Popen(
            [*CLI, "demo", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.reader.join(5)
                raise AssertionError(f"the demo did not get ready:\n{self.output}")

    def value(self, label: str) -> str:
        match = re.search(rf"^\s+{re.escape(label)}:\s+(\S+)", self.output, re.MULTILINE)
        assert match, f"no {label!r} in the output:\n{self.output}"
        return match.group(1)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self.reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def _target_users(scim_url: str, scim_token: str) -> dict[str, dict[str, object]]:
    headers = {"Authorization": f"Bearer {scim_token}"}
    body = httpx.get(f"{scim_url}/Users", params={"count": "1000"}, headers=headers, timeout=30).json()
    return {u["userName"]: u for u in body.get("Resources") or []}


def _target_groups(scim_url: str, scim_token: str) -> set[str]:
    headers = {"Authorization": f"Bearer {scim_token}"}
    body = httpx.get(f"{scim_url}/Groups", params={"count": "1000"}, headers=headers, timeout=30).json()
    return {g["displayName"] for g in body.get("Resources") or []}


def test_demo_provisions_the_sample_serves_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sample = generate_directory(40)
    expected_users = {sample.users[i].user_principal_name for i in sample.in_scope()}
    expected_groups = {g.display_name for g in sample.groups if g.assigned}
    data_dir = tmp_path / "data"
    port = free_port()
    demo = Demo("--port", str(port), "--users", "40", "--data-dir", str(data_dir))
    try:
        demo.wait_ready()
        out = demo.output
        assert "Initial cycle:" in out
        assert re.search(r"\d+/\d+ objects processed, \d+ created, 0 errors", out), out
        assert f"The SCIM app now holds {len(expected_users)} users and {len(expected_groups)} groups." in out
        job_url = demo.value("job")
        scim_url, scim_token = demo.value("SCIM app"), demo.value("SCIM bearer token")
        assert job_url.startswith(f"http://127.0.0.1:{port}/v1.0/servicePrincipals/")
        # The console's sign-in link comes first, as soon as the API serves.
        link = demo.value("console")
        assert link.startswith(f"http://127.0.0.1:{port}/console/signin?token=")
        assert out.index("console:") < out.index("Initial cycle:")
        # Shell variables are set once; the commands use them instead of repeating the token.
        exports = re.search(r"^\s+export TOKEN=(\S+) SP=(\S+) JOB=(\S+) SCIM_TOKEN=(\S+)$", out, re.MULTILINE)
        assert exports, out
        token, sp_id, job_id = exports.group(1), exports.group(2), exports.group(3)
        assert job_url.endswith(f"/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}")
        assert exports.group(4) == scim_token
        assert out.count(token) == 1
        job_ref = f"http://127.0.0.1:{port}/v1.0/servicePrincipals/$SP/synchronization/jobs/$JOB"
        assert f'curl -s -H "Authorization: Bearer $TOKEN" "{job_ref}"' in out
        assert f'"{job_ref}/restart"' in out
        assert f'"{job_ref}/preview"' in out
        assert 'os.environ["TOKEN"]' in out
        assert '{"criteria":{"resetScope":"Watermark, Escrows, QuarantineState"}}' in out
        assert f"http://127.0.0.1:{port}/v1.0/auditLogs/provisioning" in out
        assert "msgraph" in out and "by_synchronization_job_id" in out

        # The link signs in to the console, once.
        with httpx.Client(timeout=30) as browser:
            assert browser.get(link).status_code == 200
            assert "Contoso" in browser.get(f"http://127.0.0.1:{port}/console").text
            assert httpx.get(link, timeout=30).status_code == 400

        graph = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response = graph.get(job_url)
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["templateId"] == "scim"
        assert job["schedule"]["state"] == "Active"
        last = job["status"]["lastExecution"]
        assert last["state"] == "Succeeded"
        assert last["countExported"] > 0 and last["countEscrowed"] == 0
        assert set(_target_users(scim_url, scim_token)) == expected_users
        assert _target_groups(scim_url, scim_token) == expected_groups
        # The printed preview of the restart: every object in step, nothing would be written.
        preview = graph.post(
            f"{job_url}/preview", json={"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}}
        )
        assert preview.status_code == 200, preview.text
        counts = {c["objectType"]: c for c in preview.json()["counts"]}
        assert counts["User"]["unchanged"] == len(expected_users)
        assert all(counts[t][a] == 0 for t in counts for a in ("create", "update", "disable", "delete"))

        # It keeps serving and provisioning: a change reaches the target.
        upn = re.search(r"^Change a user \((\S+)\)", out, re.MULTILINE)
        assert upn, out
        patched = graph.patch(
            f"http://127.0.0.1:{port}/v1.0/users/{upn.group(1)}", json={"jobTitle": "Principal Engineer"}
        )
        assert patched.status_code == 204, patched.text
        deadline = time.monotonic() + 60
        while _target_users(scim_url, scim_token)[upn.group(1)].get("title") != "Principal Engineer":
            assert time.monotonic() < deadline, "the change did not reach the SCIM app"
            time.sleep(0.2)
        graph.close()

        assert demo.interrupt() == 0
        assert "Stopping provisiond demo" in demo.output
    finally:
        demo.kill()
    assert (data_dir / "provisiond.db").exists()  # a given data dir is kept

    # Again on the same data dir: the directory and app are reused, against a new, empty SCIM app.
    again = Demo("--port", str(free_port()), "--users", "40", "--data-dir", str(data_dir))
    try:
        again.wait_ready()
        assert "Reusing the directory" in again.output
        scim_url, scim_token = again.value("SCIM app"), again.value("SCIM bearer token")
        assert set(_target_users(scim_url, scim_token)) == expected_users
        assert again.interrupt() == 0
    finally:
        again.kill()


def test_demo_with_tls_serves_https_with_a_certificate_it_prints_and_clients_trust(tmp_path: Path) -> None:
    import ssl

    port = free_port()
    demo = Demo("--port", str(port), "--users", "10", "--data-dir", str(tmp_path / "data"), "--tls")
    try:
        demo.wait_ready()
        certificate = Path(demo.value("TLS certificate"))
        assert certificate.is_file() and certificate.is_relative_to(tmp_path / "data")
        job_url = demo.value("job")
        assert job_url.startswith(f"https://127.0.0.1:{port}/v1.0/servicePrincipals/")
        assert demo.value("console").startswith(f"https://127.0.0.1:{port}/console/signin?token=")
        exports = re.search(r"^\s+export TOKEN=(\S+) ", demo.output, re.MULTILINE)
        assert exports, demo.output
        trust = f"export CURL_CA_BUNDLE={certificate} SSL_CERT_FILE={certificate} NODE_EXTRA_CA_CERTS={certificate}"
        assert trust in demo.output
        trusted = ssl.create_default_context(cafile=str(certificate))
        job = httpx.get(
            job_url, headers={"Authorization": f"Bearer {exports.group(1)}"}, verify=trusted, timeout=30
        )
        assert job.status_code == 200, job.text
        assert job.json()["status"]["lastExecution"]["state"] == "Succeeded"
        assert demo.interrupt() == 0
    finally:
        demo.kill()
