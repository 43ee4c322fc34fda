"""The tables: the directory (source of truth), its change log, and synchronization state.

Column names are snake_case storage names; the mapping to Graph wire names lives in
`provisiond.graph.directory`, never here. Alembic migrations under `migrations/versions` are
the history of this file; `tests/store/test_migrations.py` checks they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    text,
)

from provisiond.store.job_state import JobStatusColumn
from provisiond.store.log_steps import LogStepsColumn, PropertyChangesColumn

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores no zone and hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = String(64)
TS = UtcDateTime()

instance = Table(
    "instance",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_principal_name", String(256), nullable=False),
    # Graph compares userPrincipalName case-insensitively. Only live users hold their name: a
    # soft-deleted user's UPN may be taken, which then blocks that user's restore.
    Column("upn_key", String(256), nullable=False),
    Column("display_name", String(256)),
    Column("given_name", String(64)),
    Column("surname", String(64)),
    Column("mail", String(256)),
    Column("mail_nickname", String(64)),
    Column("other_mails", JSON, nullable=False),
    Column("proxy_addresses", JSON, nullable=False),
    Column("job_title", String(128)),
    Column("department", String(64)),
    Column("company_name", String(64)),
    Column("employee_id", String(64)),
    Column("employee_type", String(64)),
    Column("office_location", String(128)),
    Column("mobile_phone", String(64)),
    Column("business_phones", JSON, nullable=False),
    Column("fax_number", String(64)),
    Column("street_address", String(1024)),
    Column("city", String(128)),
    Column("state", String(128)),
    Column("postal_code", String(40)),
    Column("country", String(128)),
    Column("preferred_language", String(16)),
    Column("usage_location", String(8)),
    Column("account_enabled", Boolean, nullable=False),
    Column("user_type", String(32)),
    Column("created_date_time", TS, nullable=False),
    Column("manager_id", ID, index=True),
    Column("deleted_date_time", TS),
    Index("ix_users_employee_id", "employee_id"),
    Index(
        "uq_users_live_upn_key",
        "upn_key",
        unique=True,
        sqlite_where=text("deleted_date_time IS NULL"),
        postgresql_where=text("deleted_date_time IS NULL"),
    ),
)

groups = Table(
    "groups",
    metadata,
    Column("id", ID, primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("description", String(1024)),
    Column("mail_nickname", String(64), nullable=False),
    Column("mail", String(256)),
    Column("mail_enabled", Boolean, nullable=False),
    Column("security_enabled", Boolean, nullable=False),
    Column("group_types", JSON, nullable=False),
    Column("created_date_time", TS, nullable=False),
    Column("deleted_date_time", TS),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ID, primary_key=True),
    Column("member_id", ID, primary_key=True),
    Column("member_type", String(32), nullable=False),
    Index("ix_group_members_member_id", "member_id"),
)

applications = Table(
    "applications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("app_id", ID, nullable=False, unique=True),
    Column("display_name", String(256)),
    Column("description", String(1024)),
    Column("application_template_id", ID),
    Column("sign_in_audience", String(64), nullable=False),
    Column("created_date_time", TS, nullable=False),
    Column("deleted_date_time", TS),
)

service_principals = Table(
    "service_principals",
    metadata,
    Column("id", ID, primary_key=True),
    Column("app_id", ID, nullable=False, unique=True),
    Column("display_name", String(256)),
    Column("application_template_id", ID),
    Column("app_owner_organization_id", ID),
    Column("service_principal_type", String(32), nullable=False),
    Column("account_enabled", Boolean, nullable=False),
    Column("app_role_assignment_required", Boolean, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created_date_time", TS, nullable=False),
    Column("deleted_date_time", TS),
)

owners = Table(
    "owners",
    metadata,
    Column("object_id", ID, primary_key=True),
    Column("owner_id", ID, primary_key=True),
    Column("owner_type", String(32), nullable=False),
    Index("ix_owners_owner_id", "owner_id"),
)

app_role_assignments = Table(
    "app_role_assignments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("principal_id", ID, nullable=False, index=True),
    Column("principal_type", String(32), nullable=False),
    Column("resource_id", ID, nullable=False, index=True),
    Column("app_role_id", ID, nullable=False),
    Column("created_date_time", TS, nullable=False),
)

# The ordered, durable log of directory writes. `seq` is the watermark's unit: reading the
# changes after N is an index range scan, so it costs O(changes), not O(directory).
directory_changes = Table(
    "directory_changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("object_type", String(32), nullable=False),
    Column("object_id", ID, nullable=False),
    Column("change_type", String(32), nullable=False),
    Column("related_id", ID),
    Column("changed_date_time", TS, nullable=False),
)

sync_secrets = Table(
    "sync_secrets",
    metadata,
    Column("service_principal_id", ID, primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value_encrypted", Text, nullable=False),
)

# Customised templates of an application (PATCH template, PUT template schema); absent rows
# mean the factory default of `provisiond.services.templates`.
sync_template_overrides = Table(
    "sync_template_overrides",
    metadata,
    Column("application_id", ID, primary_key=True),
    Column("template_id", String(128), primary_key=True),
    Column("template", JSON),
    Column("schema", JSON),
)

sync_jobs = Table(
    "sync_jobs",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("service_principal_id", ID, nullable=False, index=True),
    Column("template_id", String(128), nullable=False),
    Column("schedule_interval", String(64), nullable=False),
    Column("schedule_state", String(16), nullable=False),
    Column("schedule_expiration", TS),
    # The typed JobStatus as versioned JSON (store/job_state.py).
    Column("status", JobStatusColumn(), nullable=False),
    Column("settings", JSON, nullable=False),
    # NULL means the template's schema; a PUT stores the customised one here.
    Column("schema", JSON),
    Column("schema_version", Integer, nullable=False),
    # The last change-log seq whose outcome is recorded; NULL means the next cycle is initial.
    Column("watermark", BigInteger),
    Column("cycle_due_at", TS),
    Column("created_date_time", TS, nullable=False),
    # Bumped by restart and schema changes: a cycle that started under an older generation
    # stops at its next checkpoint instead of writing state that no longer applies.
    Column("generation", Integer, nullable=False, server_default="0"),
    # One cycle per job across all processes: whoever holds an unexpired lease runs it.
    Column("lease_owner", String(128)),
    Column("lease_expires_at", TS),
    # An initial cycle's checkpoint: the change-log position it will set as the watermark
    # when done, and how far through the directory it got (so a crash resumes, not restarts).
    Column("initial_seq", BigInteger),
    Column("initial_cursor", JSON),
)

sync_job_restarts = Table(
    "sync_job_restarts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(256), nullable=False, index=True),
    Column("reset_scope", Integer, nullable=False),
    Column("requested_date_time", TS, nullable=False),
    Column("requested_by", String(256)),
    Column("applied_date_time", TS),
)


# What the job manages in the target: the source object, the target id it was created or
# matched as, and the values last exported (to skip redundant writes and compute PATCHes).
connector_data_store = Table(
    "connector_data_store",
    metadata,
    Column("job_id", String(256), primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("target_id", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("exported", JSON, nullable=False),
    Column("references", JSON, nullable=False),
    Column("display_name", String(256)),
    Column("created_date_time", TS, nullable=False),
    Column("updated_date_time", TS, nullable=False),
    # What a matched object's manager or members are in the app are target ids.
    Index("ix_connector_data_store_job_target", "job_id", "target_id"),
)

# Objects whose export failed, retried with backoff in later cycles.
escrows = Table(
    "escrows",
    metadata,
    Column("job_id", String(256), primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("reference", Boolean, nullable=False),
    Column("error_code", String(128), nullable=False),
    Column("error_message", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_date_time", TS, nullable=False),
    Column("next_retry_date_time", TS, nullable=False),
)

# Disables and deletes held back by the accidental-deletion guard until ForceDeletes.
staged_deletes = Table(
    "staged_deletes",
    metadata,
    Column("job_id", String(256), primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("action", String(16), nullable=False),
    # planned: decided this cycle, not yet run; held: over the threshold, waiting for
    # ForceDeletes; approved: ForceDeletes given, runs in the next cycle whatever the count.
    Column("state", String(16), nullable=False),
    Column("staged_date_time", TS, nullable=False),
)

# The disables and deletes each job exported, newest last: the accidental-deletion guard counts
# them over a rolling window, so deletes spread over many fast cycles add up as they would
# within one of Entra's 40-minute cycles. Rows older than any window are pruned.
deletion_exports = Table(
    "deletion_exports",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(256), nullable=False),
    Column("source_id", ID, nullable=False),
    Column("action", String(16), nullable=False),
    Column("exported_date_time", TS, nullable=False),
    Index("ix_deletion_exports_job_time", "job_id", "exported_date_time"),
)

provisioning_logs = Table(
    "provisioning_logs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("job_id", String(256), nullable=False),
    Column("service_principal_id", ID, nullable=False),
    Column("cycle_id", String(64), nullable=False, index=True),
    Column("change_id", String(64), nullable=False),
    Column("activity_date_time", TS, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(128)),
    Column("error_reason", Text),
    Column("error_category", String(64)),
    Column("source_id", ID, nullable=False, index=True),
    Column("source_type", String(32), nullable=False),
    Column("source_display_name", String(256)),
    Column("target_id", String(256)),
    Column("target_type", String(128)),
    Column("target_display_name", String(256)),
    Column("steps", LogStepsColumn(), nullable=False),
    Column("modified_properties", PropertyChangesColumn(), nullable=False),
    # initiatedBy: the provisioning service for cycles, the caller for provision on demand.
    Column("initiated_by_id", String(256)),
    Column("initiated_by_display_name", String(256)),
    Column("initiated_by_type", String(32)),
    Index("ix_provisioning_logs_job_time", "job_id", "activity_date_time"),
    Index("ix_provisioning_logs_time", "activity_date_time"),
)
# $filter compares strings through lower() on both sides (store/odata_sql.py): the names and
# the job id are indexed as they are compared, so an `eq` on them reads the matching entries
# instead of scanning the log newest first (migration 0010).
Index("ix_provisioning_logs_source_name", func.lower(provisioning_logs.c.source_display_name))
Index("ix_provisioning_logs_target_name", func.lower(provisioning_logs.c.target_display_name))
Index(
    "ix_provisioning_logs_job_lower_time",
    func.lower(provisioning_logs.c.job_id),
    provisioning_logs.c.activity_date_time,
)
Index("ix_provisioning_logs_service_principal", provisioning_logs.c.service_principal_id)
Index("ix_provisioning_logs_initiator_name", func.lower(provisioning_logs.c.initiated_by_display_name))
# On PostgreSQL, migration 0012 adds pg_trgm GIN indexes on the lowered source and target names
# for contains(); they are not declared here since they exist only where pg_trgm can be installed.

# API-driven inbound provisioning: the SCIM user records accepted by bulkUpload, one row per
# operation, staged before the 202 and removed once a cycle has applied them to the directory.
# `kind` is "record" (an uploaded user) or "reference" (a manager link waiting for its manager
# to arrive); `escrowed` marks records whose last attempt failed and waits for the escrow retry.
inbound_records = Table(
    "inbound_records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(256), nullable=False),
    Column("upload_id", String(64), nullable=False),
    Column("bulk_id", String(256), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("escrowed", Boolean, nullable=False),
    Column("received_date_time", TS, nullable=False),
    Index("ix_inbound_records_job_seq", "job_id", "seq"),
    Index("ix_inbound_records_job_external_id", "job_id", "external_id"),
)

# Each job's finished cycles, newest last, the last `store.executions.KEPT` per job: the job's
# status holds only the last one, and the console charts the recent ones.
sync_job_executions = Table(
    "sync_job_executions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(256), nullable=False),
    Column("began", TS, nullable=False),
    Column("ended", TS, nullable=False),
    Column("result", String(32), nullable=False),
    Column("imported", Integer, nullable=False),
    Column("exported", Integer, nullable=False),
    Column("escrowed", Integer, nullable=False),
    Column("held", Integer, nullable=False),  # disables and deletes the guard holds at its end
    Column("error_code", String(128)),
    Index("ix_sync_job_executions_job_seq", "job_id", "seq"),
)

# Previews (dry runs) of a job's next cycle (services/preview.py): the run's state and counts,
# and the planned actions it listed, kept for an hour so the status URL and the pages of
# actions can be read from any API process. Not engine state: no cycle reads them.
sync_previews = Table(
    "sync_previews",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("job_id", String(256), nullable=False, index=True),
    Column("service_principal_id", ID, nullable=False),
    Column("status", String(16), nullable=False),  # running, succeeded, failed
    Column("reset_scope", Integer),  # the restart previewed; NULL when none
    Column("schema_changed", Boolean, nullable=False),
    Column("full_pass", Boolean),
    Column("processed", Integer, nullable=False),
    Column("total", Integer),
    Column("counts", JSON),
    Column("guard", JSON),
    Column("error_code", String(128)),
    Column("error_message", Text),
    Column("created_date_time", TS, nullable=False, index=True),
    # Moved on every progress report: a running preview not heard of for long has died.
    Column("updated_date_time", TS, nullable=False),
    Column("completed_date_time", TS),
)

sync_preview_actions = Table(
    "sync_preview_actions",
    metadata,
    Column("preview_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("source_id", ID, nullable=False),
    Column("display_name", String(256)),
    Column("target_id", String(256)),
    Column("action", String(16), nullable=False),
    Column("reason", Text),
    Column("changes", PropertyChangesColumn(), nullable=False),
)

# The admin console (api/console): signed-in sessions, and one-time sign-in grants (a console
# link's token, or an OpenID Connect sign-in waiting for its callback). Only SHA-256 hashes of
# the secrets are stored, so a copy of the database signs nobody in; rows live in the database
# so that any API process can redeem a link or find a session (PostgreSQL with --workers N).
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("identity", JSON, nullable=False),  # the Principal's claims and a display name
    Column("csrf_token", String(64), nullable=False),
    Column("created_date_time", TS, nullable=False),
    Column("last_seen_date_time", TS, nullable=False),
    Column("expires_date_time", TS, nullable=False, index=True),
)

console_grants = Table(
    "console_grants",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "link" or "oidc"
    Column("data", JSON, nullable=False),
    Column("created_date_time", TS, nullable=False),
    Column("expires_date_time", TS, nullable=False, index=True),
)
