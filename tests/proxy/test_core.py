"""RFC 3261 §16.2: what the proxy core decides for a new request."""

from __future__ import annotations

from sipwire import Request
from sipwire.location import Source
from sipwire.proxy import (
    Drop,
    ForwardTo,
    HandleLocally,
    LookUp,
    ProxyAddress,
    ProxyConfig,
    ProxyCore,
    Respond,
)

from .builders import T0, binding, config, request


def test_invalid_request_is_answered() -> None:
    decision = ProxyCore(config()).receive(request(max_forwards=0))
    assert isinstance(decision, Respond) and decision.response.status == 483


def test_invalid_ack_is_dropped() -> None:
    # an ACK is never answered (§17.2.3)
    decision = ProxyCore(config()).receive(request("ACK", max_forwards=0))
    assert isinstance(decision, Drop) and decision.reason.startswith("483")


def test_register_to_our_domain_is_handled_locally() -> None:
    decision = ProxyCore(config()).receive(request("REGISTER", "sip:example.com",
                                                   to="<sip:bob@example.com>"))
    assert isinstance(decision, HandleLocally)


def test_aor_of_ours_needs_a_lookup() -> None:
    # a preloaded Route to us (an outbound proxy) carries no token: it is
    # removed, but proves no dialog, so the request is not "routed"
    received = request(headers=["Route: <sip:proxy.example.com;lr>"])
    decision = ProxyCore(config()).receive(received)
    assert isinstance(decision, LookUp)
    assert decision.aor == "sip:bob@example.com"
    assert not decision.routed
    assert "Route" not in decision.request.headers  # preprocessed (§16.4)
    assert "Route" in received.headers  # the received request is left alone


def test_an_owned_request_is_preprocessed_in_place() -> None:
    """``owned=True`` (a stateless ACK's driver, which took its branch first):
    §16.4 removes our Route from the request itself, and nothing else changes."""
    received = request("ACK", to="<sip:bob@example.com>;tag=x",
                       headers=["Route: <sip:proxy.example.com;lr>"])
    decision = ProxyCore(config()).receive(received, owned=True)
    assert isinstance(decision, LookUp) and decision.request is received
    assert "Route" not in received.headers
    copied = request("ACK", to="<sip:bob@example.com>;tag=x",
                     headers=["Route: <sip:proxy.example.com;lr>"])
    decision = ProxyCore(config()).receive(copied)
    assert isinstance(decision, LookUp) and decision.request is not copied
    assert "Route" in copied.headers


def test_request_uri_with_another_port_on_a_served_host_is_no_aor() -> None:
    # 127.0.0.1 is served, but :5490 is a UA listening there, not us
    cfg = config(addresses=(ProxyAddress.parse("udp:127.0.0.1:5060"),),
                 domains=frozenset({"localhost", "127.0.0.1"}), hostnames=())
    core = ProxyCore(cfg)
    for uri, aor in (("sip:bob@127.0.0.1", "sip:bob@127.0.0.1"),
                     ("sip:bob@127.0.0.1:5060", "sip:bob@127.0.0.1"),
                     ("sip:bob@localhost.", "sip:bob@localhost")):
        decision = core.receive(request(uri=uri))
        assert isinstance(decision, LookUp) and decision.aor == aor, uri
    decision = core.receive(request(uri="sip:bob@127.0.0.1:5490"))
    assert isinstance(decision, ForwardTo) and decision.relay
    decision = core.receive(request("OPTIONS", "sip:127.0.0.1:5070"))
    assert isinstance(decision, ForwardTo) and decision.relay
    assert isinstance(core.receive(request("OPTIONS", "sip:127.0.0.1:5060")), HandleLocally)
    assert isinstance(core.receive(request("OPTIONS", "sip:localhost")), HandleLocally)


def test_lookup_resolves_to_targets_or_a_response() -> None:
    core = ProxyCore(config())
    lookup = core.receive(request())
    assert isinstance(lookup, LookUp)
    decision = core.resolve(lookup, [binding("sip:bob@192.0.2.31")], T0)
    assert isinstance(decision, ForwardTo)
    assert [str(t.uri) for t in decision.targets] == ["sip:bob@192.0.2.31"]
    decision = core.resolve(lookup, [], T0)
    assert isinstance(decision, Respond) and decision.response.status == 404


