"""Provisioning logs: reading the engine's provisioningObjectSummary records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from provisiond.graph.odata import FilterNode
from provisiond.services.errors import NotFound
from provisiond.store import provisioning_logs as repo
from provisiond.store.db import Database

Record = dict[str, Any]


class LogService:
    def __init__(self, db: Database, tenant_id: str) -> None:
        self.db = db
        self.tenant_id = tenant_id

    def page(
        self,
        node: FilterNode | None,
        after: tuple[datetime, str] | None,
        limit: int,
        *,
        descending: bool = True,
    ) -> tuple[list[Record], tuple[datetime, str] | None]:
        """Newest first (oldest first when not `descending`); returns the page and the key to
        continue after, if there is more."""
        with self.db.read() as conn:
            rows = repo.page(conn, node, after, limit + 1, descending=descending, tenant_id=self.tenant_id)
            principals = repo.service_principals_of(conn, {r["service_principal_id"] for r in rows})
        more = len(rows) > limit
        rows = rows[:limit]
        for row in rows:
            _name(row, principals)
        last = (rows[-1]["activity_date_time"], rows[-1]["id"]) if more and rows else None
        return rows, last

    def get(self, log_id: str) -> Record:
        """One entry by id, or NotFound."""
        with self.db.read() as conn:
            row = repo.get(conn, log_id)
            if row is None:
                raise NotFound.resource(log_id)
            principals = repo.service_principals_of(conn, [row["service_principal_id"]])
        _name(row, principals)
        return row


def _name(row: Record, principals: dict[str, tuple[str | None, str]]) -> None:
    """Add the display name and appId of the entry's service principal (None once it is gone)."""
    name, app_id = principals.get(row["service_principal_id"], (None, None))
    row["service_principal_display_name"] = name
    row["service_principal_app_id"] = app_id
