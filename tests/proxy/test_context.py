"""RFC 3261 §16.7 response processing, §16.8 Timer C and §16.10 CANCEL, in
one ``ResponseContext``."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sipwire import URI, Request, Response
from sipwire.location import Source
from sipwire.proxy import (
    AbandonBranch,
    CancelBranch,
    ContextAction,
    ForwardResponse,
    ResponseContext,
    Target,
    TargetSet,
    TryTarget,
    best_response,
    branch_for,
    final_response,
    forward_request,
)

from .builders import answer, config, request

T = 1000.0
TIMER_C = 185.0


class Fork:
    """An INVITE (or other request) forked to ``n`` contacts in parallel."""

    def __init__(self, n: int, method: str = "INVITE", **options: object) -> None:
        self.received = request(method)
        self.ctx = ResponseContext(self.received, timer_c=TIMER_C, **options)  # type: ignore[arg-type]
        self.sent: list[Request] = []
        for i in range(n):
            sent = forward_request(self.received, f"sip:bob@192.0.2.{10 + i}", config(),
                                   branch_for(self.received, i))
            self.sent.append(sent)
            self.ctx.add_branch(i, sent, T)

    def respond(self, i: int, status: int, now: float = T, **kw: object) -> list[ContextAction]:
        return self.ctx.on_response(i, answer(self.sent[i], status, **kw), now)  # type: ignore[arg-type]


def forwarded(actions: Sequence[ContextAction]) -> list[Response]:
    return [a.response for a in actions if isinstance(a, ForwardResponse)]


def statuses(actions: Sequence[ContextAction]) -> list[int]:
    return [r.status for r in forwarded(actions)]


def cancelled(actions: Sequence[ContextAction]) -> list[object]:
    return [a.key for a in actions if isinstance(a, CancelBranch)]


# -- forwarding at once (§16.7 step 5) ------------------------------------------------------


def test_provisional_responses_are_forwarded_with_our_via_removed() -> None:
    fork = Fork(2)
    actions = fork.respond(0, 180)
    [ringing] = forwarded(actions)
    assert ringing.status == 180
    # §16.7 step 3: "The proxy removes the topmost Via header field value"
    assert [v.branch for v in ringing.via] == ["z9hG4bK776asdhds"]
    assert ringing.to.tag == "b0b"  # §16.7 step 6: the To tag is not touched


def test_100_trying_is_not_forwarded() -> None:
    # "a stateful proxy MUST NOT forward any 100 (Trying) response"
    fork = Fork(1)
    assert fork.respond(0, 100, to_tag=None) == []


def test_each_2xx_is_forwarded_at_once() -> None:
    # "Any 2xx response" is forwarded immediately, from every branch of an INVITE
    fork = Fork(3)
    fork.respond(1, 180)
    fork.respond(2, 183)
    first = fork.respond(0, 200, to_tag="a")
    assert statuses(first) == [200]
    assert fork.ctx.final_sent
    second = fork.respond(1, 200, to_tag="b")
    assert statuses(second) == [200]
    assert [r.to.tag for r in forwarded(first + second)] == ["a", "b"]


def test_2xx_cancels_the_pending_branches() -> None:
    # §16.7 step 10: "If the forwarded response was a final response, the proxy
    # MUST generate a CANCEL request for all pending client transactions"
    fork = Fork(3)
    fork.respond(1, 180)
    actions = fork.respond(0, 200)
    assert cancelled(actions) == [1]
    [cancel] = [a.request for a in actions if isinstance(a, CancelBranch)]
    # §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via
    assert cancel.method == "CANCEL"
    assert cancel.uri == fork.sent[1].uri
    assert cancel.cseq.seq == fork.sent[1].cseq.seq and cancel.cseq.method == "CANCEL"
    assert [v.branch for v in cancel.via] == [fork.sent[1].via[0].branch]
    # branch 2 had no provisional response: cancelled when one comes (§9.1)
    assert cancelled(fork.respond(2, 180)) == [2]


def test_provisional_after_the_final_is_not_forwarded() -> None:
    fork = Fork(2)
    fork.respond(0, 200)
    assert statuses(fork.respond(1, 180)) == []


def test_late_2xx_retransmission_is_forwarded() -> None:
    # RFC 6026: the client transaction passes 2xx retransmissions up; the proxy
    # forwards every 2xx to an INVITE
    fork = Fork(1)
    assert statuses(fork.respond(0, 200)) == [200]
    assert statuses(fork.respond(0, 200)) == [200]


def test_a_compacted_finished_context_works_as_before() -> None:
    # finished, it waits only for its client transactions (Timer M, RFC 6026
    # §8.4): its requests are kept as bytes and parsed again when read
    fork = Fork(2)
    fork.respond(1, 486)
    assert statuses(fork.respond(0, 200)) == [200]
    assert fork.ctx.finished
    received, sent = bytes(fork.received), [bytes(r) for r in fork.sent]
    fork.ctx.compact()
    assert fork.ctx.responses == []
    assert statuses(fork.respond(0, 200)) == [200]  # a 2xx retransmission: forwarded
    assert statuses(fork.respond(1, 486)) == []  # a non-2xx one: absorbed
    assert fork.ctx.request is not fork.received and bytes(fork.ctx.request) == received
    assert [bytes(fork.ctx.branch_request(i)) for i in (0, 1)] == sent


def test_non_invite_forwards_exactly_one_final() -> None:
    # "a stateful proxy will forward exactly one final response to a non-INVITE request"
    fork = Fork(2, "MESSAGE")
    assert statuses(fork.respond(0, 202)) == [202]
    assert statuses(fork.respond(1, 200)) == []
    assert fork.ctx.finished


def test_non_invite_branches_are_not_cancelled() -> None:
    # §9.1: CANCEL "SHOULD NOT be sent to cancel non-INVITE requests"
    fork = Fork(2, "MESSAGE")
    fork.respond(1, 100, to_tag=None)
    assert cancelled(fork.respond(0, 200)) == []


def test_response_meant_for_the_proxy_is_not_forwarded() -> None:
    # §16.7 step 3: "If no Via header field values remain in the response, the
    # response was meant for this element and MUST NOT be forwarded."
    fork = Fork(1)
    response = answer(fork.sent[0], 180)
    response.headers.remove("Via")
    response.headers.add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx",
                         before="From")
    assert fork.ctx.on_response(0, response, T) == []


# -- the best final response (§16.7 step 6) ---------------------------------------------------


def test_final_waits_for_every_branch() -> None:
    fork = Fork(2)
    assert fork.respond(0, 486) == []
    assert statuses(fork.respond(1, 404)) == [486]
    assert fork.ctx.finished


def test_486_is_preferred_to_404() -> None:
    fork = Fork(2)
    fork.respond(0, 404)
    [response] = forwarded(fork.respond(1, 486))
    assert response.status == 486
    assert [v.branch for v in response.via] == ["z9hG4bK776asdhds"]


def test_lowest_class_is_chosen() -> None:
    # "the proxy SHOULD choose from the lowest response class"
    fork = Fork(3)
    fork.respond(0, 500)
    fork.respond(1, 486)
    assert statuses(fork.respond(2, 302)) == [302]


def test_6xx_wins_over_every_class() -> None:
    # "It MUST choose from the 6xx class responses if any exist in the context."
    fork = Fork(3)
    fork.respond(0, 302)
    fork.respond(1, 486)
    assert statuses(fork.respond(2, 603)) == [603]


def test_6xx_cancels_the_other_branches_and_waits_for_them() -> None:
    # §16.7 step 5: "If a 6xx response is received, it is not immediately
    # forwarded, but the stateful proxy SHOULD cancel all client pending
    # transactions"
    fork = Fork(3)
    fork.respond(0, 180)
    fork.respond(1, 180)
    actions = fork.respond(2, 600)
    assert statuses(actions) == []
    assert cancelled(actions) == [0, 1]
    assert fork.respond(0, 487) == []
    assert statuses(fork.respond(1, 487)) == [600]


def test_2xx_after_6xx_is_forwarded_and_the_6xx_is_not() -> None:
    # the reason for the RFC 2543 change: never a 6xx followed by a 2xx
    fork = Fork(2)
    fork.respond(0, 180)
    fork.respond(1, 603)
    assert statuses(fork.respond(0, 200)) == [200]
    assert fork.ctx.finished


def test_only_503_becomes_500() -> None:
    # "If the only response that was received is a 503, the proxy SHOULD
    # generate a 500 response and forward that upstream."
    fork = Fork(1)
    why = '399 next.example.com "TLS: certificate verify failed"'
    [response] = forwarded(fork.respond(0, 503, headers=[("Retry-After", "30"),
                                                         ("Warning", why)]))
    assert response.status == 500
    assert "Retry-After" not in response.headers
    assert response.headers.getall("Warning") == [why]  # why the branch failed (§20.43)
    assert [v.branch for v in response.via] == ["z9hG4bK776asdhds"]


def test_503_is_passed_over_in_its_class() -> None:
    fork = Fork(2)
    fork.respond(0, 503)
    assert statuses(fork.respond(1, 504)) == [504]


def test_4xx_is_preferred_to_503() -> None:
    fork = Fork(2)
    fork.respond(0, 503)
    assert statuses(fork.respond(1, 404)) == [404]


def test_example_of_the_rfc_picks_the_407() -> None:
    # §16.7 step 6: "received 503, 407, 501, and 404 responses, it may choose
    # to forward the 407"
    fork = Fork(4)
    for i, status in enumerate((503, 407, 501)):
        fork.respond(i, status)
    assert statuses(fork.respond(3, 404)) == [407]


def test_401_and_407_challenges_are_merged() -> None:
    # §16.7 step 7: "the proxy MUST collect any WWW-Authenticate and
    # Proxy-Authenticate header field values from all other 401 ... and 407
    # ... responses received so far in this response context and add them to
    # this response without modification"
    www = 'Digest realm="biloxi.example.com", nonce="1", qop="auth"'
    proxy_a = 'Digest realm="atlanta.example.com", nonce="2", algorithm=SHA-256'
    proxy_b = 'Digest realm="chicago.example.com", nonce="3"'
    fork = Fork(4)
    fork.respond(0, 401, headers=[("WWW-Authenticate", www)])
    fork.respond(1, 407, headers=[("Proxy-Authenticate", proxy_a)])
    fork.respond(2, 486)
    [response] = forwarded(fork.respond(3, 407, headers=[("Proxy-Authenticate", proxy_b),
                                                         ("Proxy-Authenticate", proxy_a)]))
    assert response.status in (401, 407)
    assert response.headers.getall("WWW-Authenticate") == [www]
    assert sorted(response.headers.getall("Proxy-Authenticate")) == [proxy_a, proxy_b]


def test_no_final_response_at_all_is_408() -> None:
    # "If there are no final responses in the context, the proxy MUST send a 408"
    fork = Fork(1)
    [response] = forwarded(fork.ctx.on_timeout(0, T + 32))
    assert response.status == 408
    assert [v.branch for v in response.via] == ["z9hG4bK776asdhds"]


def test_transport_error_counts_as_503() -> None:
    # §16.9: "behave as if the forwarded request received a 503"
    fork = Fork(2)
    fork.ctx.on_response(0, fork.sent[0].reply(503), T)
    assert statuses(fork.respond(1, 480)) == [480]


def test_best_response_rules() -> None:
    def responses(*codes: int) -> list[Response]:
        return [request().reply(code) for code in codes]

    assert best_response(responses(404, 486, 603, 200 + 102)).status == 603
    assert best_response(responses(480, 404)).status == 480
    assert best_response(responses(408, 487, 404)).status == 404
    assert best_response(responses(484, 486)).status == 484
    assert best_response(responses(486, 600, 604)).status == 600
    with pytest.raises(ValueError):
        best_response([])


def test_final_response_keeps_the_chosen_response() -> None:
    chosen = request().reply(486, headers=[("Retry-After", "60")])
    assert final_response(request(), [chosen]) is chosen


# -- Timer C (§16.6 step 11, §16.7 step 2, §16.8) ----------------------------------------------


def test_timer_c_runs_for_invite_branches_only() -> None:
    assert Fork(1).ctx.next_deadline() == T + TIMER_C
    assert Fork(1, "MESSAGE").ctx.next_deadline() is None


def test_timer_c_must_exceed_three_minutes() -> None:
    with pytest.raises(ValueError):
        ResponseContext(request(), timer_c=180.0)


def test_provisional_resets_timer_c() -> None:
    # §16.7 step 2: "if the response is a provisional response with status codes
    # 101 to 199 inclusive ... the proxy MUST reset timer C"
    fork = Fork(1)
    fork.respond(0, 180, now=T + 100)
    assert fork.ctx.next_deadline() == T + 100 + TIMER_C
    fork.respond(0, 100, now=T + 150, to_tag=None)
    assert fork.ctx.next_deadline() == T + 100 + TIMER_C


def test_timer_c_cancels_a_ringing_branch() -> None:
    # §16.8: "If the client transaction has received a provisional response,
    # the proxy MUST generate a CANCEL request matching that transaction."
    fork = Fork(2)
    fork.respond(0, 180)
    fork.respond(1, 486)
    now = T + TIMER_C
    assert fork.ctx.handle_timer(now - 1) == []
    actions = fork.ctx.handle_timer(now)
    assert cancelled(actions) == [0]
    assert statuses(actions) == []
    assert statuses(fork.respond(0, 487, now=now + 1)) == [486]


def test_timer_c_without_provisional_is_a_408() -> None:
    # §16.8: "If the client transaction has not received a provisional
    # response, the proxy MUST behave as if the transaction received a 408"
    fork = Fork(1)
    actions = fork.ctx.handle_timer(T + TIMER_C)
    assert [a for a in actions if isinstance(a, AbandonBranch)] == [
        AbandonBranch(0, "Timer C")]
    assert statuses(actions) == [408]
    assert fork.ctx.next_deadline() is None
    assert fork.ctx.finished


def test_cancelled_branch_that_never_answers_is_abandoned() -> None:
    fork = Fork(1, cancel_grace=32.0)
    fork.respond(0, 180)
    fork.ctx.handle_timer(T + TIMER_C)
    assert fork.ctx.next_deadline() == T + TIMER_C + 32
    actions = fork.ctx.handle_timer(T + TIMER_C + 32)
    assert AbandonBranch(0, "Timer C") in actions
    assert statuses(actions) == [408]


# -- CANCEL (§16.10) ---------------------------------------------------------------------------


def test_upstream_cancel_cancels_pending_branches() -> None:
    # §16.10: "the element MUST generate CANCEL requests for all pending client
    # transactions in the context"
    fork = Fork(3)
    fork.respond(0, 180)
    fork.respond(1, 183)
    fork.respond(2, 486)
    actions = fork.ctx.cancel()
    assert cancelled(actions) == [0, 1]
    assert fork.respond(0, 487) == []
    assert statuses(fork.respond(1, 487)) == [486]


def test_cancel_pending_skips_branches_without_provisional() -> None:
    # §9.1 / §16.7 step 10: a pending client transaction "has received a
    # provisional response, but no final response"; the others are cancelled
    # when their first provisional response comes
    fork = Fork(2)
    fork.respond(0, 180)
    assert [c.key for c in fork.ctx.cancel_pending()] == [0]
    assert fork.ctx.cancel_pending() == []  # never twice
    assert cancelled(fork.respond(1, 100, to_tag=None)) == [1]


def test_cancel_before_any_branch_is_487() -> None:
    ctx = ResponseContext(request(), TargetSet(()), timer_c=TIMER_C)
    assert statuses(ctx.cancel()) == [487]


def test_everything_cancelled_answers_487() -> None:
    fork = Fork(1)
    fork.respond(0, 180)
    fork.ctx.cancel()
    assert statuses(fork.respond(0, 487)) == [487]


# -- target sets: sequential forking and outbound ---------------------------------------------


def _targets(*groups: Sequence[str]) -> TargetSet:
    return TargetSet(tuple(tuple(Target(URI.parse(u)) for u in group) for group in groups))


class Driver:
    """Performs ``TryTarget`` as the server would: forward and add the branch."""

    def __init__(self, targets: TargetSet, **options: object) -> None:
        self.received = request()
        self.ctx = ResponseContext(self.received, targets, timer_c=TIMER_C, **options)  # type: ignore[arg-type]
        self.sent: dict[str, Request] = {}

    def perform(self, actions: Sequence[ContextAction], now: float = T) -> list[ContextAction]:
        for action in actions:
            if isinstance(action, TryTarget):
                sent = forward_request(self.received, action.target, config(), action.branch)
                key = str(action.target.uri) + (f"@{action.target.flow.port}"
                                                 if action.target.flow else "")
                self.sent[key] = sent
                self.ctx.add_branch(key, sent, now, action.target)
        return list(actions)

    def respond(self, key: str, status: int, now: float = T) -> list[ContextAction]:
        return self.perform(self.ctx.on_response(key, answer(self.sent[key], status), now), now)


def tried(actions: Sequence[ContextAction]) -> list[str]:
    return [str(a.target.uri) for a in actions if isinstance(a, TryTarget)]


def test_start_tries_the_first_group() -> None:
    driver = Driver(_targets(["sip:a@192.0.2.10", "sip:b@192.0.2.11"], ["sip:c@192.0.2.12"]))
    actions = driver.perform(driver.ctx.start(T))
    assert tried(actions) == ["sip:a@192.0.2.10", "sip:b@192.0.2.11"]
    branches = [a.branch for a in actions if isinstance(a, TryTarget)]
    assert branches == [branch_for(driver.received, 0), branch_for(driver.received, 1)]


def test_sequential_groups_follow_failures() -> None:
    driver = Driver(_targets(["sip:a@192.0.2.10"], ["sip:b@192.0.2.11"], ["sip:c@192.0.2.12"]))
    driver.perform(driver.ctx.start(T))
    assert tried(driver.respond("sip:a@192.0.2.10", 486)) == ["sip:b@192.0.2.11"]
    assert tried(driver.respond("sip:b@192.0.2.11", 480)) == ["sip:c@192.0.2.12"]
    assert statuses(driver.respond("sip:c@192.0.2.12", 404)) == [486]


def test_sequential_forking_stops_at_a_2xx() -> None:
    driver = Driver(_targets(["sip:a@192.0.2.10"], ["sip:b@192.0.2.11"]))
    driver.perform(driver.ctx.start(T))
    actions = driver.respond("sip:a@192.0.2.10", 200)
    assert statuses(actions) == [200] and tried(actions) == []
    assert driver.ctx.finished


def test_no_new_branches_after_a_6xx() -> None:
    # §16.7 step 5: "it MUST NOT create any new branches in this context"
    driver = Driver(_targets(["sip:a@192.0.2.10"], ["sip:b@192.0.2.11"]))
    driver.perform(driver.ctx.start(T))
    actions = driver.respond("sip:a@192.0.2.10", 603)
    assert tried(actions) == [] and statuses(actions) == [603]


def test_group_timeout_moves_on_to_the_next_group() -> None:
    driver = Driver(_targets(["sip:a@192.0.2.10"], ["sip:b@192.0.2.11"]), group_timeout=20.0)
    driver.perform(driver.ctx.start(T))
    driver.respond("sip:a@192.0.2.10", 180)
    assert driver.ctx.next_deadline() == T + 20
    actions = driver.perform(driver.ctx.handle_timer(T + 20), T + 20)
    assert cancelled(actions) == ["sip:a@192.0.2.10"]
    assert tried(actions) == ["sip:b@192.0.2.11"]
    assert driver.respond("sip:a@192.0.2.10", 487, T + 21) == []
    assert statuses(driver.respond("sip:b@192.0.2.11", 200, T + 25)) == [200]


def test_430_tries_another_flow_of_the_instance() -> None:
    # RFC 5626 §7: "If a request for a particular AOR and instance-id fails
    # with a 430 (Flow Failed) response, the proxy SHOULD replace the failed
    # branch with another target ... with the same AOR and instance-id, but a
    # different reg-id."
    uri = URI.parse("sip:bob@10.0.0.9;transport=tcp;ob")
    flow1 = Source("TCP", "198.51.100.4", 40000, "conn-1")
    flow2 = Source("TCP", "198.51.100.4", 40001, "conn-2")
    target = Target(uri, flow=flow1, instance_id="urn:uuid:1",
                    alternates=(Target(uri, flow=flow2, instance_id="urn:uuid:1"),))
    driver = Driver(TargetSet.single(target))
    driver.perform(driver.ctx.start(T))
    actions = driver.respond(f"{uri}@40000", 430)
    [retry] = [a for a in actions if isinstance(a, TryTarget)]
    assert retry.target.flow == flow2
    assert statuses(actions) == []
    # the last flow failing too: 430 means nothing upstream, so a 480
    assert statuses(driver.respond(f"{uri}@40001", 430)) == [480]


def test_empty_target_set_is_480() -> None:
    ctx = ResponseContext(request(), TargetSet(()), timer_c=TIMER_C)
    assert statuses(ctx.start(T)) == [480]


def test_unknown_branch_is_an_error() -> None:
    fork = Fork(1)
    with pytest.raises(KeyError):
        fork.ctx.on_response("nope", answer(fork.sent[0], 200), T)
    with pytest.raises(ValueError):
        fork.ctx.add_branch(0, fork.sent[0], T)


def test_branch_added_after_closing_is_cancelled_when_it_rings() -> None:
    fork = Fork(1)
    fork.respond(0, 180)
    fork.ctx.cancel()
    late = forward_request(fork.received, "sip:bob@192.0.2.99", config(),
                           branch_for(fork.received, 9))
    fork.ctx.add_branch("late", late, T)
    actions = fork.ctx.on_response("late", answer(late, 180), T)
    assert cancelled(actions) == ["late"]


def test_an_owned_response_goes_upstream_itself_without_our_via() -> None:
    # §16.7 step 3 on the response the caller hands over: no copy
    fork = Fork(1)
    response = answer(fork.sent[0], 180)
    vias = len(response.via)
    actions = fork.ctx.on_response(0, response, T, owned=True)
    assert forwarded(actions) == [response]
    assert len(response.via) == vias - 1
    assert response.top_via.branch == fork.received.top_via.branch


def test_a_response_not_owned_is_left_as_it_came() -> None:
    fork = Fork(1)
    response = answer(fork.sent[0], 180)
    before = bytes(response)
    (upstream,) = forwarded(fork.ctx.on_response(0, response, T))
    assert upstream is not response
    assert bytes(response) == before
    assert len(upstream.via) == len(response.via) - 1
