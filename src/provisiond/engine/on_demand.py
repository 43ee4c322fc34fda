"""Provision on demand: one user, or one group with up to five of its members, through the
whole outbound pipeline now (graph-sync-api §7.1; entra-engine-behavior §5, §9).

It makes the same decisions as a cycle (`engine/objects.py`) and records them the same way
(`cycle.record_outcomes`: connector data store, escrows, staged deletes, provisioning log, in
a transaction guarded by the job's generation), but it never moves the watermark or the
initial cycle's cursor: the next cycle still reads every directory change, and finds the
object already in step (RedundantExport).

Choices where the reference is silent:
- Escrow backoff does not apply: the object is tried now ("provision on demand clears the
  backoff and forces an immediate retry"); a success clears the escrow, a failure continues
  its series (attempts, next retry) exactly as in a cycle.
- A disable or delete that a cycle would only plan runs at once, unless it would take the
  disables and deletes the job exported within its deletion window (this call's included)
  past the threshold; then it stays staged for the next cycle's accidental-deletion guard.
  One that runs counts in the window, as a cycle's do.
- A job-level failure (target unreachable, credentials rejected, no BaseAddress) fails the
  export step of the record. It neither escrows the object nor quarantines the job: on
  demand is how an administrator tests a configuration.
- Every record carries the five steps Import, Scoping, Matching, Processing and Export; where
  the cycle's decision skipped one (a managed object is matched through the connector data
  store, an out-of-scope object is not matched), the step says so.
- A group's members are processed first (they must exist before they can be members), then
  the group, then its memberships; a member is referenced only if it is provisioned.
- Who asked is the record's initiator (the log's `initiatedBy`, filterable), and is named in
  the Import step's details too (`InitiatedBy`, `InitiatedByType`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from provisiond.clock import Clock
from provisiond.connectors.directory import DirectorySource
from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.connectors.scim_client import ScimError
from provisiond.domain.provisioning_log import Initiator, LogStep, StepKind
from provisiond.engine.context import CycleContext, deletes_in_window
from provisiond.engine.cycle import (
    JobSecrets,
    cycle_context,
    process_objects,
    record_outcomes,
    resolve_references,
    scim_client_for,
)
from provisiond.engine.logs import LogEntry, new_entry
from provisiond.engine.objects import USER, ObjectProcessor, Outcome, enrich, mapping_for
from provisiond.engine.policy import EngineSettings
from provisiond.mapping.flows import CompiledSchema, MappingError, compile_schema
from provisiond.store import engine_state as state
from provisiond.store.db import Database

MAX_MEMBERS = 5

PROCESSING_NAMES = {
    "create": "EntrySynchronizationAdd",
    "update": "EntrySynchronizationUpdate",
    "disable": "EntrySynchronizationDisable",
    "delete": "EntrySynchronizationDelete",
}


class SubjectNotFound(Exception):
    """The subject (or a listed member) is neither in the directory nor managed by the job."""

    def __init__(self, object_id: str, object_type: str) -> None:
        super().__init__(f"{object_type} '{object_id}' does not exist in the directory.")
        self.object_id = object_id
        self.object_type = object_type


class SubjectInvalid(Exception):
    """The request names something the job cannot provision on demand."""


@dataclass(frozen=True)
class Subject:
    object_id: str
    object_type: str  # USER or GROUP
    members: tuple[str, ...] = ()


@dataclass
class OnDemandResult:
    """The subject's provisioning log record (as stored), and its members' records."""

    record: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Call:
    ctx: CycleContext
    initiator: Initiator
    staged_now: int = 0


def compile_rule(rule: Mapping[str, Any], subject: Subject) -> CompiledSchema:
    """The rule's compiled mappings; SubjectInvalid when they cannot provision this subject."""
    try:
        schema = compile_schema({"synchronizationRules": [dict(rule)]})
    except MappingError as exc:
        raise SubjectInvalid(
            f"The mappings of synchronization rule '{rule.get('id')}' are invalid: {exc}"
        ) from None
    types = [subject.object_type] + ([USER] if subject.members else [])
    for object_type in types:
        mapping = schema.users if object_type == USER else schema.groups
        if mapping is None:
            raise SubjectInvalid(
                f"Synchronization rule '{rule.get('id')}' has no enabled object mapping for {object_type} objects."
            )
    return schema


