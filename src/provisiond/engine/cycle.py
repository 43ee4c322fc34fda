"""One cycle of one job: import, then scope/map/match/plan/export per object, then the
deletion guard and the staged disables and deletes, then status.

Its length is the pipeline's stages and their crash safety (guarded transactions, when the
watermark moves), which are checked best read in one place; one object's path is engine/objects.py.

Full passes stream every user, then every group, then resolve references, then sweep the
connector data store for objects gone from the directory: the initial cycle (no watermark)
and the cycle after any restart (an `initial_cursor` is set, whatever the resetScope kept;
DESIGN invariant 7). Incremental cycles read the change log after the watermark, plus escrows
that are due.

The deletion guard counts the disables and deletes exported over a rolling window (by default
the schedule interval) plus those this cycle plans, so deletes spread over many fast cycles are
stopped where one of Entra's 40-minute cycles would stop them (DESIGN invariant 8).

Nothing is lost (DESIGN invariant 1): outcomes are recorded in batches, each batch in one
transaction with the checkpoint it justifies (the initial cursor, or the watermark up to the
last change whose objects the batch covered). A crash redoes at most one batch, and a redo
is harmless because an unrecorded create is found again by matching.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from provisiond.clock import Clock
from provisiond.connectors import scim_requests as shapes
from provisiond.connectors.directory import DirectorySource
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.connectors.scim_client import ClientSettings, ScimClient, ScimError
from provisiond.engine import inbound
from provisiond.engine.context import CycleContext, CycleStopped, deletes_in_window, ensure_still_running
from provisiond.engine.logs import LogEntry, merge_records
from provisiond.engine.objects import GROUP, USER, ObjectProcessor, Outcome, PendingExport
from provisiond.engine.policy import MAX_DELETE_WINDOW, EngineSettings
from provisiond.engine.status import StatusWriter
from provisiond.graph.base import format_duration
from provisiond.mapping import expressions
from provisiond.mapping.flows import CompiledSchema, MappingError, compile_schema_once
from provisiond.store import engine_state as state
from provisiond.store.db import Database
from provisiond.store.engine_state import GenerationChanged

PAGE_SIZE = 2000  # objects per batch: each costs a few transactions, so fewer is faster
CHANGE_BATCH = 2000


class CycleProgress(Protocol):
    """Where a pass reports how far it got: the job's status (StatusWriter), or a preview's."""

    def progress(self, ctx: CycleContext) -> None: ...


@dataclass(frozen=True)
class JobSecrets:
    values: dict[str, str]

    @property
    def base_address(self) -> str | None:
        return self.values.get("BaseAddress") or None

    def flag(self, key: str) -> bool:
        return (self.values.get(key) or "").strip().lower() == "true"


class CycleRunner:
    """Runs cycles; one instance per process, shared by the scheduler's workers."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        secrets: Callable[[str], dict[str, str]],
        *,
        stopping: Callable[[], bool] = lambda: False,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
    ) -> None:
        self.db = db
        self.clock = clock
        self.source = DirectorySource(db)
        self.secrets = secrets
        self.stopping = stopping
        self.outbound = outbound  # the operator's PROVISIOND_OUTBOUND_ALLOW, for every SCIM client

    async def run(self, job: dict[str, Any], owner: str) -> None:
        if inbound.is_inbound(job):  # API2AAD: staged bulk uploads into the directory
            await inbound.InboundCycle(self.db, self.clock, self.secrets, self.stopping).run(job, owner)
            return
        status = StatusWriter(self.db, self.clock, job["id"], job["generation"], owner)
        began = self.clock.now()
        secrets = JobSecrets(self.secrets(job["service_principal_id"]))
        settings = EngineSettings.from_job(job["settings"], secrets.values, job["schedule_interval"])
        try:
            schema = compile_schema_once(job["schema"] or {})
        except MappingError as exc:
            status.finish_failed(began, "InvalidSchema", str(exc), settings)
            return
        if not secrets.base_address:
            status.finish_failed(
                began,
                "CredentialsMissing",
                "The BaseAddress secret (the SCIM endpoint) is not set.",
                settings,
            )
            return
        client = scim_client_for(secrets.base_address, secrets, settings, self.outbound)
        # The change-log head before the assignments are read: every change up to it is
        # committed, so the scope the cycle judges by already includes it (a head read after
        # would let the watermark pass an assignment the snapshot does not know of).
        head = self.source.last_seq()
        ctx = cycle_context(
            self.db, self.clock, self.source, job, secrets, schema, settings, client, owner=owner, began=began
        )
        try:
            status.began()
            if job["watermark"] is None or job["initial_cursor"] is not None:
                await self._initial(ctx, status, head)
            else:
                await self._incremental(ctx, status, head)
            held, reason = await self._deletes(ctx)
            status.finish(ctx, held, reason=reason)
        except GenerationChanged:
            pass  # restarted or schema changed: the next cycle is already due
        except CycleStopped:
            status.stopped(ctx)
        except ScimError as exc:
            status.quarantine_exception(ctx, exc)
        finally:
            await client.close()

    # Full pass: the initial cycle, and the cycle after a restart

    async def _initial(self, ctx: CycleContext, status: CycleProgress, head: int) -> None:
        """Every object, page by page, from the cursor a crash left (if any); at the end the
        watermark is the change-log head read when the pass began."""
        job = ctx.job
        high = job["initial_seq"]
        if high is None:
            high = head
            with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
                state.update_job(
                    conn, ctx.job_id, {"initial_seq": high, "initial_cursor": {"phase": "users"}}
                )
        cursor = dict(job["initial_cursor"] or {"phase": "users"})
        # The pass reads every user and group: the progress's total, known from the start.
        ctx.total_units = self.source.size()
        status.progress(ctx)
        phases = ["users", "groups", "references", "sweep"]
        for phase in phases[phases.index(cursor.get("phase", "users")) :]:
            after = cursor.get("after") if cursor.get("phase") == phase else None
            while True:
                self._check(ctx)
                batch, after = await self._initial_page(ctx, phase, after)
                if batch is None:
                    break
                self._record(ctx, batch, checkpoint={"initial_cursor": {"phase": phase, "after": after}})
                status.progress(ctx)
        with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
            state.update_job(
                conn, ctx.job_id, {"watermark": high, "initial_seq": None, "initial_cursor": None}
            )

    async def _initial_page(
        self, ctx: CycleContext, phase: str, after: str | None
    ) -> tuple[list[Outcome] | None, str | None]:
        if phase in ("users", "groups"):
            page = (
                self.source.user_page(after, PAGE_SIZE)
                if phase == "users"
                else self.source.group_page(after, PAGE_SIZE)
            )
            if not page:
                return None, after
            object_type = USER if phase == "users" else GROUP
            sources = {s["objectId"]: s for s in page}
            return await self._process(ctx, object_type, list(sources), sources), page[-1]["objectId"]
        if phase == "sweep":
            with self.db.read() as conn:
                keys = state.cds_keys_page(conn, ctx.job_id, after, PAGE_SIZE)
            if not keys:
                return None, after
            return await self._sweep(ctx, [source_id for source_id, _ in keys]), keys[-1][0]
        # Deciding what references changed needs only part of each row (see resolve_references).
        with self.db.read() as conn:
            rows = state.cds_references_page(conn, ctx.job_id, after, PAGE_SIZE)
        if not rows:
            return None, after
        return await self._references(ctx, rows), rows[-1]["source_id"]

    async def _sweep(self, ctx: CycleContext, source_ids: list[str]) -> list[Outcome]:
        """Managed objects that no longer exist in the directory at all: delete them."""
        present = self.source.existing(source_ids)
        gone = [sid for sid in source_ids if sid not in present]
        if not gone:
            return []
        # Only the few gone ones need their full connector data store row.
        with self.db.read() as conn:
            rows = state.cds_get(conn, ctx.job_id, gone)
            staged = state.staged_get(conn, ctx.job_id, gone)
        processor = ObjectProcessor(ctx, staged=staged)
        return [
            await processor.process(rows[sid]["object_type"], sid, None, rows[sid])
            for sid in gone
            if sid in rows
        ]

    # Incremental cycle

    async def _incremental(self, ctx: CycleContext, status: CycleProgress, high: int) -> None:
        watermark = int(ctx.job["watermark"])
        with self.db.read() as conn:
            due = state.escrows_due(conn, ctx.job_id, self.clock.now())
        pending_users = {e["source_id"] for e in due if e["object_type"] == USER}
        pending_groups = {e["source_id"] for e in due if e["object_type"] == GROUP}
        while watermark < high or pending_users or pending_groups:
            self._check(ctx)
            changes = [c for c in self.source.changes(watermark, CHANGE_BATCH) if c.seq <= high]
            users, groups = self._affected(ctx, changes)
            users |= pending_users
            groups |= pending_groups
            pending_users, pending_groups = set(), set()
            ctx.counters.imported_deltas += len(changes)
            outcomes = await self._process(ctx, USER, sorted(users), self.source.users(sorted(users)))
            outcomes += await self._process(ctx, GROUP, sorted(groups), self.source.groups(sorted(groups)))
            created_users = [o.source_id for o in outcomes if o.created and o.object_type == USER]
            self._record(ctx, outcomes)
            # References after the objects they point at are recorded (created ones included).
            ref_users = users | set(self._reports_of(created_users))
            ref_groups = groups | {g for gs in self.source.groups_of(created_users).values() for g in gs}
            with self.db.read() as conn:
                rows = list(state.cds_get(conn, ctx.job_id, sorted(ref_users | ref_groups)).values())
            new_watermark = changes[-1].seq if changes else watermark
            self._record(ctx, await self._references(ctx, rows), checkpoint={"watermark": new_watermark})
            watermark = new_watermark
            status.progress(ctx)
            if not changes:
                break

    def _affected(self, ctx: CycleContext, changes: Sequence[Any]) -> tuple[set[str], set[str]]:
        """The users and groups a batch of directory changes can affect for this job."""
        users: set[str] = set()
        groups: set[str] = set()
        for change in changes:
            if change.object_type == "user":
                users.add(change.object_id)
                if change.change_type == "managerChanged" and change.related_id:
                    users.add(change.related_id)
            elif change.object_type == "group":
                groups.add(change.object_id)
                if change.related_id:
                    users.add(change.related_id)
                    groups.add(change.related_id)
            elif change.object_type == "appRoleAssignment" and change.related_id == ctx.service_principal_id:
                users.add(change.object_id)
                groups.add(change.object_id)
        # A group's assignment or lifecycle changes the scope of its direct members.
        for members in self.source.members(sorted(groups)).values():
            users.update(m for m, kind in members if kind == "user")
        known_users = set(self.source.users(sorted(users)))
        with self.db.read() as conn:
            managed = state.cds_get(conn, ctx.job_id, sorted(users | groups))
        users = {u for u in users if u in known_users or managed.get(u, {}).get("object_type") == USER}
        groups = {
            g
            for g in groups
            if g not in known_users and (g not in managed or managed[g]["object_type"] == GROUP)
        }
        return users, groups

    def _reports_of(self, manager_ids: Iterable[str]) -> list[str]:
        return self.source.reports_of(sorted(manager_ids))

    # Shared steps

    async def _process(
        self, ctx: CycleContext, object_type: str, ids: Sequence[str], sources: dict[str, dict[str, Any]]
    ) -> list[Outcome]:
        return await process_objects(ctx, object_type, ids, sources)

    async def _references(self, ctx: CycleContext, rows: list[dict[str, Any]]) -> list[Outcome]:
        return await resolve_references(ctx, rows)

    async def _deletes(self, ctx: CycleContext) -> tuple[int, str | None]:
        """The accidental-deletion guard, then the disables and deletes it lets through.

        The planned ones are held when, added to those the job exported within its window,
        they pass the threshold; ones approved with ForceDeletes always run. Returns how many
        were held back and why (0 and None when none was)."""
        self._check(ctx)
        now = self.clock.now()
        window = ctx.settings.delete_window
        with self.db.read() as conn:
            rows = state.staged_in_states(conn, ctx.job_id, ("planned", "approved"))
        recent = deletes_in_window(self.db, ctx.job_id, ctx.settings, now)
        planned = [r for r in rows if r["state"] == "planned"]
        threshold = ctx.settings.delete_threshold
        processor = ObjectProcessor(ctx)
        held, reason = 0, None
        if threshold is not None and planned and recent + len(planned) > threshold:
            reason = guard_reason(len(planned), recent, window, threshold)
            with self.db.read() as conn:
                cds = state.cds_get(conn, ctx.job_id, [r["source_id"] for r in planned])
            outcomes = []
            for r in planned:
                outcome = Outcome(r["source_id"], r["object_type"], staged_clear=False)
                outcome.staged = {k: v for k, v in r.items() if k != "job_id"} | {"state": "held"}
                outcome.log = processor.held_log(r, cds.get(r["source_id"]), reason)
                outcomes.append(outcome)
            self._record(ctx, outcomes)
            rows = [r for r in rows if r["state"] == "approved"]
            held = len(planned)
        for start in range(0, len(rows), PAGE_SIZE):
            self._check(ctx)
            chunk = rows[start : start + PAGE_SIZE]
            with self.db.read() as conn:
                cds = state.cds_get(conn, ctx.job_id, [r["source_id"] for r in chunk])
            outcomes = await asyncio.gather(
                *(
                    processor.run_staged(r, cds.get(r["source_id"]), guard_note(r, recent, len(planned), ctx))
                    for r in chunk
                )
            )
            self._record(ctx, list(outcomes))
        with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
            state.deletion_exports_prune(conn, ctx.job_id, now - MAX_DELETE_WINDOW)
        return held, reason

    def _record(
        self, ctx: CycleContext, outcomes: list[Outcome], checkpoint: dict[str, Any] | None = None
    ) -> None:
        record_outcomes(ctx, outcomes, checkpoint)

    def _check(self, ctx: CycleContext) -> None:
        ensure_still_running(self.db, self.stopping, ctx.job_id, ctx.generation, ctx.owner)


