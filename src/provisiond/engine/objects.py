"""One object through scope, map, match, plan and export; the result is an `Outcome` to record.

Its length is one object's whole path (scope, map, match, plan, export), whose stages share the
`Outcome` and the request shapes.

Decisions (reference §5):
- in scope, not in the connector data store: match by the matching attributes (lowest
  priority first, first hit wins, two hits is DuplicateTargetEntries), then create (Add flow)
  or update the match;
- in scope and managed: PATCH only what differs from the last exported values (Update flow),
  else skip as RedundantExport; a disabled object coming back is re-enabled by that PATCH;
- managed and soft-deleted (unassigned, out of scope, in the recycle bin, or disabled): a
  planned disable (`active` false) — or a delete for groups, which SCIM cannot disable —
  unless SkipOutOfScopeDeletions spares objects that merely left scope;
- managed and hard-deleted: a planned delete (Delete flow).
Disables and deletes are only planned here and run at the end of the cycle, after the
accidental-deletion guard has seen them all. Only objects in the connector data store are
ever disabled or deleted. A disabled user never provisioned is not created.

Beyond Entra: a source attribute that becomes empty is removed from the target (Entra never
flows nulls), and a managed object deleted behind the engine's back (404) is re-matched and
re-created instead of failing with InvalidAnchor until a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisiond.connectors import scim_requests as shapes
from provisiond.connectors.directory import Assignments
from provisiond.connectors.scim_client import ScimError
from provisiond.domain.provisioning_log import PropertyChange, property_changes
from provisiond.engine.context import CycleContext
from provisiond.engine.logs import LogEntry, new_entry
from provisiond.engine.policy import escrow_retry_at
from provisiond.mapping.flows import CompiledObjectMapping

USER = "User"
GROUP = "Group"
RESOURCE = {USER: "Users", GROUP: "Groups"}
# Entra's processing step names for a decision (reference §9: EntrySynchronizationAdd, ...).
PLANNED_STEPS = {"disable": "EntrySynchronizationDisable", "delete": "EntrySynchronizationDelete"}
REDUNDANT = {"SkipReason": "RedundantExport"}


@dataclass
class Outcome:
    source_id: str
    object_type: str
    log: LogEntry | None = None
    cds: dict[str, Any] | None = None
    cds_remove: bool = False
    escrow: dict[str, Any] | None = None
    escrow_clear: bool = False
    staged: dict[str, Any] | None = None
    staged_clear: bool = True
    # An exported disable or delete the deletion guard's window counts (None when not one).
    deletion_export: dict[str, Any] | None = None
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingExport:
    """An object whose outcome needs the target (match, create or PATCH): what `decide` hands
    to `export`. Objects that need nothing of the target never become one, so an unchanged
    object costs no task and no await."""

    mapping: CompiledObjectMapping
    object_type: str
    source: dict[str, Any]
    cds: dict[str, Any] | None
    outcome: Outcome
    # Update flow: the values the mapping wants and the last exported ones they differ from.
    desired: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)
    # The last export of this object failed, so the app may or may not have applied it: compare
    # with what the app holds, not with the connector data store.
    verify: bool = False


def mapping_for(ctx: CycleContext, object_type: str) -> CompiledObjectMapping | None:
    return ctx.schema.users if object_type == USER else ctx.schema.groups


def enrich(
    ctx: CycleContext, object_type: str, source: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Add the computed attributes (IsSoftDeleted, appRoleAssignments) and say why."""
    return enrich_with(mapping_for(ctx, object_type), ctx.assignments, ctx.sync_all, object_type, source)


