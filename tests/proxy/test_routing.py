"""RFC 3261 §16.4 route preprocessing, §16.6 step 6 strict-route
postprocessing and step 7 next hops, with the examples of §16.12.1."""

from __future__ import annotations

import pytest

from sipwire import URI
from sipwire.location import Source
from sipwire.proxy import (
    NextHop,
    ProxyAddress,
    ProxyConfig,
    is_for_me,
    next_hop_for_uri,
    preprocess_route,
    routed_to_me,
    strict_route,
)
from sipwire.proxy.routing import is_strict

from .builders import config, request


def p2() -> ProxyConfig:
    return ProxyConfig((ProxyAddress.parse("udp:p2.example.com:5060"),))


# -- §16.4 --------------------------------------------------------------------------------


def test_loose_route_of_ours_is_removed() -> None:
    # §16.12.1.1: "It does see that it is the first value in the Route header
    # field, so it removes that value"
    bye = request("BYE", "sip:callee@u2.domain.com",
                  headers=["Route: <sip:p1.example.com;lr>,<sip:p2.domain.com;lr>"])
    p1 = ProxyConfig((ProxyAddress.parse("udp:p1.example.com:5060"),))
    out = preprocess_route(bye, p1)
    assert str(out.uri) == "sip:callee@u2.domain.com"
    assert out.headers.getall("Route") == ["<sip:p2.domain.com;lr>"]


def test_preprocessing_leaves_the_received_request_alone() -> None:
    bye = request("BYE", "sip:callee@u2.domain.com",
                  headers=["Route: <sip:p1.example.com;lr>,<sip:p2.domain.com;lr>"])
    before = bytes(bye)
    preprocess_route(bye, ["sip:p1.example.com"])
    assert bytes(bye) == before


def test_route_of_another_element_stays() -> None:
    bye = request("BYE", "sip:callee@u2.domain.com",
                  headers=["Route: <sip:p2.domain.com;lr>"])
    out = preprocess_route(bye, config())
    assert out.headers.getall("Route") == ["<sip:p2.domain.com;lr>"]
    assert out is bye  # nothing to change: no copy


def test_preprocessing_copies_only_what_it_changes() -> None:
    invite = request("INVITE", "sip:callee@u2.domain.com")
    assert preprocess_route(invite, config()) is invite
    routed = request("BYE", "sip:callee@u2.domain.com",
                     headers=["Route: <sip:p1.example.com;lr>"])
    p1 = ProxyConfig((ProxyAddress.parse("udp:p1.example.com:5060"),))
    out = preprocess_route(routed, p1)
    assert out is not routed and "Route" not in out.headers
    assert routed.headers.getall("Route") == ["<sip:p1.example.com;lr>"]


def test_own_uri_matches_by_host_and_port() -> None:
    cfg = config()
    for route in ("<sip:192.0.2.1;lr>", "<sip:192.0.2.1:5060;lr>",
                  "<sip:PROXY.example.com;lr>", "<sips:proxy.example.com;lr>",
                  "<sip:192.0.2.1:5061;transport=tls;lr>"):
        out = preprocess_route(request(headers=[f"Route: {route}"]), cfg)
        assert "Route" not in out.headers, route
    for route in ("<sip:192.0.2.1:5070;lr>", "<sip:192.0.2.2;lr>"):
        out = preprocess_route(request(headers=[f"Route: {route}"]), cfg)
        assert "Route" in out.headers, route


def test_every_leading_route_of_ours_is_removed() -> None:
    # a double Record-Route (RFC 5658 §5) comes back as two Route values of
    # ours: both go, rather than a spiral through ourselves
    req = request(headers=["Route: <sip:192.0.2.1;lr>",
                           "Route: <sip:192.0.2.1:5060;transport=tcp;lr;x=2>",
                           "Route: <sip:p2.example.net;lr>", "Route: <sip:192.0.2.1;lr>"])
    out = preprocess_route(req, config())
    assert out.headers.getall("Route") == ["<sip:p2.example.net;lr>", "<sip:192.0.2.1;lr>"]


