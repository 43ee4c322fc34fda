"""Incremental cycles: their cost for 100 changes as the directory grows, and change-to-target
latency.

    .venv/bin/python bench/incremental.py                        # 1,000 vs 100,000 users
    .venv/bin/python bench/incremental.py --sizes 1000 20000 --samples 20
    .venv/bin/python bench/incremental.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

For each directory size (users; plus 100 groups of 50 members): the SCIM target
(bench/scim_target.py) in its own process, provisiond's API and scheduler in this process
with default settings (1 s scheduler tick, 0.5 s debounce), the directory written in bulk
through the store layer, the job created through the Graph API and brought to steady state
as in watermark_restart.py (target and connector data store pre-seeded, then the engine's own
first cycle over everything). Then:
- incremental cycle time: `--rounds` times, the job is paused, `--changes` distinct users
  (random) get a new jobTitle through the Graph API (PATCH /users/{id}), and the job is
  started; the resulting incremental cycle's duration (status timeBegan → timeEnded) and
  SCIM writes are recorded. The figure is the median over rounds, and the ratio is largest
  size / smallest size (flat cost: ≤ 1.5);
- change-to-target latency (largest size only, unless --latency-all-sizes): `--samples`
  times, a user's jobTitle is changed through the Graph API while the job runs, and the
  target is polled (GET /Users?filter=userName eq "...", every 20 ms) until it shows the new
  title; the time from before the PATCH to the first poll that sees it. p50 and p95.
- cycles per change (`--fanout-jobs`, default 1 and 20 jobs): a fresh service per count, a
  directory of `--fanout-users` users in groups of 50, N jobs (SyncAll off) each with one group
  assigned, all past their initial cycle; then `--fanout-changes` times one user of the first
  job's group gets a new jobTitle (PATCH /users/{id}), and after `--fanout-window` seconds
  (debounce 0.5 s + tick 1 s + the cycle) the jobs whose last cycle began since are counted.
  Only the first job's scope holds the user, so 1 is the figure to expect whatever N is.
Results: printed, and written to bench/results/incremental.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from common import (
    Directory,
    Job,
    TargetProcess,
    add_common_arguments,
    add_preseed_argument,
    command_line,
    create_job,
    environment,
    measure_cycle,
    percentile,
    provisiond,
    reach_steady_state,
    report,
    scim_target,
    seed_directory,
    wait_for,
)

POLL_SECONDS = 0.02


def change_title(job: Job, user_id: str, title: str) -> None:
    response = job.service.client.patch(f"/users/{user_id}", json={"jobTitle": title})
    if response.status_code != 204:
        raise RuntimeError(f"PATCH /users: {response.status_code} {response.text}")


def incremental_round(
    job: Job, target: TargetProcess, directory: Directory, indexes: list[int], label: str, args: Any
) -> dict[str, Any]:
    job.pause()
    for index in indexes:
        change_title(job, directory.user_ids[index], label)
    cycle = measure_cycle(job, target, job.start, args.profile)
    job.wait_idle()
    return {
        "seconds": cycle.seconds,
        "countImportedDeltas": cycle.execution["countImportedDeltas"],
        "countImported": cycle.execution["countImported"],
        "countExported": cycle.execution["countExported"],
        "scim_writes": cycle.writes,
        "engine_net_cpu_seconds": cycle.span.net_cpu,
        "peak_rss_during_cycle_mb": cycle.peak_rss,
    }


def latency_sample(
    job: Job, target: TargetProcess, directory: Directory, index: int, title: str
) -> tuple[float, float]:
    """(change-to-target latency, the observer's own warm-up query time)."""
    user_name = Directory.upn(index)
    with target.client() as scim:

        def visible() -> bool:
            response = scim.get("/Users", params={"filter": f'userName eq "{user_name}"'})
            response.raise_for_status()
            found = response.json().get("Resources") or []
            return bool(found) and found[0].get("title") == title

        # The observer's first query can be slow on a large target (its own warm-up, not the
        # engine's): ask once before the clock starts.
        warm = time.perf_counter()
        visible()
        warm_up = time.perf_counter() - warm
        began = time.perf_counter()
        change_title(job, directory.user_ids[index], title)
        wait_for(visible, 120, f"{user_name}'s new title in the target", interval=POLL_SECONDS)
        return time.perf_counter() - began, warm_up


def measure_size(users: int, args: argparse.Namespace, latency: bool) -> dict[str, Any]:
    rng = random.Random(users)
    with scim_target() as target, provisiond(args.database_url) as service:
        directory = seed_directory(service.db, users, args.groups, args.members)
        job = create_job(service, target)
        steady = reach_steady_state(job, target, directory, args.preseed)
        rounds = [
            incremental_round(
                job, target, directory, rng.sample(range(users), args.changes), f"Round {r}", args
            )
            for r in range(args.rounds)
        ]
        samples: list[float] = []
        warm_ups: list[float] = []
        if latency:
            for i, index in enumerate(rng.sample(range(users), args.samples)):
                sample, warm_up = latency_sample(job, target, directory, index, f"Latency {i}")
                samples.append(sample)
                warm_ups.append(warm_up)
                job.wait_idle()
    figures: dict[str, Any] = {
        "users": users,
        "steady_state": steady,
        "incremental_cycle_seconds_median": statistics.median(r["seconds"] for r in rounds),
        "rounds": rounds,
    }
    if samples:
        figures["change_to_target_latency"] = {
            "samples": len(samples),
            "p50_seconds": percentile(samples, 0.50),
            "p95_seconds": percentile(samples, 0.95),
            "max_seconds": max(samples),
            "samples_seconds": [round(s, 3) for s in samples],
            "observer_warm_up_query_seconds_first_and_max_of_rest": [
                round(warm_ups[0], 3),
                round(max(warm_ups[1:], default=0.0), 3),
            ],
            "target_met_p50_le_2s": percentile(samples, 0.50) <= 2.0,
        }
    return figures


def fanout(job_count: int, args: argparse.Namespace) -> dict[str, Any]:
    """Cycles started across `job_count` jobs by one change in the first job's scope."""
    members = 50
    with scim_target() as target, provisiond(args.database_url) as service:
        directory = seed_directory(service.db, args.fanout_users, job_count, members)
        client = service.client
        jobs: list[Job] = []
        for index in range(job_count):
            job = create_job(service, target)
            secrets = {"BaseAddress": target.url, "SecretToken": target.token, "SyncAll": "false"}
            client.put(
                f"/servicePrincipals/{job.sp_id}/synchronization/secrets",
                json={"value": [{"key": k, "value": v} for k, v in secrets.items()]},
            ).raise_for_status()
            client.post(
                f"/servicePrincipals/{job.sp_id}/appRoleAssignedTo",
                json={
                    "principalId": directory.group_ids[index],
                    "resourceId": job.sp_id,
                    "appRoleId": "00000000-0000-0000-0000-000000000000",
                },
            ).raise_for_status()
            job.start()
            jobs.append(job)

        def began(job: Job) -> str | None:
            # Through the Graph API: the wire shape, whatever the store keeps.
            response = client.get(job.url)
            response.raise_for_status()
            execution = response.json()["status"].get("lastExecution")
            return str(execution["timeBegan"]) if execution else None

        for job in jobs:
            wait_for(lambda job=job: began(job) is not None, 600, "the initial cycle")

        def quiet() -> bool:
            return all(not job.row()["lease_owner"] for job in jobs)

        time.sleep(args.fanout_window)  # whatever the set-up's own changes woke has run
        wait_for(quiet, 600, "every job to finish")
        counts: list[int] = []
        for change in range(args.fanout_changes):
            before = [began(job) for job in jobs]
            change_title(job=jobs[0], user_id=directory.user_ids[change % members], title=f"Fan-out {change}")
            time.sleep(args.fanout_window)
            wait_for(quiet, 600, "every job to finish")
            counts.append(sum(began(job) != previous for job, previous in zip(jobs, before, strict=True)))
    return {
        "jobs": job_count,
        "changes": len(counts),
        "cycles_per_change": statistics.mean(counts),
        "cycles_by_change": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 100_000], help="users in the directory"
    )
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=50, help="members per group")
    parser.add_argument("--changes", type=int, default=100, help="changed users per incremental cycle")
    parser.add_argument("--rounds", type=int, default=3, help="incremental cycles measured per size")
    parser.add_argument("--samples", type=int, default=50, help="change-to-target latency samples")
    parser.add_argument(
        "--latency-all-sizes", action="store_true", help="measure latency at every size, not only the largest"
    )
    parser.add_argument("--fanout-jobs", type=int, nargs="*", default=[1, 20], help="job counts; none: skip")
    parser.add_argument("--fanout-users", type=int, default=1000)
    parser.add_argument("--fanout-changes", type=int, default=5)
    parser.add_argument(
        "--fanout-window", type=float, default=3.0, help="seconds a change is given to wake jobs"
    )
    parser.add_argument("--skip-sizes", action="store_true", help="only the cycles-per-change figures")
    add_preseed_argument(parser, "cds")
    add_common_arguments(parser)
    args = parser.parse_args()

    fanouts = {str(n): fanout(n, args) for n in args.fanout_jobs}
    if args.skip_sizes:
        report(
            "incremental", command_line(), {"environment": environment(args.database_url), "fanout": fanouts}
        )
        return
    sizes = sorted(args.sizes)
    results = [measure_size(n, args, args.latency_all_sizes or n == sizes[-1]) for n in sizes]
    smallest, largest = results[0], results[-1]
    ratio = largest["incremental_cycle_seconds_median"] / smallest["incremental_cycle_seconds_median"]
    report(
        "incremental",
        command_line(),
        {
            "environment": environment(args.database_url),
            "changes_per_cycle": args.changes,
            "groups": args.groups,
            "members_per_group": args.members,
            "by_size": {str(r["users"]): r for r in results},
            f"ratio_{largest['users']}_over_{smallest['users']}": ratio,
            "fanout": fanouts,
            "targets": {
                "incremental_ratio_le_1_5": ratio <= 1.5,
                "change_to_target_p50_le_2s": all(
                    r["change_to_target_latency"]["target_met_p50_le_2s"]
                    for r in results
                    if "change_to_target_latency" in r
                ),
            },
        },
    )


if __name__ == "__main__":
    main()
