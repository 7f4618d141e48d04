"""RFC 3261 §16.6: forwarding a request to one target, with the examples of §16.12."""

from __future__ import annotations

import pytest

import sipwire
from sipwire import URI, Request
from sipwire.location import Source
from sipwire.proxy import (
    NextHop,
    ProxyAddress,
    ProxyConfig,
    Target,
    branch_for,
    forward,
    forward_request,
    preprocess_route,
    record_route_uri,
)

from .builders import config, request

BOB = "sip:bob@192.0.2.9"


def test_request_uri_becomes_the_target() -> None:
    # step 2
    out = forward_request(request(), BOB, config(), branch_for(request()))
    assert str(out.uri) == BOB


def test_parameters_not_allowed_in_a_request_uri_are_removed() -> None:
    # step 2: "If the URI contains any parameters not allowed in a Request-URI,
    # they MUST be removed." (§19.1.1 Table 1: method, headers)
    out = forward_request(request(), "sip:bob@192.0.2.9;method=INVITE;lr?Subject=x",
                          config(), "z9hG4bK1")
    assert str(out.uri) == "sip:bob@192.0.2.9;lr"


def test_max_forwards_is_decremented() -> None:
    # step 3
    out = forward_request(request(max_forwards=10), BOB, config(), "z9hG4bK1")
    assert out.max_forwards == 9
    assert out.headers.getall("Max-Forwards") == ["9"]


def test_absent_max_forwards_is_added_as_70() -> None:
    # step 3: "the proxy MUST add one with a field value, which SHOULD be 70"
    req = request()
    req.headers.remove("Max-Forwards")
    out = forward_request(req, BOB, config(), "z9hG4bK1")
    assert out.max_forwards == 70


def test_max_forwards_zero_is_not_forwarded() -> None:
    with pytest.raises(ValueError):
        forward_request(request(max_forwards=0), BOB, config(), "z9hG4bK1")


def test_record_route_with_lr_goes_on_top() -> None:
    # step 4: "it MUST insert a Record-Route header field value into the copy
    # before any existing Record-Route header field values"; "This URI MUST
    # contain an lr parameter"
    req = request(headers=["Record-Route: <sip:p1.example.net;lr>"])
    cfg = config()
    out = forward_request(req, BOB, cfg, "z9hG4bK1")
    assert unsigned(out) == ["sip:192.0.2.1:5060;lr", "sip:p1.example.net;lr"]
    assert out.record_route[0].uri.lr
    # its user part is the token that makes in-dialog requests "routed" here
    token = out.record_route[0].uri.user
    assert cfg.token.verify(token, req.call_id, req.from_.tag, "callee-tag") is not None
    assert config().token.verify(token, req.call_id, req.from_.tag, None) is None


def test_record_route_is_sips_for_a_sips_request_uri() -> None:
    # step 4: "If the Request-URI contains a SIPS URI ... the URI placed into
    # the Record-Route header field MUST be a SIPS URI."
    out = forward_request(request(uri="sips:bob@example.com"), "sips:bob@192.0.2.9",
                          config(), "z9hG4bK1")
    assert unsigned(out) == ["sips:192.0.2.1:5061;lr"]


def test_record_route_is_sips_for_a_sips_top_route() -> None:
    req = request(headers=["Route: <sips:p2.example.net;lr>"])
    out = forward_request(req, BOB, config(), "z9hG4bK1")
    assert out.record_route[0].uri.scheme == "sips"


def unsigned(request: Request) -> list[str]:
    """The Record-Route URIs without their token."""
    return [str(rr.uri.copy(user=None)) for rr in request.record_route]


