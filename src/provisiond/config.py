"""Settings shared by every command, read from options and `PROVISIOND_*` environment variables.

The data dir holds what must survive restarts on one machine: the SQLite database (unless a
database URL is given), the HS256 signing key for local tokens, and the key that encrypts
synchronization secrets at rest. Keys can instead be configured, so that several processes on
several machines sharing one PostgreSQL database agree on them.

`tenant_id` (`PROVISIOND_TENANT_ID`) is the tenant this instance serves: tokens are accepted only
with that `tid`, and job ids embed it. Unset, a new database gets `DEFAULT_TENANT_ID`, a fixed
GUID that `provisiond token` and `provisiond demo` also use, so they work with no configuration.

`scheduler` (`PROVISIOND_SCHEDULER`, on by default): off, `provisiond serve` runs the API alone
and no cycles, for an API tier in front of `provisiond worker` processes.

`oidc_client_id` (`PROVISIOND_OIDC_CLIENT_ID`, with `PROVISIOND_OIDC_CLIENT_SECRET` for a
confidential client and `PROVISIOND_OIDC_SCOPES`): the admin console signs in through the
identity provider of `jwt_issuer`/`jwks_url` with OpenID Connect; unset, through one-time links.

`outbound_allow` (`PROVISIOND_OUTBOUND_ALLOW`) lists the networks and host names jobs may reach;
unset or empty, everything (see `provisiond.connectors.outbound` for the syntax).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 7493
DEFAULT_AUDIENCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
LOCAL_ISSUER = "https://sts.provisiond.local/"
MAX_BODY_BYTES = 4 * 1024 * 1024
# The delegated permissions of the administrator token `provisiond token` and the demo mint.
ADMIN_SCOPES = (
    "Synchronization.ReadWrite.All User.ReadWrite.All Group.ReadWrite.All GroupMember.ReadWrite.All "
    "Directory.ReadWrite.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All AuditLog.Read.All "
    "SynchronizationData-User.Upload"
)


def default_data_dir() -> Path:
    return Path(os.environ.get("PROVISIOND_DATA_DIR") or Path.cwd() / ".provisiond")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    audiences: tuple[str, ...] = DEFAULT_AUDIENCES
    secrets_key: str | None = None
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    tenant_id: str | None = None  # None: the database's, DEFAULT_TENANT_ID for a new one
    outbound_allow: str | None = None  # None or empty: every destination
    scheduler: bool = True  # False: an API process that runs no cycles (`serve --no-scheduler`)
    # Requests the API works on at once; more get 429 with Retry-After (DESIGN invariant 9).
    max_requests_in_flight: int = 64
    # The console's OpenID Connect sign-in (with jwt_issuer and jwks_url); unset: console links only.
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile email"

    def __post_init__(self) -> None:
        if self.max_requests_in_flight < 1:
            raise ValueError(
                f"PROVISIOND_MAX_REQUESTS_IN_FLIGHT must be at least 1, not {self.max_requests_in_flight}"
            )
        if self.tenant_id is not None:
            object.__setattr__(self, "tenant_id", canonical_tenant_id(self.tenant_id))

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Options given explicitly win over `PROVISIOND_*` variables, which win over defaults."""
        env = os.environ
        values: dict[str, object] = {
            "data_dir": Path(env["PROVISIOND_DATA_DIR"]) if env.get("PROVISIOND_DATA_DIR") else None,
            "database_url": env.get("PROVISIOND_DATABASE_URL"),
            "jwt_secret": env.get("PROVISIOND_JWT_SECRET"),
            "jwks_url": env.get("PROVISIOND_JWKS_URL"),
            "jwt_issuer": env.get("PROVISIOND_JWT_ISSUER"),
            "audiences": tuple(env["PROVISIOND_AUDIENCES"].split())
            if env.get("PROVISIOND_AUDIENCES")
            else None,
            "secrets_key": env.get("PROVISIOND_SECRETS_KEY"),
            "lease_seconds": float(env["PROVISIOND_LEASE_SECONDS"])
            if env.get("PROVISIOND_LEASE_SECONDS")
            else None,
            "poll_seconds": float(env["PROVISIOND_POLL_SECONDS"])
            if env.get("PROVISIOND_POLL_SECONDS")
            else None,
            "tenant_id": env.get("PROVISIOND_TENANT_ID") or None,
            "outbound_allow": env.get("PROVISIOND_OUTBOUND_ALLOW"),
            "scheduler": parse_switch("PROVISIOND_SCHEDULER", env["PROVISIOND_SCHEDULER"])
            if env.get("PROVISIOND_SCHEDULER")
            else None,
            "max_requests_in_flight": _whole_number(env, "PROVISIOND_MAX_REQUESTS_IN_FLIGHT"),
            "oidc_client_id": env.get("PROVISIOND_OIDC_CLIENT_ID") or None,
            "oidc_client_secret": env.get("PROVISIOND_OIDC_CLIENT_SECRET") or None,
            "oidc_scopes": env.get("PROVISIOND_OIDC_SCOPES") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+pysqlite:///{self.data_dir / 'provisiond.db'}"

    @property
    def token_tenant_id(self) -> str:
        """The `tid` of the tokens this instance mints: the configured tenant, else the default."""
        from provisiond.store.db import DEFAULT_TENANT_ID

        return self.tenant_id or DEFAULT_TENANT_ID

    @property
    def issuer(self) -> str:
        return self.jwt_issuer or LOCAL_ISSUER

    def hs256_secret(self) -> str:
        """The configured secret, else the data dir's key, created on first use."""
        return self.jwt_secret or _data_dir_key(self.data_dir, "jwt-signing.key")

    def secrets_encryption_key(self) -> str:
        if self.secrets_key:
            return self.secrets_key
        from cryptography.fernet import Fernet

        return _data_dir_key(self.data_dir, "secrets.key", lambda: Fernet.generate_key().decode())


def parse_switch(name: str, value: str) -> bool:
    """on/off, true/false, yes/no, 1/0 (as the command line's --flag/--no-flag take them)."""
    text = value.strip().lower()
    if text in ("1", "true", "t", "yes", "y", "on"):
        return True
    if text in ("0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"{name} {value!r} is neither on nor off")


def _whole_number(env: Mapping[str, str], name: str) -> int | None:
    """A whole-number variable, None when unset; ValueError naming it otherwise."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None


def canonical_tenant_id(value: str) -> str:
    """A tenant id as Graph writes it (lower-case hyphenated GUID); ValueError for anything else."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError(f"PROVISIOND_TENANT_ID {value!r} is not a GUID") from None


def _data_dir_key(data_dir: Path, name: str, make: object = None) -> str:
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = make() if callable(make) else secrets.token_urlsafe(48)
    # O_EXCL: when two processes race to create the key, exactly one wins and both read its value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
