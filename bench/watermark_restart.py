"""A restart over a directory at steady state: unchanged objects/s and SCIM writes.

    .venv/bin/python bench/watermark_restart.py                  # 100,000 users, 100 groups of 50
    .venv/bin/python bench/watermark_restart.py --users 20000
    .venv/bin/python bench/watermark_restart.py --reset-scope ConnectorDataStore  # re-match everything
    .venv/bin/python bench/watermark_restart.py --preseed target # the engine matches everything itself
    .venv/bin/python bench/watermark_restart.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Setup: the SCIM target (bench/scim_target.py) in its own process; provisiond's API and
scheduler in this process with default settings; the directory written in bulk through the
store layer; the app, job and secrets (SyncAll true) through the Graph API. To reach steady
state quickly on a large directory, the target is pre-seeded with the resources the engine
would create (built by the engine's own mapping and request shapes) and, by default
(`--preseed cds`), the connector data store with the links the engine would record; the
engine's first cycle then passes over every object itself (correcting any difference and
adding the group members), and the job is idle and caught up before the measurement.
Measured: `POST .../restart {"criteria": {"resetScope": "Watermark"}}` (or `--reset-scope`) and
the full pass it causes, which must import every object and write nothing (a ConnectorDataStore
reset also queries the target once per object to match it again, and reads each group's members):
- unchanged objects/s: countImported / the cycle's duration (status timeBegan → timeEnded);
- SCIM writes the target served during that cycle (must be 0), and its GETs;
- engine CPU ms per object (this process's CPU minus the idle baseline), peak RSS (VmHWM reset
  just before the cycle).
Results: printed, and written to bench/results/watermark_restart.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from common import (
    add_common_arguments,
    add_preseed_argument,
    command_line,
    create_job,
    environment,
    measure_cycle,
    provisiond,
    reach_steady_state,
    report,
    scim_target,
    seed_directory,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=50, help="members per group")
    parser.add_argument(
        "--reset-scope", default="Watermark", help="the restart's resetScope (every one is a full pass)"
    )
    add_preseed_argument(parser, "cds")
    add_common_arguments(parser)
    args = parser.parse_args()

    with scim_target() as target, provisiond(args.database_url) as service:
        seeded = time.perf_counter()
        directory = seed_directory(service.db, args.users, args.groups, args.members)
        seeded = time.perf_counter() - seeded
        job = create_job(service, target)
        steady = reach_steady_state(job, target, directory, args.preseed)
        cycle = measure_cycle(job, target, partial(job.restart, args.reset_scope), args.profile)

    imported = int(cycle.execution["countImported"])
    report(
        "watermark_restart" if args.reset_scope == "Watermark" else f"restart_{args.reset_scope}",
        command_line(),
        {
            "environment": environment(args.database_url),
            "directory": {
                "users": args.users,
                "groups": args.groups,
                "members_per_group": args.members,
                "seed_seconds": seeded,
            },
            "steady_state": steady,
            "reset_scope": args.reset_scope,
            "restart_cycle": {
                **cycle.cycle_figures(),
                "unchanged_objects_per_second": imported / cycle.seconds,
                "all_objects_imported": imported == directory.objects,
            },
            "scim_requests": {"writes": cycle.writes, **cycle.requests},
            "engine_process_cpu": cycle.cpu_figures(imported, "object"),
            "memory": cycle.memory_figures(),
            "targets": {
                "scim_writes_eq_0": cycle.writes == 0,
                "ge_20000_unchanged_objects_per_second": imported / cycle.seconds >= 20_000,
                "peak_rss_le_400mb": cycle.peak_rss is not None and cycle.peak_rss <= 400,
            },
        },
    )


if __name__ == "__main__":
    main()
