"""Via (§20.42), From/To/Contact/Route (§20.10, §20.20, §20.30, §20.34, §20.39),
CSeq (§20.16), Call-ID (§20.8) and the numeric headers against the grammar."""

from __future__ import annotations

import pytest

from sipwire import Contact, CSeq, NameAddr, ParseError, RouteAddr, Via
from sipwire.message.fields.simple import CallID, ContentLength, Expires, MaxForwards


@pytest.mark.parametrize(("text", "transport", "host", "port", "params"), [
    ("SIP/2.0/UDP erlang.bell-telephone.com:5060;branch=z9hG4bK87asdks7", "UDP",
     "erlang.bell-telephone.com", 5060, {"branch": "z9hG4bK87asdks7"}),
    ("SIP/2.0/UDP 192.0.2.1:5060 ;received=192.0.2.207;branch=z9hG4bK77asjd", "UDP",
     "192.0.2.1", 5060, {"received": "192.0.2.207", "branch": "z9hG4bK77asjd"}),
    ("SIP / 2.0 / UDP first.example.com: 4000;ttl=16;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1",
     "UDP", "first.example.com", 4000,
     {"ttl": "16", "maddr": "224.2.0.1", "branch": "z9hG4bKa7c6a8dlze.1"}),
    ("SIP/2.0/TLS [2001:db8::1];branch=z9hG4bK1;rport;received=2001:db8::2", "TLS",
     "[2001:db8::1]", None, {"branch": "z9hG4bK1", "rport": None, "received": "2001:db8::2"}),
    ("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;x=\"a;b\"", "WSS",
     "df7jal23ls0d.invalid", None, {"branch": "z9hG4bKasudf", "x": '"a;b"'}),
])
def test_via_examples(text: str, transport: str, host: str, port: int | None,
                      params: dict[str, str | None]) -> None:
    via = Via.parse(text)
    assert (via.transport, via.host, via.port, via.params) == (transport, host, port, params)
    assert str(via) == text
    via.check()


def test_via_named_params_and_rport() -> None:
    via = Via.parse("SIP/2.0/UDP h.com;branch=z9hG4bK1;rport")
    assert via.rport is True and via.has_magic_cookie
    via.rport = 5061
    via.received = "192.0.2.1"
    assert str(via) == "SIP/2.0/UDP h.com;branch=z9hG4bK1;rport=5061;received=192.0.2.1"
    assert Via.parse("SIP/2.0/UDP h.com;branch=1").has_magic_cookie is False


def test_via_built_with_a_bare_ipv6_address_writes_it_in_brackets() -> None:
    via = Via("UDP", "2001:db8::1", 5060, branch="z9hG4bK1")
    assert str(via) == "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1"
    assert Via("TCP", "[::1]").host == "[::1]"
    via.check()


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP", "SIP/2.0 UDP h.com", "SIP/2.0/UDP h.com:99999", "SIP/2.0/UDP h.com;",
    "SIP/2.0/UDP h.com;branch=", "SIP/2.0/UDP h..com", "SIP/2.0/UDP [::1", "garbage",
    "SIP/2.0/UDP h.com;branch=a b",
])
def test_via_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Via.parse(text)


@pytest.mark.parametrize(("text", "display", "uri", "params"), [
    ('"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s', "A. G. Bell",
     "sip:agb@bell-telephone.com", {"tag": "a48s"}),
    ("sip:+12125551212@server.phone2net.com;tag=887s", None,
     "sip:+12125551212@server.phone2net.com", {"tag": "887s"}),
    ("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", "Anonymous",
     "sip:c8oqz84zk7z@privacy.org", {"tag": "hyh8"}),
    ("The Operator <sip:operator@cs.columbia.edu>;tag=287447", "The Operator",
     "sip:operator@cs.columbia.edu", {"tag": "287447"}),
    ('"Mr. \\"Watson\\"" <tel:+1-201-555-0123>', 'Mr. "Watson"', "tel:+1-201-555-0123", {}),
    ("<sips:bob@[2001:db8::1]:5061;transport=tls>", None,
     "sips:bob@[2001:db8::1]:5061;transport=tls", {}),
    ('"Ünïcødé 名前" <sip:u@x.org>', "Ünïcødé 名前", "sip:u@x.org", {}),
])
def test_name_addr_examples(text: str, display: str | None, uri: str,
                            params: dict[str, str | None]) -> None:
    value = NameAddr.parse(text)
    assert (value.display_name, str(value.uri), value.params) == (display, uri, params)
    assert str(value) == text.strip()


@pytest.mark.parametrize("text", [
    "Bob sip:bob@biloxi.com", "<sip:bob@biloxi.com", '"Bob <sip:bob@biloxi.com>',
    "<bob@biloxi.com>", "sip:bob@biloxi.com?subject=x", "<sip:bob@biloxi.com>;tag=a b", "",
])
def test_name_addr_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        NameAddr.parse(text)


def test_contact_star_q_expires_and_route_needs_brackets() -> None:
    assert Contact.parse("*").star
    contact = Contact.parse("<sip:a@b.com>;q=0.7;expires=3600")
    assert contact.q == 0.7 and contact.expires == 3600 and not contact.star
    contact.check()
    with pytest.raises(ParseError):
        Contact.parse("<sip:a@b.com>;q=1.5").check()
    with pytest.raises(ParseError):
        RouteAddr.parse("sip:p1.example.com;lr")
    assert RouteAddr.parse("<sip:p1.example.com;lr>").uri.lr


@pytest.mark.parametrize(("text", "seq", "method"), [
    ("4711 INVITE", 4711, "INVITE"), ("0  REGISTER", 0, "REGISTER"),
    ("2147483647 FOO", 2147483647, "FOO"),
])
def test_cseq(text: str, seq: int, method: str) -> None:
    value = CSeq.parse(text)
    assert (value.seq, value.method) == (seq, method)


@pytest.mark.parametrize("text", ["INVITE", "1", "x INVITE", "2147483648 INVITE", "-1 BYE",
                                  "1 INV ITE"])
def test_cseq_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        CSeq.parse(text)


def test_call_id_and_numbers() -> None:
    assert CallID.parse("f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com").value.endswith(".com")
    for bad in ("", "a b", "a@b@c"):
        with pytest.raises(ParseError):
            CallID.parse(bad)
    assert ContentLength.parse(" 349 ").value == 349
    assert MaxForwards.parse("0").value == 0
    assert Expires.parse("99999999999").value == 2**32 - 1  # §20.19 ceiling
    for cls, bad in ((ContentLength, "-1"), (MaxForwards, "256"), (Expires, "1.5")):
        with pytest.raises(ParseError):
            cls.parse(bad)