def test_ack_is_never_forked() -> None:
    core = ProxyCore(config())
    lookup = core.receive(request())
    assert isinstance(lookup, LookUp)
    ack = request("ACK", to="<sip:bob@example.com>;tag=x")
    decision = core.resolve(LookUp(ack, lookup.aor), [binding("sip:bob@192.0.2.31"),
                                                      binding("sip:bob@192.0.2.32")], T0)
    assert isinstance(decision, ForwardTo) and len(decision.targets) == 1


def test_ack_outside_a_dialog_of_ours() -> None:
    # §16.12: an ACK for a 2xx follows the route set.  One that was not routed
    # here by a token of ours is relayed nowhere; sent to a user of ours (as
    # SIPp's built-in uac does, ignoring Record-Route) it is looked up (§16.5)
    core = ProxyCore(config())
    ack = request("ACK", "sip:bob@198.51.100.9", to="<sip:bob@example.com>;tag=x",
                  headers=["Route: <sip:192.0.2.1;lr>"])
    assert isinstance(core.receive(ack), Drop)
    decision = core.receive(request("ACK", to="<sip:bob@example.com>;tag=x"))
    assert isinstance(decision, LookUp) and decision.aor == "sip:bob@example.com"
    assert isinstance(ProxyCore(config(relay=True)).receive(ack), ForwardTo)


def test_foreign_domain_is_relayed_when_allowed() -> None:
    decision = ProxyCore(config(relay=True)).receive(request(uri="sip:carol@biloxi.example.org"))
    assert isinstance(decision, ForwardTo) and not decision.relay
    # relaying off: only an authenticated user of ours may (the driver's policy)
    decision = ProxyCore(config()).receive(request(uri="sip:carol@biloxi.example.org"))
    assert isinstance(decision, ForwardTo) and decision.relay and not decision.routed


ALICE_HOP = Source("UDP", "192.0.2.20", 5060)  # where alice's INVITE came from
BOB_HOP = Source("UDP", "192.0.2.31", 5060)  # where the proxy sent it


def signed_route(cfg: ProxyConfig, invite: Request, *, caller_flow: Source = ALICE_HOP,
                 callee_flow: Source = BOB_HOP) -> str:
    """The Route value a UA puts in its in-dialog requests after ``invite``
    went through the proxy (its Record-Route, with both hops pinned)."""
    token = cfg.token.sign(invite.call_id, invite.from_.tag, caller_flow=caller_flow,
                           callee_flow=callee_flow)
    return f"Route: <sip:{token}@192.0.2.1;lr>"


def test_in_dialog_request_with_our_token_is_routed_and_never_retargeted() -> None:
    cfg = config()
    invite = request()
    route = signed_route(cfg, invite)
    # caller to callee: From tag signed the token; to bob's hop, no lookup
    bye = request("BYE", "sip:bob@192.0.2.31:5060", to="<sip:bob@example.com>;tag=b",
                  headers=[route])
    decision = ProxyCore(cfg).receive(bye)
    assert isinstance(decision, ForwardTo) and decision.routed and not decision.relay
    assert decision.targets.first.flow == BOB_HOP
    assert str(decision.targets.first.uri) == "sip:bob@192.0.2.31:5060"  # as it came
    # callee to caller: the To tag carries the caller's tag
    back = request("BYE", "sip:alice@192.0.2.20", from_="<sip:bob@example.com>;tag=b",
                   to="<sip:alice@example.com>;tag=1928301774", headers=[route])
    decision = ProxyCore(cfg).receive(back)
    assert isinstance(decision, ForwardTo) and decision.routed
    assert decision.targets.first.flow == ALICE_HOP
    ack = request("ACK", "sip:bob@192.0.2.31:5060", to="<sip:bob@example.com>;tag=b",
                  headers=[route])
    decision = ProxyCore(cfg).receive(ack)
    assert isinstance(decision, ForwardTo) and decision.routed
    assert decision.targets.first.flow == BOB_HOP


