"""Shared setup for the benchmarks (not a benchmark itself).

- `scim_target()`: the SCIM target (bench/scim_target.py) in its own process on a free port.
- `provisiond()`: the API and the scheduler in this process, as `provisiond serve` runs them,
  on a temporary SQLite file or on a fresh database of the PostgreSQL server `--database-url`
  names (created for the run, dropped afterwards).
- `seed_directory()`: users, groups and memberships written in bulk through the store layer's
  tables, with their change-log rows, so that large directories take seconds to set up.
- `create_job()`: the app, its job and its secrets (SyncAll true) through the Graph API.
- `preload()` / `reach_steady_state()`: the target (and the connector data store) pre-seeded
  with what the engine would create, built by the engine's own mapping and request shapes and
  loaded without HTTP; then the engine's own first cycle, so that a large directory reaches
  steady state in minutes.
- `Job`: wait for cycles and read their counters; `measure_cycle()`: one cycle's duration,
  this process's CPU minus the idle baseline, peak RSS, the SCIM requests the target served;
  `profiled()`: cProfile on the scheduler thread; `replay()`: a recorded request stream sent
  again at a concurrency with aiohttp, the HTTP client the engine's SCIM connector uses.
- `report()`: print the figures and write bench/results/<name>.json.

Nothing here asserts anything about wall-clock time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import uvicorn
import yarl
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from provisiond.api.app import create_app
from provisiond.api.auth import mint_token
from provisiond.clock import SystemClock
from provisiond.config import Settings
from provisiond.connectors import scim_requests as shapes
from provisiond.connectors.directory import Assignments, DirectorySource
from provisiond.engine.objects import GROUP, USER, enrich, mapping_for
from provisiond.engine.policy import EngineSettings
from provisiond.engine.scheduler import Scheduler
from provisiond.graph.directory import USER_LIST_PROPERTIES
from provisiond.graph.job_state import status_wire
from provisiond.mapping import expressions
from provisiond.mapping.flows import compile_schema
from provisiond.runtime import build_scheduler
from provisiond.store import engine_state
from provisiond.store.changelog import last_seq
from provisiond.store.db import Database
from provisiond.store.tables import connector_data_store as connector_data_store_table
from provisiond.store.tables import directory_changes, group_members, groups, users

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
CUSTOM_SCIM_APP_TEMPLATE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
ADMIN_SCOPES = (
    "Synchronization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
)
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
INSERT_BATCH = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL (postgresql+psycopg://user@host:5432/db): the run uses a fresh "
        "database on it, dropped afterwards; default: a temporary SQLite file",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="cProfile the scheduler thread during the measured cycle(s), write the stats to FILE "
        "and print the top functions (profiling inflates the figures)",
    )


# The SCIM target, in its own process


@dataclass
class TargetProcess:
    root: str
    token: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The SCIM base address (the job's BaseAddress secret)."""
        return f"{self.root}/v2"

    def _admin(self, action: str, body: Any = None, timeout: float = 600) -> dict[str, Any]:
        if body is None:
            response = httpx.get(f"{self.root}/_bench/{action}", timeout=timeout)
        else:
            response = httpx.post(f"{self.root}/_bench/{action}", json=body, timeout=timeout)
        response.raise_for_status()
        return dict(response.json())

    def requests(self) -> dict[str, int]:
        """SCIM requests served since the last `reset_counts`, by method."""
        return dict(self._admin("stats")["requests"])

    def reset_counts(self) -> None:
        self._admin("reset", {})

    def record(self, on: bool) -> None:
        self._admin("record", {"on": on})

    def dump(self, path: Path) -> int:
        return int(self._admin("dump", {"path": str(path)})["recorded"])

    def load(self, items: list[dict[str, Any]]) -> list[str]:
        """Create `[{"resource": "Users", "body": {...}}, ...]` without HTTP; their ids."""
        return [str(i) for i in self._admin("load", items)["ids"]]

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


