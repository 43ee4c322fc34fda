"""API-driven inbound provisioning: accepting bulkUpload requests for API2AAD jobs.

A request is a SCIM BulkRequest (RFC 7644 §3.7) of at most 50 operations, each a POST of one
user to `/Users` (reference graph-sync-api §7.2, engine behaviour §10). It is validated whole,
then every operation is staged in one transaction: bad input stages nothing, and an accepted
upload is durable before the 202. The job's cycles apply the staged records (engine.inbound).

Choices where the reference is silent:

* Validation is against the SCIM schemas themselves (RFC 7643 §4.1 core User, §4.3 enterprise
  User), not the job's mappings: an attribute no schema defines is a 400, while a defined one
  that no mapping uses is accepted and ignored, so a mapping added later can use it. Attribute
  names match case-insensitively, as RFC 7643 §2.1 says. Custom namespaces (any URN listed in
  `data.schemas` other than core and enterprise) are objects whose attributes are free.
* `data.schemas` must list core User and enterprise User (the reference lists both as
  required); `method` must be POST and `path` /Users (case-insensitive); `bulkId` and
  `externalId` are non-empty strings, and `externalId` has at most 64 characters (the
  directory's `employeeId` column). `failOnErrors` is accepted (null or an integer) and has no
  effect: errors are found at staging time (all or nothing) or per record at processing time.
* The upload goes to any API2AAD job, running or not; records wait for the job's next
  cycle. An upload makes an active, unquarantined job's next cycle due at once ("near
  real-time", reference §10).
* Rate limit: at most 40 requests per job in any 5-second window (the newer figure of reference
  §10), counted per process over authorized requests to an existing inbound job, whatever
  their body. Beyond it: 429 with Retry-After, the seconds until the oldest counted request
  leaves the window.
* Restart (engine behaviour §1, API-driven inbound jobs): on a job that is not running (no
  live lease) the records uploaded before the restart are purged and its escrows cleared;
  disables the deletion guard held and ForceDeletes approved survive the purge, since the
  restart exists to let them run. On a running job nothing is purged and its escrows are
  cleared; the running cycle stops at its next checkpoint (the generation bump) and the next
  cycle carries on with the staged data.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection

from provisiond.clock import Clock
from provisiond.domain.job_state import StatusCode
from provisiond.graph.text import BadText, load_json
from provisiond.services.errors import BadRequest, TooManyRequests
from provisiond.store import engine_state
from provisiond.store import inbound as repo
from provisiond.store import synchronization as sync_repo
from provisiond.store.db import Database

Record = dict[str, Any]

INBOUND_TEMPLATE_IDS: Final = frozenset({"api2aad"})
MAX_OPERATIONS: Final = 50
RATE_LIMIT_REQUESTS: Final = 40
RATE_LIMIT_WINDOW: Final = timedelta(seconds=5)
MAX_EXTERNAL_ID: Final = 64
MAX_BULK_ID: Final = 256

BULK_REQUEST: Final = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE_USER: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

UNPARSABLE: Final = (
    "Request is unparsable, syntactically incorrect or violates the schema. The most common cause "
    "of this error is the absence of the request header Content-Type. Make sure it's present and "
    "set to application/scim+json."
)

# RFC 7643 §4.1 (core User) and §4.3 (enterprise User): attribute -> sub-attributes (None for
# simple attributes). Multi-valued complex attributes are the ones in _MULTI.
_MULTI_SUBS = ("value", "display", "type", "primary", "$ref")
_CORE: Final[dict[str, tuple[str, ...] | None]] = {
    "id": None,
    "externalId": None,
    "userName": None,
    "name": ("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"),
    "displayName": None,
    "nickName": None,
    "profileUrl": None,
    "title": None,
    "userType": None,
    "preferredLanguage": None,
    "locale": None,
    "timezone": None,
    "active": None,
    "password": None,
    "emails": _MULTI_SUBS,
    "phoneNumbers": _MULTI_SUBS,
    "ims": _MULTI_SUBS,
    "photos": _MULTI_SUBS,
    "addresses": (
        "formatted",
        "streetAddress",
        "locality",
        "region",
        "postalCode",
        "country",
        "type",
        "primary",
    ),
    "groups": _MULTI_SUBS,
    "entitlements": _MULTI_SUBS,
    "roles": _MULTI_SUBS,
    "x509Certificates": _MULTI_SUBS,
    "meta": ("resourceType", "created", "lastModified", "location", "version"),
}
_MULTI: Final = frozenset(
    {
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    }
)
_ENTERPRISE: Final[dict[str, tuple[str, ...] | None]] = {
    "employeeNumber": None,
    "costCenter": None,
    "organization": None,
    "division": None,
    "department": None,
    "manager": ("value", "$ref", "displayName"),
}


def is_inbound(template_id: str) -> bool:
    return template_id.lower() in INBOUND_TEMPLATE_IDS


class RateLimiter:
    """A sliding window per key, on the injected clock; thread-safe."""

    def __init__(self, clock: Clock, limit: int, window: timedelta) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> None:
        now = self.clock.now()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                wait = seen[0] + self.window - now
                raise TooManyRequests(
                    f"Too many bulkUpload requests: at most {self.limit} per {int(self.window.total_seconds())} "
                    "seconds per job.",
                    retry_after_seconds=max(1, int(-(-wait.total_seconds() // 1))),
                )
            seen.append(now)


class InboundService:
    def __init__(self, db: Database, clock: Clock, changed: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.clock = clock
        self.changed = changed
        self.limiter = RateLimiter(clock, RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW)

    def bulk_upload(self, job: Record, content_type: str, raw: bytes) -> int:
        """Validate and stage one BulkRequest for an inbound job; returns the records staged."""
        if not is_inbound(str(job["template_id"])):
            raise BadRequest(
                f"bulkUpload is only for API-driven inbound provisioning jobs (template API2AAD); "
                f"job '{job['id']}' uses template '{job['template_id']}'.",
                code="InvalidRequest",
            )
        self.limiter.admit(str(job["id"]))
        if content_type.split(";")[0].strip().lower() != "application/scim+json":
            raise BadRequest(UNPARSABLE)
        operations = parse_bulk_request(raw)
        now = self.clock.now()
        upload_id = str(uuid.uuid4())
        rows = [
            {
                "upload_id": upload_id,
                "bulk_id": op["bulkId"],
                "external_id": op["data"]["externalId"],
                "kind": repo.RECORD,
                "data": op["data"],
                "received_date_time": now,
            }
            for op in operations
        ]
        with self.db.transaction() as conn:
            # Not FOR UPDATE: a running cycle holds the job row for each page it writes, and
            # staging must not wait for it; the row is written only to bring the cycle forward.
            current = sync_repo.get_job(conn, job["service_principal_id"], job["id"])
            if current is None:  # deleted meanwhile
                raise BadRequest(f"The synchronization job '{job['id']}' no longer exists.")
            repo.stage(conn, job["id"], rows)
            quarantined = current["status"].code is StatusCode.Quarantine
            if current["schedule_state"] == "Active" and not quarantined:
                due = current["cycle_due_at"]
                if due is None or due > now:
                    sync_repo.update_job(conn, job["id"], {"cycle_due_at": now})
        self.changed()
        return len(rows)


def on_restart(conn: Connection, job: Record, now: datetime) -> None:
    """Restart semantics of inbound jobs (see the module doc); runs in the restart's transaction,
    after the deletion guard's staged disables were re-planned or approved."""
    if not is_inbound(str(job["template_id"])):
        return
    engine_state.escrows_clear(conn, job["id"])
    lease = job.get("lease_expires_at")
    running = job.get("lease_owner") is not None and lease is not None and lease > now
    if running:
        return
    approved = [r["source_id"] for r in engine_state.staged_in_states(conn, job["id"], ("approved",))]
    repo.purge(conn, job["id"], keep_external_ids=approved)
    # Disables that were only planned belonged to the purged records.
    for row in engine_state.staged_in_states(conn, job["id"], ("planned", "held")):
        engine_state.staged_remove(conn, job["id"], row["source_id"])