def load_subject(
    db: Database, job_id: str, subject: Subject
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The subject's directory object (None if hard-deleted but still managed) and its listed
    members; SubjectNotFound or SubjectInvalid before anything is sent anywhere."""
    source = DirectorySource(db)
    found = (source.users if subject.object_type == USER else source.groups)([subject.object_id])
    obj = found.get(subject.object_id)
    if obj is None:
        with db.read() as conn:
            managed = state.cds_get(conn, job_id, [subject.object_id]).get(subject.object_id)
        if managed is None or managed["object_type"] != subject.object_type:
            raise SubjectNotFound(subject.object_id, subject.object_type)
    members = source.users(list(subject.members))
    for member_id in subject.members:
        if member_id not in members:
            raise SubjectNotFound(member_id, USER)
    if subject.members:
        direct = {
            m for m, kind in source.members([subject.object_id]).get(subject.object_id, []) if kind == "user"
        }
        strangers = [m for m in subject.members if m not in direct]
        if strangers:
            raise SubjectInvalid(
                f"User '{strangers[0]}' is not a direct member of group '{subject.object_id}'."
            )
    return obj, members


async def provision_on_demand(
    db: Database,
    clock: Clock,
    job: dict[str, Any],
    rule: Mapping[str, Any],
    secrets: Mapping[str, str],
    subject: Subject,
    initiator: Initiator,
    *,
    owner: str,
    outbound: OutboundPolicy = ALLOW_EVERYTHING,
) -> OnDemandResult:
    """Run the subject (and its listed members) through the pipeline now and record it."""
    schema = compile_rule(rule, subject)
    obj, members = load_subject(db, job["id"], subject)
    began = clock.now()
    job_secrets = JobSecrets(dict(secrets))
    settings = EngineSettings.from_job(job["settings"], job_secrets.values, job["schedule_interval"])
    base_address = job_secrets.base_address
    client = scim_client_for(base_address or "", job_secrets, settings, outbound)
    ctx = cycle_context(
        db, clock, DirectorySource(db), job, job_secrets, schema, settings, client, owner=owner, began=began
    )
    call = _Call(ctx, initiator)
    try:
        if not base_address:
            failure = ScimError(
                "CredentialsMissing", "The BaseAddress secret (the SCIM endpoint) is not set.", job_level=True
            )
            records = [_job_failure(call, USER, m, members.get(m), failure) for m in subject.members]
            record = _job_failure(call, subject.object_type, subject.object_id, obj, failure)
            return OnDemandResult(record, records)
        records = [await _one(call, USER, m, members[m]) for m in subject.members]
        record = await _one(call, subject.object_type, subject.object_id, obj)
        return OnDemandResult(record, records)
    finally:
        await client.close()


async def _one(
    call: _Call, object_type: str, source_id: str, source: dict[str, Any] | None
) -> dict[str, Any]:
    ctx = call.ctx
    with ctx.db.read() as conn:
        managed = state.cds_get(conn, ctx.job_id, [source_id]).get(source_id)
        escrowed = state.escrows_get(conn, ctx.job_id, [source_id])
    try:
        [outcome] = await process_objects(
            ctx, object_type, [source_id], {source_id: source} if source else {}
        )
        if outcome.log is None:
            outcome.log = _unprocessed_log(ctx, object_type, source_id, source, managed)
        planned = outcome.staged
        threshold = ctx.settings.delete_threshold
        # PT0S counts each cycle alone; on demand, that is this call alone.
        recent = (
            deletes_in_window(ctx.db, ctx.job_id, ctx.settings, ctx.clock.now())
            if ctx.settings.delete_window
            else call.staged_now
        )
        if planned is not None and (threshold is None or recent + 1 <= threshold):
            call.staged_now += 1
            done = await ObjectProcessor(ctx, escrowed).run_staged(planned, managed)
            _merge_staged(outcome, done)
        elif planned is not None:
            outcome.log.step(
                "EntryExportStagedDelete",
                "export",
                "skipped",
                f"The {planned['action']} stays staged: with {recent} disables and deletes already "
                f"exported within the deletion window it would exceed the threshold of {threshold}; "
                "the next cycle's guard decides.",
            )
    except ScimError as exc:
        if not exc.job_level:
            raise
        return _job_failure(call, object_type, source_id, source, exc)
    log = outcome.log
    assert log is not None
    _mark_redundant(log)
    outcome.log = None
    record_outcomes(ctx, [outcome])
    await _references(call, object_type, source_id, log)
    _complete_steps(log, managed, call.initiator)
    record = log.record(ctx.clock.now())
    _insert_log(ctx, record)
    return record


async def _references(call: _Call, object_type: str, source_id: str, log: LogEntry) -> None:
    """The manager of a user, or the members of a group, once the object is recorded."""
    ctx = call.ctx
    with ctx.db.read() as conn:
        rows = list(state.cds_get(conn, ctx.job_id, [source_id]).values())
    try:
        outcomes = await resolve_references(ctx, rows)
    except ScimError as exc:
        log.step("EntryReferenceResolution", "referenceResolution", "failure", exc.message)
        if log.status != "failure":
            log.status = "warning"
            log.error_code, log.error_reason = exc.code, exc.message
        return
    for outcome in outcomes:
        ref = outcome.log
        outcome.log = None
        if ref is None:
            continue
        log.steps.extend(replace(step, kind=StepKind.ReferenceResolution) for step in ref.steps)
        log.modified.extend(ref.modified)
        if ref.status == "failure":
            if log.status != "failure":
                log.status = "warning"
                log.error_code, log.error_reason = ref.error_code, ref.error_reason
        elif log.action == "other" and ref.status == "success":
            log.action, log.status = "update", "success"
    record_outcomes(ctx, outcomes)


def _merge_staged(outcome: Outcome, done: Outcome) -> None:
    """Fold the disable or delete that ran at once into the object's outcome and record."""
    assert outcome.log is not None and done.log is not None
    outcome.log.steps.extend(done.log.steps)
    outcome.log.action = done.log.action
    outcome.log.status = done.log.status
    outcome.log.error_code = done.log.error_code
    outcome.log.error_reason = done.log.error_reason
    outcome.log.error_category = done.log.error_category
    outcome.log.target_id = done.log.target_id or outcome.log.target_id
    outcome.staged = None
    outcome.staged_clear = True
    outcome.cds, outcome.cds_remove = done.cds, done.cds_remove
    outcome.escrow, outcome.escrow_clear = done.escrow, done.escrow_clear
    outcome.deletion_export = done.deletion_export


def _unprocessed_log(
    ctx: CycleContext,
    object_type: str,
    source_id: str,
    source: dict[str, Any] | None,
    managed: dict[str, Any] | None,
) -> LogEntry:
    """The record of an object a cycle passes over silently (never provisioned and not in scope,
    or gone from the directory while the rule does not delete)."""
    display = (source or {}).get("userPrincipalName") or (source or {}).get("displayName")
    mapping = mapping_for(ctx, object_type)
    log = new_entry(
        ctx,
        ctx.clock.now(),
        object_type,
        source_id,
        display or (managed or {}).get("display_name"),
        target_type=mapping.target_object if mapping else object_type,
        target_id=managed["target_id"] if managed else None,
        target_display_name=display,
    )
    if source is None:
        log.step(
            "EntryImport", "import", "success", f"{object_type} was permanently deleted in the directory"
        )
        log.step(
            "EntrySynchronizationSkip", "export", "skipped", "Delete is not among the mapping's flow types"
        )
        return log
    _, details = enrich(ctx, object_type, source)
    log.step("EntryImport", "import", "success", f"Retrieved {object_type} '{display}' from the directory")
    reason = (
        "The object is not assigned to the application"
        if details["Assigned"] != "True"
        else "The object is not active or not in scope"
    )
    log.step("EntrySynchronizationScoping", "scoping", "skipped", reason, details)
    log.fail("NotEffectivelyEntitled", f"{reason}, and it was never provisioned.")
    log.status = "skipped"
    return log


def _job_failure(
    call: _Call, object_type: str, source_id: str, source: dict[str, Any] | None, exc: ScimError
) -> dict[str, Any]:
    """A record whose export failed for a reason of the whole job; only the log is written."""
    ctx = call.ctx
    display = (source or {}).get("userPrincipalName") or (source or {}).get("displayName")
    mapping = mapping_for(ctx, object_type)
    log = new_entry(
        ctx,
        ctx.clock.now(),
        object_type,
        source_id,
        display,
        target_type=mapping.target_object if mapping else object_type,
        target_display_name=display,
    )
    log.step("EntryImport", "import", "success", f"Retrieved {object_type} '{display}' from the directory")
    if source is not None:
        _, details = enrich(ctx, object_type, source)
        entitled = details["IsEffectivelyEntitledForProvisioning"] == "True"
        log.step(
            "EntrySynchronizationScoping",
            "scoping",
            "success" if entitled else "skipped",
            "Scoping evaluated",
            details,
        )
    log.step("EntryExport", "export", "failure", f"{exc.code}: {exc.message}")
    log.fail(exc.code, exc.message)
    _complete_steps(log, None, call.initiator)
    record = log.record(ctx.clock.now())
    _insert_log(ctx, record)
    return record


def _insert_log(ctx: CycleContext, record: dict[str, Any]) -> None:
    with state.guarded(ctx.db, ctx.job_id, ctx.generation) as conn:
        state.logs_insert(conn, [record])


def _mark_redundant(log: LogEntry) -> None:
    """A skip because source and target already match says so, as Entra's record does."""
    if log.status != "skipped" or log.action != "other" or log.error_code is not None:
        return
    if getattr(log, "extra_reason", None):  # SkipOutOfScopeDeletions, not a match
        return
    log.steps = [
        step.with_details(SkipReason="RedundantExport")
        if step.kind is StepKind.Export and step.status == "skipped"
        else step
        for step in log.steps
    ]


def _complete_steps(log: LogEntry, managed: dict[str, Any] | None, initiator: Initiator) -> None:
    """Import, Scoping, Matching, Processing and Export, in that order, each present once at
    least; the Import step names who asked."""
    steps = log.steps
    kinds = [s.kind for s in steps]
    imported = kinds.index(StepKind.Import) if StepKind.Import in kinds else None
    if imported is None:
        steps.insert(0, _step("EntryImport", "import", "success", "Read from the directory"))
        imported = 0
    log.initiated_by = initiator
    steps[imported] = steps[imported].with_details(
        InitiatedBy=initiator.id, InitiatedByType=initiator.initiator_type
    )
    if StepKind.Scoping not in kinds:
        steps.insert(
            imported + 1, _step("EntrySynchronizationScoping", "scoping", "skipped", "Scoping not evaluated")
        )
    kinds = [s.kind for s in steps]
    scoped = kinds.index(StepKind.Scoping)
    if StepKind.Matching not in kinds:
        if managed is not None:
            matching = _step(
                "EntryMatching",
                "matching",
                "success",
                f"Matched through the connector data store: target id '{managed['target_id']}'",
            )
        else:
            matching = _step(
                "EntryMatching", "matching", "skipped", "Not matched: the object is not provisioned"
            )
        steps.insert(scoped + 1, matching)
    kinds = [s.kind for s in steps]
    if StepKind.Processing not in kinds:
        name = PROCESSING_NAMES.get(log.action, "EntrySynchronizationSkip")
        decision = _step(
            name, "processing", "success" if log.action != "other" else "skipped", _decision(log)
        )
        exported = kinds.index(StepKind.Export) if StepKind.Export in kinds else len(steps)
        steps.insert(exported, decision)
    kinds = [s.kind for s in steps]
    if StepKind.Export not in kinds:
        steps.append(_step("EntrySynchronizationSkip", "export", "skipped", "Nothing was sent to the target"))


def _decision(log: LogEntry) -> str:
    what = f"{log.source_type} '{log.source_display_name or log.source_id}'"
    if log.action == "create":
        return f"{what} will be created in the target (no matching object was found)"
    if log.action in ("update", "disable", "delete"):
        return f"Action: {log.action} {what} in the target"
    if log.error_code:
        return f"No action for {what}: {log.error_code}"
    return f"No action for {what}: the source and the target already match"


def _step(name: str, kind: str, status: str, description: str) -> LogStep:
    return LogStep(name, StepKind(kind), status, description)
