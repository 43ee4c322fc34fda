"""The inbound cycle of an API-driven provisioning job (template API2AAD): staged bulkUpload
records → the job's attribute mappings → the directory.

At about 800 lines it is the longest module: planning, guarding and applying a page share one set
of record types. Splitting planning (match, decide) from applying is the next step.

Per cycle: plan every ready record (match, decide), let the accidental-deletion guard count
the disables, then apply the records page by page. Each page is one guarded transaction that
writes the directory users (each write appended to the change log, so outbound jobs pick the
change up like any other), the connector data store links, escrows, provisioning logs, and
removes the staged records it applied. A crash redoes at most one page, and a redo is
harmless because the record matches the user it created.

Decisions (reference graph-sync-api §7.2, engine behaviour §4, §5, §10):
- The records of one externalId are merged oldest first, so a partial record changes only the
  attributes it carries and later values win. Nulls do not flow (Entra's default).
- The user is found through the job's connector data store (the link made when it created or
  matched the user), then by the matching attributes, lowest matchingPriority first (by
  default externalId ↔ employeeId); two live users with the value is DuplicateTargetEntries.
- No match: create. Graph's required properties must come from the mappings
  (userPrincipalName, displayName, mailNickname), else MandatoryFieldsMissing; accountEnabled
  defaults to true when the record does not say (an HR record without `active` describes a
  current worker). Match: update what differs, or skip as redundant.
- `active` false on an enabled user is a disable; the disables of one cycle beyond the job's
  deletion threshold are held (StagedDelete log, TooManyDeletes quarantine) with their records
  until a restart with ForceDeletes approves them.
- The manager is the manager's externalId, resolved like the user itself. A manager not known
  yet (later in the same upload, or in a later one) leaves the user written and the link
  waiting; every cycle retries waiting links after its records are applied, so the link is
  made in the cycle that brings the manager in.
- A record that fails (mandatory fields missing, a userPrincipalName taken, a value too long)
  is escrowed: it stays staged and is retried with the escrow backoff, or at once when a newer
  record for the same externalId arrives.
- The watermark stays null: inbound cycles read staging, not the change log, and must not be
  woken by the directory changes they make themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import Boolean, Connection, String

from provisiond.clock import Clock
from provisiond.domain.provisioning_log import PropertyChange, property_changes
from provisiond.engine.context import Counters, CycleStopped, deletes_in_window, ensure_still_running
from provisiond.engine.logs import LogEntry, new_entry
from provisiond.engine.policy import EngineSettings, escrow_retry_at
from provisiond.engine.status import StatusWriter
from provisiond.graph.base import camel_name, valid_upn
from provisiond.graph.directory import UserUpdate
from provisiond.graph.text import forbidden_character
from provisiond.mapping import expressions
from provisiond.mapping.flows import CompiledObjectMapping, MappingError, compile_object_mapping
from provisiond.store import directory as directory_repo
from provisiond.store import engine_state as state
from provisiond.store import inbound as staging
from provisiond.store.changelog import append_change
from provisiond.store.db import Database
from provisiond.store.engine_state import GenerationChanged
from provisiond.store.tables import users

# The same set as services.inbound; the engine may not import the services layer.
INBOUND_TEMPLATE_IDS: Final = frozenset({"api2aad"})
ENTERPRISE: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER_ATTRIBUTE: Final = ENTERPRISE + ":manager"
USER: Final = "User"
PAGE_SIZE: Final = 200
SOURCE_SYSTEM: Final = "API"

# Columns the engine never writes: identity, bookkeeping, and the manager (a reference).
_NOT_WRITABLE: Final = frozenset({"id", "upn_key", "created_date_time", "deleted_date_time", "manager_id"})
_LIST_COLUMNS: Final = frozenset({"other_mails", "proxy_addresses", "business_phones"})
_REQUIRED_ON_CREATE: Final = ("user_principal_name", "display_name", "mail_nickname")


def is_inbound(job: Mapping[str, Any]) -> bool:
    return str(job.get("template_id") or "").lower() in INBOUND_TEMPLATE_IDS


class RecordError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class InboundContext:
    """One inbound cycle's facts (the status writer reads settings, counters, began, total_units)."""

    job: dict[str, Any]
    mapping: CompiledObjectMapping
    settings: EngineSettings
    cycle_id: str
    generation: int
    owner: str
    began: datetime
    evaluation: expressions.EvaluationContext
    total_units: int = 0
    counters: Counters = field(default_factory=Counters)

    @property
    def job_id(self) -> str:
        return str(self.job["id"])

    @property
    def service_principal_id(self) -> str:
        return str(self.job["service_principal_id"])


