"""Which hosts jobs may reach: the operator's outbound policy (`PROVISIOND_OUTBOUND_ALLOW`).

Everything that talks to a SCIM app goes through it: `BaseAddress` when it is saved
(`PUT .../secrets`, `PUT .../synchronization`), validateCredentials, discover, provisionOnDemand
and the engine's SCIM client. Without a policy (unset or empty) every destination is allowed.

Syntax: entries separated by commas or whitespace, each one of

- a network in CIDR notation, `10.20.0.0/16`, `2001:db8::/32`, or one address, `192.0.2.7`;
- a host name, `scim.example.com` (any case, a trailing dot ignored);
- every name under a domain, `*.example.com` (not `example.com` itself).

A destination is allowed when its host

1. is an IP address inside a listed network, or
2. is a listed name or under a listed domain (naming a host trusts what it resolves to), or
3. is a name every one of whose addresses lies inside a listed network: a name that resolves
   into a network not listed is refused, even if it also resolves into one that is.

Ports are not part of the policy. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as
the IPv4 address they carry, and legacy numeric forms (`127.1`, `2130706433`) as what the
resolver makes of them.

Checks happen twice: when an address is given (a clear 400 before anything is saved or sent),
and when a connection is made (`guarded_resolver`, for aiohttp, the one HTTP client of every
SCIM request: the engine's and the probes'), so a name whose DNS answer changes later is still
held to the policy. aiohttp connects to the address the resolver checked, not to the name again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Sequence[str]]

REFUSED_CODE = "OutboundAddressNotAllowed"
SETTING = "PROVISIOND_OUTBOUND_ALLOW"


class OutboundRefused(OSError):
    """A destination the policy does not allow. An OSError, so that HTTP clients report it as a
    failed connection; the message says what was refused and why."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (socket.gaierror when none)."""
    infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()  # ".example.com" for "*.example.com"
    everything: bool = True
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str | None) -> OutboundPolicy:
        """The policy `text` states; ValueError naming the first entry that is none of the forms."""
        entries = (text or "").replace(",", " ").split()
        if not entries:
            return cls()
        networks: list[IPNetwork] = []
        names: set[str] = set()
        domains: list[str] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            wildcard = name.startswith("*.")
            label_text = name[2:] if wildcard else name
            labels = label_text.split(".")
            if not label_text or not all(_is_label(label) for label in labels) or "/" in entry:
                raise ValueError(
                    f"{SETTING}: {entry!r} is neither a network (10.0.0.0/8), an address, "
                    "a host name (scim.example.com) nor a domain (*.example.com)"
                )
            if wildcard:
                domains.append("." + label_text)
            else:
                names.add(label_text)
        return cls(
            tuple(networks), frozenset(names), tuple(domains), everything=False, text=" ".join(entries)
        )

    def describe(self) -> str:
        return "every destination" if self.everything else self.text

    def check_url(self, url: str, *, resolve: Resolve = resolve_host) -> None:
        """OutboundRefused unless the URL's host is allowed; socket.gaierror when its name cannot
        be resolved (and only the addresses could allow it)."""
        if self.everything:
            return
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = 0
        self.checked_addresses(parts.hostname or "", port, resolve=resolve)

    def checked_addresses(self, host: str, port: int, *, resolve: Resolve = resolve_host) -> list[str]:
        """The addresses to connect to for `host`, every one allowed; [host] itself when the
        host is allowed by name. OutboundRefused, or socket.gaierror from `resolve`."""
        host = host.strip("[]")
        if self.everything:
            return [host]
        if not host:
            raise OutboundRefused("An address without a host is not allowed.")
        if _address(host) is not None:
            self.check_literal(host)
            return [host]
        if self._named(host):
            return [host]
        addresses = resolve(host, port)
        self.check_resolved(host, addresses)
        return list(addresses)

    def check_literal(self, host: str) -> None:
        """OutboundRefused when `host` is an IP address outside the networks; names pass (they are
        judged when resolved). For clients whose resolver skips literal addresses."""
        if self.everything:
            return
        literal = _address(host.strip("[]"))
        if literal is not None and not self._inside(literal):
            raise OutboundRefused(
                f"The address {host} is not allowed: it is outside the networks this service may "
                f"reach ({SETTING})."
            )

    def check_resolved(self, host: str, addresses: Iterable[str]) -> None:
        """OutboundRefused unless `host` is allowed by name or every one of `addresses` is."""
        if self.everything or self._named(host.strip("[]")):
            return
        parsed = [_address(a) for a in addresses]
        if not parsed or any(a is None or not self._inside(a) for a in parsed):
            raise OutboundRefused(
                f"The host {host} is not allowed: it is not listed, and it resolves to an address "
                f"outside the networks this service may reach ({SETTING})."
            )

    def _inside(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)

    def _named(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(domain) for domain in self.domains)


ALLOW_EVERYTHING = OutboundPolicy()


def _is_label(label: str) -> bool:
    return 0 < len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) and label.isascii()


def _address(text: str) -> IPAddress | None:
    """The IP address `text` is (a zone id dropped, IPv4-mapped IPv6 unwrapped), or None."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Enforcement at connection time


class _GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name the policy does not allow (aiohttp reports it as a
    ClientConnectorDNSError whose `os_error` is the OutboundRefused). aiohttp does not resolve
    literal addresses, so a client checks those itself (`OutboundPolicy.checked_addresses`)."""

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._policy.check_resolved(host, [r["host"] for r in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_resolver(policy: OutboundPolicy) -> AbstractResolver | None:
    """The resolver an aiohttp connector needs to hold names to `policy`; None without one."""
    if policy.everything:
        return None
    return _GuardedResolver(policy, aiohttp.DefaultResolver())