def test_record_route_per_interface_rfc_5658() -> None:
    # in on UDP, out on TCP: two values, the outgoing one on top, each with
    # its transport (§6.2); TLS as sips:, WS as transport=ws; IPv6 in brackets
    cfg = config(addresses=(ProxyAddress.parse("udp:192.0.2.1:5060"),
                            ProxyAddress.parse("tcp:192.0.2.1:5060"),
                            ProxyAddress.parse("tls:192.0.2.1:5061"),
                            ProxyAddress.parse("ws:192.0.2.1:8080"),
                            ProxyAddress.parse("udp:[2001:db8::1]:5060")))
    caller = Source("UDP", "192.0.2.20", 5060, "192.0.2.1:5060")
    cases = [
        ("sip:bob@192.0.2.9;transport=tcp", ["sip:192.0.2.1:5060;transport=tcp;lr",
                                             "sip:192.0.2.1:5060;lr"]),
        # not a SIPS request: not a SIPS Record-Route (§16.6 step 4)
        ("sip:bob@192.0.2.9;transport=tls", ["sip:192.0.2.1:5061;transport=tls;lr",
                                             "sip:192.0.2.1:5060;lr"]),
        ("sip:bob@192.0.2.9;transport=ws", ["sip:192.0.2.1:8080;transport=ws;lr",
                                            "sip:192.0.2.1:5060;lr"]),
        ("sip:bob@[2001:db8::9]", ["sip:[2001:db8::1]:5060;lr", "sip:192.0.2.1:5060;lr"]),
        ("sip:bob@192.0.2.9", ["sip:192.0.2.1:5060;lr"]),  # same interface: one value
    ]
    for target, expected in cases:
        out = forward_request(request(), target, cfg, "z9hG4bK1", inbound=caller)
        assert unsigned(out) == expected, target
        assert len({rr.uri.user for rr in out.record_route}) == 1


def test_record_route_token_carries_the_flows_that_need_one() -> None:
    cfg = config()
    invite = request()
    caller = Source("TCP", "192.0.2.20", 40000, "192.0.2.1:5060")
    callee = Source("UDP", "198.51.100.4", 40000)
    target = Target(URI.parse("sip:bob@10.0.0.4"), flow=callee)
    out = forward_request(invite, target, cfg, "z9hG4bK1", inbound=caller)
    assert unsigned(out) == ["sip:192.0.2.1:5060;lr", "sip:192.0.2.1:5060;transport=tcp;lr"]
    token = out.record_route[0].uri.user
    from_caller = cfg.token.verify(token, invite.call_id, invite.from_.tag, "b")
    from_callee = cfg.token.verify(token, invite.call_id, "b", invite.from_.tag)
    assert from_caller is not None and from_caller.next_flow == Source("UDP", "198.51.100.4",
                                                                       40000)
    assert from_callee is not None and from_callee.next_flow == Source("TCP", "192.0.2.20",
                                                                       40000)
    # a UDP caller is pinned to its source; a callee reached by its URI, to
    # the next hop the request went to (an address, or a name)
    plain = Source("UDP", "192.0.2.20", 5060, "192.0.2.1:5060")
    for target, hop in ((BOB, Source("UDP", "192.0.2.9", 5060)),
                        ("sip:bob@biloxi.example.com;transport=tcp",
                         Source("TCP", "biloxi.example.com", 5060))):
        out = forward_request(invite, target, cfg, "z9hG4bK1", inbound=plain)
        token = out.record_route[0].uri.user
        back = cfg.token.verify(token, invite.call_id, "b", invite.from_.tag)
        assert back is not None and back.next_flow == Source("UDP", "192.0.2.20", 5060)
        on = cfg.token.verify(token, invite.call_id, invite.from_.tag, "b")
        assert on is not None and on.next_flow == hop


def test_no_record_route_within_a_dialog() -> None:
    bye = request("BYE", to="<sip:bob@example.com>;tag=b")
    assert "Record-Route" not in forward_request(bye, BOB, config(), "z9hG4bK1").headers


def test_record_route_names_a_tcp_only_proxy_with_its_transport() -> None:
    cfg = ProxyConfig((ProxyAddress.parse("tcp:192.0.2.1:5080"),))
    assert str(record_route_uri(cfg)) == "sip:192.0.2.1:5080;transport=tcp;lr"


def test_record_route_can_be_turned_off() -> None:
    out = forward_request(request(), BOB, config(record_route=False), "z9hG4bK1")
    assert "Record-Route" not in out.headers


@pytest.mark.parametrize("method", ["REGISTER", "ACK"])
def test_no_record_route_where_no_dialog_can_follow(method: str) -> None:
    out = forward_request(request(method), BOB, config(), "z9hG4bK1")
    assert "Record-Route" not in out.headers