def guard_reason(planned: int, recent: int, window: timedelta, threshold: int) -> str:
    """Why the guard held a cycle's disables and deletes, as the quarantine and the log say it."""
    what = f"{planned} planned disables and deletes"
    if window:
        what += f", with {recent} already exported within the last {format_duration(window)},"
    return (
        f"{what} exceed the deletion threshold of {threshold}; they are staged. "
        "Restart with resetScope ForceDeletes to let them run."
    )


def guard_note(staged: dict[str, Any], recent: int, planned: int, ctx: CycleContext) -> str:
    if staged["state"] == "approved":
        return f"The {staged['action']} runs: approved by a restart with ForceDeletes"
    threshold = ctx.settings.delete_threshold
    if threshold is None:
        return f"The {staged['action']} runs: the deletion threshold is off"
    return (
        f"The {staged['action']} runs: {planned} planned and {recent} exported within the window "
        f"do not exceed the deletion threshold of {threshold}"
    )


# Building blocks shared by cycles and provision on demand (engine/on_demand.py)


def scim_client_for(
    base_address: str,
    secrets: JobSecrets,
    settings: EngineSettings,
    outbound: OutboundPolicy = ALLOW_EVERYTHING,
    *,
    kind: type[ScimClient] = ScimClient,
) -> ScimClient:
    """The job's SCIM client; `kind` a subclass that sends differently (the preview's)."""
    return kind(
        base_address,
        secrets.values.get("SecretToken"),
        ClientSettings(
            concurrency=settings.export_concurrency,
            rate_per_second=settings.export_rate_per_second,
            timeout_seconds=settings.export_timeout_seconds,
        ),
        outbound=outbound,
    )


