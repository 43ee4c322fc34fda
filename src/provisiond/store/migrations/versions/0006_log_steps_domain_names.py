"""provisioning log steps and property changes with the domain's names: `steps` held Graph's
provisioningStep objects (`provisioningStepType`) and `modified_properties` Graph's
modifiedProperty (`displayName`, `oldValue`, `newValue`); they now hold the domain's (`kind`;
`name`, `old`, `new`; store/log_steps.py). Downgrade writes Graph's names back.

Self-contained on purpose: a migration must convert the same way whatever the code becomes.
Rows are read and written in pages of 500, so a large log does not sit in memory at once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:40:00.000000
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PAGE = 500
STEP_KEYS = {"provisioningStepType": "kind"}
CHANGE_KEYS = {"displayName": "name", "oldValue": "old", "newValue": "new"}

logs = sa.table(
    "provisioning_logs",
    sa.column("id", sa.String),
    sa.column("steps", sa.JSON),
    sa.column("modified_properties", sa.JSON),
)

Renaming = Callable[[dict[str, Any]], dict[str, Any]]


def _renaming(keys: dict[str, str]) -> Renaming:
    return lambda item: {keys.get(k, k): v for k, v in item.items()}


def _convert(step: Renaming, change: Renaming) -> None:
    conn = op.get_bind()
    after = ""
    while True:
        rows = conn.execute(
            sa.select(logs.c.id, logs.c.steps, logs.c.modified_properties)
            .where(logs.c.id > after)
            .order_by(logs.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        for entry_id, steps, changes in rows:
            conn.execute(
                sa.update(logs)
                .where(logs.c.id == entry_id)
                .values(
                    steps=[step(s) for s in steps or []],
                    modified_properties=[change(p) for p in changes or []],
                )
            )
        after = rows[-1][0]


def upgrade() -> None:
    _convert(_renaming(STEP_KEYS), _renaming(CHANGE_KEYS))


def downgrade() -> None:
    _convert(
        _renaming({v: k for k, v in STEP_KEYS.items()}), _renaming({v: k for k, v in CHANGE_KEYS.items()})
    )
