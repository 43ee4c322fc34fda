"""A dry run of a job's next cycle: what it would create, update, disable and delete, and
whether the accidental-deletion guard would stop it, before anything is done.

The preview runs the cycle's own stages (engine/cycle.py: import, scope, map, match, plan,
the deletion guard) rather than a planner written beside them, because a preview is worth only
as much as its agreement with the cycle that follows. Two things differ, and nothing else:
- the job's engine state (connector data store, escrows, staged deletes, the deletion window,
  the job's row) is a scratch copy (store/scratch.py), with the what-if applied to it by the
  caller (a restart's resetScope, a schema not yet saved), so the run changes nothing real;
- the SCIM client reads the app (matching queries, read-backs) but answers writes itself:
  a create returns a placeholder id, a PATCH and a DELETE return at once. The app is never
  written to.

The directory is read live, as a cycle reads it. The run's provisioning log entries (in the
scratch copy) are what it decided, one per object; they become the preview's counts and its
planned actions (`classify`). Objects that are neither assigned nor managed have no entry (a
cycle logs nothing for them either) and are counted as out of scope from their outcomes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisiond.clock import Clock
from provisiond.connectors.directory import DirectorySource
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.connectors.scim_client import ScimClient, ScimError
from provisiond.domain.provisioning_log import LogStep, PropertyChange, StepKind
from provisiond.engine.context import CycleContext, CycleStopped, deletes_in_window
from provisiond.engine.cycle import CycleRunner, JobSecrets, cycle_context, scim_client_for
from provisiond.engine.objects import GROUP, USER, Outcome
from provisiond.engine.policy import EngineSettings
from provisiond.mapping.flows import MappingError, compile_schema_once
from provisiond.store.db import Database
from provisiond.store.scratch import ScratchState

# What a preview says will happen to an object, in the order the counts are shown.
ACTIONS = ("create", "update", "disable", "delete", "unchanged", "outOfScope", "held", "failed")
# The actions that are listed object by object (the others are only counted).
LISTED = frozenset({"create", "update", "disable", "delete", "held", "failed"})
PLACEHOLDER = "preview:"  # the id a previewed create gets, never sent to the app
OBJECT_TYPES = (USER, GROUP)


class PreviewFailed(Exception):
    """The preview could not run to its end: the same reasons a cycle would fail or quarantine
    (an invalid schema, no BaseAddress, the app refusing the credentials or unreachable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PreviewCancelled(Exception):
    """The process is shutting down, or the preview was abandoned."""


@dataclass(frozen=True)
class PlannedAction:
    object_type: str
    source_id: str
    display_name: str | None
    target_id: str | None  # None for a create (the app has not assigned one)
    action: str
    reason: str | None
    changes: list[PropertyChange]


@dataclass(frozen=True)
class GuardVerdict:
    """Whether the accidental-deletion guard would hold this cycle's disables and deletes."""

    would_trip: bool
    planned: int  # the disables and deletes the cycle plans (approved ones excluded)
    in_window: int  # those already exported within the guard's window
    threshold: int | None
    message: str | None


@dataclass
class PreviewOutcome:
    full_pass: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    guard: GuardVerdict | None = None


class PreviewClient(ScimClient):
    """Reads go to the app; writes are answered here and never sent."""

    async def create(self, resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "id": f"{PLACEHOLDER}{uuid.uuid4()}"}

    async def patch(self, resource_type: str, target_id: str, body: Mapping[str, Any]) -> None:
        return None

    async def delete(self, resource_type: str, target_id: str) -> None:
        return None

    async def get(
        self, resource_type: str, target_id: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        if target_id.startswith(PLACEHOLDER):
            return None
        return await super().get(resource_type, target_id, params)


class _Progress:
    def __init__(self, report: Callable[[int], None]) -> None:
        self.report = report

    def progress(self, ctx: CycleContext) -> None:
        self.report(ctx.counters.imported)


class PreviewRunner(CycleRunner):
    """Runs one previewed cycle of `job` (the scratch copy's row, what-if applied) against the
    scratch state, reading the directory from `directory`."""

    def __init__(
        self,
        directory: Database,
        scratch: ScratchState,
        clock: Clock,
        secrets: Mapping[str, str],
        *,
        stopping: Callable[[], bool] = lambda: False,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
    ) -> None:
        super().__init__(scratch.db, clock, lambda _sp: dict(secrets), stopping=stopping, outbound=outbound)
        self.source = DirectorySource(directory)
        self.scratch = scratch
        self.unlogged_out_of_scope: Counter[str] = Counter()
        # Objects the cycle left alone because they are out of scope, with a log entry.
        self.out_of_scope: set[str] = set()

    def _record(
        self, ctx: CycleContext, outcomes: list[Outcome], checkpoint: dict[str, Any] | None = None
    ) -> None:
        for o in outcomes:
            if o.extra.get("outOfScope"):
                if o.log is None:
                    self.unlogged_out_of_scope[o.object_type] += 1
                else:
                    self.out_of_scope.add(o.source_id)
        super()._record(ctx, outcomes, checkpoint)

    async def preview(
        self,
        job: dict[str, Any],
        owner: str,
        *,
        on_progress: Callable[[int], None] = lambda _n: None,
        on_actions: Callable[[list[PlannedAction]], None] = lambda _a: None,
    ) -> PreviewOutcome:
        """Run the cycle's stages on the scratch state; `on_actions` receives the listed planned
        actions page by page, `on_progress` the objects decided so far."""
        began = self.clock.now()
        secrets = JobSecrets(self.secrets(job["service_principal_id"]))
        settings = EngineSettings.from_job(job["settings"], secrets.values, job["schedule_interval"])
        try:
            schema = compile_schema_once(job["schema"] or {})
        except MappingError as exc:
            raise PreviewFailed("InvalidSchema", str(exc)) from None
        if not secrets.base_address:
            raise PreviewFailed(
                "CredentialsMissing", "The BaseAddress secret (the SCIM endpoint) is not set."
            )
        client = scim_client_for(secrets.base_address, secrets, settings, self.outbound, kind=PreviewClient)
        head = self.source.last_seq()
        ctx = cycle_context(
            self.db, self.clock, self.source, job, secrets, schema, settings, client, owner=owner, began=began
        )
        full_pass = job["watermark"] is None or job["initial_cursor"] is not None
        try:
            if full_pass:
                await self._initial(ctx, _Progress(on_progress), head)
            else:
                await self._incremental(ctx, _Progress(on_progress), head)
            held, reason = await self._deletes(ctx)
        except CycleStopped:
            raise PreviewCancelled from None
        except ScimError as exc:
            raise PreviewFailed(exc.code, exc.message) from None
        finally:
            await client.close()
        outcome = PreviewOutcome(full_pass)
        outcome.counts = self._tally(ctx.cycle_id, on_actions)
        planned = sum(outcome.counts[t][a] for t in OBJECT_TYPES for a in ("disable", "delete", "held"))
        outcome.guard = GuardVerdict(
            would_trip=held > 0,
            planned=planned,
            in_window=deletes_in_window(self.db, ctx.job_id, settings, began),
            threshold=settings.delete_threshold,
            message=reason,
        )
        return outcome

    def _tally(
        self, cycle_id: str, on_actions: Callable[[list[PlannedAction]], None]
    ) -> dict[str, dict[str, int]]:
        counts = {t: dict.fromkeys(ACTIONS, 0) for t in OBJECT_TYPES}
        for t, n in self.unlogged_out_of_scope.items():
            counts[t]["outOfScope"] += n
        for page in _outline_pages(self.scratch, cycle_id):
            listed = []
            for entry in page:
                action = classify(entry, left_scope=entry["source_id"] in self.out_of_scope)
                counts[entry["source_type"]][action] += 1
                if action in LISTED:
                    listed.append((entry["id"], action))
            if listed:
                entries = self.scratch.logs([entry_id for entry_id, _ in listed])
                on_actions(
                    [planned_action(e, action) for e, (_, action) in zip(entries, listed, strict=True)]
                )
        return counts


def _outline_pages(scratch: ScratchState, cycle_id: str) -> Iterator[list[dict[str, Any]]]:
    after: str | None = None
    while page := scratch.log_outlines(cycle_id, after):
        yield page
        after = page[-1]["id"]


def classify(entry: Mapping[str, Any], *, left_scope: bool | None = None) -> str:
    """What a cycle's provisioning log entry (one per object, continuations folded in) says
    was done to the object, as one of `ACTIONS`. Used on a preview's entries; a test applies
    it to the real cycle's entries too, which is the point: the same words for both.

    `left_scope`: whether the cycle left the object alone as out of scope, when the caller
    knows (the preview, from the outcomes); else it is read from the entry's steps."""
    action, status = entry["action"], entry["status"]
    if action == "stageddelete":
        return "held"
    if status == "failure":
        return "failed"
    if status in ("success", "warning") and action in ("create", "update", "disable", "delete"):
        return str(action)
    if left_scope is None:
        left_scope = entry.get("error_code") == "NotEffectivelyEntitled" or _left_scope(entry["steps"])
    if left_scope:
        return "outOfScope"
    return "unchanged"


def _left_scope(steps: list[LogStep]) -> bool:
    return any(s.kind is StepKind.Scoping and s.status == "skipped" for s in steps)


def planned_action(entry: Mapping[str, Any], action: str) -> PlannedAction:
    changes = list(entry["modified_properties"])
    if action == "disable" and not changes:
        changes = [PropertyChange("active", "True", "False")]
    target_id = entry["target_id"]
    if target_id and str(target_id).startswith(PLACEHOLDER):
        target_id = None
    return PlannedAction(
        object_type=entry["source_type"],
        source_id=entry["source_id"],
        display_name=entry["source_display_name"],
        target_id=target_id,
        action=action,
        reason=_reason(entry, action),
        changes=changes,
    )


def _reason(entry: Mapping[str, Any], action: str) -> str | None:
    """Why a held or failed object is listed: the guard's words, or the error."""
    if action == "held":
        return next(
            (s.description for s in reversed(entry["steps"]) if s.name == "EntryExportStagedDelete"), None
        )
    if action == "failed":
        return entry.get("error_reason")
    return None


def preview_owner(began: datetime) -> str:
    """The lease owner a preview writes into its scratch copy of the job's row."""
    return f"preview:{began.isoformat()}:{uuid.uuid4().hex[:8]}"