def cycle_context(
    db: Database,
    clock: Clock,
    source: DirectorySource,
    job: dict[str, Any],
    secrets: JobSecrets,
    schema: CompiledSchema,
    settings: EngineSettings,
    client: ScimClient,
    *,
    owner: str,
    began: datetime,
) -> CycleContext:
    return CycleContext(
        db=db,
        clock=clock,
        source=source,
        job=job,
        service_principal_id=job["service_principal_id"],
        secrets=secrets.values,
        schema=schema,
        settings=settings,
        client=client,
        fmt=shapes.format_for_base_address(secrets.base_address or ""),
        assignments=source.assignments(job["service_principal_id"]),
        sync_all=secrets.flag("SyncAll"),
        skip_out_of_scope_deletions=secrets.flag("SkipOutOfScopeDeletions"),
        cycle_id=str(uuid.uuid4()),
        generation=job["generation"],
        owner=owner,
        began=began,
        evaluation=expressions.EvaluationContext(now=clock.now),
    )


async def process_objects(
    ctx: CycleContext, object_type: str, ids: Sequence[str], sources: dict[str, dict[str, Any]]
) -> list[Outcome]:
    """Scope, map, match, plan and export these objects, with their connector data store rows
    and pending escrows (a new failure continues an escrow's series)."""
    if not ids:
        return []
    with ctx.db.read() as conn:
        cds = state.cds_get(conn, ctx.job_id, list(ids))
        escrowed = state.escrows_get(conn, ctx.job_id, list(ids))
        staged = state.staged_get(conn, ctx.job_id, list(ids))
    processor = ObjectProcessor(ctx, escrowed, staged)
    # Decide every object first; only those that need the target run as concurrent exports,
    # so an unchanged object costs no task.
    decided = [processor.decide(object_type, i, sources.get(i), cds.get(i)) for i in ids]
    exported = iter(
        await asyncio.gather(*(processor.export(d) for d in decided if isinstance(d, PendingExport)))
    )
    outcomes = [d if isinstance(d, Outcome) else next(exported) for d in decided]
    for outcome in outcomes:
        # Nothing to clear where nothing was escrowed (read above, under this cycle's lease).
        if outcome.escrow_clear and outcome.escrow is None and outcome.source_id not in escrowed:
            outcome.escrow_clear = False
    return outcomes


