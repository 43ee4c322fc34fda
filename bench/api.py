"""Graph API throughput and cost under an open-loop load, beside a minimal FastAPI floor.

    .venv/bin/python bench/api.py                                   # SQLite and PostgreSQL, 50/100/200 rps x 30 s
    .venv/bin/python bench/api.py --backend sqlite --seconds 5 --rates 50,200
    .venv/bin/python bench/api.py --backend postgresql --workers 2 --no-floor
    .venv/bin/python bench/api.py --backend postgresql --rates 200 --kind-seconds 0 --rounds 3
    .venv/bin/python bench/api.py --backend sqlite --rates 200 --seconds 15 --profile --no-floor

What it measures, and why: the API is what Graph runbooks and SDKs hit, and it shares the
machine (and, on SQLite, the process) with the engine, so its cost per request is what limits
a box. The server is `provisiond serve` as a user runs it, in its own process
(PROVISIOND_LOG_LEVEL=warning, so uvicorn's access logger is configured but drops its records
at INFO), on SQLite in its data dir or on a fresh PostgreSQL database created for the run and
dropped afterwards (`--database-url` names the server). Set-up goes through the API, on a first
server process: N users (POST /v1.0/users), an application from the custom SCIM gallery
template, its service principal and a synchronization job that is paused and never started (the
issue's measurement was made with the job paused). The server is then started afresh (the same
data dir and database) and measured:

- the mix: 50 % GET /v1.0/users/{id}, 10 % GET /v1.0/users?$top=20, 40 % PATCH /v1.0/users/{id}
  (jobTitle and department set to new values each time), random users, open loop at each
  `--rates` value for `--seconds`: every request is sent at its scheduled instant whether or
  not earlier ones have been answered (aiohttp, one pool of up to 1,000 connections), and its
  latency runs from that instant, so time queued in the client or the server counts (no
  coordinated omission);
- then each kind alone at `--kind-rate` (default 50 rps, below saturation) for `--kind-seconds`,
  for the CPU cost by kind.
Each phase starts once the server is idle again (an overloaded phase leaves it serving requests
the client gave up on), after an unmeasured 3 s warm-up at the start.
For every phase: offered and achieved rate (2xx answers / time from the first scheduled send
to the last answer), p50/p95/p99 latency, errors (anything but 2xx and 429, timeouts and
connection failures included), 429s, the server's CPU ms per request (utime + stime of its
process tree from /proc before the phase and 0.5 s after its last answer, minus the idle rate
the same server showed for 3 s before its warm-up, times the phase's wall time), its RSS (VmRSS
summed over the tree) at the end of the phase, the client's own CPU ms per request (the
client shares the cores), and the machine's 1-minute load average before and after.

The floor (bench/api_floor.py) is then started in its own process on the same database, with
provisiond stopped, and driven by the same schedule of the same requests (same seed): a minimal
FastAPI app doing the same SQL with the same engine options and the same token check, with
plain synchronous routes. The figures to read are provisiond's CPU per request divided by the
floor's, and its p99 divided by the floor's, per phase and backend.

`--rounds N` measures provisiond then the floor N times over (fresh processes, same data) and
adds the medians of each figure and their ratios. Near saturation a p99 is a queue's tail and
moves from run to run, the floor's as much as ours (143 to 283 ms over four runs at 200 rps on
PostgreSQL here), so one run's p99 ratio says little; the ratio of medians says more.

`--workers N` passes `--workers N` to `provisiond serve` (and runs the floor with N uvicorn
workers); `--profile` runs the measured server under cProfile (every thread: the event loop,
the thread pool, the scheduler), writes bench/results/api-<backend>.prof when it exits and prints
the top functions by tottime and by cumulative time. Profiling inflates every figure.
Results: printed, and written to bench/results/api-<backend>.json. The client runs on the same
machine as the servers, and the machine may be shared: the figures are noisy, and nothing here
asserts anything about time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    BENCH,
    CUSTOM_SCIM_APP_TEMPLATE,
    RESULTS,
    _database,
    command_line,
    environment,
    free_port,
    percentile,
    wait_for,
)
from sqlalchemy import create_engine, text

ROOT = BENCH.parent
PROVISIOND = Path(sys.executable).parent / "provisiond"  # the venv's, beside the python running this
KINDS = ("get", "list", "patch")
MIX = {"get": 50, "list": 10, "patch": 40}
LIST_TOP = 20
REQUEST_TIMEOUT = 60.0
SETTLE_SECONDS = 0.5
QUIET_CORES = 0.1
IDLE_SECONDS = 3.0
WARMUP_RATE, WARMUP_SECONDS = 50, 3.0
SETUP_CONCURRENCY = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")

# cProfile on every thread of `provisiond serve`, timed by each thread's own CPU clock (a
# wall-clock profile of threads would charge waits for the GIL and idle pool threads to whatever
# they were doing). Nothing is recorded until SIGUSR1, which the benchmark sends once the server
# is warm: then the main thread (uvicorn's event loop) is profiled at once, and every other
# thread (the thread pool, the scheduler) from its next call, by a threading profile hook that
# swaps itself for a profiler of that thread. The merged stats are written when serve returns
# (it shuts down gracefully on SIGINT/SIGTERM).
PROFILED_SERVE = """
import cProfile, pstats, signal, sys, threading, time
out = sys.argv.pop(1)
main = cProfile.Profile(time.thread_time)
profilers = []
active = False
def start(frame, event, arg):
    if active:
        profiler = cProfile.Profile(time.thread_time)
        profilers.append(profiler)
        profiler.enable()