def test_unknown_methods_are_record_routed() -> None:
    # step 4: "it SHOULD add a Record-Route header field value to every request
    # with a method it does not understand since that method may have dialog
    # semantics"
    out = forward_request(request("FOOBAR"), BOB, config(), "z9hG4bK1")
    assert "Record-Route" in out.headers


def test_path_is_preloaded_as_route() -> None:
    # RFC 3327 §5.4: "the home proxy also copies the stored path vector ...
    # into the Route header field of the outgoing request as a preloaded route"
    target = Target(URI.parse(BOB), path=("<sip:edge.example.com;lr;ob>",
                                          "<sip:p2.example.com;lr>"))
    fwd = forward(request(), target, config(), "z9hG4bK1")
    assert fwd.request.headers.getall("Route") == ["<sip:edge.example.com;lr;ob>",
                                                   "<sip:p2.example.com;lr>"]
    assert fwd.next_hop == NextHop("UDP", "edge.example.com", 5060)


def test_path_goes_ahead_of_remaining_routes() -> None:
    # RFC 3327 §5.4: "inserting the stored path vector ahead of the Route
    # header field values contained in the incoming request"
    target = Target(URI.parse(BOB), path=("<sip:edge.example.com;lr>",))
    req = request(headers=["Route: <sip:p9.example.net;lr>"])
    out = forward_request(req, target, config(), "z9hG4bK1")
    assert out.headers.getall("Route") == ["<sip:edge.example.com;lr>",
                                           "<sip:p9.example.net;lr>"]


def test_via_with_branch_goes_on_top() -> None:
    # step 8
    req = request()
    branch = branch_for(req, 0)
    out = forward_request(req, BOB, config(), branch)
    assert [v.branch for v in out.via] == [branch, "z9hG4bK776asdhds"]
    assert out.via[0].sent_by == ("192.0.2.1", 5060)
    assert out.via[0].transport == "UDP"


def test_via_transport_follows_the_next_hop() -> None:
    out = forward_request(request(), "sip:bob@192.0.2.9;transport=tcp", config(), "z9hG4bK1")
    assert out.via[0].transport == "TCP"
    out = forward_request(request(), "sips:bob@192.0.2.9", config(), "z9hG4bK1")
    assert (out.via[0].transport, out.via[0].port) == ("TLS", 5061)


def test_body_and_content_length_are_kept() -> None:
    # step 1: "The proxy MUST NOT add to, modify, or remove the message body."
    sdp = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.20\r\n"
    out = forward_request(request(body=sdp), BOB, config(), "z9hG4bK1")
    assert out.body == sdp
    assert out.content_length == len(sdp)


def test_absent_content_length_is_added() -> None:
    # step 9
    req = request(content_length=False)
    out = forward_request(req, BOB, config(), "z9hG4bK1")
    assert out.content_length == 0


def test_other_headers_are_kept_in_order() -> None:
    # step 1: "Fields not detailed in the processing described below MUST NOT
    # be removed.  The copy SHOULD maintain the ordering"
    req = request(headers=["Subject: lunch", "X-Odd: ;;;", "Date: not a date",
                           "Supported: 100rel"])
    out = forward_request(req, BOB, config(), "z9hG4bK1")
    names = [name for name, _ in out.headers]
    assert names[names.index("Subject"):names.index("Supported") + 1] == [
        "Subject", "X-Odd", "Date", "Supported"]
    assert out.headers.get("X-Odd") == ";;;"


def test_the_received_request_is_not_changed() -> None:
    req = request(headers=["Route: <sip:p9.example.net>"])
    before = bytes(req)
    forward(req, Target(URI.parse(BOB), path=("<sip:edge.example.com;lr>",)), config(),
            "z9hG4bK1")
    assert bytes(req) == before


def test_forwarded_request_parses_back() -> None:
    req = request(body=b"v=0\r\n")
    out = forward_request(req, BOB, config(), branch_for(req, 0))
    again = sipwire.parse(bytes(out))
    assert bytes(again) == bytes(out)
    again.validate()


