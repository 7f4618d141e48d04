"""The sans-I/O parts of the transport layer: names, addresses, the §18 Via
rules, the answer to an unparsable request and WebSocket message framing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwire import Limits, ParseError, Response, Via, parse
from sipwire.message.parser import BadMessage, KeepAlive
from sipwire.transport import Address, ListeningPoint, Target, Transport, TransportError
from sipwire.transport.malformed import error_response
from sipwire.transport.routing import (
    mark_received,
    response_target,
    sent_by_key,
    stamp_via,
    udp_response_address,
)
from sipwire.transport.ws import frame_event

CORPUS = Path(__file__).parent.parent / "message" / "corpus" / "invalid"


# -- names and addresses -------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "transport", "host", "port"), [
    ("udp:127.0.0.1:5060", Transport.UDP, "127.0.0.1", 5060),
    ("TCP:[::1]:0", Transport.TCP, "::1", 0),
    ("tls:0.0.0.0", Transport.TLS, "0.0.0.0", 5061),
    ("ws:127.0.0.1:8080", Transport.WS, "127.0.0.1", 8080),
    ("wss:[::]", Transport.WSS, "::", 443),
])
def test_listening_point_spec(spec: str, transport: Transport, host: str, port: int) -> None:
    point = ListeningPoint.parse(spec)
    assert (point.transport, point.host, point.port) == (transport, host, port)
    assert ListeningPoint.parse(str(point)) == point


@pytest.mark.parametrize("spec", [
    "sctp:127.0.0.1:5060", "udp:example.com:5060", "udp:127.0.0.1:70000", "udp:[::1",
    "127.0.0.1:5060", "udp::5060",
])
def test_listening_point_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError):
        ListeningPoint.parse(spec)


def test_target_defaults_and_names() -> None:
    assert Target.parse("tls:example.com").effective_port == 5061
    assert Target.parse("udp:[2001:db8::1]:5070") == Target(Transport.UDP, "2001:db8::1", 5070)
    assert Target("ws", "[::1]").host == "::1"  # type: ignore[arg-type]
    assert str(Target(Transport.WSS, "::1")) == "wss:[::1]:443"
    with pytest.raises(TransportError):
        Target("sctp", "192.0.2.1")  # type: ignore[arg-type]


def test_transport_properties() -> None:
    assert not Transport.UDP.reliable and Transport.WS.reliable
    assert Transport.TLS.secure and Transport.WSS.secure and not Transport.TCP.secure
    assert [t.default_port for t in Transport] == [5060, 5060, 5061, 80, 443]
    assert Transport.parse("wss") is Transport.WSS


def test_address_forms() -> None:
    assert str(Address("::1", 5060)) == "[::1]:5060"
    assert Address.from_sockname(("::ffff:192.0.2.1", 5060, 0, 0)) == Address("192.0.2.1", 5060)


# -- §18.1.1: the top Via of a request we send -----------------------------------------------


def test_stamp_via_sets_transport_sent_by_and_rport() -> None:
    via = Via.parse("SIP/2.0/UDP placeholder;branch=z9hG4bK1")
    stamp_via(via, Transport.TCP, "[::1]", 5070, rport=True)
    assert str(via) == "SIP/2.0/TCP [::1]:5070;branch=z9hG4bK1;rport"
    stamp_via(via, Transport.UDP, "192.0.2.1", 5060, rport=False)
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport"


# -- §18.2.1 and RFC 3581 §4: marking where a request came from -----------------------------


@pytest.mark.parametrize(("via", "after"), [
    # same address as the packet source, no rport: untouched
    ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1"),
    # another address: received (§18.2.1)
    ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
     "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1"),
    # a host name: received (§18.2.1 example)
    ("SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK1",
     "SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK1;received=192.0.2.1"),
    # rport without a value: filled in, and received added even though equal (RFC 3581 §4)
    ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
     "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.1"),
    # a received the sender wrote itself: removed (only we know the source)
    ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;received=198.51.100.77",
     "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1"),
    ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=198.51.100.77",
     "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1"),
])
def test_mark_received(via: str, after: str) -> None:
    value = Via.parse(via)
    mark_received(value, Address("192.0.2.1", 40000))
    assert str(value) == after


def test_mark_received_ipv6_compares_addresses_not_text() -> None:
    via = Via.parse("SIP/2.0/TCP [2001:db8:0::1]:5060;branch=z9hG4bK1")
    mark_received(via, Address("2001:db8::1", 5060))
    assert via.received is None
    mark_received(via, Address("2001:db8::2", 5060))
    assert via.received == "2001:db8::2"


# -- §18.2.2 and RFC 3581 §4: where a response goes ----------------------------------------


@pytest.mark.parametrize(("via", "target"), [
    ("SIP/2.0/TCP a.example.com:5070;branch=z9hG4bK1;received=192.0.2.1",
     Target(Transport.TCP, "192.0.2.1", 5070)),
    ("SIP/2.0/TLS a.example.com;branch=z9hG4bK1", Target(Transport.TLS, "a.example.com", 5061)),
    ("SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;maddr=239.255.255.1;received=192.0.2.1",
     Target(Transport.UDP, "239.255.255.1", 5070)),
    ("SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;rport=40000;received=192.0.2.1",
     Target(Transport.UDP, "192.0.2.1", 40000)),
    ("SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=192.0.2.1",
     Target(Transport.UDP, "192.0.2.1", 5060)),
    ("SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;rport",
     Target(Transport.UDP, "a.example.com", 5070)),
    ("SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK1",
     Target(Transport.WS, "df7jal23ls0d.invalid", 80)),
])
def test_response_target(via: str, target: Target) -> None:
    assert response_target(Via.parse(via)) == target
    # the shortcut of the UDP send path says the same, and nothing for the others
    address = udp_response_address(Via.parse(via))
    if target.transport is Transport.UDP:
        assert address == (target.host, target.effective_port)
    else:
        assert address is None


@pytest.mark.parametrize("via", [
    "SIP/2.0/udp [2001:db8::1];branch=z9hG4bK1",
    "SIP/2.0/UDP a.example.com;branch=z9hG4bK1;maddr=[2001:db8::9]",
    "SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport=1234;received=[2001:db8::2]",
    "SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;received=192.0.2.1;rport",
])
def test_udp_response_address_agrees_with_response_target(via: str) -> None:
    target = response_target(Via.parse(via))
    assert udp_response_address(Via.parse(via)) == (target.host, target.effective_port)


def test_response_target_unknown_transport() -> None:
    with pytest.raises(TransportError):
        response_target(Via.parse("SIP/2.0/SCTP a.example.com;branch=z9hG4bK1"))


def test_sent_by_key_defaults_port() -> None:
    assert sent_by_key(Via.parse("SIP/2.0/TLS [::1];branch=z9hG4bK1")) == ("::1", 5061)
    assert sent_by_key(Via.parse("SIP/2.0/UDP A.Example.COM:5062")) == ("a.example.com", 5062)


# -- §8.2.2 / §18.3: answering what does not parse -------------------------------------------


def _error(data: bytes) -> ParseError:
    """The error of parse(), or of validate() for what parse() leaves to it."""
    with pytest.raises(ParseError) as info:
        parse(data).validate()
    return info.value


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sip")), ids=lambda p: p.stem)
def test_error_response_over_the_invalid_corpus(path: Path) -> None:
    data = path.read_bytes()
    response = error_response(data, _error(data), Limits())
    if data.lstrip(b"\r\n").startswith(b"SIP/"):
        assert response is None, "a response is never answered"
        return
    if response is None:
        return  # Via, From, To, Call-ID or CSeq could not be recovered
    assert response.status == int(path.name[:3])
    again = parse(bytes(response))  # what we send parses
    assert isinstance(again, Response)
    assert again.to.tag is not None  # §8.2.6.2
    assert again.via[0].host  # routable


@pytest.mark.parametrize(("name", "status"), [
    ("400-max-forwards-not-numeric", 400), ("400-max-forwards-too-large", 400),
    ("400-request-uri-no-scheme", 400), ("505-version-3.0", 505),
    ("400-cseq-method-mismatch", 400),
])
def test_error_response_answers(name: str, status: int) -> None:
    data = (CORPUS / f"{name}.sip").read_bytes()
    response = error_response(data, _error(data), Limits())
    assert response is not None and response.status == status
    assert response.reason != ""


@pytest.mark.parametrize("name", [
    "400-missing-via-request", "400-missing-call-id-request", "400-missing-cseq-request",
    "400-missing-from-request", "400-missing-to-request", "400-status-code-700",
    "400-missing-via-response",
])
def test_error_response_drops(name: str) -> None:
    data = (CORPUS / f"{name}.sip").read_bytes()
    assert error_response(data, _error(data), Limits()) is None


BAD_ACK = (b"ACK sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
           b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\n"
           b"Call-ID: x\r\nCSeq: 1 ACK\r\n\r\n")


def test_error_response_never_answers_ack() -> None:
    bad_ack = BAD_ACK.replace(b"CSeq: 1 ACK\r\n", b"CSeq: 1 ACK\r\nMax-Forwards: many\r\n")
    # a Max-Forwards that is not a number: a 400 for any other method
    assert error_response(bad_ack, _error(bad_ack), Limits()) is None
    invite = bad_ack.replace(b"ACK", b"INVITE")
    answer = error_response(invite, _error(invite), Limits())
    assert answer is not None and answer.to.tag == "2"


def test_error_response_too_large_is_513_with_safe_reason() -> None:
    body = b"x" * 2000
    data = BAD_ACK.replace(b"ACK", b"MESSAGE").replace(
        b"\r\n\r\n", b"\r\nMax-Forwards: 70\r\nContent-Length: 2000\r\n\r\n") + body
    with pytest.raises(ParseError) as info:
        parse(data, Limits(max_message_size=1024))
    error = info.value
    answer = error_response(data, error, Limits(max_message_size=1024))
    assert answer is not None and answer.status == 513
    parse(bytes(answer))
    quoted = ParseError('bad "thing" <here>\x00', header="X")
    answer = error_response(BAD_ACK.replace(b"ACK", b"BYE"), quoted, Limits())
    assert answer is not None and answer.reason == "X: bad thing here"


# -- RFC 7118 §5: one WebSocket message, one SIP message -------------------------------------


def test_frame_event() -> None:
    assert frame_event(b"\r\n\r\n", Limits()) == KeepAlive(ping=True)
    assert frame_event(b"\r\n", Limits()) == KeepAlive(ping=False)
    bad = frame_event(b"NOT SIP", Limits())
    assert isinstance(bad, BadMessage)
    # no Content-Length needed: the frame bounds the message
    message = frame_event(BAD_ACK.replace(b"CSeq: 1 ACK\r\n", b"CSeq: 1 ACK\r\nMax-Forwards: 7"
                                          b"\r\n") + b"body", Limits())
    assert not isinstance(message, (KeepAlive, BadMessage)) and message.body == b"body"


def test_three_colon_ipv6_is_an_ip_literal() -> None:
    from sipwire.transport.base import is_ip, normalize_ip
    assert is_ip("[2001:db8:::192.0.2.1]")
    assert normalize_ip("[2001:db8:::192.0.2.1]") == "2001:db8::c000:201"
