"""What a preview costs, against the real cycle it previews (the floor, measured in the same run).

    .venv/bin/python bench/preview.py                      # 10,000 and 100,000 users, 100 groups of 50
    .venv/bin/python bench/preview.py --users 10000
    .venv/bin/python bench/preview.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Setup per size (as bench/watermark_restart.py): the SCIM target in its own process; provisiond's
API and scheduler in this process; the directory written in bulk; the app, job and secrets
(SyncAll true) through the Graph API; the target and the connector data store pre-seeded and
the engine's own first cycle run, so the job is at steady state.

Measured, one after the other on the same state:
1. `POST .../preview {"criteria": {"resetScope": "Watermark"}}` with `Prefer: respond-async`,
   polled until it succeeds: its duration (createdDateTime → completedDateTime), this process's
   CPU minus the idle baseline, peak RSS (VmHWM reset just before), the SCIM requests (writes
   must be 0) and the counts (every object unchanged);
2. a preview of a schema change that updates every user (a constant title), which lists one
   planned action per user (the heaviest output a preview writes);
3. the floor: the real restart with the same resetScope and the full pass it causes (the same
   import, scope, map and decisions, with the engine's real state and logs).
Ratios: preview seconds / restart-cycle seconds, and the same for net CPU.
Results: printed, and written to bench/results/preview.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import copy
import time
from datetime import datetime
from functools import partial
from typing import Any

from common import (
    Job,
    Meter,
    TargetProcess,
    add_common_arguments,
    command_line,
    create_job,
    environment,
    measure_cycle,
    peak_rss_mb,
    provisiond,
    reach_steady_state,
    report,
    reset_peak_rss,
    rss_mb,
    scim_target,
    seed_directory,
    wait_for,
)


def _seconds(preview: dict[str, Any]) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(preview["completedDateTime"]) - parse(preview["createdDateTime"])).total_seconds()


def run_preview(job: Job, target: TargetProcess, body: dict[str, Any]) -> dict[str, Any]:
    """One background preview, measured as `measure_cycle` measures a cycle."""
    meter = Meter()
    meter.measure_idle(job)
    target.reset_counts()
    rss_before = rss_mb()
    peak_reset = reset_peak_rss()
    client = job.service.client
    meter.begin()
    response = client.post(f"{job.url}/preview", json=body, headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    location = response.headers["Location"]

    def done() -> dict[str, Any] | None:
        state = client.get(location).json()
        return state if state["status"] != "running" else None

    result = wait_for(done, 3600, "the preview", interval=0.2)
    span = meter.end()
    assert result["status"] == "succeeded", result
    requests = target.requests()
    actions = client.get(f"{location}/actions?$top=1").json()["value"]
    return {
        "seconds": _seconds(result),
        "wall_seconds_request_to_seen": span.wall,
        "net_cpu_seconds": span.net_cpu,
        "scim_writes": sum(n for method, n in requests.items() if method != "GET"),
        "scim_requests": requests,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb() if peak_reset else None,
        "counts": {
            c["objectType"]: {k: v for k, v in c.items() if v and k != "objectType"} for c in result["counts"]
        },
        "first_action": actions[0] if actions else None,
    }


def schema_setting_title(job: Job) -> dict[str, Any]:
    schema = copy.deepcopy(job.service.client.get(f"{job.url}/schema").json())
    for rule in schema["synchronizationRules"]:
        for mapping in rule["objectMappings"]:
            for attribute in mapping["attributeMappings"]:
                if attribute["targetAttributeName"] == "title":
                    attribute["source"] = {
                        "expression": '"Staff"',
                        "name": "Staff",
                        "type": "Constant",
                        "parameters": [],
                    }
                    attribute["flowBehavior"] = "FlowAlways"
    return schema


def measure_size(args: argparse.Namespace, users: int) -> dict[str, Any]:
    with scim_target() as target, provisiond(args.database_url) as service:
        directory = seed_directory(service.db, users, args.groups, args.members)
        job = create_job(service, target)
        steady = reach_steady_state(job, target, directory, "cds")
        job.pause()
        restart_preview = run_preview(job, target, {"criteria": {"resetScope": "Watermark"}})
        schema_preview = run_preview(job, target, {"schema": schema_setting_title(job)})
        job.start()
        job.wait_idle()
        cycle = measure_cycle(job, target, partial(job.restart, "Watermark"), None)
    floor = {
        **cycle.cycle_figures(),
        "net_cpu_seconds": cycle.span.net_cpu,
        "scim_writes": cycle.writes,
        "peak_rss_mb": cycle.peak_rss,
    }
    return {
        "users": users,
        "objects": directory.objects,
        "steady_state": steady,
        "preview_restart_watermark": restart_preview,
        "preview_schema_change": schema_preview,
        "floor_restart_cycle": floor,
        "ratios": {
            "restart_preview_over_cycle_seconds": restart_preview["seconds"] / cycle.seconds,
            "restart_preview_over_cycle_net_cpu": restart_preview["net_cpu_seconds"]
            / max(cycle.span.net_cpu, 1e-9),
            "schema_preview_over_cycle_seconds": schema_preview["seconds"] / cycle.seconds,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=50, help="members per group")
    add_common_arguments(parser)
    args = parser.parse_args()
    began = time.perf_counter()
    sizes = [measure_size(args, n) for n in args.users]
    for size in sizes:
        r, s, f = (
            size["preview_restart_watermark"],
            size["preview_schema_change"],
            size["floor_restart_cycle"],
        )
        print(
            f"{size['users']:>7} users: restart preview {r['seconds']:.1f} s ({r['net_cpu_seconds']:.1f} s CPU, "
            f"peak {r['peak_rss_mb']} MB, {r['scim_writes']} SCIM writes); schema preview {s['seconds']:.1f} s; "
            f"real restart cycle {f['seconds']:.1f} s ({f['net_cpu_seconds']:.1f} s CPU); "
            f"ratio {size['ratios']['restart_preview_over_cycle_seconds']:.2f}"
        )
    report(
        "preview",
        command_line(),
        {
            "environment": environment(args.database_url),
            "bench_seconds": time.perf_counter() - began,
            "sizes": sizes,
        },
    )


if __name__ == "__main__":
    main()
