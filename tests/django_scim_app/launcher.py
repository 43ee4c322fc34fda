"""Start the django-scim2 app as a real HTTP server in a subprocess, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ScimTarget
from tests.django_scim_app import TOKEN

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def django_scim_app(workdir: Path, *, timeout: float = 60.0) -> Iterator[ScimTarget]:
    """The app on a free port with its SQLite file in `workdir`; stopped (and its output shown
    on failure) when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SCIM_DB": str(workdir / "app.sqlite3"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    stderr = (workdir / "stderr.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.django_scim_app.serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the port, once the tables exist and the socket listens
        if not line.strip().isdigit():
            process.wait(timeout=timeout)
            raise RuntimeError(f"the django-scim2 app did not start:\n{_output(workdir)}")
        target = ScimTarget(f"http://127.0.0.1:{int(line)}/scim/v2", TOKEN)
        with target.client() as client:
            assert client.get("/ServiceProviderConfig").status_code == 200, _output(workdir)
        yield target
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


def _output(workdir: Path) -> str:
    return (workdir / "stderr.log").read_text(errors="replace")[-4000:]
