"""What every use case that writes shares: a transaction after whose commit the engine hears
that work may be due, and the change-log row a directory write appends inside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from provisiond.clock import Clock
from provisiond.store.changelog import append_change
from provisiond.store.db import Database


class WritingService:
    db: Database
    clock: Clock
    changed: Callable[[], None]  # wakes the scheduler; called after the commit, never before

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; the engine hears of the change once it is committed."""
        with self.db.transaction() as conn:
            yield conn
        self.changed()

    def _changed(
        self,
        conn: Connection,
        object_type: str,
        object_id: str,
        change_type: str,
        related_id: str | None = None,
    ) -> None:
        """Append to the directory change log, in the writing transaction."""
        append_change(
            conn,
            object_type=object_type,
            object_id=object_id,
            change_type=change_type,
            related_id=related_id,
            at=self.clock.now(),
        )
