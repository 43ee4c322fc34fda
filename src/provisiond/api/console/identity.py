"""Who is signed in to the console, and what they may do: a console session carries the claims
a bearer token would, and every action is checked with the API's own permission check
(api/permissions.py) on the `Principal` those claims make.

The cookie holds an opaque session id (`SESSION_COOKIE`): HttpOnly, SameSite=Strict, Path
/console, Secure when the console is served over https. Every POST carries the session's CSRF
token (a hidden `csrf` field, or the `X-CSRF-Token` header for the few fetches the pages make);
a POST without it, or with another, is refused with 403 before anything is read or changed.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal
from provisiond.api.context import Services, services
from provisiond.config import ADMIN_SCOPES
from provisiond.services.console import ABSOLUTE_LIFETIME, ConsoleService, Session
from provisiond.services.errors import Forbidden

SESSION_COOKIE = "provisiond_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOCAL_ADMIN_APP_ID = "00000000-0000-0000-0000-00000000c11e"


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in page."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


class Refused(Exception):
    """What the API would answer with an error (Forbidden, NotFound...): the console shows it as
    a page with the same status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def local_administrator() -> dict[str, Any]:
    """The claims of the local administrator, as `provisiond token` mints them: delegated, every
    permission the API knows, and the Application Administrator directory role."""
    return {
        "scp": ADMIN_SCOPES,
        "wids": [perm.APPLICATION_ADMINISTRATOR],
        "oid": str(uuid.uuid4()),
        "appid": LOCAL_ADMIN_APP_ID,
    }


def claims_of(principal: Principal) -> dict[str, Any]:
    """A verified caller written back as the claims that make it (for the session row)."""
    claims: dict[str, Any] = {"wids": sorted(principal.wids)}
    if principal.delegated:
        claims["scp"] = " ".join(sorted(principal.scopes))
    else:
        claims["roles"] = sorted(principal.roles)
    if principal.object_id:
        claims["oid"] = principal.object_id
    if principal.app_id:
        claims["appid"] = principal.app_id
    return claims


def console_service(request: Request) -> ConsoleService:
    return request.app.state.console  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Console:
    """One request of a signed-in user: the session, the caller, and the domain services."""

    request: Request
    session: Session

    @property
    def principal(self) -> Principal:
        return Principal.from_claims(self.session.claims)

    @property
    def services(self) -> Services:
        return services(self.request)

    def may(self, requirement: perm.Requirement, object_id: str | None = None) -> bool:
        """Whether the API's check lets this caller do what `requirement` guards (on
        `object_id`, for permissions that cover owned objects only)."""
        principal = self.principal
        apps = self.services.applications
        try:
            perm.check(
                principal,
                requirement,
                owns_target=lambda: (
                    object_id is not None and apps.is_owned_by_app(object_id, principal.app_id)
                ),
            )
        except Forbidden:
            return False
        return True


async def signed_in(request: Request) -> Console:
    """FastAPI dependency: the console request's session, or SignInRequired."""
    session = await run_in_threadpool(console_service(request).session, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    console = Console(request, session)
    request.state.console = console  # for the page an error handler renders
    return console


async def posted_form(request: Request) -> FormData:
    """FastAPI dependency for every console POST: the signed-in session's form, once its CSRF
    token is checked (CsrfRefused otherwise; nothing has been done yet)."""
    console = await signed_in(request)
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(sent, str) or not hmac.compare_digest(
        sent.encode(), console.session.csrf_token.encode()
    ):
        raise CsrfRefused
    request.state.console = console
    return form


def console_of(request: Request) -> Console:
    """The Console a `posted_form` dependency checked for this request."""
    return request.state.console  # type: ignore[no-any-return]


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def signin_link(service: ConsoleService, base_url: str) -> str:
    """A one-time console sign-in URL for the local administrator (`provisiond console-link`)."""
    token = service.create_signin_link(local_administrator(), "local administrator")
    return f"{base_url.rstrip('/')}/console/signin?token={token}"
