"""Where a request goes (RFC 3261 §8.1.2) and the requests a UAC sends in a dialog (§12.2.1.1,
§13.2.2.4): no sockets."""

from __future__ import annotations

import pytest

from sipwire import URI, Request, parse
from sipwire.transport import Target, Transport
from sipwire.ua import build_2xx_ack, build_in_dialog_request, request_target, uri_target

from .conftest import request


@pytest.mark.parametrize(("uri", "target"), [
    ("sip:bob@192.0.2.1", Target(Transport.UDP, "192.0.2.1")),
    ("sip:bob@192.0.2.1:5070;transport=TCP", Target(Transport.TCP, "192.0.2.1", 5070)),
    ("sip:bob@example.com;transport=ws", Target(Transport.WS, "example.com")),
    ("sips:bob@example.com", Target(Transport.TLS, "example.com")),
    ("sips:bob@example.com;transport=tcp", Target(Transport.TLS, "example.com")),
    ("sips:bob@example.com:8443;transport=ws", Target(Transport.WSS, "example.com", 8443)),
    ("sip:bob@example.com;maddr=192.0.2.9", Target(Transport.UDP, "192.0.2.9")),
    ("sip:[2001:db8::1]:5062", Target(Transport.UDP, "2001:db8::1", 5062)),
])
def test_uri_target(uri: str, target: Target) -> None:
    assert uri_target(URI.parse(uri)) == target


@pytest.mark.parametrize("uri", ["tel:+15551234", "sip:bob@example.com;transport=sctp",
                                 "mailto:bob@example.com"])
def test_uri_target_refuses(uri: str) -> None:
    with pytest.raises(ValueError):
        uri_target(URI.parse(uri))


def test_the_top_route_is_the_first_hop() -> None:
    req = request("INVITE", "sip:bob@example.com",
                  headers=[("Route", "<sip:p1.example.net:5080;transport=tcp;lr>"),
                           ("Route", "<sip:p2.example.net;lr>")])
    assert request_target(req) == Target(Transport.TCP, "p1.example.net", 5080)
    assert request_target(request("INVITE", "sip:bob@192.0.2.4:5090")) == \
        Target(Transport.UDP, "192.0.2.4", 5090)


INVITE = request("INVITE", "sip:bob@biloxi.example.com", contact="sip:alice@192.0.2.1",
                 headers=[("Authorization", 'Digest username="alice", realm="x", nonce="n", '
                                            'uri="sip:bob@biloxi.example.com", response="r"')])


def _ok(*record_route: str, contact: str = "<sip:bob@192.0.2.4:5062>") -> Request:
    headers = [("Record-Route", rr) for rr in record_route]
    response = INVITE.reply(200, contact=contact, headers=headers)
    return parse(bytes(response))  # type: ignore[return-value]


def test_ack_for_a_2xx_without_route_set() -> None:
    ok = _ok()
    ack = build_2xx_ack(INVITE, ok)
    assert ack.method == "ACK" and str(ack.uri) == "sip:bob@192.0.2.4:5062"  # remote target
    assert ack.cseq.seq == INVITE.cseq.seq and ack.cseq.method == "ACK"  # §13.2.2.4
    assert ack.to.tag == ok.to.tag and ack.from_.tag == INVITE.from_.tag
    assert ack.call_id == INVITE.call_id
    assert len(ack.via) == 1 and ack.via[0].branch != INVITE.via[0].branch
    assert ack.headers.get("Authorization") == INVITE.headers.get("Authorization")
    assert ack.route == [] and ack.max_forwards == 70
    assert request_target(ack) == Target(Transport.UDP, "192.0.2.4", 5062)
    assert list(ack.headers.keys())[-1] == "content-length"


def test_loose_route_set_is_the_record_route_reversed() -> None:
    ok = _ok("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    bye = build_in_dialog_request("BYE", INVITE, ok, 2)
    assert str(bye.uri) == "sip:bob@192.0.2.4:5062"
    assert [str(r.uri) for r in bye.route] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert bye.cseq.seq == 2 and bye.cseq.method == "BYE"
    assert bye.headers.get("Authorization") is None
    assert request_target(bye) == Target(Transport.UDP, "p1.example.com")


def test_strict_router_goes_in_the_request_uri() -> None:
    ok = _ok("<sip:p2.example.com;lr>", "<sip:p1.example.com;maddr=192.0.2.7>")
    bye = build_in_dialog_request("BYE", INVITE, ok, 2)
    assert str(bye.uri) == "sip:p1.example.com"  # §12.2.1.1, maddr stripped
    assert [str(r.uri) for r in bye.route] == ["sip:p2.example.com;lr",
                                               "sip:bob@192.0.2.4:5062"]


def test_no_ack_for_a_non_2xx_or_without_dialog() -> None:
    with pytest.raises(ValueError):
        build_2xx_ack(INVITE, INVITE.reply(486))
    no_contact = parse(bytes(INVITE.reply(200)))
    assert not isinstance(no_contact, Request)
    with pytest.raises(ValueError):
        build_2xx_ack(INVITE, no_contact)
    no_tag = INVITE.reply(100)
    with pytest.raises(ValueError):
        build_in_dialog_request("BYE", INVITE, no_tag, 2)