@contextlib.contextmanager
def scim_target() -> Iterator[TargetProcess]:
    port = free_port()
    token = "bench-" + uuid.uuid4().hex
    command = [sys.executable, str(BENCH / "scim_target.py"), "--port", str(port), "--token", token]
    process = subprocess.Popen(command)
    target = TargetProcess(f"http://127.0.0.1:{port}", token, process)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError("the SCIM target exited")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{target.root}/_bench/stats", timeout=1).status_code == 200
            return False

        wait_for(ready, 30, "the SCIM target to listen", interval=0.05)
        yield target
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# provisiond in this process


@dataclass
class Service:
    url: str
    settings: Settings
    db: Database
    scheduler: Scheduler
    client: httpx.Client


@contextlib.contextmanager
def _database(database_url: str | None, data_dir: Path) -> Iterator[str]:
    if not database_url:
        yield f"sqlite+pysqlite:///{data_dir / 'provisiond.db'}"
        return
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    name = f"provisiond_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def provisiond(database_url: str | None = None) -> Iterator[Service]:
    """The API (uvicorn in a thread) and the scheduler in this process, with default settings."""
    with (
        tempfile.TemporaryDirectory(prefix="provisiond-bench-") as tmp,
        _database(database_url, Path(tmp)) as url,
    ):
        settings = Settings(data_dir=Path(tmp) / "data", jwt_secret="bench-" + uuid.uuid4().hex)
        db = Database(url)
        db.migrate()
        clock = SystemClock()
        scheduler = build_scheduler(settings, db, clock)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, db, clock, scheduler=scheduler),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
            )
        )
        thread = threading.Thread(target=server.run, name="provisiond-api", daemon=True)
        thread.start()
        wait_for(lambda: server.started, 20, "the API to listen", interval=0.02)
        scheduler.start()
        token = mint_token(settings, scopes=ADMIN_SCOPES, wids=[APPLICATION_ADMINISTRATOR])
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}/v1.0",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        try:
            yield Service(f"http://127.0.0.1:{port}", settings, db, scheduler, client)
        finally:
            client.close()
            scheduler.stop()
            server.should_exit = True
            thread.join(timeout=10)
            db.dispose()


# The directory, written in bulk


@dataclass
class Directory:
    user_ids: list[str]
    group_ids: list[str]

    @staticmethod
    def upn(index: int) -> str:
        return f"user{index:06d}@contoso.example"

    @property
    def objects(self) -> int:
        return len(self.user_ids) + len(self.group_ids)


def _user_row(index: int, user_id: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in users.columns}
    row.update({name: [] for name in USER_LIST_PROPERTIES})
    upn = Directory.upn(index)
    row.update(
        id=user_id,
        user_principal_name=upn,
        upn_key=upn,
        display_name=f"Given{index} Sur{index}",
        given_name=f"Given{index}",
        surname=f"Sur{index}",
        mail=upn,
        mail_nickname=f"user{index:06d}",
        job_title=("Engineer", "Designer", "Manager", "Analyst")[index % 4],
        department=f"Department {index % 20}",
        company_name="Contoso",
        employee_id=f"E{index:07d}",
        office_location=f"Building {index % 7}",
        city="Seattle",
        country="US",
        preferred_language="en-US",
        usage_location="US",
        mobile_phone=f"+1 555 {index:07d}",
        business_phones=[f"+1 425 {index:07d}"],
        account_enabled=True,
        user_type="Member",
        created_date_time=now,
    )
    return row


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_directory(db: Database, user_count: int, group_count: int, members_per_group: int) -> Directory:
    """Users, groups of `members_per_group` users each (taken in turn), and one change-log row
    per object and membership, as the API would have written them. Rows are generated lazily
    so that the seeding does not inflate this process's peak RSS."""
    now = datetime.now(UTC)
    directory = Directory(
        [str(uuid.uuid4()) for _ in range(user_count)], [str(uuid.uuid4()) for _ in range(group_count)]
    )
    memberships = [
        (group_id, directory.user_ids[(g * members_per_group + m) % user_count])
        for g, group_id in enumerate(directory.group_ids)
        for m in range(min(members_per_group, user_count))
    ]

    def changes() -> Iterator[dict[str, Any]]:
        for user_id in directory.user_ids:
            yield _change("user", user_id, "created", None, now)
        for group_id in directory.group_ids:
            yield _change("group", group_id, "created", None, now)
        for group_id, member_id in memberships:
            yield _change("group", group_id, "memberAdded", member_id, now)

    with db.transaction() as conn:
        for batch in _batches(_user_row(i, u, now) for i, u in enumerate(directory.user_ids)):
            conn.execute(users.insert(), batch)
        group_rows: Iterator[dict[str, Any]] = (
            {
                "id": group_id,
                "display_name": f"Group {g:04d}",
                "description": None,
                "mail_nickname": f"group{g:04d}",
                "mail": None,
                "mail_enabled": False,
                "security_enabled": True,
                "group_types": [],
                "created_date_time": now,
                "deleted_date_time": None,
            }
            for g, group_id in enumerate(directory.group_ids)
        )
        for batch in _batches(group_rows):
            conn.execute(groups.insert(), batch)
        member_rows = ({"group_id": g, "member_id": m, "member_type": "user"} for g, m in memberships)
        for batch in _batches(member_rows):
            conn.execute(group_members.insert(), batch)
        for batch in _batches(changes()):
            conn.execute(directory_changes.insert(), batch)
    return directory


