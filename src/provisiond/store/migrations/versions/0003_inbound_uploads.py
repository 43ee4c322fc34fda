"""inbound uploads: SCIM records staged by bulkUpload for the API2AAD job's cycles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_records",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.String(length=256), nullable=False),
        sa.Column("upload_id", sa.String(length=64), nullable=False),
        sa.Column("bulk_id", sa.String(length=256), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("escrowed", sa.Boolean(), nullable=False),
        sa.Column("received_date_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_inbound_records")),
    )
    with op.batch_alter_table("inbound_records", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_records_job_seq", ["job_id", "seq"], unique=False)
        batch_op.create_index("ix_inbound_records_job_external_id", ["job_id", "external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_records", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_records_job_external_id")
        batch_op.drop_index("ix_inbound_records_job_seq")
    op.drop_table("inbound_records")
