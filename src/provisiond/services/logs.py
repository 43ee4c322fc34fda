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
    def __init__(self, db: Database) -> None:
        self.db = db

    def page(
        self, node: FilterNode | None, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Record], tuple[datetime, str] | None]:
        """Newest first; returns the page and the key to continue after, if there is more."""
        with self.db.read() as conn:
            rows = repo.page(conn, node, after, limit + 1)
            names = repo.service_principal_names(conn, {r["service_principal_id"] for r in rows})
        more = len(rows) > limit
        rows = rows[:limit]
        for row in rows:
            row["service_principal_display_name"] = names.get(row["service_principal_id"])
        last = (rows[-1]["activity_date_time"], rows[-1]["id"]) if more and rows else None
        return rows, last

    def get(self, log_id: str) -> Record:
        """One entry by id, or NotFound."""
        with self.db.read() as conn:
            row = repo.get(conn, log_id)
            if row is None:
                raise NotFound.resource(log_id)
            names = repo.service_principal_names(conn, [row["service_principal_id"]])
        row["service_principal_display_name"] = names.get(row["service_principal_id"])
        return row
