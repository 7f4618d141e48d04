"""RFC 3261 §16.2: what the proxy core decides for a new request."""

from __future__ import annotations

from sipwire.proxy import Drop, ForwardTo, HandleLocally, LookUp, ProxyCore, Respond

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
    received = request(headers=["Route: <sip:proxy.example.com;lr>"])
    decision = ProxyCore(config()).receive(received)
    assert isinstance(decision, LookUp)
    assert decision.aor == "sip:bob@example.com"
    assert decision.routed
    assert "Route" not in decision.request.headers  # preprocessed (§16.4)
    assert "Route" in received.headers  # the received request is left alone


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
    lookup = core.receive(request("ACK", to="<sip:bob@example.com>;tag=x"))
    assert isinstance(lookup, LookUp)
    decision = core.resolve(lookup, [binding("sip:bob@192.0.2.31"),
                                     binding("sip:bob@192.0.2.32")], T0)
    assert isinstance(decision, ForwardTo) and len(decision.targets) == 1


def test_foreign_domain_is_relayed_when_allowed() -> None:
    decision = ProxyCore(config(relay=True)).receive(request(uri="sip:carol@biloxi.example.org"))
    assert isinstance(decision, ForwardTo)
    decision = ProxyCore(config()).receive(request(uri="sip:carol@biloxi.example.org"))
    assert isinstance(decision, Respond) and decision.response.status == 403


def test_loose_routed_request_is_relayed_whatever_the_policy() -> None:
    bye = request("BYE", "sip:carol@198.51.100.9", to="<sip:carol@biloxi.example.org>;tag=c",
                  headers=["Route: <sip:192.0.2.1;lr>"])
    decision = ProxyCore(config()).receive(bye)
    assert isinstance(decision, ForwardTo)
    assert str(decision.targets.first.uri) == "sip:carol@198.51.100.9"


def test_context_takes_the_configured_timers() -> None:
    core = ProxyCore(config(timer_c=200.0, group_timeout=15.0))
    ctx = core.context(request(), None)
    assert (ctx.timer_c, ctx.group_timeout) == (200.0, 15.0)


def test_cancel_matching_no_context_is_481() -> None:
    decision = ProxyCore(config()).receive(request("CANCEL"))
    assert isinstance(decision, Respond) and decision.response.status == 481
