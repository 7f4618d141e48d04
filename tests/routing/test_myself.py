"""``Myself``: "is this URI me?" by host and port, "is this domain mine?"."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire import URI
from sipwire.routing import Myself, normalize_host
from sipwire.routing.myself import local_aor, parse_alias

ME = Myself.of([("UDP", "127.0.0.1", 5060), ("TCP", "127.0.0.1", 5060),
                ("TLS", "127.0.0.1", 5061), ("UDP", "::1", 5062)],
               aliases=("sip.example.com", "edge.example.com:5080"),
               domains=("localhost", "127.0.0.1", "Example.COM."))


@pytest.mark.parametrize("uri", [
    "sip:127.0.0.1", "sip:127.0.0.1:5060", "sip:bob@127.0.0.1:5060;transport=tcp",
    "sips:127.0.0.1", "sip:[::1]:5062", "sip:[0:0::1]:5062", "sip:[::ffff:127.0.0.1]",
    "sip:localhost", "sip:LOCALHOST.:5061", "sip:sip.example.com;lr", "sip:edge.example.com:5080",
    "sip:example.com",
])
def test_me(uri: str) -> None:
    assert ME.is_my_uri(URI.parse(uri))


@pytest.mark.parametrize("uri", [
    "sip:127.0.0.1:5490",          # a UA listening on our host
    "sip:bob@127.0.0.1:5070",
    "sips:127.0.0.2",
    "sip:127.0.0.2", "sip:edge.example.com",  # that alias names port 5080 only
    "sip:[::2]:5062", "tel:+15551234",
])
def test_not_me(uri: str) -> None:
    assert not ME.is_my_uri(URI.parse(uri))


def test_local_uri_is_a_served_domain_with_no_port_or_ours() -> None:
    assert ME.is_local_uri(URI.parse("sip:bob@127.0.0.1"))
    assert ME.is_local_uri(URI.parse("sip:bob@127.0.0.1:5061"))
    assert ME.is_local_uri(URI.parse("sip:bob@example.com"))
    assert not ME.is_local_uri(URI.parse("sip:bob@127.0.0.1:5490"))
    assert not ME.is_local_uri(URI.parse("sip:bob@sip.example.com"))  # an alias, no domain
    assert ME.is_local_domain("EXAMPLE.com.") and not ME.is_local_domain("other.example")


def test_local_aor_is_one_key_for_the_registrar_and_the_proxy() -> None:
    assert local_aor(URI.parse("sip:bob@LOCALHOST.:5060;transport=tcp")) == "sip:bob@localhost"
    assert local_aor(URI.parse("sip:bob@[0:0::1]")) == "sip:bob@[::1]"
    assert local_aor(URI.parse("sip:bob@example.com")) == "sip:bob@example.com"


def test_sent_by_and_listening() -> None:
    from sipwire.message.fields.via import Via
    assert ME.is_my_sent_by(Via("UDP", "127.0.0.1", None, branch="z9hG4bK1"))
    assert ME.is_my_sent_by(Via("TLS", "127.0.0.1", None, branch="z9hG4bK1"))
    assert not ME.is_my_sent_by(Via("UDP", "127.0.0.1", 5999, branch="z9hG4bK1"))
    assert ME.listens("tcp", 5060) and not ME.listens("ws", 5060)


def test_aliases_parse_or_say_why() -> None:
    assert parse_alias("[2001:DB8::1]:5080") == ("2001:db8::1", 5080)
    assert parse_alias("Proxy.Example.com.") == ("proxy.example.com", None)
    for bad in ("", "host:0", "host:x", "[::1]:70000"):
        with pytest.raises(ValueError):
            parse_alias(bad)
    assert normalize_host("[::FFFF:192.0.2.1]") == "192.0.2.1"


def test_three_colon_ipv6_is_the_address_it_means() -> None:
    # tolerated by parse() (RFC 5954 §4.1): compared and routed as 2001:db8::c000:201
    me = Myself.of([("UDP", "2001:db8::192.0.2.1", 5060)])
    assert normalize_host("[2001:db8:::192.0.2.1]") == "2001:db8::c000:201"
    assert me.is_my_uri(URI.parse("sip:[2001:db8:::192.0.2.1]"))


def _normalize_by_ip_address(host: str) -> str:
    """What normalize_host gives by asking ``ipaddress`` first, for any host."""
    bare = host.strip("[]")
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower().rstrip(".")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@given(st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF.:[]-xyz", max_size=24),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.from_regex(r"[a-zA-Z0-9-]{1,10}(\.[a-zA-Z0-9-]{1,10}){0,3}\.?", fullmatch=True),
))
def test_a_domain_name_skips_the_ip_parser_with_the_same_result(host: str) -> None:
    # a host without a colon that does not end in a digit is never an IP
    # address: normalize_host answers it without ipaddress, identically
    if ":::" in host:
        return  # the RFC 5954 tolerance, tested above
    assert normalize_host(host) == _normalize_by_ip_address(host)