@dataclass
class PageWrites:
    """What one page writes in bulk at its end (creates, links, applied records)."""

    new_users: list[dict[str, Any]] = field(default_factory=list)
    upn_keys: set[str] = field(default_factory=set)
    links: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)


@dataclass
class Plan:
    """What one externalId's merged records mean for the directory."""

    external_id: str
    seqs: list[int]
    bulk_ids: list[str]
    source: dict[str, Any]
    user: dict[str, Any] | None
    matched_by: str | None
    values: dict[str, Any] = field(default_factory=dict)
    manager: str | None = None
    error: RecordError | None = None

    @property
    def disables(self) -> bool:
        return (
            self.user is not None
            and self.error is None
            and bool(self.user["account_enabled"])
            and self.values.get("account_enabled") is False
        )


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A staged SCIM user as the API directory's attribute names: `name.givenName`,
    `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`, custom
    `urn:contoso:employee:HireDate`; the manager reference is its `value` (an externalId)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "schemas":
            continue
        if key.startswith("urn:") and isinstance(value, Mapping):
            for sub, item in value.items():
                if key == ENTERPRISE and sub == "manager":
                    out[MANAGER_ATTRIBUTE] = item.get("value") if isinstance(item, Mapping) else item
                elif isinstance(item, Mapping):
                    for leaf, leaf_value in item.items():
                        out[f"{key}:{sub}.{leaf}"] = leaf_value
                else:
                    out[f"{key}:{sub}"] = item
        elif isinstance(value, Mapping):
            for sub, item in value.items():
                out[f"{key}.{sub}"] = item
        elif isinstance(value, list):
            for item in value:
                if not isinstance(item, Mapping) or not item.get("type"):
                    continue
                for sub, sub_value in item.items():
                    if sub != "type":
                        out.setdefault(f'{key}[type eq "{item["type"]}"].{sub}', sub_value)
        else:
            out[key] = value
    return out


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _column_value(column: str, value: Any) -> Any:
    """A mapped value in the shape and limits of its directory column."""
    col = users.c[column]
    if isinstance(col.type, Boolean):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise RecordError("InvalidValue", f"'{column}' takes true or false, not {value!r}.")
    if column in _LIST_COLUMNS:
        items = value if isinstance(value, list) else [value]
        return [_text(v) for v in items if v not in (None, "")]
    text = _text(value)
    length = getattr(col.type, "length", None) if isinstance(col.type, String) else None
    if length is not None and len(text) > length:
        raise RecordError(
            "InvalidValue",
            f"The value of '{column}' has {len(text)} characters; at most {length} are allowed.",
        )
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _check_upn(upn: str) -> None:
    if not valid_upn(upn):
        raise RecordError("InvalidValue", f"'{upn}' is not a valid userPrincipalName.")


_USER_PROPERTIES = {field.alias or name for name, field in UserUpdate.model_fields.items()}


def _check_values(values: Mapping[str, Any]) -> None:
    """What a record would write must be what the API would accept for a user (the same types,
    lengths and counts, and no NUL or lone surrogate): else the record fails alone, as an
    escrow, instead of the database refusing the page (PostgreSQL) or storing it (SQLite)."""
    wire = {k: v for k, v in _wire(values).items() if k in _USER_PROPERTIES}
    for name, value in wire.items():
        for text in value if isinstance(value, list) else [value]:
            problem = forbidden_character(text) if isinstance(text, str) else None
            if problem is not None:
                raise RecordError("InvalidValue", f"The value mapped to '{name}' contains {problem}.")
    try:
        UserUpdate.model_validate(wire)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordError(
            "InvalidValue", f"The value mapped to '{where}' is not accepted: {first['msg']}."
        ) from None


