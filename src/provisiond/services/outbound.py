"""The operator's outbound policy (`connectors.outbound`) applied to the addresses the API is
given: a BaseAddress that jobs may not reach is a 400 `OutboundAddressNotAllowed` before it is
saved or contacted.

Choice: a name that does not resolve when it is saved is accepted, since the policy cannot judge
it yet and DNS may come later; every connection made to it is checked when it is made.

An address the policy lets through still tells a caller nothing about what listens there: an
endpoint that does not answer as SCIM (nothing listening, another protocol, HTTP but not SCIM)
gets one answer (`not_a_scim_service`), and the service's log says what it did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from provisiond.connectors.outbound import REFUSED_CODE, OutboundPolicy, OutboundRefused
from provisiond.services.errors import BadRequest

NOT_SCIM_CODE = "SystemForCrossDomainIdentityManagementServiceIncompatible"
log = logging.getLogger("provisiond.services")


def check_base_address(policy: OutboundPolicy, base_address: str) -> None:
    """BadRequest when `base_address` (an http or https URL) names a host the policy refuses."""
    if policy.everything or not base_address.lower().startswith(("http://", "https://")):
        return  # nothing to check, or not a URL: the secret's own check refuses it
    try:
        policy.check_url(base_address)
    except OutboundRefused as exc:
        raise refused(base_address, exc) from None
    except (OSError, ValueError):  # no DNS answer (yet), or not a URL: judged at connection time
        return


def check_secrets(policy: OutboundPolicy, pairs: Iterable[tuple[str, str | None]]) -> None:
    """`check_base_address` for the BaseAddress among synchronization secrets (key, value)."""
    for key, value in pairs:
        if key == "BaseAddress" and value:
            check_base_address(policy, value)


def refused(base_address: str, exc: OutboundRefused) -> BadRequest:
    return BadRequest(f"BaseAddress {base_address} is refused. {exc}", code=REFUSED_CODE)


def not_a_scim_service(base_address: str, expected: str, detail: str, during: str) -> BadRequest:
    """The one answer for an endpoint that did not answer as a SCIM service, whatever it did
    (`detail`, logged with `during`, the call and its subject). `expected` says what a SCIM
    service answers to the call."""
    log.info("%s: %s", during, detail)
    return BadRequest(
        f"BaseAddress {base_address} does not answer as a SCIM 2.0 service: {expected}. "
        "Check the tenant URL; the service's log says what the endpoint did.",
        code=NOT_SCIM_CODE,
    )
