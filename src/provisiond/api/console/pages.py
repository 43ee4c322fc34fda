"""Rendering for the console: the Jinja2 environment, a page with its common context, and the
error page a refused or failed action shows (its message is the service's own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse

from provisiond.api.console import views
from provisiond.api.console.identity import Console

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["when"] = views.when
TEMPLATES.env.filters["when"] = views.when

# Every page is private and changes as jobs run: never cached, never framed.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}

# What a redirect after an action says on the next page (by key: the URL carries no free text).
NOTICES = {
    "started": "Started: a cycle is due now.",
    "paused": "Paused: no cycles run until the job is started; its progress is kept.",
    "restarted": "Restarted: the next cycle reprocesses every object, starting now.",
    "deleted": "The job was deleted; the accounts in the app are left as they are.",
    "saved": "Saved.",
    "mappings-saved": "Saved: the next cycle evaluates every object again with the changed mappings.",
    "connected": "Test connection succeeded: the app answered as a SCIM service and accepted the token.",
}


def page(
    request: Request,
    template: str,
    console: Console | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page (or a fragment, for templates whose name starts with `_`)."""
    if console is not None:
        context.setdefault("user", console.session.name)
        context.setdefault("csrf", console.session.csrf_token)
    context.setdefault("notice", NOTICES.get(request.query_params.get("notice") or ""))
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def error_page(request: Request, console: Console | None, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", console, status=status, status_code=status, message=message)


def see_other(url: str) -> RedirectResponse:
    """After a POST: the browser GETs the result page (so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)
