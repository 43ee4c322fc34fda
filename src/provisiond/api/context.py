"""What routes reach through `request.app.state`: the services, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from provisiond.api.auth import TokenVerifier
from provisiond.runtime import DomainServices


@dataclass(kw_only=True)
class Services(DomainServices):
    """The domain services the runtime builds, and what only HTTP needs: the token verifier."""

    verifier: TokenVerifier

    @classmethod
    def of(cls, domain: DomainServices, verifier: TokenVerifier) -> Services:
        return cls(**domain.as_fields(), verifier=verifier)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
