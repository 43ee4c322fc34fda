"""Relationship reads over a large directory, through the API, against floors in the same run.

    .venv/bin/python bench/relationships.py [--groups 100] [--members 1000] [--runs 20] [--database-url URL]

Seeds `--groups` groups of `--members` users each (distinct users) and one group holding all of
those groups, in bulk through the store's tables (then ANALYZE on PostgreSQL, as autovacuum
would after a bulk load). Then measures, median and p95 of `--runs`
requests after one warm-up:

- `GET /groups?$expand=members($select=id)&$top=100`: one page of groups with up to 20 members
  each. Floors: the same repository reads run directly (no HTTP, no shaping), and what a client
  does without `$expand`: `GET /groups?$top=100` then `GET /groups/{id}/members?$top=20` for each.
- `GET /groups/{all}/transitiveMembers?$top=100`, the first page and a page from the middle
  (by `$skiptoken`): a recursive query over every group and member below, which each page
  evaluates again. Floor: `store.directory.transitive_members` run directly.

Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from common import provisiond, report, seed_directory, timed

from provisiond.api.auth import mint_token
from provisiond.graph.odata import encode_skiptoken
from provisiond.store import directory as repo
from provisiond.store.tables import group_members, groups, users


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with provisiond(args.database_url) as service:
        began = time.perf_counter()
        directory = seed_directory(service.db, args.groups * args.members, args.groups, args.members)
        top = str(uuid.uuid4())
        with service.db.transaction() as conn:
            conn.execute(
                groups.insert(),
                {
                    "id": top,
                    "display_name": "All groups",
                    "description": None,
                    "mail_nickname": "all",
                    "mail": None,
                    "mail_enabled": False,
                    "security_enabled": True,
                    "group_types": [],
                    "created_date_time": datetime.now(UTC),
                    "deleted_date_time": None,
                },
            )
            conn.execute(
                group_members.insert(),
                [{"group_id": top, "member_id": g, "member_type": "group"} for g in directory.group_ids],
            )
        if service.db.is_postgresql:
            # What autovacuum would have done after a bulk load: plans are chosen on statistics.
            with service.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        seeded = time.perf_counter() - began
        print(f"seeded {args.groups} groups of {args.members} in {seeded:.1f} s", flush=True)
        token = mint_token(service.settings, scopes=["Directory.Read.All"])
        client = httpx.Client(
            base_url=f"{service.url}/v1.0", headers={"Authorization": f"Bearer {token}"}, timeout=300
        )
        figures: dict[str, Any] = {
            "database": "postgresql" if args.database_url else "sqlite",
            "groups": args.groups,
            "members_per_group": args.members,
            "seed_seconds": round(seeded, 1),
            "runs": args.runs,
        }

        def expand_page() -> int:
            response = client.get("/groups", params={"$expand": "members($select=id)", "$top": "100"})
            response.raise_for_status()
            return sum(len(g["members"]) for g in response.json()["value"])

        def two_calls() -> int:
            page = client.get("/groups", params={"$top": "100"})
            page.raise_for_status()
            total = 0
            for group in page.json()["value"]:
                members = client.get(f"/groups/{group['id']}/members", params={"$top": "20"})
                members.raise_for_status()
                total += len(members.json()["value"])
            return total

        page_ids = sorted([*directory.group_ids, top])[:100]

        def expand_floor() -> int:
            with service.db.read() as conn:
                repo.page(conn, groups, after_id=None, limit=100, deleted=False)
                refs = [repo.first_live_members(conn, g, 20) for g in page_ids]
                found = [repo.by_ids(conn, users, [m for m, _ in r]) for r in refs]
            return sum(len(f) for f in found)

        counted = expand_page()
        figures["$expand=members, one page of 100 groups"] = {
            "members_returned": counted,
            "api": timed(expand_page, args.runs),
            "floor: the same reads, direct": timed(expand_floor, args.runs),
            "without $expand: 1 + 100 requests": timed(two_calls, max(3, args.runs // 4)),
        }
        print(figures["$expand=members, one page of 100 groups"], flush=True)

        everyone = sorted([*directory.group_ids, *directory.user_ids])
        middle = everyone[len(everyone) // 2]
        for name, after in (("first page", None), ("a middle page", middle)):
            params = {"$top": "100"}
            if after is not None:
                params["$skiptoken"] = encode_skiptoken([after])

            def api(params: dict[str, str] = params) -> int:
                response = client.get(f"/groups/{top}/transitiveMembers", params=params)
                response.raise_for_status()
                return len(response.json()["value"])

            def floor(after: str | None = after) -> int:
                with service.db.read() as conn:
                    return len(repo.transitive_members(conn, top, 100, after=after))

            figures[f"transitiveMembers, {name}"] = {
                "returned": api(),
                "reachable": len(everyone),
                "api": timed(api, args.runs),
                "floor: the recursive query, direct": timed(floor, args.runs),
            }
            print(name, figures[f"transitiveMembers, {name}"], flush=True)
        client.close()
    report(
        f"relationships_{figures['database']}", "bench/relationships.py " + " ".join(sys.argv[1:]), figures
    )


if __name__ == "__main__":
    main()
