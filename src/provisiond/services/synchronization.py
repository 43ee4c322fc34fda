"""Synchronization use cases: templates, jobs and their lifecycle, schema, secrets, credentials.

Its length is the lifecycle, schema, secrets and credential use cases of one resource, the
synchronization of a service principal; templates, discovery and on-demand have modules of their own.

Job lifecycle (reference §9 and DESIGN invariant 4): start, pause and restart commit their
state change before returning and are idempotent, since the Graph SDK retries POSTs. The
transitions themselves (schedule, status code, quarantine, next cycle) are the domain's
(provisiond.domain.job_state); this service reads the job, applies one and writes it back with
the restart's other effects in the same transaction.

- start: schedule Active, a cycle due now, a quarantine cleared; status NotRun until the first
  cycle completes, Active after.
- pause: schedule and status Paused; the watermark and all progress are kept.
- restart: "forcing it to reprocess all the objects in the directory" (the seed). Whatever the
  resetScope, the next cycle is a full pass, as an initial cycle is: it imports and decides
  every object in scope and every object the connector data store knows (DESIGN invariant 7).
  The flags say only what is cleared first, in the same transaction: Watermark the watermark,
  Escrows the escrows, QuarantineState the quarantine, ConnectorDataStore what the engine
  knows of the target (so every object is matched again against the app), ForceDeletes
  releases the held disables and deletes (and starts the deletion guard's window again). The
  restart is recorded (scopes, time, caller) and the job becomes Active with a cycle due now.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from provisiond.clock import Clock
from provisiond.connectors import scim
from provisiond.connectors.directory import DirectorySource
from provisiond.connectors.outbound import OutboundRefused
from provisiond.domain.job_state import JobState, JobStatus, ScheduleState
from provisiond.engine.objects import USER, enrich_with
from provisiond.engine.policy import InvalidSetting, check_setting
from provisiond.graph.enums import SynchronizationJobRestartScope as Scope
from provisiond.graph.synchronization import (
    CreateJobRequest,
    JobPatchRequest,
    RestartRequest,
    SecretsPutRequest,
    SynchronizationSchema,
    SynchronizationTemplate,
    ValidateCredentialsRequest,
)
from provisiond.mapping.flows import compile_schema
from provisiond.services import inbound, templates
from provisiond.services.errors import BadRequest, Conflict, NotFound
from provisiond.services.outbound import check_base_address, not_a_scim_service, refused
from provisiond.services.schema_validation import validate_schema
from provisiond.services.writes import WritingService
from provisiond.store import engine_state
from provisiond.store import synchronization as repo
from provisiond.store.db import Database
from provisiond.store.job_state import job_state
from provisiond.store.secretbox import SecretBox

Record = dict[str, Any]

DEFAULT_RESTART_SCOPE = Scope.Watermark | Scope.Escrows | Scope.QuarantineState

# Secrets whose values are credentials: masked on read. Configuration values such as
# BaseAddress or SyncAll are shown, because an administrator needs to see what is configured.
SENSITIVE_SECRETS = frozenset(
    {
        "Password",
        "SecretToken",
        "AppKey",
        "ClientSecret",
        "ConsumerSecret",
        "TokenKey",
        "Oauth2AccessToken",
        "Oauth2RefreshToken",
        "Oauth2ClientSecret",
        "Oauth2AuthorizationCode",
        "ConnectionString",
    }
)
MASK = "*"
BOOLEAN_SECRETS = ("SyncAll", "SkipOutOfScopeDeletions")


class SynchronizationService(WritingService):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        tenant_id: str,
        secret_box: SecretBox,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.tenant_id = tenant_id
        self.box = secret_box
        self.changed = changed

    # Templates

    def templates(self, sp: Record, application_id: str | None) -> list[Record]:
        """The templates a service principal offers, with its application's customisations applied."""
        if sp.get("application_template_id") != templates.APPLICATION_TEMPLATE_CUSTOM_SCIM:
            return []
        out = []
        with self.db.read() as conn:
            for template in templates.builtin_templates(sp["app_id"]):
                override = (
                    repo.template_override(conn, application_id, template["id"]) if application_id else None
                )
                if override and override["template"]:
                    template = {**override["template"], "id": template["id"], "schema": template["schema"]}
                if override and override["schema"]:
                    template["schema"] = override["schema"]
                out.append(template)
        return out

    def template(self, sp: Record, application_id: str | None, template_id: str) -> Record:
        for template in self.templates(sp, application_id):
            if template["id"].lower() == template_id.lower():
                return template
        raise NotFound(
            f"The synchronization template '{template_id}' was not found.", code="Request_ResourceNotFound"
        )

    def replace_template(
        self, sp: Record, application_id: str, template_id: str, body: dict[str, Any]
    ) -> None:
        """PATCH of an application's template: "Missing properties will be erased" (reference T3)."""
        current = self.template(sp, application_id, template_id)
        parsed = _validated(SynchronizationTemplate, {**body, "id": current["id"]})
        if parsed["schema"] is not None:
            validate_schema(parsed["schema"])
        stored = {k: v for k, v in parsed.items() if k != "schema"}
        with self._write() as conn:
            repo.put_template_override(conn, application_id, current["id"], template=stored)
            if "schema" in body and body["schema"] is not None:
                repo.put_template_override(conn, application_id, current["id"], schema=parsed["schema"])

    def put_template_schema(
        self, sp: Record, application_id: str, template_id: str, body: dict[str, Any]
    ) -> None:
        current = self.template(sp, application_id, template_id)
        schema = _validated(SynchronizationSchema, body)
        validate_schema(schema)
        schema["id"] = current["schema"]["id"]
        schema["version"] = _next_version(current["schema"].get("version"))
        with self._write() as conn:
            repo.put_template_override(conn, application_id, current["id"], schema=schema)

    def delete_template_schema(self, sp: Record, application_id: str, template_id: str) -> None:
        current = self.template(sp, application_id, template_id)
        with self._write() as conn:
            repo.put_template_override(conn, application_id, current["id"], schema=None)

    # Jobs

    def create_job(self, sp: Record, application_id: str | None, body: CreateJobRequest) -> Record:
        template = next(
            (t for t in self.templates(sp, application_id) if t["id"].lower() == body.template_id.lower()),
            None,
        )
        if template is None:
            raise BadRequest(
                f"The template '{body.template_id}' is not one of the synchronization templates of service principal '{sp['id']}'.",
                code="InvalidTemplateId",
            )
        job_id = f"{template['id']}.{self.tenant_id.replace('-', '')}.{sp['app_id']}"
        now = self.clock.now()
        record = {
            "id": job_id,
            "service_principal_id": sp["id"],
            "template_id": template["id"],
            "schedule_interval": templates.DEFAULT_SCHEDULE_INTERVAL,
            "schedule_state": "Disabled",
            "schedule_expiration": None,
            "status": JobStatus.initial(),
            "settings": templates.default_job_settings(template["id"]),
            # The job takes its own copy: later template changes reach it only through a schema reset.
            "schema": {**copy.deepcopy(template["schema"]), "id": job_id},
            "schema_version": 1,
            "watermark": None,
            "cycle_due_at": None,
            "created_date_time": now,
        }
        with self._write() as conn:
            if repo.job_exists(conn, job_id):
                raise Conflict(
                    f"A synchronization job from template '{template['id']}' already exists for this service principal.",
                    code="Conflict",
                )
            repo.insert_job(conn, record)
        return record

    def jobs(self, sp: Record) -> list[Record]:
        with self.db.read() as conn:
            return repo.list_jobs(conn, sp["id"])

    def job(self, sp: Record, job_id: str) -> Record:
        with self.db.read() as conn:
            return _job(conn, sp, job_id)

    @staticmethod
    def state_of(job: Record) -> JobState:
        """The typed schedule and status of a job this service returned (for the wire shapes)."""
        return job_state(job)

    def delete_job(self, sp: Record, job_id: str) -> None:
        """Stop the job and delete all its state; accounts in the target are left as they are."""
        with self._write() as conn:
            _job(conn, sp, job_id)
            repo.delete_job(conn, job_id)

    def patch_job(self, sp: Record, job_id: str, body: JobPatchRequest) -> None:
        """Our documented extension (Graph lists PATCH without documenting it).

        - `schedule.interval` (a positive ISO 8601 duration) and `schedule.expiration`;
        - `schedule.state`: Active acts as start, Paused as pause, Disabled stops scheduling;
        - `synchronizationJobSettings`: merged by name, so one threshold can change without
          restating the rest; a null value removes that setting.
        """
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            values: dict[str, Any] = {}
            if body.schedule is not None:
                sent = body.schedule.model_fields_set
                if "interval" in sent:
                    interval = body.schedule.interval
                    if interval is None or interval.total_seconds() <= 0:
                        raise BadRequest(
                            "schedule.interval must be a positive duration.", code="RequestParameterInvalid"
                        )
                    values["schedule_interval"] = body.schedule.to_wire()["interval"]
                if "expiration" in sent:
                    values["schedule_expiration"] = body.schedule.expiration
                if "state" in sent:
                    state = body.schedule.state
                    if state is None:
                        raise BadRequest("schedule.state cannot be null.", code="RequestParameterInvalid")
                    values.update(self._state_values(job, ScheduleState(state.value)))
            if body.synchronization_job_settings is not None:
                _check_settings(body.synchronization_job_settings)
                values["settings"] = _merged_settings(job["settings"], body.synchronization_job_settings)
            if values:
                repo.update_job(conn, job["id"], values)

    def start(self, sp: Record, job_id: str) -> None:
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            repo.update_job(conn, job["id"], self._state_values(job, ScheduleState.Active))

    def pause(self, sp: Record, job_id: str) -> None:
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            repo.update_job(conn, job["id"], self._state_values(job, ScheduleState.Paused))

    def _state_values(self, job: Record, state: ScheduleState) -> dict[str, Any]:
        """Column values for a schedule state: Active (start: a cycle due now, quarantine
        cleared), Paused (kept progress, no cycles) or Disabled (no cycles); the transitions
        are the domain's (provisiond.domain.job_state)."""
        before = job_state(job)
        if state is ScheduleState.Active:
            after = before.started(self.clock.now())
        elif state is ScheduleState.Paused:
            after = before.paused()
        else:
            after = before.disabled()
        return _all_values(after)

    def restart(self, sp: Record, job_id: str, body: RestartRequest, requested_by: str) -> Scope:
        """Apply the reset scopes to the engine's state in one transaction (see the module doc).

        The generation bump makes a cycle that is running now stop at its next checkpoint, so
        nothing it does afterwards can undo the reset; the next cycle starts at once.
        """
        scope = restart_scope(body)
        now = self.clock.now()
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            repo.record_restart(conn, job["id"], int(scope), now, requested_by)
            after = job_state(job).restarted(
                now,
                escrows=bool(scope & Scope.Escrows),
                quarantine=bool(scope & Scope.QuarantineState),
                force_deletes=bool(scope & Scope.ForceDeletes),
            )
            values: dict[str, Any] = {
                **_all_values(after),
                "generation": job["generation"] + 1,
                **reset_engine_state(conn, job, scope),
            }
            inbound.on_restart(conn, job, now)
            repo.update_job(conn, job["id"], values)
        return scope

    def restarts(self, sp: Record, job_id: str) -> list[Record]:
        with self.db.read() as conn:
            _job(conn, sp, job_id)
            return repo.restarts(conn, job_id)

    # Schema

    def job_schema(self, job: Record) -> Record:
        return copy.deepcopy(job["schema"])

    def put_job_schema(
        self, sp: Record, job_id: str, body: dict[str, Any], *, expected_version: int | None = None
    ) -> None:
        """Replace the schema; the next cycle re-evaluates every object (the watermark is cleared).
        `expected_version`: the schema version the change was made on (the console's Apply after
        a preview); a Conflict when another save landed since, checked under the job's lock."""
        schema = validated_schema(body)
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            if expected_version is not None and job["schema_version"] != expected_version:
                raise Conflict("The job's schema was saved by someone else since this change was previewed.")
            schema["id"] = job["id"]
            schema["version"] = f"v{job['schema_version'] + 1}"
            repo.update_job(conn, job["id"], self._reevaluate(job, schema))

    def delete_job_schema(self, sp: Record, application_id: str | None, job_id: str) -> None:
        """Back to the template's schema (as the application has customised it, if it has)."""
        try:
            default = copy.deepcopy(
                self.template(sp, application_id, self.job(sp, job_id)["template_id"])["schema"]
            )
        except NotFound:
            default = templates.template_schema(self.job(sp, job_id)["template_id"])
        with self._write() as conn:
            job = _job(conn, sp, job_id, for_update=True)
            repo.update_job(conn, job["id"], self._reevaluate(job, {**default, "id": job["id"]}))

    def _reevaluate(self, job: Record, schema: Record) -> dict[str, Any]:
        """A new schema: the next cycle is initial and evaluates every object again."""
        values: dict[str, Any] = {
            "schema": schema,
            "schema_version": job["schema_version"] + 1,
            "generation": job["generation"] + 1,
            "watermark": None,
            "initial_seq": None,
            "initial_cursor": None,
        }
        if job["schedule_state"] == "Active":
            values["cycle_due_at"] = self.clock.now()
        return values

    # Secrets

    def put_secrets(self, sp: Record, body: SecretsPutRequest) -> None:
        """Merge by key: keys not in the request keep their values."""
        pairs = [(p.key.value, p.value or "") for p in body.value]
        for key, value in pairs:
            _check_secret(key, value)
        with self._write() as conn:
            for key, value in pairs:
                repo.put_secret(conn, sp["id"], key, self.box.seal(value))

    def masked_secrets(self, sp: Record) -> list[Record]:
        with self.db.read() as conn:
            stored = repo.secrets(conn, sp["id"])
        return [
            {"key": key, "value": MASK if key in SENSITIVE_SECRETS else self.box.open(value)}
            for key, value in sorted(stored.items())
        ]

    def secrets(self, sp: Record) -> dict[str, str]:
        """Decrypted secrets, for the engine and credential checks; never for the API's responses."""
        with self.db.read() as conn:
            return {key: self.box.open(value) for key, value in repo.secrets(conn, sp["id"]).items()}

    # Credentials

    def mapped_user(
        self, sp: Record, schema: Record, user_id: str
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
        """The directory's user as a cycle of this job under `schema` maps it: the user as the
        source connector reads it, that object with the attributes the engine computes
        (IsSoftDeleted, appRoleAssignments, from the job's assignments, SyncAll and scoping
        filter), and why it is or is not soft-deleted. The console tests expressions on it."""
        directory = DirectorySource(self.db)
        found = directory.users([user_id]).get(user_id)
        if found is None:
            raise NotFound.resource(user_id)
        sync_all = (self.secrets(sp).get("SyncAll") or "").strip().lower() == "true"
        source, details = enrich_with(
            compile_schema(schema).users, directory.assignments(sp["id"]), sync_all, USER, found
        )
        return found, source, details

    def validate_credentials(
        self,
        sp: Record,
        template_id: str,
        body: ValidateCredentialsRequest,
        outbound: scim.OutboundPolicy = scim.ALLOW_EVERYTHING,
    ) -> None:
        """Entra's Test Connection against the SCIM endpoint; 400 naming what failed.

        Choice: the caller learns only what it must fix and nothing about the network behind
        the service. A BaseAddress outside the operator's outbound policy is
        `OutboundAddressNotAllowed`; credentials the app refuses (401/403) are
        `...InvalidCredentials`; everything else (nothing listening, a port that does not speak
        HTTP, an HTTP server that is not SCIM, no answer in time, a name that does not resolve)
        is one `...ServiceIncompatible` with one message, so the call cannot tell a closed port
        from an open one. What the endpoint actually did goes to the service's log.
        """
        if template_id.lower() == "api2aad":
            return  # inbound provisioning has no target endpoint to test
        if body.use_saved_credentials:
            creds = self.secrets(sp)
        else:
            creds = {
                (p.key.value if hasattr(p.key, "value") else str(p.key)): p.value or ""
                for p in body.credentials or []
            }
        base = creds.get("BaseAddress")
        if not base:
            raise BadRequest(
                "No BaseAddress (tenant URL) was given to validate.",
                code="SystemForCrossDomainIdentityManagementCredentialValidationUnavailable",
            )
        _check_secret("BaseAddress", base)
        check_base_address(outbound, base)
        try:
            scim.test_connection(base, creds.get("SecretToken"), outbound=outbound)
        except OutboundRefused as exc:  # the name's DNS answer changed since the check above
            raise refused(base, exc) from None
        except scim.ScimConnectionError as exc:
            if exc.problem is scim.ConnectionProblem.UNAUTHORIZED:
                raise BadRequest(exc.detail, code=_CREDENTIAL_CODES[exc.problem]) from None
            raise not_a_scim_service(
                base,
                'a SCIM service answers GET /Users?filter=userName eq "<random id>" with 200 and an '
                "empty ListResponse",
                exc.detail,
                f"validateCredentials for service principal {sp.get('id')}",
            ) from None


_CREDENTIAL_CODES = {
    scim.ConnectionProblem.UNREACHABLE: "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable",
    scim.ConnectionProblem.UNAUTHORIZED: "SystemForCrossDomainIdentityManagementInvalidCredentials",
    scim.ConnectionProblem.NOT_SCIM: "SystemForCrossDomainIdentityManagementServiceIncompatible",
}


def reset_engine_state(conn: Any, job: Record, scope: Scope) -> dict[str, Any]:
    """What a restart with `scope` clears of the job's engine state (see the module doc),
    cleared on `conn`; returns the job's values it changes. The preview applies it to its
    scratch copy of the state (services/preview.py), so both read the flags the same way."""
    values: dict[str, Any] = {
        # A full pass from the first object, whatever the flags (see the module doc).
        "initial_cursor": None if inbound.is_inbound(job["template_id"]) else {"phase": "users"},
        "initial_seq": None,
    }
    if scope & Scope.ConnectorDataStore:
        engine_state.cds_clear(conn, job["id"])
    if scope & Scope.Escrows:
        engine_state.escrows_clear(conn, job["id"])
    if scope & Scope.Watermark:
        values["watermark"] = None
    # Held deletes run on ForceDeletes; otherwise they are planned again and re-counted.
    target_state = "approved" if scope & Scope.ForceDeletes else "planned"
    engine_state.staged_set_state(conn, job["id"], ("held", "planned"), target_state)
    if scope & Scope.ForceDeletes:
        engine_state.deletion_exports_clear(conn, job["id"])
    return values


def restart_scope(body: RestartRequest | None) -> Scope:
    """Missing, null or empty criteria or resetScope mean the portal's Restart (reference §3.1)."""
    if body is None or body.criteria is None or body.criteria.reset_scope is None:
        return DEFAULT_RESTART_SCOPE
    return Scope(int(body.criteria.reset_scope))


def _check_settings(changes: list[Any]) -> None:
    """Every setting the engine reads must hold a value it can run with (type, range, finite);
    400 naming the setting and its allowed range otherwise, before anything changes."""
    for change in changes:
        if change.value is None:
            continue
        try:
            check_setting(change.name, change.value)
        except InvalidSetting as exc:
            raise BadRequest(str(exc), code="RequestParameterInvalid") from None


def _merged_settings(current: list[Record], changes: list[Any]) -> list[Record]:
    merged = {entry["name"]: entry for entry in current}
    for change in changes:
        if change.value is None:
            merged.pop(change.name, None)
        else:
            merged[change.name] = {"name": change.name, "value": change.value}
    return list(merged.values())


def _all_values(state: JobState) -> dict[str, Any]:
    """The columns a start, pause or restart sets, whether or not they change."""
    return {
        "schedule_state": state.schedule.state.value,
        "status": state.status,
        "cycle_due_at": state.next_cycle,
    }


def _job(conn: Any, sp: Record, job_id: str, *, for_update: bool = False) -> Record:
    job = repo.get_job(conn, sp["id"], job_id, for_update=for_update)
    if job is None:
        raise NotFound(
            f"The synchronization job '{job_id}' was not found on service principal '{sp['id']}'.",
            code="Request_ResourceNotFound",
        )
    return job


def validated_schema(body: dict[str, Any]) -> Record:
    """A job schema as PUT .../schema accepts it, or BadRequest naming the first problem."""
    schema = _validated(SynchronizationSchema, body)
    validate_schema(schema)
    return schema


def _validated(model: Any, body: dict[str, Any]) -> Record:
    try:
        return model.model_validate(body).to_wire()
    except ValidationError as exc:
        raise BadRequest(_validation_message(exc), code="BadRequest") from None


def _validation_message(exc: Any) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"Invalid value for '{where}': {first['msg']}."


def _next_version(version: str | None) -> str:
    digits = "".join(ch for ch in (version or "") if ch.isdigit() or ch == ".")
    try:
        major = int(float(digits or 0))
    except ValueError:
        major = 0
    return f"{major + 1}.0"


def _check_secret(key: str, value: str) -> None:
    if key in BOOLEAN_SECRETS and value.strip().lower() not in ("true", "false"):
        raise BadRequest(
            f"The value of secret '{key}' must be 'True' or 'False'.", code="RequestParameterInvalid"
        )
    if key == "BaseAddress":
        from urllib.parse import urlsplit

        try:  # httpx would otherwise fail on a URL without a host or with a port out of range
            parts = urlsplit(value)
            valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            valid = False
    if key == "BaseAddress" and not valid:
        raise BadRequest(
            "BaseAddress must be an absolute http or https URL with a host (and a port from 1 to 65535).",
            code="RequestParameterInvalid",
        )
    if key == "SyncNotificationSettings":
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise BadRequest(
                "SyncNotificationSettings must be a JSON object.", code="RequestParameterInvalid"
            )