def _change(
    object_type: str, object_id: str, change_type: str, related_id: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "object_type": object_type,
        "object_id": object_id,
        "change_type": change_type,
        "related_id": related_id,
        "changed_date_time": at,
    }


# The job, through the Graph API


@dataclass
class Job:
    service: Service
    sp_id: str
    job_id: str

    @property
    def url(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization/jobs/{self.job_id}"

    def _post(self, action: str, body: Any = None) -> None:
        response = self.service.client.post(f"{self.url}/{action}", json=body)
        if response.status_code != 204:
            raise RuntimeError(f"{action}: {response.status_code} {response.text}")

    def start(self) -> None:
        self._post("start")

    def pause(self) -> None:
        self._post("pause")

    def restart(self, reset_scope: str) -> None:
        self._post("restart", {"criteria": {"resetScope": reset_scope}})

    def row(self) -> dict[str, Any]:
        """The job's row, its typed status read as Graph's synchronizationStatus."""
        with self.service.db.read() as conn:
            row = engine_state.get_job(conn, self.job_id)
        if row is None:
            raise RuntimeError("the job is gone")
        return {**row, "status": status_wire(row["status"])}

    def last_execution(self) -> dict[str, Any] | None:
        execution = self.row()["status"].get("lastExecution")
        return dict(execution) if execution else None

    def last_ended(self) -> str | None:
        execution = self.last_execution()
        return str(execution["timeEnded"]) if execution else None

    def wait_cycle(self, previous_ended: str | None, timeout: float = 1800) -> dict[str, Any]:
        """The lastExecution of the first cycle that ends after `previous_ended`."""

        def done() -> dict[str, Any] | None:
            row = self.row()
            execution = row["status"].get("lastExecution")
            if execution and execution["timeEnded"] != previous_ended and row["lease_owner"] is None:
                return dict(execution)
            return None

        execution: dict[str, Any] = wait_for(done, timeout, "a cycle to finish")
        if execution["state"] not in ("Succeeded", "EntryLevelErrors"):
            raise RuntimeError(f"the cycle ended {execution['state']}: {execution.get('error')}")
        return execution

    def wait_idle(self, timeout: float = 600) -> None:
        """Until the job has caught up with the change log and no cycle runs."""

        def caught_up() -> bool:
            with self.service.db.read() as conn:
                head = last_seq(conn)
            row = self.row()
            return bool(row["watermark"] is not None and row["watermark"] >= head and not row["lease_owner"])

        wait_for(caught_up, timeout, "the job to catch up")


def create_job(service: Service, target: TargetProcess) -> Job:
    client = service.client
    response = client.post(
        f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate", json={"displayName": "Bench SCIM"}
    )
    response.raise_for_status()
    sp_id = response.json()["servicePrincipal"]["id"]
    response = client.post(f"/servicePrincipals/{sp_id}/synchronization/jobs", json={"templateId": "scim"})
    response.raise_for_status()
    job = Job(service, sp_id, response.json()["id"])
    secrets = {"BaseAddress": target.url, "SecretToken": target.token, "SyncAll": "true"}
    response = client.put(
        f"/servicePrincipals/{sp_id}/synchronization/secrets",
        json={"value": [{"key": k, "value": v} for k, v in secrets.items()]},
    )
    response.raise_for_status()
    return job


def cycle_seconds(execution: dict[str, Any]) -> float:
    """The cycle's own duration, from its timeBegan and timeEnded (millisecond precision)."""

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(execution["timeEnded"]) - parse(execution["timeBegan"])).total_seconds()