def test_strict_router_request_uri_of_ours_takes_the_last_route() -> None:
    # §16.12.1.2: "P2 sees the request-URI is a value it placed into a
    # Record-Route header field, so before further processing, it rewrites ..."
    bye = request("BYE", "sip:p2.example.com;lr",
                  headers=["Route: <sip:p1.example.com;lr>",
                           "Route: <sip:caller@u1.example.com>"])
    out = preprocess_route(bye, p2())
    assert str(out.uri) == "sip:caller@u1.example.com"
    assert out.headers.getall("Route") == ["<sip:p1.example.com;lr>"]


def test_strict_route_with_one_route_empties_route() -> None:
    bye = request("BYE", "sip:p2.example.com", headers=["Route: <sip:caller@u1.example.com>"])
    out = preprocess_route(bye, p2())
    assert str(out.uri) == "sip:caller@u1.example.com"
    assert "Route" not in out.headers


def test_strict_router_is_told_the_same_with_the_routes_given() -> None:
    # a caller holding request.route passes it: the Route header is not read again
    bye = request("BYE", "sip:p2.example.com;lr", headers=["Route: <sip:caller@u1.example.com>"])
    assert is_strict(bye, p2()) and is_strict(bye, p2(), bye.route)
    loose = request("BYE", "sip:bob@u2.example.com", headers=["Route: <sip:p9.example.net;lr>"])
    assert not is_strict(loose, p2()) and not is_strict(loose, p2(), loose.route)
    alone = request("OPTIONS", "sip:p2.example.com")
    assert not is_strict(alone, p2()) and not is_strict(alone, p2(), alone.route)


def test_request_uri_of_ours_without_route_is_left_for_us() -> None:
    options = request("OPTIONS", "sip:proxy.example.com")
    out = preprocess_route(options, config())
    assert str(out.uri) == "sip:proxy.example.com"
    assert is_for_me(out, config())


def test_aor_at_our_host_is_not_a_strict_route() -> None:
    # a user part means an address-of-record, not a Record-Route value of ours
    req = request("INVITE", "sip:bob@192.0.2.1", headers=["Route: <sip:p9.example.net;lr>"])
    out = preprocess_route(req, config())
    assert str(out.uri) == "sip:bob@192.0.2.1"
    assert out.headers.getall("Route") == ["<sip:p9.example.net;lr>"]


def test_maddr_of_ours_is_stripped() -> None:
    # §16.4: "strip the maddr and any non-default port or transport parameter"
    req = request(uri="sip:bob@example.com:5060;maddr=192.0.2.1;transport=udp;user=phone")
    out = preprocess_route(req, config(), received=ProxyAddress.parse("udp:192.0.2.1:5060"))
    assert str(out.uri) == "sip:bob@example.com;user=phone"


def test_maddr_of_ours_on_another_port_stays() -> None:
    # "Such a request needs to be forwarded to the proxy using the indicated
    # port and transport."
    req = request(uri="sip:bob@example.com:5070;maddr=192.0.2.1")
    out = preprocess_route(req, config(), received=ProxyAddress.parse("udp:192.0.2.1:5060"))
    assert out.uri.maddr == "192.0.2.1"
    out = preprocess_route(req, config())
    assert out.uri.maddr == "192.0.2.1"


def test_maddr_of_ours_received_on_the_transport_named() -> None:
    req = request(uri="sip:bob@example.com;transport=tcp;maddr=proxy.example.com")
    out = preprocess_route(req, config(), received=ProxyAddress.parse("tcp:192.0.2.1:5060"))
    assert str(out.uri) == "sip:bob@example.com"
    out = preprocess_route(req, config(), received=ProxyAddress.parse("udp:192.0.2.1:5060"))
    assert out.uri.maddr == "proxy.example.com"


def test_foreign_maddr_stays() -> None:
    req = request(uri="sip:bob@example.com;maddr=198.51.100.9")
    assert preprocess_route(req, config()).uri.maddr == "198.51.100.9"


# -- who the request is for ---------------------------------------------------------------


def test_register_to_served_domain_is_for_me() -> None:
    out = preprocess_route(request("REGISTER", "sip:example.com"), config())
    assert is_for_me(out, config())