# Validation


def _bad(message: str) -> BadRequest:
    return BadRequest(f"{UNPARSABLE} {message}", code="BadRequest")


def parse_bulk_request(raw: bytes) -> list[Record]:
    """The operations of a valid BulkRequest, each with `bulkId` and canonical `data`."""
    try:
        body = load_json(raw)
    except BadText as exc:
        raise _bad(str(exc)) from None
    except ValueError:  # UnicodeDecodeError included
        raise _bad("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The body must be a SCIM BulkRequest object.")
    body = _canonical_keys(body, ("schemas", "Operations", "failOnErrors"), "BulkRequest")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise _bad(f"'schemas' must contain '{BULK_REQUEST}'.")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int)
    ):
        raise _bad("'failOnErrors' must be an integer or null.")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise _bad("'Operations' must be a non-empty array.")
    if len(operations) > MAX_OPERATIONS:
        raise _bad(
            f"A bulk request can contain at most {MAX_OPERATIONS} operations; this one has {len(operations)}."
        )
    seen: set[str] = set()
    out = []
    for index, operation in enumerate(operations):
        where = f"Operations[{index}]"
        if not isinstance(operation, dict):
            raise _bad(f"{where} must be an object.")
        operation = _canonical_keys(operation, ("method", "bulkId", "path", "data", "version"), where)
        if str(operation.get("method") or "").upper() != "POST":
            raise _bad(f"{where}.method must be POST.")
        if str(operation.get("path") or "").lower() != "/users":
            raise _bad(f"{where}.path must be /Users.")
        bulk_id = operation.get("bulkId")
        if not isinstance(bulk_id, str) or not bulk_id.strip() or len(bulk_id) > MAX_BULK_ID:
            raise _bad(f"{where}.bulkId must be a non-empty string of at most {MAX_BULK_ID} characters.")
        if bulk_id in seen:
            raise _bad(f"{where}.bulkId '{bulk_id}' is not unique in the request.")
        seen.add(bulk_id)
        data = operation.get("data")
        if not isinstance(data, dict):
            raise _bad(f"{where}.data must be a SCIM User object.")
        out.append({"bulkId": bulk_id, "data": _user(data, f"{where}.data")})
    return out


