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

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import Request

from provisiond.api.errors import GraphError
from provisiond.config import Settings

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
    def __init__(self, settings: Settings, tenant_id: str | None = None) -> None:
        self._settings = settings
        self._tenant_id = (tenant_id or settings.token_tenant_id).lower()
        self._secret = settings.hs256_secret()
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, timeout=10) if settings.jwks_url else None
        )

    def verify(self, token: str) -> Principal:
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
                options={"require": ["exp", "aud", "iss"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("Lifetime validation failed, the token is expired.") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("Lifetime validation failed, the token is not yet valid.") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized("Access token validation failure. Invalid issuer.") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("Access token validation failure. Invalid signature.") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"Access token validation failure: {exc}.") from None
        self._check_tenant(claims.get("tid"))
        return Principal.from_claims(claims)

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


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401, "InvalidAuthenticationToken", message, headers={"WWW-Authenticate": 'Bearer realm=""'}
    )


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the verified caller of this request."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Access token is empty.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The authorization header is invalid or missing.")
    verifier: TokenVerifier = request.app.state.services.verifier
    return verifier.verify(token.strip())