class InboundCycle:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        secrets: Callable[[str], dict[str, str]],
        stopping: Callable[[], bool],
    ) -> None:
        self.db = db
        self.clock = clock
        self.secrets = secrets
        self.stopping = stopping

    async def run(self, job: dict[str, Any], owner: str) -> None:
        status = StatusWriter(self.db, self.clock, job["id"], job["generation"], owner)
        began = self.clock.now()
        settings = EngineSettings.from_job(
            job["settings"], self.secrets(job["service_principal_id"]), job["schedule_interval"]
        )
        try:
            mapping = user_mapping(job["schema"] or {})
        except MappingError as exc:
            status.finish_failed(began, "InvalidSchema", str(exc), settings)
            return
        ctx = InboundContext(
            job=job,
            mapping=mapping,
            settings=settings,
            cycle_id=str(uuid.uuid4()),
            generation=job["generation"],
            owner=owner,
            began=began,
            evaluation=expressions.EvaluationContext(now=self.clock.now),
        )
        try:
            status.began()
            held = self._cycle(ctx, status)
            self._finish(ctx, status, held)
        except GenerationChanged:
            pass  # restarted or schema changed: the next cycle is already due
        except CycleStopped:
            status.stopped(ctx)

    def _cycle(self, ctx: InboundContext, status: StatusWriter) -> int:
        """Plan, guard, apply; returns how many disables the deletion guard held."""
        now = self.clock.now()
        with self.db.read() as conn:
            upto = staging.max_seq(conn, ctx.job_id)
            approved = {r["source_id"] for r in state.staged_in_states(conn, ctx.job_id, ("approved",))}
        held = 0
        if upto is not None:
            disabling: set[str] = set()
            cursor = 0
            while True:
                self._check(ctx)
                with self.db.read() as conn:
                    plans, cursor = self._page(ctx, conn, now, upto, cursor, only_disables=True)
                if not plans:
                    break
                ctx.total_units += len(plans)
                disabling |= {p.external_id for p in plans if p.disables}
            guarded = sorted(disabling - approved)
            threshold = ctx.settings.delete_threshold
            recent = deletes_in_window(self.db, ctx.job_id, ctx.settings, now)
            if threshold is not None and guarded and recent + len(guarded) > threshold:
                self._hold(ctx, guarded, recent)
                held = len(guarded)
            cursor = 0
            while True:
                self._check(ctx)
                # Planned again under the write lock: the directory may have moved meanwhile.
                with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
                    plans, cursor = self._page(ctx, conn, now, upto, cursor)
                    if not plans:
                        break
                    self._apply(ctx, conn, plans, approved)
                status.progress(ctx)
        self._resolve_waiting_references(ctx)
        return held

    def _page(
        self,
        ctx: InboundContext,
        conn: Connection,
        now: datetime,
        upto: int,
        cursor: int,
        *,
        only_disables: bool = False,
    ) -> tuple[list[Plan], int]:
        """Plans for the next page of ready externalIds after `cursor`, and the next cursor;
        `only_disables` matches only the records whose mapped accountEnabled is false (the
        deletion guard's count needs nothing else)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in staging.pending(conn, ctx.job_id, now, PAGE_SIZE, upto=upto, after=cursor):
            groups.setdefault(row["external_id"], []).append(row)
        if not groups:
            return [], cursor
        next_cursor = max(rows[0]["seq"] for rows in groups.values())
        links = _linked_users(conn, ctx.job_id, list(groups))
        plans = [
            self._plan(ctx, conn, ext, rows, links, only_disables=only_disables)
            for ext, rows in groups.items()
        ]
        return plans, next_cursor

    def _plan(
        self,
        ctx: InboundContext,
        conn: Connection,
        external_id: str,
        rows: list[dict[str, Any]],
        links: Mapping[str, dict[str, Any]],
        *,
        only_disables: bool = False,
    ) -> Plan:
        source: dict[str, Any] = {}
        for row in rows:
            source.update(flatten(row["data"]))
        plan = Plan(
            external_id=external_id,
            seqs=[r["seq"] for r in rows],
            bulk_ids=[r["bulk_id"] for r in rows],
            source=source,
            user=None,
            matched_by=None,
        )
        try:
            if only_disables:
                update = self._columns(ctx.mapping.values(source, ctx.evaluation, creating=False))
                if update.get("account_enabled") is not False:
                    return plan
            plan.user, plan.matched_by = self._match(ctx, conn, external_id, source, links)
            wanted = ctx.mapping.values(source, ctx.evaluation, creating=plan.user is None)
            plan.manager = _manager_value(wanted)
            plan.values = self._columns(wanted)
        except RecordError as exc:
            plan.error = exc
        return plan

    def _columns(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for target, value in wanted.items():
            column = _snake(target)
            if target == "manager" or column in _NOT_WRITABLE or column not in users.c:
                continue
            values[column] = _column_value(column, value)
        return values

    def _match(
        self,
        ctx: InboundContext,
        conn: Connection,
        external_id: str,
        source: Mapping[str, Any],
        links: Mapping[str, dict[str, Any]] | None = None,
    ) -> tuple[dict[str, Any] | None, str | None]:
        if links is None:
            links = _linked_users(conn, ctx.job_id, [external_id])
        if external_id in links:
            return links[external_id], "connector data store"
        for flow in ctx.mapping.matching:
            value = ctx.mapping.matching_value(flow, source, ctx.evaluation)
            column = _snake(flow.target)
            if value in (None, "") or column not in users.c:
                continue
            found = directory_repo.page(conn, users, where=users.c[column] == _text(value), limit=2)
            if len(found) > 1:
                raise RecordError(
                    "DuplicateTargetEntries",
                    f"More than one user has {flow.target} '{value}'; the record cannot be matched.",
                )
            if found:
                return found[0], flow.target
        return None, None

    def _find_by_external_id(
        self, ctx: InboundContext, conn: Connection, external_id: str
    ) -> dict[str, Any] | None:
        """A manager, by the externalId the record names: linked, else by the matching attributes."""
        try:
            user, _ = self._match(ctx, conn, external_id, {"externalId": external_id})
        except RecordError:
            return None
        return user

    def _hold(self, ctx: InboundContext, external_ids: list[str], recent: int) -> None:
        now = self.clock.now()
        logs = []
        for external_id in external_ids:
            entry = self._entry(ctx, external_id, None, now)
            entry.action = "stageddelete"
            entry.status = "skipped"
            entry.step(
                "EntryExportStagedDelete",
                "export",
                "skipped",
                f"The disable is held: this cycle's {len(external_ids)} disables, with {recent} applied "
                f"within the deletion window, exceed the threshold of {ctx.settings.delete_threshold}. "
                "Restart with ForceDeletes to let them run.",
            )
            logs.append(entry.record(now))
        with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
            state.staged_apply(
                conn,
                ctx.job_id,
                [
                    (
                        external_id,
                        {
                            "source_id": external_id,
                            "object_type": USER,
                            "action": "disable",
                            "state": "held",
                            "staged_date_time": now,
                        },
                    )
                    for external_id in external_ids
                ],
            )
            state.logs_insert(conn, logs)

    def _apply(self, ctx: InboundContext, conn: Connection, plans: list[Plan], approved: set[str]) -> None:
        """Write one page's plans inside its guarded transaction, with their records."""
        now = self.clock.now()
        logs: list[dict[str, Any]] = []
        written: list[tuple[Plan, LogEntry]] = []
        page = PageWrites()
        for plan in plans:
            entry = self._entry(ctx, plan.external_id, plan, now)
            ctx.counters.imported += 1
            if plan.error is None:
                try:
                    self._write(ctx, conn, plan, entry, now, page)
                except RecordError as exc:
                    plan.error = exc
            if plan.error is not None:
                self._escrow(ctx, conn, plan, entry, now)
                continue
            page.seqs += plan.seqs
            written.append((plan, entry))
        # One statement each for the page's creates, links and cleared escrows and records.
        if page.new_users:
            conn.execute(users.insert(), page.new_users)
        state.cds_apply(conn, ctx.job_id, page.links)
        done = [plan.external_id for plan, _ in written]
        state.escrows_apply(conn, ctx.job_id, [(e, None) for e in done])
        state.staged_apply(conn, ctx.job_id, [(e, None) for e in done if e in approved])
        state.deletion_exports_record(
            conn,
            ctx.job_id,
            [
                {"source_id": plan.external_id, "action": "disable", "exported_date_time": now}
                for plan, _ in written
                if plan.disables and plan.external_id not in approved
            ],
        )
        staging.remove(conn, page.seqs)
        # Managers after the users: one named later in the same page exists by now.
        for plan, entry in written:
            if plan.manager is not None:
                self._link_manager(ctx, conn, plan, entry, now)
            logs.append(entry.record(self.clock.now()))
        state.logs_insert(conn, logs)

    def _write(
        self,
        ctx: InboundContext,
        conn: Connection,
        plan: Plan,
        entry: LogEntry,
        now: datetime,
        page: PageWrites,
    ) -> None:
        values = dict(plan.values)
        _check_values(values)
        upn = values.get("user_principal_name")
        if upn is not None:
            _check_upn(upn)
            changes_upn = plan.user is None or plan.user["upn_key"] != upn.lower()
            if changes_upn and (
                upn.lower() in page.upn_keys
                or directory_repo.upn_taken(conn, upn, excluding=plan.user["id"] if plan.user else None)
            ):
                raise RecordError("EntryConflict", f"Another user already has the userPrincipalName '{upn}'.")
            values["upn_key"] = upn.lower()
        ctx.counters.entitled += 1
        if plan.user is None:
            missing = [c for c in _REQUIRED_ON_CREATE if not values.get(c)]
            if missing:
                raise RecordError(
                    "MandatoryFieldsMissing",
                    "The user cannot be created without "
                    + ", ".join(camel_name(c) for c in missing)
                    + "; map them or send the attributes they come from.",
                )
            record: dict[str, Any] = {c.name: None for c in users.columns}
            record.update({c: [] for c in _LIST_COLUMNS})
            record.update(values)
            record.update(
                id=str(uuid.uuid4()),
                created_date_time=now,
                user_type=values.get("user_type") or "Member",
                account_enabled=values.get("account_enabled", True),
            )
            page.new_users.append(record)
            page.upn_keys.add(record["upn_key"])
            append_change(conn, object_type="user", object_id=record["id"], change_type="created", at=now)
            plan.user = record
            entry.action = "create"
            entry.status = "success"
            entry.modified = property_changes({}, _wire(values))
            entry.step(
                "EntryExportAdd",
                "export",
                "success",
                f"User '{plan.external_id}' was created in Azure Active Directory",
            )
            ctx.counters.exports_expected += 1
            ctx.counters.exported += 1
        else:
            changed = {c: v for c, v in values.items() if plan.user.get(c) != v}
            if changed:
                directory_repo.update_fields(conn, users, plan.user["id"], changed)
                append_change(
                    conn, object_type="user", object_id=plan.user["id"], change_type="updated", at=now
                )
                entry.action = "disable" if plan.disables else "update"
                entry.status = "success"
                entry.modified = property_changes(
                    _wire({c: plan.user.get(c) for c in changed}), _wire(changed)
                )
                entry.step(
                    "EntryExportUpdate",
                    "export",
                    "success",
                    f"User '{plan.external_id}' was updated in Azure Active Directory",
                )
                plan.user = {**plan.user, **changed}
                ctx.counters.exports_expected += 1
                ctx.counters.exported += 1
            else:
                entry.action = "other"
                entry.status = "skipped"
                entry.step(
                    "EntrySynchronizationSkip",
                    "export",
                    "skipped",
                    "The user in Azure Active Directory already has these values.",
                    {"SkipReason": "RedundantExport"},
                )
        entry.target_id = plan.user["id"]
        entry.target_display_name = plan.user.get("display_name")
        page.links.append(
            (
                plan.external_id,
                {
                    "source_id": plan.external_id,
                    "object_type": USER,
                    "target_id": plan.user["id"],
                    "state": "provisioned",
                    "exported": _wire(values),
                    "references": {},
                    "display_name": plan.user.get("display_name"),
                    "created_date_time": now,
                    "updated_date_time": now,
                },
            )
        )

    def _link_manager(
        self, ctx: InboundContext, conn: Connection, plan: Plan, entry: LogEntry, now: datetime
    ) -> None:
        assert plan.user is not None and plan.manager is not None
        manager = self._find_by_external_id(ctx, conn, plan.manager)
        staging.remove_references_of(conn, ctx.job_id, [plan.external_id])
        if manager is None:
            staging.stage(
                conn,
                ctx.job_id,
                [
                    {
                        "upload_id": "reference",
                        "bulk_id": plan.bulk_ids[-1],
                        "external_id": plan.external_id,
                        "kind": staging.REFERENCE,
                        "data": {"manager": plan.manager},
                        "received_date_time": now,
                    }
                ],
            )
            ctx.counters.reference_failures += 1
            entry.step(
                "EntryReferenceResolution",
                "referenceResolution",
                "warning",
                f"Manager '{plan.manager}' is not known yet; the link is made when a record for it arrives.",
                {"ManagerExternalId": plan.manager},
            )
            if entry.status == "success":
                entry.status = "warning"
            return
        self._set_manager(conn, plan.user, manager, entry, now)

    def _set_manager(
        self, conn: Connection, user: dict[str, Any], manager: dict[str, Any], entry: LogEntry, now: datetime
    ) -> None:
        if manager["id"] == user["id"]:
            entry.step(
                "EntryReferenceResolution",
                "referenceResolution",
                "warning",
                "A user cannot be their own manager.",
            )
            return
        if user.get("manager_id") != manager["id"]:
            directory_repo.update_fields(conn, users, user["id"], {"manager_id": manager["id"]})
            append_change(
                conn,
                object_type="user",
                object_id=user["id"],
                change_type="managerChanged",
                related_id=manager["id"],
                at=now,
            )
            entry.modified.append(PropertyChange("manager", user.get("manager_id"), manager["id"]))
            if entry.action == "other":
                entry.action = "update"
                entry.status = "success"
        entry.step(
            "EntryReferenceResolution",
            "referenceResolution",
            "success",
            f"Manager resolved to user '{manager['user_principal_name']}'",
            {"ManagerId": manager["id"]},
        )

    def _resolve_waiting_references(self, ctx: InboundContext) -> None:
        """Links whose manager was unknown: make those whose manager exists now."""
        with self.db.read() as conn:
            waiting = staging.references(conn, ctx.job_id)
        for start in range(0, len(waiting), PAGE_SIZE):
            self._check(ctx)
            now = self.clock.now()
            with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
                logs = []
                for row in waiting[start : start + PAGE_SIZE]:
                    external_id = row["external_id"]
                    manager = self._find_by_external_id(ctx, conn, row["data"]["manager"])
                    user = self._find_by_external_id(ctx, conn, external_id)
                    if manager is None or user is None:
                        continue
                    entry = self._entry(ctx, external_id, None, now)
                    entry.action = "other"
                    entry.status = "success"
                    entry.target_id = user["id"]
                    entry.target_display_name = user.get("display_name")
                    self._set_manager(conn, user, manager, entry, now)
                    staging.remove(conn, [row["seq"]])
                    logs.append(entry.record(self.clock.now()))
                state.logs_insert(conn, logs)

    def _escrow(
        self, ctx: InboundContext, conn: Connection, plan: Plan, entry: LogEntry, now: datetime
    ) -> None:
        assert plan.error is not None
        previous = state.escrows_get(conn, ctx.job_id, [plan.external_id]).get(plan.external_id)
        attempts = (previous["attempts"] if previous else 0) + 1
        retry = escrow_retry_at(ctx.settings, attempts, now)
        state.escrows_apply(
            conn,
            ctx.job_id,
            [
                (
                    plan.external_id,
                    {
                        "source_id": plan.external_id,
                        "object_type": USER,
                        "reference": False,
                        "error_code": plan.error.code,
                        "error_message": plan.error.message,
                        "attempts": attempts,
                        "first_failed_date_time": previous["first_failed_date_time"] if previous else now,
                        "next_retry_date_time": retry,
                    },
                )
            ],
        )
        staging.mark_escrowed(conn, plan.seqs)
        ctx.counters.escrowed += 1
        entry.action = "create" if plan.user is None else "update"
        entry.fail(
            plan.error.code,
            f"{plan.error.message} This operation was retried {attempts - 1} times. "
            f"It will be retried again after this date: {retry.strftime('%Y-%m-%dT%H:%M:%SZ')} UTC",
        )
        entry.step("EntryExport", "export", "failure", plan.error.message)
        state.logs_insert(conn, [entry.record(self.clock.now())])

    def _entry(self, ctx: InboundContext, external_id: str, plan: Plan | None, now: datetime) -> LogEntry:
        source = plan.source if plan else {}
        name = source.get("displayName") or source.get("userName")
        entry = new_entry(ctx, now, USER, external_id, str(name) if name else None, target_type=USER)
        if plan is None:
            return entry
        entry.step(
            "EntryImport",
            "import",
            "success",
            f"Received User '{external_id}' from {SOURCE_SYSTEM} (bulkId {', '.join(plan.bulk_ids)})",
            {"BulkIds": ", ".join(plan.bulk_ids)},
        )
        if plan.user is not None:
            entry.target_id = plan.user["id"]
            entry.target_display_name = plan.user.get("display_name")
            entry.step(
                "EntryImportAdd" if plan.matched_by == "connector data store" else "EntryMatching",
                "matching",
                "success",
                f"User '{external_id}' matched user '{plan.user['user_principal_name']}' by {plan.matched_by}",
            )
        elif plan.error is None or plan.error.code != "DuplicateTargetEntries":
            entry.step(
                "EntryMatching", "matching", "success", f"No user matches '{external_id}'; it will be created"
            )
        return entry

    def _check(self, ctx: InboundContext) -> None:
        ensure_still_running(self.db, self.stopping, ctx.job_id, ctx.generation, ctx.owner)

    def _finish(self, ctx: InboundContext, status: StatusWriter, held: int) -> None:
        if not status.finish(ctx, held, held_what="disables"):
            return
        # Records that arrived while the cycle ran: their upload made the job due, and the
        # finish just scheduled the next interval over it.
        with state.guarded(self.db, ctx.job_id, ctx.generation) as conn:
            if staging.has_fresh(conn, ctx.job_id):
                state.update_job(conn, ctx.job_id, {"cycle_due_at": self.clock.now()})


