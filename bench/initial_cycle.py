"""Initial-cycle throughput, beside a bare HTTP replay of the same requests.

    .venv/bin/python bench/initial_cycle.py                      # 10,000 users, 100 groups of 50
    .venv/bin/python bench/initial_cycle.py --users 2000 --groups 20
    .venv/bin/python bench/initial_cycle.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Setup: the SCIM target (bench/scim_target.py) in its own process; provisiond's API and
scheduler in this process with default settings; the directory (N users, G groups of M
members) written in bulk through the store layer; the app, job and secrets (SyncAll true)
through the Graph API. Then the job is started and its initial cycle measured:
- objects/s: (users + groups) / the cycle's duration (status timeBegan → timeEnded);
- engine CPU ms per exported object: this process's CPU during the cycle minus the idle
  baseline (the same process, API and scheduler idle, measured for 3 s just before), divided
  by the objects created in the target;
- peak RSS of this process during the cycle (VmHWM, reset just before the cycle), and the
  lifetime ru_maxrss;
- SCIM requests the target served, by method, and the target process's CPU.
The target records every request it serves during the cycle; they are then replayed in the
same order with aiohttp (the engine's client) at the job's export concurrency against a fresh target
(its ids are derived from names, so PATCH paths stay valid): once all of them, once only the
writes (POST/PATCH). The figure to compare is engine cycle time / replay time; the replay
client's CPU per exported object is what bare HTTP alone costs of the engine's CPU figure.
Results: printed, and written to bench/results/initial_cycle.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    RecordedRequest,
    ReplayResult,
    add_common_arguments,
    command_line,
    create_job,
    environment,
    export_concurrency,
    measure_cycle,
    provisiond,
    read_recording,
    replay,
    report,
    scim_target,
    seed_directory,
)


def replayed(requests: list[RecordedRequest], concurrency: int) -> ReplayResult:
    with scim_target() as fresh:
        return replay(requests, fresh, concurrency)


def replay_figures(result: ReplayResult, engine_seconds: float) -> dict[str, Any]:
    return {
        "requests": result.requests,
        "failures": result.failures,
        "seconds": result.seconds,
        "requests_per_second": result.requests / result.seconds,
        "client_cpu_ms_per_request": 1000 * result.cpu_seconds / max(result.requests, 1),
        "engine_time_over_replay_time": engine_seconds / result.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=50, help="members per group")
    add_common_arguments(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="provisiond-bench-") as tmp:
        recording = Path(tmp) / "requests.jsonl"
        with scim_target() as target, provisiond(args.database_url) as service:
            seeded = time.perf_counter()
            directory = seed_directory(service.db, args.users, args.groups, args.members)
            seeded = time.perf_counter() - seeded
            job = create_job(service, target)
            concurrency = export_concurrency(job)
            target.record(True)
            cycle = measure_cycle(job, target, job.start, args.profile)
            target.record(False)
            target.dump(recording)
        recorded = read_recording(recording)

    created = cycle.requests.get("POST", 0)
    replay_all = replayed(recorded, concurrency)
    replay_writes = replayed([r for r in recorded if r.method != "GET"], concurrency)
    ms_per_object = 1000 * cycle.span.net_cpu / max(created, 1)
    report(
        "initial_cycle",
        command_line(),
        {
            "environment": environment(args.database_url),
            "directory": {
                "users": args.users,
                "groups": args.groups,
                "members_per_group": args.members,
                "seed_seconds": seeded,
            },
            "cycle": {
                **cycle.cycle_figures(),
                "objects_per_second": directory.objects / cycle.seconds,
                "export_concurrency": concurrency,
            },
            "scim_requests": {"total": cycle.total_requests, **cycle.requests},
            "engine_process_cpu": {
                **cycle.cpu_figures(created, "exported_object"),
                "target_process_ms_per_request": 1000 * cycle.target_cpu / max(cycle.total_requests, 1),
            },
            "memory": cycle.memory_figures(),
            "replay_all_requests": {
                **replay_figures(replay_all, cycle.seconds),
                "client_cpu_ms_per_exported_object": 1000 * replay_all.cpu_seconds / max(created, 1),
            },
            "replay_writes_only": replay_figures(replay_writes, cycle.seconds),
            "targets": {
                "engine_cpu_le_1ms_per_exported_object": ms_per_object <= 1.0,
                "end_to_end_within_1_5x_of_replay": cycle.seconds / replay_all.seconds <= 1.5,
            },
        },
    )


if __name__ == "__main__":
    main()