def activate(signum, frame):
    global active
    active = True
    main.enable()
signal.signal(signal.SIGUSR1, activate)
threading.setprofile(start)
from provisiond.cli import app
try:
    app(args=sys.argv[1:], prog_name="provisiond")
finally:
    main.disable()
    threading.setprofile(None)
    stats = None
    for profiler in [main, *profilers]:
        profiler.disable()
        try:
            stats = pstats.Stats(profiler) if stats is None else stats.add(profiler)
        except TypeError:
            pass  # a thread that made no call while profiled
    if stats is not None:
        stats.dump_stats(out)
"""


# Processes


def tree(root: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    total = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def tree_rss_mb(root: int) -> float:
    total = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    root: str  # http://127.0.0.1:port
    profiled: bool = False

    def start_profile(self) -> None:
        """Tell a profiled server (PROFILED_SERVE) to start recording."""
        if self.profiled:
            self.process.send_signal(signal.SIGUSR1)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def rss(self) -> float:
        return tree_rss_mb(self.process.pid)


@contextlib.contextmanager
def running(
    name: str, command: list[str], port: int, env: dict[str, str], log: Path, *, profiled: bool = False
) -> Iterator[Server]:
    """The server in its own process until it answers on `port`; SIGINT (a graceful stop) on exit.
    Its output goes to `log` (a client that gives up on a request can make a server log errors)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", profiled)

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {' '.join(command)}")
        try:
            urllib.request.urlopen(f"{server.root}/v1.0/users", timeout=2)
        except urllib.error.HTTPError:
            return True  # 401: listening
        except OSError:
            return False
        return True

    try:
        wait_for(listening, 120, f"{name} to listen", interval=0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve_options() -> str:
    return subprocess.run([str(PROVISIOND), "serve", "--help"], capture_output=True, text=True).stdout


def provisiond_command(
    args: argparse.Namespace, data_dir: Path, url: str | None, port: int, *, profile: Path | None
) -> list[str]:
    options = ["serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    if url:
        options += ["--database-url", url]
    if args.workers > 1:
        options += ["--workers", str(args.workers)]
    if profile is not None:
        return [sys.executable, "-c", PROFILED_SERVE, str(profile), *options]
    return [str(PROVISIOND), *options]


def floor_command(args: argparse.Namespace, data_dir: Path, url: str | None, port: int) -> list[str]:
    command = [sys.executable, str(BENCH / "api_floor.py"), "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--log-level", "warning", "--workers", str(args.workers)]
    return command + (["--database-url", url] if url else [])


def token(data_dir: Path) -> str:
    done = subprocess.run(
        [str(PROVISIOND), "token", "--data-dir", str(data_dir)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


# Set-up through the API


async def set_up(root: str, bearer: str, user_count: int) -> tuple[list[str], dict[str, Any]]:
    """N users, then an app, its service principal and a job, paused and never started."""
    headers = {"Authorization": f"Bearer {bearer}"}
    connector = aiohttp.TCPConnector(limit=SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(root + "/", headers=headers, connector=connector) as session:

        async def post(path: str, body: Any) -> dict[str, Any]:
            async with session.post(path, json=body) as response:
                if response.status not in (201, 204):
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
                return dict(await response.json()) if response.status == 201 else {}

        async def create(indexes: range) -> list[str]:
            ids = []
            for i in indexes:
                user = await post(
                    "v1.0/users",
                    {
                        "accountEnabled": True,
                        "displayName": f"Bench User {i}",
                        "givenName": f"Given{i}",
                        "surname": f"Sur{i}",
                        "mailNickname": f"bench{i:06d}",
                        "userPrincipalName": f"bench{i:06d}@contoso.example",
                        "mail": f"bench{i:06d}@contoso.example",
                        "jobTitle": "Engineer",
                        "department": f"Department {i % 20}",
                        "officeLocation": f"Building {i % 7}",
                        "businessPhones": [f"+1 425 {i:07d}"],
                        "passwordProfile": {"password": "Pa55word!"},
                    },
                )
                ids.append(str(user["id"]))
            return ids

        chunks = await asyncio.gather(
            *(create(range(w, user_count, SETUP_CONCURRENCY)) for w in range(SETUP_CONCURRENCY))
        )
        created = await post(
            f"v1.0/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate", {"displayName": "Bench API"}
        )
        sp_id = created["servicePrincipal"]["id"]
        job = await post(f"v1.0/servicePrincipals/{sp_id}/synchronization/jobs", {"templateId": "scim"})
        job_path = f"v1.0/servicePrincipals/{sp_id}/synchronization/jobs/{job['id']}"
        await post(f"{job_path}/pause", None)
        async with session.get(job_path) as response:
            job = dict(await response.json())
    ids = sorted(i for chunk in chunks for i in chunk)
    return ids, {"id": job["id"], "schedule": job["schedule"], "status_code": job["status"]["code"]}


# The load


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (timeout, connection failure)
    latency: float  # seconds from the scheduled send to the end of the answer
    ended: float


@dataclass
class Plan:
    """One phase's requests, each at its scheduled offset; the same seed gives the same plan."""

    rate: float
    seconds: float
    kinds: dict[str, int]
    seed: int
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # offset, kind, user id

    def build(self, ids: list[str]) -> Plan:
        rng = random.Random(self.seed)
        names, weights = list(self.kinds), list(self.kinds.values())
        count = round(self.rate * self.seconds)
        self.requests = [
            (i / self.rate, rng.choices(names, weights)[0], rng.choice(ids)) for i in range(count)
        ]
        return self


async def drive(root: str, bearer: str, plan: Plan) -> tuple[list[Sample], float]:
    """Send the plan open-loop; the samples and the wall time from the first send to the last answer."""
    headers = {"Authorization": f"Bearer {bearer}"}
    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:

        async def one(at: float, kind: str, user_id: str, n: int) -> None:
            status = 0
            try:
                if kind == "get":
                    request = session.get(f"{root}/v1.0/users/{user_id}")
                elif kind == "list":
                    request = session.get(f"{root}/v1.0/users?$top={LIST_TOP}")
                else:
                    body = {"jobTitle": f"Title {plan.seed}-{n}", "department": f"Dept {n % 50}"}
                    request = session.patch(f"{root}/v1.0/users/{user_id}", json=body)
                async with request as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            ended = loop.time()
            samples.append(Sample(kind, status, ended - at, ended))

        tasks = []
        start = loop.time() + 0.05
        for n, (offset, kind, user_id) in enumerate(plan.requests):
            at = start + offset
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at, kind, user_id, n)))
        await asyncio.gather(*tasks)
    last = max((s.ended for s in samples), default=start)
    return samples, last - start


def phase_figures(
    label: str,
    plan: Plan,
    samples: list[Sample],
    wall: float,
    cpu: float,
    idle_cpu: float,
    client_cpu: float,
    rss: float,
) -> dict[str, Any]:
    ok = [s for s in samples if 200 <= s.status < 300]
    throttled = sum(1 for s in samples if s.status == 429)
    latencies = [s.latency * 1000 for s in samples]
    net_cpu = max(cpu - idle_cpu, 0.0)
    by_kind = {kind: sum(1 for s in samples if s.kind == kind) for kind in KINDS}
    return {
        "phase": label,
        "offered_rps": plan.rate,
        "seconds": plan.seconds,
        "requests": len(samples),
        "by_kind": {k: v for k, v in by_kind.items() if v},
        "achieved_rps": len(ok) / wall if wall > 0 else 0.0,
        "ok": len(ok),
        "errors": len(samples) - len(ok) - throttled,
        "throttled_429": throttled,
        "statuses": {
            str(status): sum(1 for s in samples if s.status == status)
            for status in sorted({s.status for s in samples})
        },
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "p99_ms_by_kind": {
            kind: percentile([s.latency * 1000 for s in samples if s.kind == kind], 0.99)
            for kind in KINDS
            if by_kind[kind]
        },
        "wall_seconds": wall,
        "server_cpu_seconds": cpu,
        "server_idle_cpu_seconds_subtracted": idle_cpu,
        "server_cpu_ms_per_request": 1000 * net_cpu / max(len(samples), 1),
        "server_cpu_ms_per_request_gross": 1000 * cpu / max(len(samples), 1),
        "server_cpu_cores_busy": cpu / (wall + SETTLE_SECONDS),
        "client_cpu_ms_per_request": 1000 * client_cpu / max(len(samples), 1),
        "server_rss_mb_at_end": rss,
    }


def quiesce(server: Server, timeout: float = 180.0) -> float:
    """Wait until the server is idle (under QUIET_CORES of CPU over half a second): after an
    overloaded phase it may still be serving requests the client gave up on. The seconds waited."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        cpu = server.cpu()
        time.sleep(0.5)
        if (server.cpu() - cpu) / 0.5 < QUIET_CORES:
            break
    return time.perf_counter() - began


def run_phase(server: Server, bearer: str, label: str, plan: Plan, idle_rate: float) -> dict[str, Any]:
    quiet = quiesce(server)
    load = os.getloadavg()[0]
    cpu, client = server.cpu(), time.process_time()
    samples, wall = asyncio.run(drive(server.root, bearer, plan))
    time.sleep(SETTLE_SECONDS)
    cpu, client = server.cpu() - cpu, time.process_time() - client
    idle_cpu = idle_rate * (wall + SETTLE_SECONDS)
    figures = phase_figures(label, plan, samples, wall, cpu, idle_cpu, client, server.rss())
    figures["quiesce_seconds_before"] = quiet
    figures["load_average_1m_before"] = load
    figures["load_average_1m_after"] = os.getloadavg()[0]
    print(
        f"  {server.name:<10} {label:<10} {figures['achieved_rps']:7.1f}/{plan.rate:<5g} rps  "
        f"p99 {figures['p99_ms']:8.1f} ms  cpu {figures['server_cpu_ms_per_request']:6.2f} ms/req  "
        f"errors {figures['errors']}  429 {figures['throttled_429']}",
        flush=True,
    )
    return figures


def measure(server: Server, bearer: str, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Idle rate, a warm-up (not measured), the mixed phases, then each kind alone."""
    quiesce(server)
    cpu = server.cpu()
    time.sleep(IDLE_SECONDS)
    idle_rate = (server.cpu() - cpu) / IDLE_SECONDS
    asyncio.run(drive(server.root, bearer, Plan(WARMUP_RATE, WARMUP_SECONDS, MIX, 1).build(ids)))
    quiesce(server)
    server.start_profile()
    phases = []
    for i, rate in enumerate(args.rates):
        phases.append(
            run_phase(
                server, bearer, f"mix@{rate:g}", Plan(rate, args.seconds, MIX, 100 + i).build(ids), idle_rate
            )
        )
    if args.kind_seconds > 0:
        for i, kind in enumerate(KINDS):
            plan = Plan(args.kind_rate, args.kind_seconds, {kind: 1}, 200 + i).build(ids)
            phases.append(run_phase(server, bearer, f"{kind}@{args.kind_rate:g}", plan, idle_rate))
    return {"idle_cpu_cores": idle_rate, "phases": phases}


# Tables


def print_table(backend: str, name: str, result: dict[str, Any]) -> None:
    print(f"\n{backend} / {name}  (server idle: {1000 * result['idle_cpu_cores']:.1f} ms CPU per s)")
    print(
        f"  {'phase':<11}{'offered':>8}{'achieved':>9}{'ok':>7}{'err':>5}{'429':>5}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu ms/req':>11}{'rss MB':>8}{'client ms':>10}"
    )
    for p in result["phases"]:
        print(
            f"  {p['phase']:<11}{p['offered_rps']:>8g}{p['achieved_rps']:>9.1f}{p['ok']:>7}{p['errors']:>5}"
            f"{p['throttled_429']:>5}{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['p99_ms']:>9.1f}"
            f"{p['server_cpu_ms_per_request']:>11.2f}{p['server_rss_mb_at_end']:>8.0f}"
            f"{p['client_cpu_ms_per_request']:>10.2f}"
        )


def ratios(ours: dict[str, Any], floor: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p, f in zip(ours["phases"], floor["phases"], strict=True):
        rows.append(
            {
                "phase": p["phase"],
                "cpu_ms_per_request": p["server_cpu_ms_per_request"],
                "floor_cpu_ms_per_request": f["server_cpu_ms_per_request"],
                "cpu_ratio": p["server_cpu_ms_per_request"] / f["server_cpu_ms_per_request"]
                if f["server_cpu_ms_per_request"]
                else None,
                "p99_ms": p["p99_ms"],
                "floor_p99_ms": f["p99_ms"],
                "p99_ratio": p["p99_ms"] / f["p99_ms"] if f["p99_ms"] else None,
            }
        )
    return rows


def print_ratios(backend: str, rows: list[dict[str, Any]], what: str = "") -> None:
    title = f"{backend} / provisiond ÷ floor" + (f", {what}" if what else "")
    print(f"\n{title}  (targets: both ratios ≤ 1.5 at 200 rps)")
    print(f"  {'phase':<11}{'cpu ms/req':>11}{'floor':>8}{'ratio':>7}{'p99 ms':>10}{'floor':>9}{'ratio':>7}")
    for r in rows:
        cpu_ratio = f"{r['cpu_ratio']:.2f}" if r["cpu_ratio"] is not None else "-"
        p99_ratio = f"{r['p99_ratio']:.2f}" if r["p99_ratio"] is not None else "-"
        print(
            f"  {r['phase']:<11}{r['cpu_ms_per_request']:>11.2f}{r['floor_cpu_ms_per_request']:>8.2f}{cpu_ratio:>7}"
            f"{r['p99_ms']:>10.1f}{r['floor_p99_ms']:>9.1f}{p99_ratio:>7}"
        )


def print_profile(path: Path, top: int, requests: int) -> None:
    stats = pstats.Stats(str(path))
    total: float = stats.total_tt  # type: ignore[attr-defined]
    print(
        f"{total:.1f} s CPU profiled over {requests} requests: {1000 * total / max(requests, 1):.2f} ms/request"
    )
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# One backend


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    server_url = args.database_url if backend == "postgresql" else None
    importable = speedups({})
    print(
        f"\n=== {backend} ===  (uvicorn loop/http 'auto': uvloop {'importable' if importable['uvloop'] else 'absent'}, "
        f"httptools {'importable' if importable['httptools'] else 'absent'})",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="provisiond-bench-api-") as tmp,
        _database(server_url, Path(tmp) / "data") as resolved,
    ):
        data_dir = Path(tmp) / "data"
        url = resolved if server_url else None  # SQLite: serve's default file in the data dir
        env = {"PROVISIOND_LOG_LEVEL": "warning"}
        for name in (
            "PROVISIOND_DATABASE_URL",
            "PROVISIOND_DATA_DIR",
            "PROVISIOND_TENANT_ID",
            "PROVISIOND_JWT_SECRET",
        ):
            os.environ.pop(name, None)

        logs = {name: RESULTS / f"api-{backend}-{name}.log" for name in ("provisiond", "floor")}
        for log in logs.values():
            log.unlink(missing_ok=True)
        began = time.perf_counter()
        port = free_port()
        with running(
            "set-up",
            provisiond_command(args, data_dir, url, port, profile=None),
            port,
            env,
            logs["provisiond"],
        ) as server:
            bearer = token(data_dir)
            ids, job = asyncio.run(set_up(server.root, bearer, args.users))
        print(
            f"  set-up: {len(ids)} users, job {job['schedule']['state']} in {time.perf_counter() - began:.1f} s",
            flush=True,
        )

        figures: dict[str, Any] = {"rounds": []}
        for round_ in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"\n--- round {round_} of {args.rounds}", flush=True)
            figures["rounds"].append(measure_round(backend, args, data_dir, url, env, logs, bearer, ids))
        # The first round's figures under the names a single run writes.
        figures.update(figures["rounds"][0])
        if args.rounds > 1 and not args.no_floor:
            figures["median_ratios"] = median_ratios(figures["rounds"])
            print_ratios(backend, figures["median_ratios"], f"medians over {args.rounds} rounds")
        figures["server_logs"] = {name: log_summary(log) for name, log in logs.items() if log.exists()}
        for name, summary in figures["server_logs"].items():
            if summary["error_lines"]:
                print(f"  {name} logged {summary['error_lines']} ERROR lines ({summary['file']})")
    return {
        "environment": {**environment(server_url), "importable": importable},
        "backend": backend,
        "users": len(ids),
        "job": job,
        **figures,
    }


def measure_round(
    backend: str,
    args: argparse.Namespace,
    data_dir: Path,
    url: str | None,
    env: dict[str, str],
    logs: dict[str, Path],
    bearer: str,
    ids: list[str],
) -> dict[str, Any]:
    """provisiond, then the floor, each in a fresh process on the same data: one round."""
    profile = RESULTS / f"api-{backend}.prof" if args.profile else None
    port = free_port()
    with running(
        "provisiond",
        provisiond_command(args, data_dir, url, port, profile=profile),
        port,
        env,
        logs["provisiond"],
        profiled=bool(profile),
    ) as server:
        ours = measure(server, bearer, ids, args)
    figures: dict[str, Any] = {"provisiond": ours}
    print_table(backend, "provisiond", ours)
    if profile is not None:
        wait_for(profile.exists, 30, "the profile to be written")
        figures["profile"] = str(profile.relative_to(ROOT))
        requests = sum(p["requests"] for p in ours["phases"])
        print(f"\nprofile of provisiond serve (every thread, CPU time): {profile.relative_to(ROOT)}")
        print_profile(profile, args.profile_top, requests)
    if not args.no_floor:
        port = free_port()
        with running("floor", floor_command(args, data_dir, url, port), port, env, logs["floor"]) as server:
            floor = measure(server, bearer, ids, args)
        figures["floor"] = floor
        print_table(backend, "floor", floor)
        figures["ratios"] = ratios(ours, floor)
        print_ratios(backend, figures["ratios"])
    return figures


def median_ratios(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per phase, the median of each figure over the rounds, and the ratios of those medians: a
    p99 near saturation moves from run to run (the floor's too), a median of rounds much less."""
    rows = []
    for i, phase in enumerate(rounds[0]["ratios"]):
        per_round = [r["ratios"][i] for r in rounds]
        medians = {
            key: statistics.median(row[key] for row in per_round)
            for key in ("cpu_ms_per_request", "floor_cpu_ms_per_request", "p99_ms", "floor_p99_ms")
        }
        rows.append(
            {
                "phase": phase["phase"],
                **medians,
                "cpu_ratio": medians["cpu_ms_per_request"] / medians["floor_cpu_ms_per_request"],
                "p99_ratio": medians["p99_ms"] / medians["floor_p99_ms"],
                "p99_ratios_by_round": [row["p99_ratio"] for row in per_round],
            }
        )
    return rows


def log_summary(log: Path) -> dict[str, Any]:
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if " ERROR " in line]
    return {
        "file": str(log.relative_to(ROOT)),
        "lines": len(lines),
        "error_lines": len(errors),
        "first_error": errors[:1],
    }


def speedups(env: dict[str, str]) -> dict[str, bool]:
    """Whether the servers can import uvloop and httptools (uvicorn's "auto" picks them when they can)."""
    found = {}
    for module in ("uvloop", "httptools"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], env={**os.environ, **env}, capture_output=True
        )
        found[module] = done.returncode == 0
    return found


def postgres_reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        help="default: both when PostgreSQL is reachable, else sqlite",
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="the PostgreSQL server (postgresql+psycopg://user@host:5432/db): each run uses a fresh database on it, dropped afterwards",
    )
    parser.add_argument("--rates", default="50,100,200", help="offered rates of the mixed phases, requests/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each mixed phase")
    parser.add_argument("--kind-rate", type=float, default=50.0, help="rate of the single-kind phases")
    parser.add_argument(
        "--kind-seconds",
        type=float,
        help="length of each single-kind phase (0: none); default: min(10, --seconds)",
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, default=1, help="API processes (`provisiond serve --workers N`)"
    )
    parser.add_argument("--no-floor", action="store_true", help="measure provisiond only")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure provisiond then the floor this many times; with more than one, also the medians",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the measured provisiond under cProfile (all threads)"
    )
    parser.add_argument("--profile-top", type=int, default=35)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.kind_seconds is None:
        args.kind_seconds = min(10.0, args.seconds)
    if args.workers > 1 and "--workers" not in serve_options():
        parser.exit(
            2, "bench/api.py: this `provisiond serve` has no --workers option; run without --workers\n"
        )
    if args.backend is None:
        args.backend = "both" if postgres_reachable(args.database_url) else "sqlite"
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.workers > 1:
        if args.backend == "sqlite":
            parser.exit(
                2, "bench/api.py: --workers needs PostgreSQL (serve refuses several processes on SQLite)\n"
            )
        backends = ["postgresql"]
    RESULTS.mkdir(exist_ok=True)
    for backend in backends:
        figures = run_backend(backend, args)
        path = RESULTS / f"api-{backend}.json"
        path.write_text(json.dumps({"command": command_line(), **figures}, indent=2, default=str) + "\n")
        print(f"(written to {path.relative_to(ROOT)})", flush=True)


if __name__ == "__main__":
    main()
