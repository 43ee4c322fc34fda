"""Signing in and out of the console.

- A one-time link, `GET /console/signin?token=...`, printed by `provisiond console-link` and the
  demo, signs in as the local administrator (the identity `provisiond token` mints for).
- With an identity provider configured (`PROVISIOND_JWT_ISSUER`, `PROVISIOND_JWKS_URL` and
  `PROVISIOND_OIDC_CLIENT_ID`), `GET /console/signin/oidc` starts OpenID Connect's
  authorization code flow with PKCE (S256), `state` and `nonce`; the endpoints come from the
  issuer's `/.well-known/openid-configuration`. At the callback the ID token is verified (the
  provider's keys, issuer, audience = the client id, nonce) and the access token is verified
  exactly as the API verifies a bearer token (TokenVerifier: Graph audience, issuer, tenant,
  lifetime); its claims are the session's permissions.
- `POST /console/signout` ends the session.

A fresh session is entered through a small page that moves on by itself: the session cookie is
SameSite=Strict, and a browser withholds it from the rest of a redirect chain that began on
another site (the identity provider's, or a chat app's link), which would loop back here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import urllib.parse
import urllib.request
from typing import Any

import jwt
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api.console.identity import (
    claims_of,
    clear_session_cookie,
    console_of,
    console_service,
    posted_form,
    set_session_cookie,
)
from provisiond.api.console.pages import page, see_other
from provisiond.api.context import services
from provisiond.api.errors import GraphError
from provisiond.config import Settings

log = logging.getLogger("provisiond.console")
router = APIRouter()

LOCAL_ADMINISTRATOR = "local administrator"
IDP_TIMEOUT_SECONDS = 10


def _settings(request: Request) -> Settings:
    return request.app.state.console_settings  # type: ignore[no-any-return]


def oidc_configured(settings: Settings) -> bool:
    return bool(settings.oidc_client_id and settings.jwt_issuer and settings.jwks_url)


@router.get("/signin", name="console_signin")
def signin(request: Request, token: str | None = None) -> Response:
    settings = _settings(request)
    if token is None:
        return page(request, "signin.html", oidc=oidc_configured(settings))
    identity = console_service(request).redeem_signin_link(token)
    if identity is None:
        return page(
            request,
            "signin.html",
            status=400,
            oidc=oidc_configured(settings),
            error="This sign-in link is not valid: it was used already, it has expired, or it was mistyped. "
            "Run `provisiond console-link` for a new one.",
        )
    return _enter(request, identity["claims"], identity["name"])


def _enter(request: Request, claims: dict[str, Any], name: str) -> Response:
    """A new session, its cookie, and the page that moves on to the console."""
    session_id, _ = console_service(request).create_session(claims, name)
    response = page(request, "continue.html", target="/console")
    set_session_cookie(request, response, session_id)
    return response


@router.post("/signout")
def signout(request: Request, form: FormData = Depends(posted_form)) -> Response:
    console_service(request).end_session(console_of(request).session)
    response = see_other("/console/signin")
    clear_session_cookie(request, response)
    return response


# OpenID Connect


class _Discovery:
    """The identity provider's endpoints, read once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, Any]] = {}

    def endpoints(self, issuer: str) -> dict[str, Any]:
        with self._lock:
            if issuer in self._known:
                return self._known[issuer]
        document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        for key in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(document.get(key), str):
                raise ValueError(f"the provider's openid-configuration has no {key}")
        with self._lock:
            self._known[issuer] = document
        return document


DISCOVERY = _Discovery()


def _get_json(url: str, data: bytes | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    with urllib.request.urlopen(  # the configured provider's URLs only
        urllib.request.Request(url, data=data, headers=headers), timeout=IDP_TIMEOUT_SECONDS
    ) as answer:
        body = json.loads(answer.read().decode())
    if not isinstance(body, dict):
        raise ValueError(f"{url} did not answer with a JSON object")
    return body


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _callback_url(request: Request) -> str:
    return str(request.url_for("console_oidc_callback"))


@router.get("/signin/oidc")
def oidc_start(request: Request) -> Response:
    settings = _settings(request)
    if not oidc_configured(settings):
        return page(request, "signin.html", status=404, error="No identity provider is configured.")
    assert settings.jwt_issuer is not None and settings.oidc_client_id is not None
    try:
        endpoints = DISCOVERY.endpoints(settings.jwt_issuer)
    except (OSError, ValueError) as exc:
        log.warning("OpenID Connect discovery at %s failed: %s", settings.jwt_issuer, exc)
        return _refused(request, "The identity provider could not be reached; try again in a moment.", 502)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    console_service(request).begin_oidc(state, {"nonce": nonce, "verifier": verifier})
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": _callback_url(request),
            "scope": settings.oidc_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    return see_other(f"{endpoints['authorization_endpoint']}?{query}")


@router.get("/signin/callback", name="console_oidc_callback")
def oidc_callback(
    request: Request, state: str = "", code: str = "", error: str = "", error_description: str = ""
) -> Response:
    settings = _settings(request)
    if not oidc_configured(settings):
        return page(request, "signin.html", status=404, error="No identity provider is configured.")
    pending = console_service(request).finish_oidc(state)
    if pending is None:
        return _refused(request, "This sign-in is unknown or has expired; start again.", 400)
    if error or not code:
        return _refused(
            request,
            f"The identity provider refused the sign-in: {error_description or error or 'no code'}.",
            400,
        )
    try:
        tokens = _redeem_code(settings, code, pending["verifier"], _callback_url(request))
        id_claims = _verified_id_token(settings, tokens.get("id_token"), pending["nonce"])
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _refused(request, f"The sign-in could not be completed: {exc}", 400)
    access_token = tokens.get("access_token")
    if not isinstance(access_token, str):
        return _refused(request, "The identity provider issued no access token.", 400)
    try:
        principal = services(request).verifier.verify(access_token)
    except GraphError as exc:
        return _refused(request, f"The access token is not one this service accepts: {exc.message}", 403)
    name = next(
        (str(id_claims[k]) for k in ("name", "preferred_username", "email", "sub") if id_claims.get(k)),
        "user",
    )
    return _enter(request, claims_of(principal), name)


def _redeem_code(settings: Settings, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
    assert settings.jwt_issuer is not None and settings.oidc_client_id is not None
    endpoints = DISCOVERY.endpoints(settings.jwt_issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.oidc_client_id,
        "code_verifier": verifier,
    }
    if settings.oidc_client_secret:
        form["client_secret"] = settings.oidc_client_secret
    return _get_json(endpoints["token_endpoint"], urllib.parse.urlencode(form).encode())


def _verified_id_token(settings: Settings, token: object, nonce: str) -> dict[str, Any]:
    if not isinstance(token, str):
        raise ValueError("the identity provider issued no ID token")
    assert settings.jwks_url is not None
    key = jwt.PyJWKClient(settings.jwks_url, timeout=IDP_TIMEOUT_SECONDS).get_signing_key_from_jwt(token).key
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256", "ES256", "PS256", "RS384", "RS512", "ES384", "ES512"],
        audience=settings.oidc_client_id,
        issuer=settings.jwt_issuer,
        leeway=30,
        options={"require": ["exp", "iss", "aud", "nonce"]},
    )
    if claims.get("nonce") != nonce:
        raise ValueError("the ID token's nonce is not this sign-in's")
    return claims


def _refused(request: Request, message: str, status: int) -> Response:
    return page(request, "signin.html", status=status, oidc=True, error=message)
