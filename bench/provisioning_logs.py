"""Filtered provisioning-log queries over a large log, through the API, against a SQL floor.

    .venv/bin/python bench/provisioning_logs.py [--entries 1000000] [--runs 30] [--database-url URL]

Writes `--entries` provisioningObjectSummary rows in bulk through the store's table (as the
engine's `logs_insert` writes them; 20 jobs on 4 service principals, 500 cycles, a million
distinct users' display names, one in 50 a failure, one in 1,000 provisioned on demand by one
of 10 administrators), then for each query measures `--runs`
requests `GET /v1.0/auditLogs/provisioning?$filter=...&$top=50&$orderby=...` (after one warm-up)
and, as the floor, the same repository SQL (`store.provisioning_logs.page`, the very statement
the API runs, with the parsed filter) executed directly on the database; plus a bare
`SELECT * ... ORDER BY activity_date_time DESC LIMIT 50`. Prints median and p95 of each and the
ratio API / floor. On a temporary SQLite file by default, on a fresh PostgreSQL database with
`--database-url`. Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from common import _batches, provisiond, report, timed
from sqlalchemy import select

from provisiond.api.auth import mint_token
from provisiond.api.routes.provisioning_logs import SPEC
from provisiond.domain.provisioning_log import LogStep, PropertyChange, StepKind
from provisiond.graph.odata import parse_filter
from provisiond.store import provisioning_logs as repo
from provisiond.store.tables import provisioning_logs, service_principals

START = datetime(2026, 11, 1, tzinfo=UTC)
SERVICE_PRINCIPALS = 4
JOBS = 20
CYCLES = 500
STEPS = [
    LogStep("EntryImport", StepKind.Import, "success", "Retrieved User from Azure Active Directory"),
    LogStep("EntryExportUpdate", StepKind.Export, "success", "User was updated in customappsso"),
]


def seed(db: Any, entries: int) -> dict[str, Any]:
    sps = [
        {
            "id": str(uuid.uuid4()),
            "app_id": str(uuid.uuid4()),
            "display_name": f"App {n}",
            "service_principal_type": "Application",
            "account_enabled": True,
            "app_role_assignment_required": False,
            "tags": [],
            "created_date_time": START,
        }
        for n in range(SERVICE_PRINCIPALS)
    ]
    jobs = [f"scim.{uuid.UUID(sps[j % SERVICE_PRINCIPALS]['id']).hex}.{uuid.uuid4()}" for j in range(JOBS)]
    step = timedelta(seconds=30 * 24 * 3600 / entries)  # a month of entries

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(entries):
            job = n % JOBS
            failed = n % 50 == 0
            # One entry in 1,000 is provision on demand by one of 10 administrators.
            initiator = (
                (str(uuid.UUID(int=n // 1000 % 10 + 1)), f"Admin {n // 1000 % 10}", "user")
                if n % 1000 == 0
                else ("", "Azure AD Provisioning Service", "system")
            )
            yield {
                "id": str(uuid.UUID(int=n + 1)),
                "job_id": jobs[job],
                "service_principal_id": sps[job % SERVICE_PRINCIPALS]["id"],
                "cycle_id": f"cycle-{job}-{n * CYCLES // entries}",
                "change_id": str(uuid.UUID(int=entries + n + 1)),
                "activity_date_time": START + step * n,
                "duration_ms": n % 1000,
                "action": ("create", "update", "disable")[n % 3],
                "status": "failure" if failed else "success",
                "error_code": "InternalServerError" if failed else None,
                "error_reason": "boom" if failed else None,
                "error_category": "NonServiceFailure" if failed else None,
                "source_id": str(uuid.UUID(int=2 * entries + n + 1)),
                "source_type": "User",
                "source_display_name": f"user{n}@contoso.example",
                "target_id": f"t{n}",
                "target_type": "urn:ietf:params:scim:schemas:core:2.0:User",
                "target_display_name": f"user{n}@contoso.example",
                "steps": STEPS,
                "modified_properties": [PropertyChange("title", None, "Engineer")],
                "initiated_by_id": initiator[0],
                "initiated_by_display_name": initiator[1],
                "initiated_by_type": initiator[2],
            }

    began = time.perf_counter()
    with db.transaction() as conn:
        conn.execute(service_principals.insert(), sps)
    for batch in _batches(rows()):
        with db.transaction() as conn:
            conn.execute(provisioning_logs.insert(), batch)
    return {"jobs": jobs, "seconds": time.perf_counter() - began, "step": step}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with provisiond(args.database_url) as service:
        seeded = seed(service.db, args.entries)
        print(f"seeded {args.entries} entries in {seeded['seconds']:.1f} s", flush=True)
        token = mint_token(service.settings, scopes=["AuditLog.Read.All"])
        client = httpx.Client(
            base_url=f"{service.url}/v1.0", headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        middle = START + seeded["step"] * (args.entries // 2)
        day = middle.date().isoformat()
        queries = {
            "jobId eq": (f"jobId eq '{seeded['jobs'][3]}'", "activityDateTime desc"),
            "sourceIdentity/displayName eq": (
                f"sourceIdentity/displayName eq 'user{args.entries // 3}@contoso.example'",
                "activityDateTime desc",
            ),
            "initiatedBy/displayName eq": ("initiatedBy/displayName eq 'Admin 3'", "activityDateTime desc"),
            "contains(sourceIdentity/displayName)": (
                "contains(sourceIdentity/displayName,'99999@')",
                "activityDateTime desc",
            ),
            "activityDateTime ge day and status eq failure": (
                f"activityDateTime ge {day} and statusInfo/status eq 'failure'",
                "activityDateTime asc",
            ),
            "jobId eq and activityDateTime ge, asc": (
                f"jobId eq '{seeded['jobs'][7]}' and activityDateTime ge {day}",
                "activityDateTime asc",
            ),
        }
        figures: dict[str, Any] = {
            "database": "postgresql" if args.database_url else "sqlite",
            "entries": args.entries,
            "seed_seconds": round(seeded["seconds"], 1),
            "runs": args.runs,
        }
        with service.db.read() as conn:
            t = provisioning_logs
            bare = timed(
                lambda: conn.execute(select(t).order_by(t.c.activity_date_time.desc()).limit(50)).all(),
                args.runs,
            )
        figures["bare SELECT ... LIMIT 50"] = bare
        results: dict[str, Any] = {}
        for name, (filter, orderby) in queries.items():
            node = parse_filter(filter, SPEC)
            descending = orderby.endswith("desc")
            params = {"$filter": filter, "$top": "50", "$orderby": orderby}

            def api(params: dict[str, str] = params) -> int:
                response = client.get("/auditLogs/provisioning", params=params)
                response.raise_for_status()
                return len(response.json()["value"])

            def floor(node: Any = node, descending: bool = descending) -> int:
                with service.db.read() as conn:
                    return len(repo.page(conn, node, None, 51, descending=descending))

            count = api()
            api_times, floor_times = timed(api, args.runs), timed(floor, args.runs)
            results[name] = {
                "filter": filter,
                "orderby": orderby,
                "returned": count,
                "api": api_times,
                "floor (same SQL, direct)": floor_times,
                "ratio api/floor (median)": round(
                    api_times["median_ms"] / max(floor_times["median_ms"], 0.01), 2
                ),
            }
            print(f"{name}: api {api_times} floor {floor_times}", flush=True)
        figures["queries"] = results
        client.close()
    command = "bench/provisioning_logs.py " + " ".join(sys.argv[1:])
    report(f"provisioning_logs_{figures['database']}", command, figures)


if __name__ == "__main__":
    main()