def export_concurrency(job: Job) -> int:
    """The job's ExportConcurrency, as the engine reads it."""
    return EngineSettings.from_job(job.row()["settings"], {}).export_concurrency


# Pre-seeding the target (and the connector data store) with what the engine would create


def preload(job: Job, target: TargetProcess, directory: Directory, *, connector_data_store: bool) -> int:
    """Create in the target, without HTTP, every user and group (without members) exactly as
    the engine's initial cycle would: the job's compiled schema, the engine's `enrich`, its
    attribute flows and its request shapes. With `connector_data_store`, also record each link
    (source id, target id, the values exported) as the engine records a create, so that the
    engine's first cycle compares instead of matching by query. Either way the first cycle
    is the engine's own pass over everything: it corrects what differs (and adds the group
    members), and only then is the job at steady state. Streams in chunks, building the next
    chunk while the target loads the previous one; returns the number of resources created."""
    schema = compile_schema(job.row()["schema"] or {})
    ctx: Any = SimpleNamespace(schema=schema, sync_all=True, assignments=Assignments())
    evaluation = expressions.EvaluationContext(now=SystemClock().now)
    source = DirectorySource(job.service.db)

    def chunks() -> Iterator[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
        for object_type, ids in ((USER, directory.user_ids), (GROUP, directory.group_ids)):
            mapping = mapping_for(ctx, object_type)
            assert mapping is not None
            read = source.users if object_type == USER else source.groups
            for start in range(0, len(ids), INSERT_BATCH):
                objects = list(read(ids[start : start + INSERT_BATCH]).values())
                desired = [
                    mapping.values(enrich(ctx, object_type, obj)[0], evaluation, creating=True)
                    for obj in objects
                ]
                yield object_type, objects, desired

    def record(
        object_type: str, objects: list[dict[str, Any]], desired: list[dict[str, Any]], target_ids: list[str]
    ) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "job_id": job.job_id,
                "source_id": obj["objectId"],
                "object_type": object_type,
                "target_id": target_id,
                "state": "provisioned",
                "exported": values,
                "references": {},
                "display_name": obj.get("userPrincipalName") or obj.get("displayName"),
                "created_date_time": now,
                "updated_date_time": now,
            }
            for obj, values, target_id in zip(objects, desired, target_ids, strict=True)
        ]
        with job.service.db.transaction() as conn:
            conn.execute(connector_data_store_table.insert(), rows)

    def finish(
        loading: Future[list[str]],
        object_type: str,
        objects: list[dict[str, Any]],
        desired: list[dict[str, Any]],
    ) -> int:
        target_ids = loading.result()
        if connector_data_store:
            record(object_type, objects, desired, target_ids)
        return len(target_ids)

    created = 0
    pending: list[tuple[Future[list[str]], str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    with ThreadPoolExecutor(max_workers=1) as loader:
        for object_type, objects, desired in chunks():
            shape = shapes.user_resource if object_type == USER else shapes.group_resource
            resource = "Users" if object_type == USER else "Groups"
            items = [{"resource": resource, "body": shape(values)} for values in desired]
            pending.append((loader.submit(target.load, items), object_type, objects, desired))
            if len(pending) > 1:
                created += finish(*pending.pop(0))
        for loading in pending:
            created += finish(*loading)
    return created


PRESEEDS = ("cds", "target", "none")


def add_preseed_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--preseed",
        choices=PRESEEDS,
        default=default,
        help="how the first cycle reaches steady state: cds = target and connector data store "
        "pre-seeded (the engine compares everything, no queries); target = target pre-seeded (the "
        "engine matches every object with a GET); none = the engine creates everything",
    )


def reach_steady_state(job: Job, target: TargetProcess, directory: Directory, preseed: str) -> dict[str, Any]:
    """Pre-seed as asked, start the job and wait until its first cycle is over and the job idle.
    Returns that cycle's figures (seconds, counters, SCIM requests by method)."""
    began = time.perf_counter()
    if preseed != "none":
        preload(job, target, directory, connector_data_store=preseed == "cds")
    preseeded = time.perf_counter() - began
    target.reset_counts()
    job.start()
    execution = job.wait_cycle(None)
    job.wait_idle()
    return {
        "preseed": preseed,
        "preseed_seconds": preseeded,
        "first_cycle_seconds": cycle_seconds(execution),
        "first_cycle_countImported": execution["countImported"],
        "first_cycle_countExported": execution["countExported"],
        "first_cycle_scim_requests": target.requests(),
    }


# Measuring this process


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM; ru_maxrss where /proc is missing)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5), so the peak is the cycle's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class CpuSpan:
    wall: float
    cpu: float
    idle_cpu: float

    @property
    def net_cpu(self) -> float:
        """CPU seconds spent beyond what the idle process spends in the same wall time."""
        return max(self.cpu - self.idle_cpu, 0.0)


