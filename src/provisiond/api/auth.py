"""Bearer tokens: minting local ones, verifying any, and reading the caller out of the claims.

Local tokens are HS256-signed with the data dir's key (or `PROVISIOND_JWT_SECRET`) and carry
the issuer `Settings.issuer`. Tokens from a real identity provider (RS256/ES256) are verified
against a configured JWKS URL and issuer. Either way the audience must be one of Graph's, and
the token must be for this instance's tenant: its `tid` claim must be the tenant id
(`PROVISIOND_TENANT_ID`, compared as a GUID), as Graph refuses a token issued for another
tenant. A token without `tid` is refused too: Entra always sets it, and a token that does not
say whose it is cannot be shown to be ours. Every failure is a 401
`InvalidAuthenticationToken`, and the message says which check failed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from provisiond.api.errors import GraphError
from provisiond.config import Settings

LEEWAY_SECONDS = 30
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256")


@dataclass(frozen=True)
class Principal:
    """The caller: delegated (a user through an app, `scp`) or application-only (`roles`)."""

    delegated: bool
    scopes: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    wids: frozenset[str] = field(default_factory=frozenset)
    object_id: str | None = None
    app_id: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scp = claims.get("scp")
        roles = claims.get("roles") or []
        wids = claims.get("wids") or []
        if (
            not isinstance(roles, list)
            or not isinstance(wids, list)
            or (scp is not None and not isinstance(scp, str))
        ):
            raise _unauthorized("Access token validation failure: malformed scp, roles or wids claim.")
        return cls(
            delegated=bool(scp),
            scopes=frozenset(scp.split()) if scp else frozenset(),
            roles=frozenset(str(r) for r in roles),
            wids=frozenset(str(w).lower() for w in wids),
            object_id=claims.get("oid"),
            app_id=claims.get("appid") or claims.get("azp"),
        )

    @property
    def permissions(self) -> frozenset[str]:
        return self.scopes if self.delegated else self.roles

    def describe(self) -> str:
        """Who this is, for audit records: the user for delegated calls, else the app."""
        if self.delegated and self.object_id:
            return f"user:{self.object_id}"
        return f"app:{self.app_id}" if self.app_id else "unknown"


def mint_token(
    settings: Settings,
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    wids: Iterable[str] = (),
    app_id: str | None = None,
    object_id: str | None = None,
    tenant_id: str | None = None,
    expires_in: int = 3600,
    now: float | None = None,
) -> str:
    """An HS256 token that a server configured with the same settings accepts."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "aud": settings.audiences[0],
        "iss": settings.issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + expires_in,
        "appid": app_id or "00000000-0000-0000-0000-00000000c11e",
        "oid": object_id or str(uuid.uuid4()),
        "tid": tenant_id or settings.token_tenant_id,
    }
    scope_list, role_list, wid_list = list(scopes), list(roles), list(wids)
    if scope_list:
        claims["scp"] = " ".join(scope_list)
    if role_list:
        claims["roles"] = role_list
    if wid_list:
        claims["wids"] = wid_list
    return jwt.encode(claims, settings.hs256_secret(), algorithm="HS256")


