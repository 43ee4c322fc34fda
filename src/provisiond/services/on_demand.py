"""Provision on demand as a use case: the rule, the subject, the rate limit, the job's lease.

Choices where the reference is silent:
- Rate limit: Graph's "5 requests per 10 seconds" is kept per job in this process (a sliding
  window over the service's clock); with several API processes each allows its own 5. Only
  requests that pass validation count, since a rejected request runs nothing. The 429 says
  in `Retry-After` (whole seconds, rounded up) when the oldest counted request leaves the window.
- The job's lease: a call takes the lease when nobody holds it, so no cycle starts while it
  runs (DESIGN invariant 3 stays true). When a cycle holds it, the call waits briefly
  (`lease_wait_seconds`, 2 s) and then runs anyway beside the cycle: a cycle can last
  minutes, while Entra answers on demand within about 30 s. Running beside a cycle is safe
  for the job's state because every write is guarded by the job's generation exactly as a
  cycle's are, and never touches the watermark; for the target, a cycle reaching the same
  object at the same moment matches before it creates, and a second PATCH of equal values
  changes nothing.
- The job's schedule does not matter: a Disabled or Paused job provisions on demand too, as
  in Entra, where on demand is how a configuration is tested before the job is started.
- A restart or schema change landing mid-call stops the recording at that point: 409.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.engine import on_demand as engine
from provisiond.engine.on_demand import Initiator, OnDemandResult, Subject
from provisiond.services.errors import BadRequest, Conflict, NotFound, TooManyRequests
from provisiond.services.outbound import check_base_address
from provisiond.services.synchronization import SynchronizationService
from provisiond.store import directory
from provisiond.store import engine_state as state
from provisiond.store.engine_state import GenerationChanged
from provisiond.store.tables import users

Record = dict[str, Any]

RATE_LIMIT = 5
RATE_WINDOW = timedelta(seconds=10)
PARAMETER_INVALID = "RequestParameterInvalid"


class SlidingWindowLimiter:
    """At most `limit` admissions per key in any `window`; thread-safe (routes run in a pool)."""

    def __init__(self, limit: int, window: timedelta, now: Callable[[], datetime]) -> None:
        self.limit = limit
        self.window = window
        self.now = now
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> float | None:
        """None when admitted (and counted), else the seconds until a slot frees up."""
        with self._lock:
            now = self.now()
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return (seen[0] + self.window - now).total_seconds()
            seen.append(now)
            return None


class OnDemandService:
    def __init__(
        self,
        sync: SynchronizationService,
        *,
        limit: int = RATE_LIMIT,
        window: timedelta = RATE_WINDOW,
        lease_wait_seconds: float = 2.0,
        lease_seconds: float = 120.0,
        outbound: OutboundPolicy = ALLOW_EVERYTHING,
    ) -> None:
        self.sync = sync
        self.outbound = outbound
        self.db = sync.db
        self.clock = sync.clock
        self.limiter = SlidingWindowLimiter(limit, window, self.clock.now)
        self.lease_wait_seconds = lease_wait_seconds
        self.lease = timedelta(seconds=lease_seconds)

    def _named(self, initiator: Initiator) -> Initiator:
        """The caller with its directory name (a user's displayName, or the calling app's service
        principal's), which the logs show and filter on as initiatedBy/displayName."""
        if initiator.display_name is not None:
            return initiator
        with self.db.read() as conn:
            if initiator.initiator_type == "user":
                found = directory.get(conn, users, initiator.id) if initiator.id else None
            else:
                found = directory.service_principal_by_app_id(conn, initiator.id) if initiator.id else None
        return replace(initiator, display_name=found["display_name"] if found else None)

    def provision(
        self, sp: Record, job_id: str, rule_id: str, subject: Subject, initiator: Initiator
    ) -> OnDemandResult:
        job = self.sync.job(sp, job_id)
        rule = self._rule(job, rule_id)
        initiator = self._named(initiator)
        try:
            engine.compile_rule(rule, subject)
            engine.load_subject(self.db, job["id"], subject)
        except engine.SubjectNotFound as exc:
            raise NotFound.resource(exc.object_id) from None
        except engine.SubjectInvalid as exc:
            raise BadRequest(str(exc), code=PARAMETER_INVALID) from None
        wait = self.limiter.admit(job["id"])
        if wait is not None:
            raise TooManyRequests(
                f"provisionOnDemand is limited to {self.limiter.limit} requests per "
                f"{int(self.limiter.window.total_seconds())} seconds per job.",
                retry_after_seconds=max(1, math.ceil(wait)),
            )
        # A refused address is a 400 here; the engine's client checks every connection too.
        check_base_address(self.outbound, self.sync.secrets(sp).get("BaseAddress") or "")
        owner = f"provisionOnDemand:{uuid.uuid4().hex[:12]}"
        leased = self._take_lease(job["id"], owner)
        try:
            with self.db.read() as conn:
                row = state.get_job(conn, job["id"])
            if row is None:
                raise NotFound(f"The synchronization job '{job_id}' was deleted.")
            return asyncio.run(
                engine.provision_on_demand(
                    self.db,
                    self.clock,
                    row,
                    rule,
                    self.sync.secrets(sp),
                    subject,
                    initiator,
                    owner=owner,
                    outbound=self.outbound,
                )
            )
        except GenerationChanged:
            raise Conflict(
                "The job was restarted, or its schema changed, while provisioning on demand; "
                "what was done before that is in the provisioning logs. Try again."
            ) from None
        except (engine.SubjectNotFound, engine.SubjectInvalid) as exc:
            # The directory changed between the checks and the run.
            raise BadRequest(str(exc), code=PARAMETER_INVALID) from None
        finally:
            if leased:
                with self.db.transaction() as conn:
                    state.release_lease(conn, job["id"], owner, {})
                self.sync.changed()  # a cycle that fell due meanwhile may start now

    def _rule(self, job: Record, rule_id: str) -> Record:
        rules = (job.get("schema") or {}).get("synchronizationRules") or []
        rule = next((r for r in rules if r.get("id") == rule_id), None)
        if rule is None:
            raise BadRequest(
                f"The request identified this synchronization job: {job['id']}.  The request also identified "
                f"this synchronization rule: {rule_id}.  However, the job does not include the rule.",
                code=PARAMETER_INVALID,
            )
        metadata = {m.get("key"): m.get("value") for m in rule.get("metadata") or []}
        if str(metadata.get("supportsProvisionOnDemand", "true")).lower() == "false":
            raise BadRequest(
                f"Synchronization rule '{rule_id}' does not support provisioning on demand.",
                code=PARAMETER_INVALID,
            )
        return dict(rule)

    def _take_lease(self, job_id: str, owner: str) -> bool:
        """The job's lease if it is free within `lease_wait_seconds`; False to run beside a cycle."""
        deadline = time.monotonic() + self.lease_wait_seconds
        while True:
            now = self.clock.now()
            with self.db.transaction() as conn:
                if state.take_lease(conn, job_id, owner, now, now + self.lease):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
