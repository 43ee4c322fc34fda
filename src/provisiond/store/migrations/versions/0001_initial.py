"""directory, change log and synchronization state

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:23:42.522944
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "app_role_assignments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("principal_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("app_role_id", sa.String(length=64), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_role_assignments")),
    )
    with op.batch_alter_table("app_role_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_app_role_assignments_principal_id"), ["principal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_app_role_assignments_resource_id"), ["resource_id"], unique=False
        )

    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("application_template_id", sa.String(length=64), nullable=True),
        sa.Column("sign_in_audience", sa.String(length=64), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("app_id", name=op.f("uq_applications_app_id")),
    )
    op.create_table(
        "directory_changes",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("change_type", sa.String(length=32), nullable=False),
        sa.Column("related_id", sa.String(length=64), nullable=True),
        sa.Column("changed_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_directory_changes")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("member_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index("ix_group_members_member_id", ["member_id"], unique=False)

    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("mail_nickname", sa.String(length=64), nullable=False),
        sa.Column("mail", sa.String(length=256), nullable=True),
        sa.Column("mail_enabled", sa.Boolean(), nullable=False),
        sa.Column("security_enabled", sa.Boolean(), nullable=False),
        sa.Column("group_types", sa.JSON(), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_table(
        "instance",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance")),
    )
    op.create_table(
        "owners",
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("owner_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("object_id", "owner_id", name=op.f("pk_owners")),
    )
    with op.batch_alter_table("owners", schema=None) as batch_op:
        batch_op.create_index("ix_owners_owner_id", ["owner_id"], unique=False)

    op.create_table(
        "service_principals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("application_template_id", sa.String(length=64), nullable=True),
        sa.Column("app_owner_organization_id", sa.String(length=64), nullable=True),
        sa.Column("service_principal_type", sa.String(length=32), nullable=False),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("app_role_assignment_required", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_principals")),
        sa.UniqueConstraint("app_id", name=op.f("uq_service_principals_app_id")),
    )
    op.create_table(
        "sync_job_restarts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("reset_scope", sa.Integer(), nullable=False),
        sa.Column("requested_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=True),
        sa.Column("applied_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_job_restarts")),
    )
    with op.batch_alter_table("sync_job_restarts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_job_restarts_job_id"), ["job_id"], unique=False)

    op.create_table(
        "sync_jobs",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("service_principal_id", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("schedule_interval", sa.String(length=64), nullable=False),
        sa.Column("schedule_state", sa.String(length=16), nullable=False),
        sa.Column("schedule_expiration", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("cycle_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_jobs")),
    )
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_jobs_service_principal_id"), ["service_principal_id"], unique=False
        )

    op.create_table(
        "sync_secrets",
        sa.Column("service_principal_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service_principal_id", "key", name=op.f("pk_sync_secrets")),
    )
    op.create_table(
        "sync_template_overrides",
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("template", sa.JSON(), nullable=True),
        sa.Column("schema", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("application_id", "template_id", name=op.f("pk_sync_template_overrides")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_principal_name", sa.String(length=256), nullable=False),
        sa.Column("upn_key", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("given_name", sa.String(length=64), nullable=True),
        sa.Column("surname", sa.String(length=64), nullable=True),
        sa.Column("mail", sa.String(length=256), nullable=True),
        sa.Column("mail_nickname", sa.String(length=64), nullable=True),
        sa.Column("other_mails", sa.JSON(), nullable=False),
        sa.Column("proxy_addresses", sa.JSON(), nullable=False),
        sa.Column("job_title", sa.String(length=128), nullable=True),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("company_name", sa.String(length=64), nullable=True),
        sa.Column("employee_id", sa.String(length=64), nullable=True),
        sa.Column("employee_type", sa.String(length=64), nullable=True),
        sa.Column("office_location", sa.String(length=128), nullable=True),
        sa.Column("mobile_phone", sa.String(length=64), nullable=True),
        sa.Column("business_phones", sa.JSON(), nullable=False),
        sa.Column("fax_number", sa.String(length=64), nullable=True),
        sa.Column("street_address", sa.String(length=1024), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=128), nullable=True),
        sa.Column("postal_code", sa.String(length=40), nullable=True),
        sa.Column("country", sa.String(length=128), nullable=True),
        sa.Column("preferred_language", sa.String(length=16), nullable=True),
        sa.Column("usage_location", sa.String(length=8), nullable=True),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("user_type", sa.String(length=32), nullable=True),
        sa.Column("created_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manager_id", sa.String(length=64), nullable=True),
        sa.Column("deleted_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_employee_id", ["employee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index(
            "uq_users_live_upn_key",
            ["upn_key"],
            unique=True,
            sqlite_where=sa.text("deleted_date_time IS NULL"),
            postgresql_where=sa.text("deleted_date_time IS NULL"),
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_live_upn_key")
        batch_op.drop_index(batch_op.f("ix_users_manager_id"))
        batch_op.drop_index("ix_users_employee_id")

    op.drop_table("users")
    op.drop_table("sync_template_overrides")
    op.drop_table("sync_secrets")
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_jobs_service_principal_id"))

    op.drop_table("sync_jobs")
    with op.batch_alter_table("sync_job_restarts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_job_restarts_job_id"))

    op.drop_table("sync_job_restarts")
    op.drop_table("service_principals")
    with op.batch_alter_table("owners", schema=None) as batch_op:
        batch_op.drop_index("ix_owners_owner_id")

    op.drop_table("owners")
    op.drop_table("instance")
    op.drop_table("groups")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_group_members_member_id")

    op.drop_table("group_members")
    op.drop_table("directory_changes")
    op.drop_table("applications")
    with op.batch_alter_table("app_role_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_role_assignments_resource_id"))
        batch_op.drop_index(batch_op.f("ix_app_role_assignments_principal_id"))

    op.drop_table("app_role_assignments")
