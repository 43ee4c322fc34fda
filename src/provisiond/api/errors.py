"""The Graph error envelope, and the handlers that make every failure one.

`{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`, with
`Content-Type: application/json` so that the SDKs raise `ODataError` rather than `APIError`.

A database that cannot be used right now (`store.db.UNAVAILABLE_ERRORS`) is a 503
`ServiceUnavailable` with `Retry-After`, as Graph answers when it is overloaded or in
maintenance: the client may send the request again (the API's writes are idempotent or
checked, DESIGN invariant 4). Anything else unexpected is a
500 `generalException`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from provisiond.services.errors import ServiceError, TooManyRequests
from provisiond.store.db import UNAVAILABLE_ERRORS, describe_error

log = logging.getLogger("provisiond.api")

DATABASE_RETRY_AFTER_SECONDS = 5


class GraphError(Exception):
    """An error raised in the API layer itself (bad query option, bad body, auth)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


@dataclass(frozen=True)
class RequestIds:
    request_id: str
    client_request_id: str


def envelope(
    ids: RequestIds | None, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": ids.request_id if ids else "",
        "client-request-id": ids.client_request_id if ids else "",
    }
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    error["innerError"] = inner
    return {"error": error}


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    ids = getattr(request.state, "ids", None) if request is not None else None
    return JSONResponse(envelope(ids, code, message, details), status_code=status, headers=headers)


_STATUS_CODES = {
    400: ("BadRequest", "The request is malformed or incorrect."),
    401: ("InvalidAuthenticationToken", "Access token is empty."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("BadRequest", "Resource not found for the segment."),
    405: ("Request_BadRequest", "Specified HTTP method is not allowed for the request target."),
    413: ("RequestEntityTooLarge", "The request body is larger than the 4 MiB this service accepts."),
    415: ("UnsupportedMediaType", "The content type of the request body is not supported."),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GraphError)
    async def _graph_error(request: Request, exc: GraphError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        return error_response(
            request, exc.status, exc.code, exc.message, details=exc.details, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            # Graph answers an unknown segment with 400, naming the segment.
            segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            return error_response(
                request, 400, "BadRequest", f"Resource not found for the segment '{segment}'."
            )
        code, message = _STATUS_CODES.get(exc.status_code, ("generalException", str(exc.detail)))
        return error_response(request, exc.status_code, code, message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return error_response(
            request, 400, "BadRequest", f"Invalid value for '{where}': {first.get('msg', '')}"
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # One line, no traceback: while the database is away every request fails the same way.
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.url.path, describe_error(exc)
        )
        return error_response(
            request,
            503,
            "ServiceUnavailable",
            "The service's database cannot be reached right now. "
            f"Retry after {DATABASE_RETRY_AFTER_SECONDS} seconds.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client gave up while sending its body: nothing was done and nobody is listening.
        log.info("client went away while sending %s %s", request.method, request.url.path)
        return error_response(
            request, 400, "BadRequest", "The client disconnected before sending the whole body."
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "generalException", "An unexpected error occurred on the server.")