async def resolve_references(ctx: CycleContext, rows: list[dict[str, Any]]) -> list[Outcome]:
    """Bring the manager of these users and the members of these groups (connector data store
    rows) in the target to what the directory says, among the objects that are provisioned.

    A row needs only source_id, object_type, state and references; rows without their
    exported values are read whole for the objects whose references change."""
    users = _adopt_matched(ctx, [r for r in rows if r["object_type"] == USER and r["state"] == "provisioned"])
    groups = _adopt_matched(
        ctx, [r for r in rows if r["object_type"] == GROUP and r["state"] == "provisioned"]
    )
    desired: dict[str, list[str]] = {}
    # Only the manager id of each user: reading whole users again here was most of the cost.
    for user_id, manager in ctx.source.managers([r["source_id"] for r in users]).items():
        desired[user_id] = [manager] if manager else []
    for group_id, members in ctx.source.members([r["source_id"] for r in groups]).items():
        desired[group_id] = [m for m, _ in members]
    current = {
        s for r in users + groups for key in ("manager", "members") for s in r["references"].get(key) or []
    }
    wanted = sorted({s for ids in desired.values() for s in ids} | current)
    with ctx.db.read() as conn:
        links = state.cds_links(conn, ctx.job_id, wanted)
    target_ids = {s: target_id for s, (target_id, _) in links.items()}
    provisioned = {s for s, (_, link_state) in links.items() if link_state == "provisioned"}
    processor = ObjectProcessor(ctx)
    changes: list[tuple[dict[str, Any], list[str]]] = []
    for r in users + groups:
        if r["source_id"] not in desired:
            continue
        change = processor.reference_change(
            r["object_type"], r, desired[r["source_id"]], target_ids, provisioned
        )
        if change is not None:
            changes.append((r, change))
    if not changes:
        return []
    # Partial rows (the initial cycle's references phase reads only what deciding needs) are
    # written back whole on success: read the full rows of the few that change.
    partial = [r["source_id"] for r, _ in changes if "exported" not in r]
    if partial:
        with ctx.db.read() as conn:
            full = state.cds_get(conn, ctx.job_id, partial)
        changes = [(_whole(full[r["source_id"]], r) if "exported" not in r else r, c) for r, c in changes]
    return list(
        await asyncio.gather(
            *(processor.export_references(r["object_type"], r, c, target_ids) for r, c in changes)
        )
    )


