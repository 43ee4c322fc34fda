"""Bearer-token authentication in front of django-scim2's auth check, and resource locations from
the request's host (the app listens on a port the test picks)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from tests.django_scim_app import TOKEN


@dataclass(frozen=True)
class _Caller:
    """What django-scim2's SCIMAuthCheckMiddleware asks of `request.user`."""

    is_authenticated: bool


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), TOKEN.encode())
        request.user = _Caller(ok)  # type: ignore[assignment]
        return self.get_response(request)


def base_location(request: Any = None, *args: Any, **kwargs: Any) -> str:
    return f"http://{request.get_host()}" if request is not None else "http://127.0.0.1"
