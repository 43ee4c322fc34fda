"""The outbound policy: its syntax, what it allows, and that the SCIM client and the probes hold every
connection to it (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tests.scripted_server import json_answer, scripted_server

from provisiond.connectors import scim
from provisiond.connectors.outbound import (
    REFUSED_CODE,
    OutboundPolicy,
    OutboundRefused,
    guarded_resolver,
)
from provisiond.connectors.scim_client import ScimClient, ScimError

LIST = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


ZONE = {
    "scim.example.com": ["10.1.2.3"],
    "split.example.com": ["10.1.2.3", "169.254.169.254"],
    "metadata.example.com": ["169.254.169.254"],
    "v6.example.com": ["2001:db8::5"],
    "mapped.example.com": ["::ffff:10.9.9.9"],
    "app.partner.example": ["203.0.113.9"],
    "trusted.example": ["198.51.100.1"],
}
DNS = resolver(ZONE)


def test_unset_or_empty_allows_everything_without_resolving() -> None:
    for text in (None, "", " , "):
        policy = OutboundPolicy.parse(text)
        assert policy.everything
        policy.check_url("http://169.254.169.254/latest", resolve=resolver({}))


@pytest.mark.parametrize(
    "text",
    ["10.0.0.0/33", "scim.example.com/path", "*.", "bad_host!", "a..b", "10.0.0.0/8 ftp://x"],
)
def test_an_entry_of_no_known_form_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="PROVISIOND_OUTBOUND_ALLOW"):
        OutboundPolicy.parse(text)


POLICY = OutboundPolicy.parse("10.0.0.0/8, 2001:db8::/32 app.partner.example *.trusted.example 192.0.2.7")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.20.30.40/scim",
        "http://[2001:db8::1]:8080/scim",
        "https://scim.example.com/scim/v2?aadOptscim062020",  # resolves into 10/8
        "https://v6.example.com/",
        "https://mapped.example.com/",  # an IPv4-mapped IPv6 address inside 10/8
        "https://APP.partner.example./scim",  # by name, any case, trailing dot
        "https://deep.sub.trusted.example/scim",
        "http://192.0.2.7/",
    ],
)
def test_allowed_destinations(url: str) -> None:
    POLICY.check_url(url, resolve=DNS)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data", "The address 169.254.169.254 is not allowed"),
        ("http://[::1]:7493/", "The address ::1 is not allowed"),
        ("https://metadata.example.com/", "The host metadata.example.com is not allowed"),
        ("https://split.example.com/", "The host split.example.com is not allowed"),  # one address outside
        ("https://trusted.example/", "The host trusted.example"),  # the wildcard is for names under it
        ("http://192.0.2.8/", "192.0.2.8"),
    ],
)
def test_refused_destinations_say_why(url: str, says: str) -> None:
    with pytest.raises(OutboundRefused, match=says):
        POLICY.check_url(url, resolve=DNS)


def test_a_name_that_does_not_resolve_is_left_to_the_caller() -> None:
    with pytest.raises(socket.gaierror):
        POLICY.check_url("https://nowhere.example/", resolve=DNS)


def test_legacy_numeric_ipv4_forms_are_judged_by_what_they_resolve_to() -> None:
    policy = OutboundPolicy.parse("10.0.0.0/8")
    for host in ("2130706433", "127.1", "0x7f000001"):  # all 127.0.0.1 to the system resolver
        with pytest.raises(OutboundRefused):
            policy.check_url(f"http://{host}/scim")


# Real sockets: the clients themselves


@pytest.fixture
def scim_app():  # type: ignore[no-untyped-def]
    with scripted_server({"/scim/Users": json_answer(LIST)}) as server:
        yield server


def _on_localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


LOOPBACK = OutboundPolicy.parse("127.0.0.0/8 ::1")
ELSEWHERE = OutboundPolicy.parse("10.0.0.0/8")


def test_the_probes_connect_only_where_the_policy_allows(scim_app) -> None:  # type: ignore[no-untyped-def]
    base = _on_localhost(scim_app.url)
    scim.test_connection(base, "token", outbound=LOOPBACK)
    scim.test_connection(base, "token", outbound=OutboundPolicy.parse("localhost"))  # allowed by name
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1"):
        scim.test_connection(
            scim_app.url, "token", outbound=OutboundPolicy.parse("localhost")
        )  # the address is not listed
    with pytest.raises(OutboundRefused):
        scim.test_connection(base, "token", outbound=ELSEWHERE)
    assert len(scim_app.requests) == 2


def test_the_scim_client_refuses_addresses_and_names_as_a_job_level_error(scim_app) -> None:  # type: ignore[no-untyped-def]
    async def query(base: str, policy: OutboundPolicy) -> list[dict[str, object]]:
        client = ScimClient(base, "token", outbound=policy)
        try:
            return await client.query("Users", {"filter": 'userName eq "x"'})
        finally:
            await client.close()

    assert asyncio.run(query(_on_localhost(scim_app.url), LOOPBACK)) == []
    for base in (scim_app.url, _on_localhost(scim_app.url)):  # an address, then a name resolving to it
        with pytest.raises(ScimError) as caught:
            asyncio.run(query(base, ELSEWHERE))
        assert caught.value.code == REFUSED_CODE
        assert caught.value.job_level
        assert "not allowed" in caught.value.message
    assert len(scim_app.requests) == 1


def test_an_unset_policy_leaves_the_clients_as_they_are() -> None:
    unset = OutboundPolicy.parse(None)
    assert guarded_resolver(unset) is None