def test_next_hop_is_the_top_route() -> None:
    # §16.12: "forward the request to the resource indicated by the URI in the
    # topmost Route header field value or in the Request-URI if no Route"
    req = request(headers=["Route: <sip:p2.example.net:5070;lr>"])
    assert forward(req, BOB, config(), "z9hG4bK1").next_hop == \
        NextHop("UDP", "p2.example.net", 5070)
    assert forward(request(), BOB, config(), "z9hG4bK1").next_hop == \
        NextHop("UDP", "192.0.2.9", 5060)


def test_next_hop_of_a_registered_flow() -> None:
    flow = Source("TCP", "198.51.100.4", 40000, "conn-1")
    target = Target(URI.parse("sip:bob@10.0.0.9;transport=tcp;ob"), flow=flow)
    fwd = forward(request(), target, config(), "z9hG4bK1")
    assert fwd.next_hop == NextHop("TCP", "198.51.100.4", 40000, flow)
    assert fwd.request.via[0].transport == "TCP"


def test_strict_router_next_hop_is_reformatted() -> None:
    # §16.12.1.2, at P4: "it reformats the request to be: BYE sip:p3.middle.com"
    p4 = ProxyConfig((ProxyAddress.parse("udp:p4.domain.com:5060"),))
    bye = request("BYE", "sip:caller@u1.example.com",
                  headers=["Route: <sip:p4.domain.com;lr>", "Route: <sip:p3.middle.com>",
                           "Route: <sip:p2.example.com;lr>", "Route: <sip:p1.example.com;lr>"])
    received = preprocess_route(bye, p4)
    fwd = forward(received, received.uri, p4, branch_for(bye))
    assert fwd.strict_routed
    assert str(fwd.request.uri) == "sip:p3.middle.com"
    assert fwd.request.headers.getall("Route") == [
        "<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>", "<sip:caller@u1.example.com>"]
    assert fwd.next_hop == NextHop("UDP", "p3.middle.com", 5060)


def test_basic_trapezoid() -> None:
    # §16.12.1.1: P1, not responsible for domain.com, forwards to it and
    # record-routes; the BYE later comes with P1's Route on top and goes on
    # to P2 unchanged otherwise.
    p1 = ProxyConfig((ProxyAddress.parse("udp:p1.example.com:5060"),), relay=True)
    invite = request(uri="sip:callee@domain.com", to="<sip:callee@domain.com>")
    fwd = forward(preprocess_route(invite, p1), invite.uri, p1, branch_for(invite))
    assert str(fwd.request.uri) == "sip:callee@domain.com"
    assert unsigned(fwd.request) == ["sip:p1.example.com:5060;lr"]
    assert fwd.next_hop == NextHop("UDP", "domain.com", 5060)

    bye = request("BYE", "sip:callee@u2.domain.com",
                  headers=["Route: <sip:p1.example.com;lr>,<sip:p2.domain.com;lr>"])
    received = preprocess_route(bye, p1)
    fwd = forward(received, received.uri, p1, branch_for(bye))
    assert str(fwd.request.uri) == "sip:callee@u2.domain.com"
    assert fwd.request.headers.getall("Route") == ["<sip:p2.domain.com;lr>"]
    assert fwd.next_hop == NextHop("UDP", "p2.domain.com", 5060)


def test_forward_without_a_copy_changes_the_request_itself() -> None:
    # §16.6 step 1 copies so that other branches start from the same request;
    # a caller forwarding a request (already a copy) once may skip it, and gets
    # what the copy would have become
    req = request(max_forwards=10)
    cfg = config()  # one secret: the same Record-Route token
    copied = forward(req, BOB, cfg, "z9hG4bK1")
    fwd = forward(req, BOB, cfg, "z9hG4bK1", copy=False)
    assert fwd.request is req
    assert fwd.request.headers.getall("Record-Route") != []
    assert bytes(fwd.request) == bytes(copied.request)
    assert fwd.next_hop == copied.next_hop
    assert req.max_forwards == 9
    assert req.top_via.branch == "z9hG4bK1"


def test_forward_copies_by_default() -> None:
    req = request(max_forwards=10)
    before = bytes(req)
    out = forward_request(req, BOB, config(), "z9hG4bK1")
    assert out is not req
    assert bytes(req) == before