@dataclass
class Meter:
    """This process's CPU over a span, minus the idle baseline measured beforehand."""

    idle_rate: float = 0.0  # CPU seconds per wall second while idle
    _wall: float = field(default=0.0, init=False)
    _cpu: float = field(default=0.0, init=False)

    def measure_idle(self, job: Job, seconds: float = 3.0) -> float:
        """The idle process (API, scheduler ticks) polled the way `Job.wait_cycle` polls."""
        wall, cpu = time.perf_counter(), time.process_time()
        deadline = wall + seconds
        while time.perf_counter() < deadline:
            job.row()
            time.sleep(0.1)
        self.idle_rate = (time.process_time() - cpu) / (time.perf_counter() - wall)
        return self.idle_rate

    def begin(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def end(self) -> CpuSpan:
        wall = time.perf_counter() - self._wall
        return CpuSpan(wall, time.process_time() - self._cpu, self.idle_rate * wall)


@contextlib.contextmanager
def profiled(scheduler: Scheduler, path: Path | None, top: int = 30) -> Iterator[None]:
    """cProfile every cycle run while inside, on the scheduler's thread (the engine's event
    loop: cycles, their SCIM client and their database writes), by wrapping the runner."""
    if path is None:
        yield
        return
    profiler = cProfile.Profile()
    runner = scheduler.runner
    original = runner.run

    async def run(job: dict[str, Any], owner: str) -> None:
        profiler.enable()
        try:
            await original(job, owner)
        finally:
            profiler.disable()

    runner.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        runner.run = original  # type: ignore[method-assign]
        profiler.dump_stats(path)
        stats = pstats.Stats(str(path))
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)