def user_mapping(schema: Mapping[str, Any]) -> CompiledObjectMapping:
    """The enabled object mapping of the schema's first rule that provisions directory users."""
    rules = sorted(schema.get("synchronizationRules") or [], key=lambda r: int(r.get("priority") or 0))
    for rule in rules[:1]:
        for mapping in rule.get("objectMappings") or []:
            if str(mapping.get("targetObjectName") or "").lower() != "user":
                continue
            compiled = compile_object_mapping(mapping)
            if compiled.enabled:
                return compiled
    raise MappingError("The schema has no enabled object mapping whose target object is User.")


def _linked_users(conn: Connection, job_id: str, external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The live directory users the job's connector data store links these externalIds to."""
    links = state.cds_get(conn, job_id, external_ids)
    found = directory_repo.by_ids(conn, users, [link["target_id"] for link in links.values()])
    out = {}
    for external_id, link in links.items():
        user = found.get(link["target_id"])
        if user is not None and user["deleted_date_time"] is None:
            out[external_id] = user
    return out


def _manager_value(wanted: Mapping[str, Any]) -> str | None:
    """The manager's externalId, when the record carries one (through the mapping to `manager`)."""
    value = wanted.get("manager")
    if value in (None, ""):
        return None
    return _text(value)


def _wire(values: Mapping[str, Any]) -> dict[str, Any]:
    return {camel_name(k): v for k, v in values.items() if k != "upn_key"}
