"""The admin console's own use cases: one-time sign-in grants, sessions, and the job history
its pages draw.

- A sign-in link (`provisiond console-link`, the demo) carries a random token that signs in once
  within `LINK_LIFETIME`; an OpenID Connect sign-in waits for its callback under a grant keyed
  by its `state`. Both are stored as SHA-256 hashes and taken by deletion, so a link works from
  any API process sharing the database and never twice.
- A session is an opaque random id (the cookie's value; only its hash is stored) with the
  signed-in identity's claims, a CSRF token, and two expiries: `IDLE_LIFETIME` since it was
  last seen and `ABSOLUTE_LIFETIME` since sign-in. The identity is what the permission checks
  read (the same checks as the API's, in api/permissions.py); this service decides nothing
  about permissions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from provisiond.clock import Clock
from provisiond.store import console as repo
from provisiond.store import executions
from provisiond.store.db import Database

Record = dict[str, Any]

LINK_LIFETIME = timedelta(minutes=15)
OIDC_LIFETIME = timedelta(minutes=10)
IDLE_LIFETIME = timedelta(hours=2)
ABSOLUTE_LIFETIME = timedelta(hours=8)
TOUCH_EVERY = timedelta(minutes=1)  # how stale last_seen may get before a page view writes it


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in console session: who (`claims`, as a token would carry them, and a name to
    show), its CSRF token, and when it ends."""

    id_hash: str
    claims: dict[str, Any]
    name: str
    csrf_token: str
    expires: datetime


@dataclass(frozen=True)
class CycleSummary:
    """One finished cycle, as the job's history recorded it (store/executions.py)."""

    began: datetime
    ended: datetime
    result: str
    imported: int
    exported: int
    escrowed: int
    held: int
    error_code: str | None

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended - self.began).total_seconds())


class ConsoleService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # Sign-in grants

    def create_signin_link(
        self, claims: dict[str, Any], name: str, lifetime: timedelta = LINK_LIFETIME
    ) -> str:
        """A one-time token that signs in as `claims`; the caller builds the URL around it."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.db.transaction() as conn:
            repo.purge_expired(conn, now)
            repo.insert_grant(
                conn, _hash(token), "link", {"claims": claims, "name": name}, now, now + lifetime
            )
        return token

    def redeem_signin_link(self, token: str) -> Record | None:
        """The link's identity ({claims, name}), or None when it is unknown, used or expired."""
        return self._take(token, "link")

    def begin_oidc(self, state: str, data: dict[str, Any]) -> None:
        """Remember an OpenID Connect sign-in (its PKCE verifier, nonce) until its callback."""
        now = self.clock.now()
        with self.db.transaction() as conn:
            repo.purge_expired(conn, now)
            repo.insert_grant(conn, _hash(state), "oidc", data, now, now + OIDC_LIFETIME)

    def finish_oidc(self, state: str) -> Record | None:
        return self._take(state, "oidc")

    def _take(self, secret: str, kind: str) -> Record | None:
        if not secret:
            return None
        with self.db.transaction() as conn:
            return repo.take_grant(conn, _hash(secret), kind, self.clock.now())

    # Sessions

    def create_session(self, claims: dict[str, Any], name: str) -> tuple[str, Session]:
        """A new session; returns the cookie's value (never stored) and the session."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + ABSOLUTE_LIFETIME
        identity = {"claims": claims, "name": name}
        with self.db.transaction() as conn:
            repo.insert_session(conn, _hash(session_id), identity, csrf, now, expires)
        return session_id, Session(_hash(session_id), claims, name, csrf, expires)

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this cookie value; an idle or expired one is removed."""
        if not session_id:
            return None
        id_hash = _hash(session_id)
        now = self.clock.now()
        with self.db.read() as conn:
            row = repo.get_session(conn, id_hash)
        if row is None:
            return None
        if row["expires_date_time"] <= now or row["last_seen_date_time"] + IDLE_LIFETIME <= now:
            with self.db.transaction() as conn:
                repo.delete_session(conn, id_hash)
            return None
        if now - row["last_seen_date_time"] >= TOUCH_EVERY:
            with self.db.transaction() as conn:
                repo.touch_session(conn, id_hash, now)
        identity = row["identity"]
        return Session(
            id_hash,
            dict(identity["claims"]),
            str(identity["name"]),
            row["csrf_token"],
            row["expires_date_time"],
        )

    def end_session(self, session: Session) -> None:
        with self.db.transaction() as conn:
            repo.delete_session(conn, session.id_hash)

    # Reads for the job page

    def recent_cycles(self, job_id: str, limit: int = 30) -> list[CycleSummary]:
        """The job's last finished cycles, oldest first (for a chart)."""
        with self.db.read() as conn:
            rows = executions.recent(conn, job_id, limit)
        return [
            CycleSummary(
                began=r["began"],
                ended=r["ended"],
                result=r["result"],
                imported=r["imported"],
                exported=r["exported"],
                escrowed=r["escrowed"],
                held=r["held"],
                error_code=r["error_code"],
            )
            for r in reversed(rows)
        ]

    def held_deletes(self, job_id: str) -> int:
        with self.db.read() as conn:
            return repo.held_delete_count(conn, job_id)