def _canonical_keys(obj: Mapping[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
    """Keys matched case-insensitively to `names`; an unknown key is an error."""
    by_lower = {n.lower(): n for n in names}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = by_lower.get(key.lower())
        if name is None:
            raise _bad(f"Unknown attribute '{key}' in {where}.")
        out[name] = value
    return out


def _user(data: Mapping[str, Any], where: str) -> Record:
    schemas = data.get("schemas")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise _bad(f"{where}.schemas must be an array of schema URNs.")
    listed = {s.lower(): s for s in schemas}
    for required in (CORE_USER, ENTERPRISE_USER):
        if required.lower() not in listed:
            raise _bad(f"{where}.schemas must contain '{required}'.")
    custom = {k: v for k, v in listed.items() if k not in (CORE_USER.lower(), ENTERPRISE_USER.lower())}
    core = {n.lower(): n for n in _CORE}
    out: Record = {"schemas": list(schemas)}
    for key, value in data.items():
        lower = key.lower()
        if lower == "schemas":
            continue
        if lower == ENTERPRISE_USER.lower():
            out[ENTERPRISE_USER] = _complex(value, _ENTERPRISE, f"{where}.{key}")
        elif lower in custom:
            if not isinstance(value, dict):
                raise _bad(f"{where}.{key} must be an object.")
            out[custom[lower]] = value
        elif lower in core:
            name = core[lower]
            out[name] = _core_value(name, value, f"{where}.{name}")
        elif lower.startswith("urn:"):
            raise _bad(f"Schema '{key}' in {where} is not listed in its 'schemas'.")
        else:
            raise _bad(f"Unknown attribute '{key}' in {where}: not defined by the listed schemas.")
    external_id = out.get("externalId")
    if not isinstance(external_id, str) or not external_id.strip():
        raise _bad(f"{where}.externalId is required: it identifies the user in the source.")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise _bad(f"{where}.externalId has more than {MAX_EXTERNAL_ID} characters.")
    if "active" in out and out["active"] is not None and not isinstance(out["active"], bool):
        raise _bad(f"{where}.active must be a boolean.")
    return out


def _core_value(name: str, value: Any, where: str) -> Any:
    subs = _CORE[name]
    if subs is None:
        if isinstance(value, dict | list):
            raise _bad(f"{where} must be a single value.")
        return value
    if name in _MULTI:
        if value is None:
            return None
        if not isinstance(value, list):
            raise _bad(f"{where} must be an array.")
        return [_complex(item, dict.fromkeys(subs), f"{where}[{i}]") for i, item in enumerate(value)]
    return _complex(value, dict.fromkeys(subs), where)


def _complex(value: Any, subs: Mapping[str, tuple[str, ...] | None], where: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object.")
    by_lower = {n.lower(): n for n in subs}
    out: Record = {}
    for key, item in value.items():
        name = by_lower.get(key.lower())
        if name is None:
            raise _bad(f"Unknown attribute '{key}' in {where}.")
        nested = subs[name]
        out[name] = _complex(item, dict.fromkeys(nested), f"{where}.{name}") if nested else item
        if not nested and isinstance(item, dict | list):
            raise _bad(f"{where}.{name} must be a single value.")
    return out