def test_a_token_goes_only_to_the_hops_it_pins() -> None:
    # The caller of a dialog knows its Call-ID and both tags, and may claim to
    # be either side to relay elsewhere: a MESSAGE to a victim "from the
    # callee" goes back to the caller's own hop, "from the caller" to the
    # callee's; never to the Request-URI or a Route it appended.
    cfg = config()
    invite = request()
    route = signed_route(cfg, invite)
    as_callee = request("MESSAGE", "sip:victim@203.0.113.7", from_="<sip:x@example.org>;tag=m",
                        to="<sip:y@example.org>;tag=1928301774",
                        headers=[route, "Route: <sip:203.0.113.7;lr>"])
    decision = ProxyCore(cfg).receive(as_callee)
    assert isinstance(decision, ForwardTo) and decision.targets.first.flow == ALICE_HOP
    as_caller = request("INVITE", "sip:victim@203.0.113.7", to="<sip:y@example.org>;tag=t",
                        headers=[route])
    decision = ProxyCore(cfg).receive(as_caller)
    assert isinstance(decision, ForwardTo) and decision.targets.first.flow == BOB_HOP
    # and a token is no ticket outside a dialog: no To tag, no routing by it
    fresh = request("INVITE", "sip:victim@203.0.113.7", headers=[route])
    decision = ProxyCore(cfg).receive(fresh)
    assert isinstance(decision, ForwardTo) and decision.relay and not decision.routed


def test_forged_route_is_not_routed() -> None:
    # an attacker's BYE with a To tag and a Route to us: no valid token, so it
    # is checked as a request outside a dialog (relay refused, or challenged)
    cfg = config()
    other = request(call_id="other-call@example.com")
    for route in ("Route: <sip:192.0.2.1;lr>", "Route: <sip:forged@192.0.2.1;lr>",
                  signed_route(cfg, other), signed_route(config(), request())):
        bye = request("MESSAGE", "sip:victim@198.51.100.9", to="<sip:x@example.org>;tag=b",
                      headers=[route])
        decision = ProxyCore(cfg).receive(bye)
        assert isinstance(decision, ForwardTo) and decision.relay and not decision.routed, route


def test_token_flow_is_the_next_hop_towards_the_other_side() -> None:
    cfg = config()
    invite = request()
    caller = Source("TCP", "192.0.2.20", 40000)
    callee = Source("WS", "192.0.2.31", 50000)
    route = signed_route(cfg, invite, caller_flow=caller, callee_flow=callee)
    to_callee = request("BYE", "sip:bob@df7jal23ls0d.invalid;transport=ws",
                        to="<sip:bob@example.com>;tag=b", headers=[route])
    decision = ProxyCore(cfg).receive(to_callee)
    assert isinstance(decision, ForwardTo) and decision.targets.first.flow == callee
    to_caller = request("BYE", "sip:alice@192.0.2.20:5060;transport=tcp",
                        from_="<sip:bob@example.com>;tag=b",
                        to="<sip:alice@example.com>;tag=1928301774", headers=[route])
    decision = ProxyCore(cfg).receive(to_caller)
    assert isinstance(decision, ForwardTo) and decision.targets.first.flow == caller


def test_loose_routed_request_is_relayed_whatever_the_policy() -> None:
    cfg = config()
    carol = Source("UDP", "198.51.100.9", 5060)
    bye = request("BYE", "sip:carol@198.51.100.9", to="<sip:carol@biloxi.example.org>;tag=c",
                  headers=[signed_route(cfg, request(), callee_flow=carol)])
    decision = ProxyCore(cfg).receive(bye)
    assert isinstance(decision, ForwardTo) and decision.routed
    assert str(decision.targets.first.uri) == "sip:carol@198.51.100.9"
    assert decision.targets.first.flow == carol


def test_context_takes_the_configured_timers() -> None:
    core = ProxyCore(config(timer_c=200.0, group_timeout=15.0))
    ctx = core.context(request(), None)
    assert (ctx.timer_c, ctx.group_timeout) == (200.0, 15.0)


def test_cancel_matching_no_context_is_481() -> None:
    decision = ProxyCore(config()).receive(request("CANCEL"))
    assert isinstance(decision, Respond) and decision.response.status == 481