@dataclass
class MeasuredCycle:
    execution: dict[str, Any]
    span: CpuSpan
    requests: dict[str, int]
    target_cpu: float
    rss_before: float
    peak_rss: float | None

    @property
    def seconds(self) -> float:
        return cycle_seconds(self.execution)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def writes(self) -> int:
        return sum(n for method, n in self.requests.items() if method != "GET")

    def cycle_figures(self) -> dict[str, Any]:
        keys = ("state", "countImported", "countEntitled", "countExports", "countExported", "countEscrowed")
        return {
            "seconds": self.seconds,
            "wall_seconds_trigger_to_seen": self.span.wall,
            **{key: self.execution[key] for key in keys},
        }

    def cpu_figures(self, per: int, per_label: str) -> dict[str, Any]:
        return {
            "cpu_seconds": self.span.cpu,
            "idle_baseline_cpu_seconds": self.span.idle_cpu,
            "net_cpu_seconds": self.span.net_cpu,
            f"ms_per_{per_label}": 1000 * self.span.net_cpu / max(per, 1),
            "ms_per_scim_request": 1000 * self.span.net_cpu / self.total_requests
            if self.total_requests
            else None,
            "target_process_cpu_seconds": self.target_cpu,
        }

    def memory_figures(self) -> dict[str, Any]:
        return {
            "rss_before_cycle_mb": self.rss_before,
            "peak_rss_during_cycle_mb": self.peak_rss,
            "ru_maxrss_lifetime_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def measure_cycle(
    job: Job, target: TargetProcess, trigger: Callable[[], None], profile: Path | None
) -> MeasuredCycle:
    """Measure the cycle `trigger` (start, restart) causes: this process's CPU over it minus the
    idle baseline (measured for 3 s just before), its peak RSS (VmHWM reset just before), the
    SCIM requests the target served and the target's CPU."""
    meter = Meter()
    meter.measure_idle(job)
    previous = job.last_ended()
    target.reset_counts()
    rss_before = rss_mb()
    peak_reset = reset_peak_rss()
    target_cpu = target.cpu_seconds()
    with profiled(job.service.scheduler, profile):
        meter.begin()
        trigger()
        execution = job.wait_cycle(previous)
        span = meter.end()
    return MeasuredCycle(
        execution,
        span,
        target.requests(),
        target.cpu_seconds() - target_cpu,
        rss_before,
        peak_rss_mb() if peak_reset else None,
    )


# Replaying recorded requests


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    body: str


def read_recording(path: Path) -> list[RecordedRequest]:
    with path.open(encoding="utf-8") as lines:
        return [RecordedRequest(**json.loads(line)) for line in lines]


@dataclass
class ReplayResult:
    seconds: float
    requests: int
    failures: int
    cpu_seconds: float


def replay(requests: list[RecordedRequest], target: TargetProcess, concurrency: int) -> ReplayResult:
    """Send the requests in recorded order with `concurrency` workers over one aiohttp session
    (the engine's own client library, pooled connections, the headers the engine sends): bare
    HTTP, no engine."""
    return asyncio.run(_replay(requests, target, concurrency))


async def _replay(requests: list[RecordedRequest], target: TargetProcess, concurrency: int) -> ReplayResult:
    headers = {
        "Accept": "application/scim+json, application/json",
        "Content-Type": "application/scim+json",
        "Authorization": f"Bearer {target.token}",
    }
    pending = iter(requests)
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)

    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal failures
            for request in pending:
                url = target.root + request.path + (f"?{request.query}" if request.query else "")
                data = request.body.encode() if request.body else None
                async with session.request(
                    request.method, yarl.URL(url, encoded=True), data=data
                ) as response:
                    await response.read()
                    if response.status >= 400:
                        failures += 1

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ReplayResult(time.perf_counter() - wall, len(requests), failures, time.process_time() - cpu)


# Figures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def environment(database_url: str | None) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "database": "postgresql" if database_url else "sqlite",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1m_at_report": round(os.getloadavg()[0], 2),
    }


def timed(call: Callable[[], Any], runs: int) -> dict[str, float]:
    """Median and p95 in milliseconds of `runs` calls, after one warm-up call."""
    call()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
    }


def report(name: str, command: str, figures: dict[str, Any]) -> Path:
    """Print the figures and write them, with the command, to bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"command": command, **figures}, indent=2, default=str) + "\n")
    print(f"\n== {name} ==")
    print(f"command: {command}")
    _print(figures, "")
    print(f"(written to {path.relative_to(BENCH.parent)})")
    return path


def _print(figures: dict[str, Any], indent: str) -> None:
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print(value, indent + "  ")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            print(f"{indent}{key}:")
            _print({f"[{i}]": v for i, v in enumerate(value)}, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key}: {value:,.3f}")
        else:
            print(f"{indent}{key}: {value}")


def command_line() -> str:
    return " ".join([".venv/bin/python", *[a if " " not in a else repr(a) for a in sys.argv]])
