"""The admin console at `/console`: server-rendered pages (Jinja2) over the same services and
permission checks as the Graph API, with a little plain JavaScript for the live parts and no
assets from elsewhere (templates/ and static/ ship in the package).

`install` mounts it on the API's app: the routers, the static files, and the handlers that
turn a missing session into the sign-in page, a missing CSRF token into a 403, and what the API
would refuse (`Refused`: Forbidden, NotFound) into a page with its status and message.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from provisiond.api.console import jobs, logs, mappings, on_demand, review, scoping, signin
from provisiond.api.console.identity import CsrfRefused, Refused, SignInRequired
from provisiond.api.console.pages import error_page, see_other
from provisiond.clock import Clock
from provisiond.config import Settings
from provisiond.services.console import ConsoleService
from provisiond.store.db import Database

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings, db: Database, clock: Clock) -> None:
    app.state.console = ConsoleService(db, clock)
    app.state.console_settings = settings
    for module in (signin, jobs, logs, on_demand, mappings, scoping, review):
        app.include_router(module.router, prefix=PREFIX)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(Refused, _refused)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    if request.method == "GET" and not request.url.path.endswith("/live"):
        return see_other(f"{PREFIX}/signin")
    return error_page(request, None, 401, "Your console session has ended; sign in again.")


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        None,
        403,
        "This form was not sent by this console session (its CSRF token is missing or wrong); nothing was changed.",
    )


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_page(request, getattr(request.state, "console", None), exc.status, exc.message)