def test_request_to_a_user_is_not_for_me() -> None:
    assert not is_for_me(request(), config())
    out = preprocess_route(request(uri="sip:bob@192.0.2.1"), config())
    assert not is_for_me(out, config())


def test_request_with_routes_left_is_not_for_me() -> None:
    req = request("OPTIONS", "sip:proxy.example.com", headers=["Route: <sip:p9.example.net;lr>"])
    # our own URI with a Route: a strict router sent it, so it is rewritten
    assert not is_for_me(preprocess_route(req, config()), config())


def test_routed_to_me_by_our_route() -> None:
    cfg = config()
    assert routed_to_me(request(headers=["Route: <sip:proxy.example.com;lr>"]), cfg)
    assert routed_to_me(request(uri="sip:192.0.2.1;lr",
                                headers=["Route: <sip:bob@198.51.100.9>"]), cfg)
    assert not routed_to_me(request(), cfg)
    assert not routed_to_me(request(headers=["Route: <sip:p9.example.net;lr>"]), cfg)


# -- §16.6 step 6 -------------------------------------------------------------------------


def test_strict_next_hop_reformats_the_request() -> None:
    # §16.12.1.2: P4 "notices that this URI does not contain the lr parameter,
    # so before sending, it reformats the request"
    bye = request("BYE", "sip:caller@u1.example.com",
                  headers=["Route: <sip:p3.middle.com>",
                           "Route: <sip:p2.example.com;lr>",
                           "Route: <sip:p1.example.com;lr>"])
    assert strict_route(bye)
    assert str(bye.uri) == "sip:p3.middle.com"
    assert bye.headers.getall("Route") == ["<sip:p2.example.com;lr>",
                                           "<sip:p1.example.com;lr>",
                                           "<sip:caller@u1.example.com>"]


def test_loose_next_hop_is_left_alone() -> None:
    bye = request("BYE", "sip:caller@u1.example.com", headers=["Route: <sip:p2.example.com;lr>"])
    assert not strict_route(bye)
    assert str(bye.uri) == "sip:caller@u1.example.com"


# -- §16.6 step 7 -------------------------------------------------------------------------


@pytest.mark.parametrize(("uri", "hop"), [
    ("sip:bob@192.0.2.9", NextHop("UDP", "192.0.2.9", 5060)),
    ("sip:bob@192.0.2.9:5070", NextHop("UDP", "192.0.2.9", 5070)),
    ("sip:bob@host.example.com;transport=tcp", NextHop("TCP", "host.example.com", 5060)),
    ("sips:bob@host.example.com", NextHop("TLS", "host.example.com", 5061)),
    ("sips:bob@host.example.com;transport=tcp", NextHop("TLS", "host.example.com", 5061)),
    ("sip:bob@host.example.com;maddr=239.255.255.1", NextHop("UDP", "239.255.255.1", 5060)),
    ("sip:bob@[2001:db8::9]:5080", NextHop("UDP", "2001:db8::9", 5080)),
    ("sip:bob@host.example.com;transport=ws", NextHop("WS", "host.example.com", 80)),
])
def test_next_hop_without_dns(uri: str, hop: NextHop) -> None:
    assert next_hop_for_uri(URI.parse(uri)) == hop


def test_next_hop_for_a_sips_request_uri_is_tls() -> None:
    # §16.6 step 7: "if the Request-URI specifies a SIPS resource, the proxy
    # MUST follow the procedures of [4] as if the input URI were a SIPS URI"
    hop = next_hop_for_uri(URI.parse("sip:p2.example.com;lr"), secure=True)
    assert hop == NextHop("TLS", "p2.example.com", 5061)


def test_next_hop_needs_a_sip_uri() -> None:
    with pytest.raises(ValueError):
        next_hop_for_uri(URI.parse("tel:+15551234567"))


def test_next_hop_spelling_for_the_transport_layer() -> None:
    assert str(NextHop("UDP", "2001:db8::9", 5080)) == "udp:[2001:db8::9]:5080"
    flow = Source("TCP", "198.51.100.4", 40000, "conn-7")
    assert str(NextHop("TCP", "198.51.100.4", 40000, flow)) == "tcp:198.51.100.4:40000"
