"""API-driven inbound provisioning: ingestion throughput from bulkUpload's 202 to the directory.

    .venv/bin/python bench/bulk_upload.py                    # 2,000 records in 40 uploads of 50
    .venv/bin/python bench/bulk_upload.py --records 10000    # paced by the 40-per-5-s rate limit
    .venv/bin/python bench/bulk_upload.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Setup: provisiond's API and scheduler in this process with default settings (bench/common.py);
an application with an API2AAD job, started, through the Graph API. Records are complete HR
users (core + enterprise, every tenth one names the previous tenth as manager, so manager
links are resolved too), sent as BulkRequests of 50 operations one after the other from one
client with an app token holding SynchronizationData-User.Upload; a 429 is honoured by
waiting its Retry-After.
Measured:
- upload: requests, wall time from the first request to the last 202, p50/p95 request latency,
  429s received;
- ingestion: records/s from the first 202 to the moment every record is a directory user (by
  employeeId) with its manager linked and nothing is left staged; the number of inbound cycles
  that took (provisioning log cycle ids);
- CPU ms per record of this process (API, scheduler and the uploading client) from the first
  request to the end, peak RSS.
Results: printed, and written to bench/results/bulk_upload.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import httpx
from common import (
    add_common_arguments,
    command_line,
    environment,
    peak_rss_mb,
    percentile,
    process_cpu_seconds,
    provisiond,
    report,
    reset_peak_rss,
    wait_for,
)
from sqlalchemy import func, select

from provisiond.api.auth import mint_token
from provisiond.store.tables import inbound_records, provisioning_logs, users

CUSTOM_SCIM_APP_TEMPLATE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def record(index: int) -> dict[str, Any]:
    external_id = f"HR{index:07d}"
    enterprise: dict[str, Any] = {
        "employeeNumber": external_id,
        "costCenter": str(4000 + index % 50),
        "organization": "Contoso",
        "division": f"Division {index % 7}",
        "department": f"Department {index % 40}",
    }
    if index % 10 == 0 and index >= 10:
        enterprise["manager"] = {"value": f"HR{index - 10:07d}"}
    return {
        "method": "POST",
        "bulkId": external_id,
        "path": "/Users",
        "data": {
            "schemas": [CORE, ENTERPRISE],
            "externalId": external_id,
            "userName": f"worker{index}@contoso.example",
            "name": {"givenName": f"Given{index}", "familyName": f"Family{index}"},
            "displayName": f"Worker {index}",
            "emails": [{"value": f"worker{index}@contoso.example", "type": "work", "primary": True}],
            "addresses": [{"type": "work", "locality": "Redmond", "region": "WA", "country": "US"}],
            "phoneNumbers": [{"value": f"+1 425 555 {index % 10000:04d}", "type": "work"}],
            "userType": "Employee",
            "title": "Engineer",
            "preferredLanguage": "en-US",
            "active": True,
            ENTERPRISE: enterprise,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50, help="operations per upload (at most 50)")
    add_common_arguments(parser)
    args = parser.parse_args()

    with provisiond(args.database_url) as service:
        admin = service.client
        created = admin.post(
            f"/applicationTemplates/{CUSTOM_SCIM_APP_TEMPLATE}/instantiate",
            json={"displayName": "HR inbound"},
        ).json()
        sp_id = created["servicePrincipal"]["id"]
        job = admin.post(
            f"/servicePrincipals/{sp_id}/synchronization/jobs", json={"templateId": "API2AAD"}
        ).json()
        job_url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{job['id']}"
        assert admin.post(f"{job_url}/start").status_code == 204
        token = mint_token(service.settings, roles=["SynchronizationData-User.Upload"])
        bodies = [
            json.dumps(
                {
                    "schemas": [BULK_REQUEST],
                    "Operations": [record(i) for i in range(start, min(start + args.batch, args.records))],
                    "failOnErrors": None,
                }
            ).encode()
            for start in range(0, args.records, args.batch)
        ]

        def directory_counts() -> tuple[int, int, int]:
            with service.db.read() as conn:
                people = conn.execute(
                    select(func.count()).select_from(users).where(users.c.employee_id.like("HR%"))
                ).scalar_one()
                managed = conn.execute(
                    select(func.count())
                    .select_from(users)
                    .where(users.c.employee_id.like("HR%"), users.c.manager_id.is_not(None))
                ).scalar_one()
                staged = conn.execute(
                    select(func.count())
                    .select_from(inbound_records)
                    .where(inbound_records.c.job_id == job["id"])
                ).scalar_one()
            return int(people), int(managed), int(staged)

        expected_managers = len([i for i in range(10, args.records, 10)])
        reset = reset_peak_rss()
        cpu_before = process_cpu_seconds(os.getpid())
        latencies: list[float] = []
        throttled = 0
        first_accepted: float | None = None
        with httpx.Client(
            base_url=f"{service.url}/v1.0",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
            timeout=60,
        ) as uploader:
            started = time.perf_counter()
            for body in bodies:
                while True:
                    sent = time.perf_counter()
                    response = uploader.post(f"{job_url}/bulkUpload", content=body)
                    latencies.append(time.perf_counter() - sent)
                    if response.status_code != 429:
                        break
                    throttled += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                if response.status_code != 202:
                    raise SystemExit(f"upload refused: {response.status_code} {response.text}")
                if first_accepted is None:
                    first_accepted = time.perf_counter()
            uploaded = time.perf_counter()
        assert first_accepted is not None
        wait_for(
            lambda: directory_counts() == (args.records, expected_managers, 0),
            max(120.0, args.records / 20),
            "every record in the directory",
            interval=0.05,
        )
        done = time.perf_counter()
        cpu = process_cpu_seconds(os.getpid()) - cpu_before
        with service.db.read() as conn:
            cycles = conn.execute(
                select(func.count(func.distinct(provisioning_logs.c.cycle_id))).where(
                    provisioning_logs.c.job_id == job["id"]
                )
            ).scalar_one()
            failures = conn.execute(
                select(func.count())
                .select_from(provisioning_logs)
                .where(provisioning_logs.c.job_id == job["id"], provisioning_logs.c.status == "failure")
            ).scalar_one()
        status = admin.get(job_url).json()["status"]

    ingest_seconds = done - first_accepted
    report(
        "bulk_upload",
        command_line(),
        {
            "environment": environment(args.database_url),
            "records": args.records,
            "uploads": len(bodies),
            "operations_per_upload": args.batch,
            "upload": {
                "seconds_first_request_to_last_202": uploaded - started,
                "requests_per_second": len(latencies) / (uploaded - started),
                "latency_ms_p50": percentile(latencies, 0.5) * 1000,
                "latency_ms_p95": percentile(latencies, 0.95) * 1000,
                "throttled_429": throttled,
            },
            "ingestion": {
                "seconds_first_202_to_all_in_directory": ingest_seconds,
                "records_per_second": args.records / ingest_seconds,
                "inbound_cycles": int(cycles),
                "failed_records": int(failures),
                "managers_linked": expected_managers,
                "last_execution_state": status["lastExecution"]["state"]
                if status.get("lastExecution")
                else None,
            },
            "engine_process_cpu": {
                "seconds": cpu,
                "ms_per_record": cpu * 1000 / args.records,
            },
            "memory": {"peak_rss_mb": peak_rss_mb() if reset else None},
        },
    )


if __name__ == "__main__":
    main()