def enrich_with(
    mapping: CompiledObjectMapping | None,
    assignments: Assignments,
    sync_all: bool,
    object_type: str,
    source: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """`enrich` from its parts: the object mapping (its scoping filter), the app's assignments
    and SyncAll. Also what the console's expression Test computes for a chosen user."""
    object_id = source["objectId"]
    if object_type == USER:
        assigned = sync_all or object_id in assignments.users
        active = not source["isDeleted"] and bool(source.get("accountEnabled"))
    else:
        assigned = sync_all or object_id in assignments.groups
        active = not source["isDeleted"]
    scoped = mapping is not None and mapping.scope.in_scope(source)
    enriched = dict(source)
    enriched["IsSoftDeleted"] = not (assigned and scoped and active)
    enriched["appRoleAssignments"] = [{"appRoleId": r} for r in assignments.roles.get(object_id, [])]
    details = {
        "Assigned": str(assigned),
        "IsActive": str(active),
        "IsInProvisioningScopeDisplayName": str(scoped),
        "IsEffectivelyEntitledForProvisioning": str(assigned and scoped and active),
    }
    return enriched, details


class ObjectProcessor:
    def __init__(
        self,
        ctx: CycleContext,
        escrowed: dict[str, dict[str, Any]] | None = None,
        staged: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.ctx = ctx
        # The objects' pending escrows: a new failure continues their series (attempts, backoff).
        self.escrowed = escrowed or {}
        # The objects' staged disables and deletes: one approved by ForceDeletes stays approved
        # when the object is planned again.
        self.staged = staged or {}

    def _log(
        self, object_type: str, source_id: str, display: str | None, cds: dict[str, Any] | None
    ) -> LogEntry:
        mapping = mapping_for(self.ctx, object_type)
        return new_entry(
            self.ctx,
            self.ctx.clock.now(),
            object_type,
            source_id,
            display,
            target_type=mapping.target_object if mapping else RESOURCE[object_type],
            target_id=cds["target_id"] if cds else None,
            target_display_name=display,
        )

    async def process(
        self, object_type: str, source_id: str, source: dict[str, Any] | None, cds: dict[str, Any] | None
    ) -> Outcome:
        decided = self.decide(object_type, source_id, source, cds)
        if isinstance(decided, Outcome):
            return decided
        return await self.export(decided)

    def decide(
        self, object_type: str, source_id: str, source: dict[str, Any] | None, cds: dict[str, Any] | None
    ) -> Outcome | PendingExport:
        """Everything `process` decides without the target: the outcome itself (skips, planned
        disables and deletes, RedundantExport), or the export still to run."""
        mapping = mapping_for(self.ctx, object_type)
        outcome = Outcome(source_id, object_type)
        if mapping is None:
            return outcome
        self.ctx.counters.imported += 1
        if source is None:
            return self._hard_deleted(mapping, object_type, source_id, cds, outcome)
        enriched, details = enrich(self.ctx, object_type, source)
        display = source.get("userPrincipalName") or source.get("displayName")
        entitled = not enriched["IsSoftDeleted"]
        if not entitled and cds is None:
            if details["Assigned"] == "True":
                log = self._log(object_type, source_id, display, None)
                log.step(
                    "EntryImport",
                    "import",
                    "success",
                    f"Retrieved {object_type} '{display}' from the directory",
                )
                log.step(
                    "EntrySynchronizationScoping",
                    "scoping",
                    "skipped",
                    "Not in scope for provisioning",
                    details,
                )
                log.fail(
                    "NotEffectivelyEntitled",
                    "The object is not active or not in scope, and it was never provisioned.",
                )
                log.status = "skipped"
                outcome.log = log
            outcome.extra["outOfScope"] = True  # nothing to do; the preview counts these
            return outcome
        log = self._log(object_type, source_id, display, cds)
        log.step(
            "EntryImport", "import", "success", f"Retrieved {object_type} '{display}' from the directory"
        )
        log.step(
            "EntrySynchronizationScoping",
            "scoping",
            "success" if entitled else "skipped",
            "Scoping evaluated",
            details,
        )
        outcome.log = log
        if not entitled:
            assert cds is not None
            return self._left_scope(mapping, object_type, enriched, details, cds, outcome)
        self.ctx.counters.entitled += 1
        pending = PendingExport(mapping, object_type, enriched, cds, outcome)
        escrow = self.escrowed.get(source_id)
        if cds is not None and escrow is not None and not escrow["reference"] and mapping.flow_update:
            pending.verify = True
            pending.desired = mapping.values(enriched, self.ctx.evaluation, creating=False)
            return pending
        if cds is not None and self._redundant(pending):
            return outcome
        return pending

    async def export(self, pending: PendingExport) -> Outcome:
        """Match and create, or PATCH what differs; a failure escrows the object."""
        outcome = pending.outcome
        try:
            if pending.cds is None:
                await self._match_or_create(pending.mapping, pending.object_type, pending.source, outcome)
            else:
                await self._update(pending)
        except ScimError as exc:
            if exc.job_level:
                raise
            self._escrow(outcome, exc.code, exc.message)
        return outcome

    # Decisions that only plan

    def _hard_deleted(
        self,
        mapping: CompiledObjectMapping,
        object_type: str,
        source_id: str,
        cds: dict[str, Any] | None,
        outcome: Outcome,
    ) -> Outcome:
        if cds is None or not mapping.flow_delete:
            return outcome
        outcome.log = self._log(object_type, source_id, cds.get("display_name"), cds)
        outcome.log.step(
            "EntryImport", "import", "success", f"{object_type} was permanently deleted in the directory"
        )
        return self._plan(outcome, "delete")

    def _left_scope(
        self,
        mapping: CompiledObjectMapping,
        object_type: str,
        source: dict[str, Any],
        details: dict[str, str],
        cds: dict[str, Any],
        outcome: Outcome,
    ) -> Outcome:
        assert outcome.log is not None
        merely_out_of_scope = details["IsActive"] == "True"
        if self.ctx.skip_out_of_scope_deletions and merely_out_of_scope:
            outcome.log.step(
                "EntrySynchronizationSkip", "export", "skipped", "SkipOutOfScopeDeletions is set"
            )
            outcome.log.extra_reason = "SkipOutOfScopeDeletions"  # type: ignore[attr-defined]
            outcome.extra["outOfScope"] = True
            return outcome
        if object_type == GROUP:
            if mapping.flow_delete:
                return self._plan(outcome, "delete")
            outcome.extra["outOfScope"] = True
            return outcome
        if cds["state"] == "disabled" or mapping.soft_delete_target is None or not mapping.flow_update:
            outcome.log.step(
                "EntrySynchronizationSkip", "export", "skipped", "Already disabled in the target", REDUNDANT
            )
            outcome.extra["outOfScope"] = True
            return outcome
        return self._plan(outcome, "disable")

    def _plan(self, outcome: Outcome, action: str) -> Outcome:
        prior = self.staged.get(outcome.source_id)
        approved = prior is not None and prior["state"] == "approved" and prior["action"] == action
        outcome.staged = {
            "source_id": outcome.source_id,
            "object_type": outcome.object_type,
            "action": action,
            "state": "approved" if approved else "planned",
            "staged_date_time": self.ctx.clock.now(),
        }
        outcome.staged_clear = False
        assert outcome.log is not None
        outcome.log.action = action
        outcome.log.status = "skipped"
        outcome.log.step(
            PLANNED_STEPS[action],
            "processing",
            "success",
            f"{outcome.object_type} '{outcome.log.source_display_name}' will be {action}d in the target "
            "once the deletion guard has counted this cycle's disables and deletes",
        )
        outcome.extra["planned"] = action
        return outcome

    # Exports

    async def _match_or_create(
        self, mapping: CompiledObjectMapping, object_type: str, source: dict[str, Any], outcome: Outcome
    ) -> None:
        assert outcome.log is not None
        desired = mapping.values(source, self.ctx.evaluation, creating=True)
        match = await self._match(mapping, object_type, source, outcome)
        if match is not None:
            # Correct every mapped attribute, including ones set in the target but empty here.
            current = shapes.flatten_resource(match, mapping.targets)
            current = {k: v for k, v in current.items() if v is not None}
            await self._patch_to(object_type, match["id"], current, desired, outcome)
            references = {"matched": await self._references_in_target(mapping, object_type, match)}
            self._linked(outcome, match["id"], desired, source, references=references)
            return
        if not mapping.flow_add:
            outcome.log.step(
                "EntrySynchronizationSkip", "export", "skipped", "Add is not among the mapping's flow types"
            )
            return
        self.ctx.counters.exports_expected += 1
        outcome.log.action = "create"  # kept when the create fails
        body = shapes.user_resource(desired) if object_type == USER else shapes.group_resource(desired)
        created = await self.ctx.client.create(RESOURCE[object_type], body)
        target_id = created.get("id")
        if not isinstance(target_id, str):
            raise ScimError(
                "SystemForCrossDomainIdentityManagementServiceIncompatible", "the created resource has no id"
            )
        self.ctx.counters.exported += 1
        outcome.log.action = "create"
        outcome.log.status = "success"
        outcome.log.modified = property_changes({}, desired)
        outcome.log.step(
            "EntryExportAdd",
            "export",
            "success",
            f"{object_type} '{outcome.log.source_display_name}' was created",
        )
        outcome.created = True
        self._linked(outcome, target_id, desired, source)

    async def _match(
        self, mapping: CompiledObjectMapping, object_type: str, source: dict[str, Any], outcome: Outcome
    ) -> dict[str, Any] | None:
        assert outcome.log is not None
        for flow in mapping.matching:
            value = mapping.matching_value(flow, source, self.ctx.evaluation)
            if value in (None, ""):
                continue
            params = shapes.match_query_params(flow.target, str(value), group=object_type == GROUP)
            found = await self.ctx.client.query(RESOURCE[object_type], params)
            if len(found) > 1:
                raise ScimError(
                    "DuplicateTargetEntries",
                    f"{len(found)} {RESOURCE[object_type]} in the target have {flow.target} '{value}'; none was chosen.",
                )
            if found:
                outcome.log.step(
                    "EntryMatching", "matching", "success", f"Matched on {flow.target} '{value}'"
                )
                return found[0]
        outcome.log.step("EntryMatching", "matching", "success", "No matching object in the target")
        return None

    async def _references_in_target(
        self, mapping: CompiledObjectMapping, object_type: str, found: dict[str, Any]
    ) -> dict[str, list[str]]:
        """The manager or members a matched object already has in the app, as target ids, so
        the references step corrects what differs instead of adding everything again (a
        connector data store reset must not leave duplicates or stale members behind).
        Empty when the mapping has no such reference or the app does not say."""
        attribute = "manager" if object_type == USER else "members"
        if attribute not in mapping.references:
            return {}
        path = shapes.MANAGER_PATH if object_type == USER else shapes.MEMBERS_PATH
        resource: dict[str, Any] | None = found
        if object_type == GROUP:
            # Groups are matched without their members (excludedAttributes=members).
            try:
                resource = await self.ctx.client.get(
                    RESOURCE[object_type], found["id"], {"attributes": shapes.MEMBERS_PATH}
                )
            except ScimError as exc:
                if exc.job_level:
                    raise
                return {}
        value = shapes.flatten_resource(resource or {}, [path])[path]
        ids = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        return {attribute: [str(i) for i in ids]}

    def _redundant(self, pending: PendingExport) -> bool:
        """Update flow, managed object: whether the target already has what the mapping wants
        (RedundantExport: logged as a skip, nothing written to the connector data store)."""
        outcome, mapping, cds = pending.outcome, pending.mapping, pending.cds
        assert outcome.log is not None and cds is not None
        desired = mapping.values(pending.source, self.ctx.evaluation, creating=False)
        exported = cds["exported"]
        add_only = mapping.add_only_targets
        old = {k: v for k, v in exported.items() if k not in add_only} if add_only else exported
        if old == desired or not mapping.flow_update:
            outcome.log.step(
                "EntrySynchronizationSkip",
                "export",
                "skipped",
                "The source and the target already match",
                REDUNDANT,
            )
            outcome.log.status = "skipped"
            outcome.extra["redundant"] = True
            outcome.cds = None
            outcome.escrow_clear = True
            return True
        pending.desired, pending.old = desired, dict(old)
        return False

    async def _update(self, pending: PendingExport) -> None:
        """PATCH what differs from the last exported values, or, when the last export failed
        (`verify`: the app may or may not have applied it), from what the app holds now. An
        object deleted behind our back (404) is matched again and provisioned anew."""
        mapping, object_type, source, outcome = (
            pending.mapping,
            pending.object_type,
            pending.source,
            pending.outcome,
        )
        cds, desired, old = pending.cds, pending.desired, pending.old
        assert outcome.log is not None and cds is not None
        add_only = mapping.add_only_targets
        try:
            if pending.verify:
                found = await self.ctx.client.get(RESOURCE[object_type], cds["target_id"])
                if found is None:
                    raise ScimError("InvalidAnchor", "the target object is gone", status=404)
                current = shapes.flatten_resource(found, [t for t in mapping.targets if t not in add_only])
                old = {k: v for k, v in current.items() if v is not None}
                outcome.log.step(
                    "EntryMatching",
                    "matching",
                    "success",
                    f"Read back from the target (target id '{cds['target_id']}'): its last export failed",
                )
            await self._patch_to(object_type, cds["target_id"], old, desired, outcome)
        except ScimError as exc:
            if exc.status != 404:
                raise
            outcome.log.step(
                "EntryExportUpdate", "export", "warning", "The target object is gone; matching again"
            )
            outcome.cds_remove = True
            await self._match_or_create(mapping, object_type, source, outcome)
            outcome.cds_remove = outcome.cds is None
            return
        kept = {k: v for k, v in cds["exported"].items() if k in add_only}
        self._linked(outcome, cds["target_id"], {**kept, **desired}, source, references=cds["references"])

    async def _patch_to(
        self, object_type: str, target_id: str, old: dict[str, Any], new: dict[str, Any], outcome: Outcome
    ) -> None:
        assert outcome.log is not None
        operations = shapes.update_operations(old, new, self.ctx.fmt)
        if not operations:
            outcome.log.status = "skipped"
            outcome.log.step(
                "EntrySynchronizationSkip",
                "export",
                "skipped",
                "The source and the target already match",
                REDUNDANT,
            )
            return
        self.ctx.counters.exports_expected += 1
        if outcome.log.action == "other":
            outcome.log.action = "update"  # kept when the PATCH fails
        await self.ctx.client.patch(RESOURCE[object_type], target_id, shapes.patch_body(operations))
        self.ctx.counters.exported += 1
        outcome.log.status = "success"
        outcome.log.modified = property_changes(old, new)
        outcome.log.step(
            "EntryExportUpdate",
            "export",
            "success",
            f"{object_type} '{outcome.log.source_display_name}' was updated",
        )

    def _linked(
        self,
        outcome: Outcome,
        target_id: str,
        exported: dict[str, Any],
        source: dict[str, Any],
        references: dict[str, Any] | None = None,
    ) -> None:
        now = self.ctx.clock.now()
        assert outcome.log is not None
        outcome.log.target_id = target_id
        outcome.cds = {
            "source_id": outcome.source_id,
            "object_type": outcome.object_type,
            "target_id": target_id,
            "state": "provisioned",
            "exported": exported,
            "references": references or {},
            "display_name": source.get("userPrincipalName") or source.get("displayName"),
            "created_date_time": now,
            "updated_date_time": now,
        }
        outcome.escrow_clear = True

    def _escrow(self, outcome: Outcome, code: str, message: str, *, reference: bool = False) -> None:
        now = self.ctx.clock.now()
        prior = self.escrowed.get(outcome.source_id)
        attempts = (int(prior["attempts"]) if prior else 0) + 1
        outcome.escrow = {
            "source_id": outcome.source_id,
            "object_type": outcome.object_type,
            "reference": reference,
            "error_code": code,
            "error_message": message,
            "attempts": attempts,
            "first_failed_date_time": prior["first_failed_date_time"] if prior else now,
            "next_retry_date_time": escrow_retry_at(self.ctx.settings, attempts, now),
        }
        outcome.cds = None
        if reference:
            self.ctx.counters.reference_failures += 1
        else:
            self.ctx.counters.escrowed += 1
        if outcome.log is not None:
            outcome.log.fail(
                code,
                f"{message} This operation was retried {attempts - 1} times. "
                f"It will be retried again after {outcome.escrow['next_retry_date_time'].isoformat()}.",
            )
            kind = "referenceResolution" if reference else "export"
            outcome.log.step("EntryExport", kind, "failure", message)

    # Staged disables and deletes, after the guard

    async def run_staged(
        self, staged: dict[str, Any], cds: dict[str, Any] | None, guard: str | None = None
    ) -> Outcome:
        """Run a disable or delete the deletion guard let through (`guard` says why, as a step
        of the object's entry of this cycle). An exported one that was not approved with
        ForceDeletes counts in the guard's window."""
        object_type = staged["object_type"]
        outcome = Outcome(staged["source_id"], object_type)
        outcome.log = self._log(
            object_type, staged["source_id"], cds.get("display_name") if cds else None, cds
        )
        outcome.log.continues = "staged"
        outcome.log.action = staged["action"]
        if guard:
            outcome.log.step("EntryDeletionGuard", "processing", "success", guard)
        if cds is None:
            outcome.log.status = "skipped"
            outcome.log.step("EntrySynchronizationSkip", "export", "skipped", "No longer managed by this job")
            return outcome
        mapping = mapping_for(self.ctx, object_type)
        self.ctx.counters.exports_expected += 1
        try:
            if staged["action"] == "delete":
                try:
                    await self.ctx.client.delete(RESOURCE[object_type], cds["target_id"])
                except ScimError as exc:
                    if exc.status != 404:
                        raise
                outcome.cds_remove = True
                outcome.log.step(
                    "EntryExportDelete", "export", "success", f"{object_type} was deleted in the target"
                )
            else:
                await self.ctx.client.patch(
                    RESOURCE[object_type],
                    cds["target_id"],
                    shapes.patch_body(shapes.disable_operations(self.ctx.fmt)),
                )
                exported = dict(cds["exported"])
                soft = mapping.soft_delete_target if mapping else None
                if soft:
                    exported[soft] = "False"
                outcome.cds = {
                    **cds,
                    "state": "disabled",
                    "exported": exported,
                    "updated_date_time": self.ctx.clock.now(),
                }
                outcome.cds.pop("job_id", None)
                outcome.log.step(
                    "EntryExportUpdate", "export", "success", f"{object_type} was disabled in the target"
                )
            self.ctx.counters.exported += 1
            outcome.log.status = "success"
            outcome.escrow_clear = True
            if staged["state"] != "approved":
                outcome.deletion_export = {
                    "source_id": staged["source_id"],
                    "action": staged["action"],
                    "exported_date_time": self.ctx.clock.now(),
                }
        except ScimError as exc:
            if exc.job_level:
                raise
            self._escrow(outcome, exc.code, exc.message)
        return outcome

    def held_log(self, staged: dict[str, Any], cds: dict[str, Any] | None, reason: str) -> LogEntry:
        """The guard held this planned disable or delete: a StagedDelete step of the object's
        entry of this cycle."""
        log = self._log(
            staged["object_type"], staged["source_id"], cds.get("display_name") if cds else None, cds
        )
        log.continues = "staged"
        log.action = "stageddelete"
        log.status = "skipped"
        log.step("EntryExportStagedDelete", "export", "skipped", reason)
        return log

    # References: manager and group members, once the objects they point at exist

    def reference_change(
        self,
        object_type: str,
        cds: dict[str, Any],
        desired_sources: list[str],
        target_ids: Mapping[str, str],
        provisioned: set[str],
    ) -> list[str] | None:
        """The manager (users) or members (groups) the target should reference, as source ids,
        when that differs from what it references now, or when what it references was only
        read from the app at matching and is yet to be recorded; None when nothing is to be done."""
        mapping = mapping_for(self.ctx, object_type)
        attribute = "manager" if object_type == USER else "members"
        if mapping is None or attribute not in mapping.references or cds["state"] != "provisioned":
            return None
        current = cds["references"].get(attribute) or []
        # Reference only what is provisioned; a disabled member or manager is kept, not added.
        desired = [s for s in desired_sources if s in target_ids and (s in current or s in provisioned)]
        if sorted(current) == sorted(desired) and not cds.get("adopted"):
            return None
        return desired

    async def export_references(
        self, object_type: str, cds: dict[str, Any], desired: list[str], target_ids: Mapping[str, str]
    ) -> Outcome:
        """Bring the manager or members in the target to `desired` (from `reference_change`);
        `cds` is the object's full connector data store row, written back with them. When the
        app already has them (a matched object), only the connector data store is written."""
        attribute = "manager" if object_type == USER else "members"
        current = list(cds["references"].get(attribute) or [])
        outcome = Outcome(cds["source_id"], object_type, staged_clear=False)
        references = {k: v for k, v in cds["references"].items() if k != "matched"}
        outcome.cds = {
            **{k: v for k, v in cds.items() if k not in ("job_id", "adopted")},
            "references": {**references, attribute: desired},
            "updated_date_time": self.ctx.clock.now(),
        }
        add = [target_ids[s] for s in desired if s not in current]
        remove = [target_ids[s] for s in current if s not in desired and s in target_ids]
        if not add and not remove:
            return outcome
        outcome.log = self._log(object_type, cds["source_id"], cds.get("display_name"), cds)
        outcome.log.continues = "reference"
        outcome.log.action = "update"
        self.ctx.counters.imported_reference_deltas += 1
        self.ctx.counters.exports_expected += 1
        try:
            if object_type == USER:
                manager = target_ids[desired[0]] if desired else None
                ops = shapes.manager_operations(manager, self.ctx.fmt)
                await self.ctx.client.patch("Users", cds["target_id"], shapes.patch_body(ops))
            else:
                for batch in shapes.member_operations(
                    add, remove, self.ctx.fmt, batch_size=self.ctx.settings.member_batch_size
                ):
                    await self.ctx.client.patch("Groups", cds["target_id"], shapes.patch_body(batch))
            self.ctx.counters.exported += 1
            outcome.log.status = "success"
            outcome.log.modified = [PropertyChange(attribute, ";".join(current), ";".join(desired))]
            outcome.log.step("EntryExportUpdate", "referenceResolution", "success", f"Updated {attribute}")
        except ScimError as exc:
            if exc.job_level:
                raise
            outcome.cds = None
            self._escrow(outcome, exc.code, exc.message, reference=True)
        return outcome
