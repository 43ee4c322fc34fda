"""Errors a use case raises; the API layer turns each into a Graph error envelope.

Each carries the Graph `code` and the HTTP status it maps to, so that the rule "this failure
is a 404 Request_ResourceNotFound" lives next to the failure, not in a table in the API.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    code = "generalException"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []


class BadRequest(ServiceError):
    status = 400
    code = "BadRequest"


class NotFound(ServiceError):
    status = 404
    code = "Request_ResourceNotFound"

    @classmethod
    def resource(cls, object_id: str) -> NotFound:
        return cls(
            f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
        )


class Conflict(ServiceError):
    status = 409
    code = "Conflict"


class Forbidden(ServiceError):
    status = 403
    code = "Authorization_RequestDenied"


class NotImplementedYet(ServiceError):
    """A Graph endpoint that exists but is not built yet: a clear 501, never a pretend success."""

    status = 501
    code = "notImplemented"


class TooManyRequests(ServiceError):
    status = 429
    code = "TooManyRequests"

    def __init__(self, message: str, *, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