class TokenVerifier:
    """Verifies bearer tokens, remembering the ones it accepted until they expire.

    A client sends the same token on every call for an hour, and a signature check costs more
    than the rest of a small read; so an accepted token's caller is kept (at most
    `CACHE_SIZE` tokens, least recently used dropped first) and looked up by the token's exact
    text. Expiry is still checked on every call. Nothing that decided acceptance can change
    while the process runs (the HS256 key, audiences, issuer and tenant are fixed at start; a
    key from the JWKS that signed a token keeps that token valid to its `exp`, as Entra's own
    caches do).
    """

    CACHE_SIZE = 4096

    def __init__(
        self, settings: Settings, tenant_id: str | None = None, *, now: Callable[[], float] = time.time
    ) -> None:
        self._now = now  # lifetimes are judged by this clock, so tests can move it
        self._accepted: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._settings = settings
        self._tenant_id = (tenant_id or settings.token_tenant_id).lower()
        self._secret = settings.hs256_secret()
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, timeout=10) if settings.jwks_url else None
        )

    def verify(self, token: str) -> Principal:
        with self._lock:
            known = self._accepted.get(token)
            if known is not None and self._now() <= known[1] + LEEWAY_SECONDS:
                self._accepted.move_to_end(token)
                return known[0]
        principal, expires = self._verify(token)
        with self._lock:
            self._accepted[token] = (principal, expires)
            while len(self._accepted) > self.CACHE_SIZE:
                self._accepted.popitem(last=False)
        return principal

    def may_fetch_keys(self, token: str) -> bool:
        """Whether verifying `token` may wait on the identity provider's JWKS endpoint."""
        if self._jwks is None or token in self._accepted:
            return False
        try:
            return jwt.get_unverified_header(token).get("alg") in _ASYMMETRIC
        except jwt.PyJWTError:
            return False

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized(
                "Access token validation failure: the token is not a well-formed JWT."
            ) from None
        alg = header.get("alg")
        if alg == "HS256":
            key: Any = self._secret
            issuer = self._settings.issuer
        elif alg in _ASYMMETRIC and self._jwks is not None and self._settings.jwt_issuer:
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWTError as exc:
                raise _unauthorized(
                    f"Access token validation failure: signing key not found ({exc})."
                ) from None
            issuer = self._settings.jwt_issuer
        else:
            raise _unauthorized(f"Access token validation failure: algorithm '{alg}' is not accepted.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=list(self._settings.audiences),
                issuer=issuer,
                # Lifetimes are checked below, on this verifier's clock.
                options={
                    "require": ["exp", "aud", "iss"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise _unauthorized("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized("Access token validation failure. Invalid issuer.") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("Access token validation failure. Invalid signature.") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"Access token validation failure: {exc}.") from None
        expires = self._check_lifetime(claims)
        self._check_tenant(claims.get("tid"))
        return Principal.from_claims(claims), expires

    def _check_lifetime(self, claims: dict[str, Any]) -> float:
        """The token's `exp`, once `exp` and `nbf` hold (with Entra's 30 s of clock skew)."""
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not _is_time(exp) or (nbf is not None and not _is_time(nbf)):
            raise _unauthorized("Access token validation failure: exp and nbf must be numeric times.")
        now = self._now()
        if now > float(exp) + LEEWAY_SECONDS:  # type: ignore[arg-type]
            raise _unauthorized("Lifetime validation failed, the token is expired.")
        if nbf is not None and now + LEEWAY_SECONDS < float(nbf):  # type: ignore[arg-type]
            raise _unauthorized("Lifetime validation failed, the token is not yet valid.")
        return float(exp)  # type: ignore[arg-type]

    def _check_tenant(self, tid: object) -> None:
        if not isinstance(tid, str) or not tid.strip():
            raise _unauthorized(
                "Access token validation failure: the token has no tenant (tid) claim; "
                f"this service accepts tokens for tenant {self._tenant_id} only."
            )
        try:
            same = str(uuid.UUID(tid.strip())) == self._tenant_id
        except ValueError:
            same = False
        if not same:
            raise _unauthorized(
                f"Access token validation failure: the token was issued for tenant '{tid[:64]}', "
                f"and this service accepts tokens for tenant {self._tenant_id} only (PROVISIOND_TENANT_ID)."
            )


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401, "InvalidAuthenticationToken", message, headers={"WWW-Authenticate": 'Bearer realm=""'}
    )


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the verified caller of this request. On the event loop (a known or
    HS256 token is a dictionary lookup or a microsecond HMAC), except where the first sight of
    a token may have to fetch signing keys from the identity provider."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Access token is empty.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The authorization header is invalid or missing.")
    verifier: TokenVerifier = request.app.state.services.verifier
    token = token.strip()
    if verifier.may_fetch_keys(token):
        return await run_in_threadpool(verifier.verify, token)
    return verifier.verify(token)
