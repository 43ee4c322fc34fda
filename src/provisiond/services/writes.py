"""What every use case that writes shares: a transaction after whose commit the engine hears
that work may be due."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from provisiond.store.db import Database


class WritingService:
    db: Database
    changed: Callable[[], None]  # wakes the scheduler; called after the commit, never before

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; the engine hears of the change once it is committed."""
        with self.db.transaction() as conn:
            yield conn
        self.changed()
