"""Which jobs a directory change wakes: only those whose scope it can touch.

A cycle is brought forward (to about a second after the change) for a job when one of the
changes after its watermark
- is an app role assignment to or from the job's service principal (its scope changed), or a
  change of that service principal;
- is a change of a user or group that is assigned to the job's service principal, directly or
  through a group it is a direct member of (so a group's membership change counts when the
  group is assigned), or of the new manager a `managerChanged` names;
- is a change of a user or group the job manages (its connector data store holds it: a deleted
  or unassigned object still has to be disabled or deleted in the app);
- is any user or group change, when the job syncs all users and groups (`SyncAll`): then every
  object is in scope.

The change log does not record which attributes changed, so a job whose scoping filter does
not read the changed attribute still wakes when the object is in its scope: the cycle then
finds nothing to export, at the cost of one read. Everything else (a change that touches no
job's scope) waits for the interval heartbeat, which reconciles every job whatever happened.
When more changes arrived than one look can weigh (`MAX_CHANGES`), every job behind the log
is woken, as before this rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from provisiond.store import changelog
from provisiond.store import wakeups as store

MAX_CHANGES = 5000

DIRECTORY_OBJECTS = ("user", "group")


def jobs_to_wake(
    conn: Connection,
    after: int,
    head: int,
    jobs: Mapping[str, tuple[str, int]],
    sync_all: Callable[[str], bool],
) -> set[str]:
    """The jobs among `jobs` (job id -> service principal id, watermark) that the changes in
    (after, head] can touch; each job weighs only the changes past its own watermark."""
    if not jobs:
        return set()
    start = max(after, min(watermark for _, watermark in jobs.values()))
    changes = changelog.changes_after(conn, start, limit=MAX_CHANGES + 1)
    changes = [c for c in changes if c.seq <= head]
    if len(changes) > MAX_CHANGES:
        return set(jobs)
    woken: set[str] = set()
    # Jobs that weigh the same changes (usually all: their watermarks are behind `after`) are
    # judged together, with one read of each kind.
    by_start: dict[int, list[str]] = {}
    for job_id, (_, watermark) in jobs.items():
        by_start.setdefault(max(after, watermark), []).append(job_id)
    for begin, job_ids in by_start.items():
        batch = [c for c in changes if c.seq > begin]
        if batch:
            woken |= _touched(conn, {j: jobs[j][0] for j in job_ids}, batch, sync_all)
    return woken


def _touched(
    conn: Connection, jobs: Mapping[str, str], changes: Sequence[Any], sync_all: Callable[[str], bool]
) -> set[str]:
    """Which of these jobs (job id -> service principal id) the changes touch."""
    principals: set[str] = set()  # service principals whose assignments or selves changed
    ids: set[str] = set()  # users and groups that changed
    for change in changes:
        if change.object_type == "appRoleAssignment" and change.related_id:
            principals.add(change.related_id)
        elif change.object_type == "servicePrincipal":
            principals.add(change.object_id)
        elif change.object_type in DIRECTORY_OBJECTS:
            ids.add(change.object_id)
            if change.object_type == "user" and change.related_id:
                ids.add(change.related_id)  # the new manager of a managerChanged
    woken = {job_id for job_id, sp_id in jobs.items() if sp_id in principals}
    if not ids:
        return woken
    principals |= store.assigned_resources(conn, ids)
    woken |= {job_id for job_id, sp_id in jobs.items() if sp_id in principals}
    rest = [job_id for job_id in jobs if job_id not in woken]
    woken |= store.jobs_managing(conn, rest, ids)
    woken |= {job_id for job_id in rest if job_id not in woken and sync_all(jobs[job_id])}
    return woken