def _adopt_matched(ctx: CycleContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects matched in the app (not created by us) whose manager or members we have not set
    yet: what the app held at matching, as target ids, becomes their current references as
    source ids (objects this job does not manage are left out, and never removed)."""
    seen: dict[str, tuple[str, list[str]]] = {}
    for r in rows:
        attribute = "manager" if r["object_type"] == USER else "members"
        matched = r["references"].get("matched") or {}
        if attribute not in r["references"] and attribute in matched:
            seen[r["source_id"]] = (attribute, list(matched[attribute]))
    if not seen:
        return rows
    # Managers and members are users (Entra provisions no nested groups): read the target ids
    # as users' ids, which also keeps an app that numbers users and groups apart unambiguous.
    with ctx.db.read() as conn:
        by_target = state.cds_sources_of_targets(
            conn, ctx.job_id, USER, sorted({t for _, ts in seen.values() for t in ts})
        )
    out = []
    for r in rows:
        if r["source_id"] in seen:
            attribute, target_ids = seen[r["source_id"]]
            current = [by_target[t] for t in target_ids if t in by_target]
            r = {**r, "references": {**r["references"], attribute: current}, "adopted": True}
        out.append(r)
    return out


def _whole(full: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """A full connector data store row with what was decided on its partial row."""
    return {**full, "references": partial["references"], "adopted": partial.get("adopted", False)}


def record_outcomes(
    ctx: CycleContext, outcomes: list[Outcome], checkpoint: dict[str, Any] | None = None
) -> None:
    """Write a batch of outcomes (connector data store, escrows, staged deletes, the deletion
    window, provisioning logs) and its checkpoint in one transaction guarded by the job's
    generation. A log that continues an object's entry of this cycle is folded into it."""
    now = ctx.clock.now()
    with state.guarded(ctx.db, ctx.job_id, ctx.generation) as conn:
        cds: list[state.RowChange] = []
        escrows: list[state.RowChange] = []
        staged: list[state.RowChange] = []
        for o in outcomes:
            if o.cds_remove:
                cds.append((o.source_id, None))
            if o.cds is not None:
                cds.append((o.source_id, o.cds))
            if o.escrow is not None or o.escrow_clear:
                escrows.append((o.source_id, o.escrow))
            if o.staged is not None or o.staged_clear:
                staged.append((o.source_id, o.staged))
        state.cds_apply(conn, ctx.job_id, cds)
        state.escrows_apply(conn, ctx.job_id, escrows)
        state.staged_apply(conn, ctx.job_id, staged)
        state.deletion_exports_record(
            conn, ctx.job_id, [o.deletion_export for o in outcomes if o.deletion_export is not None]
        )
        _write_logs(conn, ctx.cycle_id, [o.log for o in outcomes if o.log is not None], now)
        if checkpoint:
            state.update_job(conn, ctx.job_id, checkpoint)


def _write_logs(conn: Any, cycle_id: str, logs: list[LogEntry], now: datetime) -> None:
    """New entries are inserted; a continuation is folded into the object's entry of the cycle
    (or becomes that entry, when the cycle has none for the object yet)."""
    continuing = sorted({log.source_id for log in logs if log.continues is not None})
    existing = state.logs_of_cycle(conn, cycle_id, continuing) if continuing else {}
    inserts: dict[str, dict[str, Any]] = {}  # by entry id, in order
    replaced: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {}  # the entry each object has once this batch is written
    for log in logs:
        record = log.record(now)
        source_id = record["source_id"]
        entry = (latest.get(source_id) or existing.get(source_id)) if log.continues is not None else None
        if entry is None:
            inserts[record["id"]] = latest[source_id] = record
            continue
        merged = latest[source_id] = merge_records(entry, record, str(log.continues))
        (inserts if merged["id"] in inserts else replaced)[merged["id"]] = merged
    state.logs_replace(conn, list(replaced.values()))
    state.logs_insert(conn, list(inserts.values()))
