"""The INVITE client transaction: RFC 3261 §17.1.1 with RFC 6026 §7.2 (Figure 5)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.transaction import (
    Deliver,
    InviteClientTransaction,
    NonInviteClientTransaction,
    Send,
    State,
    Terminated,
    Timeout,
    Timer,
    TimerConfig,
    TransportFailure,
)

from .builders import invite, kinds, reply, request, run_clock, sent, timeline


def started(*, reliable: bool = False,
            config: TimerConfig | None = None) -> InviteClientTransaction:
    tx = InviteClientTransaction(invite(transport="TCP" if reliable else "UDP"),
                                 reliable=reliable, config=config)
    assert kinds(tx.start(0.0)) == ["Send"]
    return tx


def test_start_sends_the_invite_and_enters_calling() -> None:
    tx = InviteClientTransaction(invite(), reliable=False)
    before = tx.state
    actions = tx.start(0.0)
    assert actions == [Send(tx.request)]
    assert (before, tx.state) == (State.INITIAL, State.CALLING)
    assert tx.timers == {Timer.A: 0.5, Timer.B: 32.0}


def test_timer_a_doubles_without_cap_until_timer_b_at_64_t1() -> None:
    tx = started()
    log = run_clock(tx, 100.0)
    resent = [t for t, a in log if isinstance(a, Send)]
    # intervals 0.5, 1, 2, 4, 8, 16: past T2, for INVITE A is not capped (§17.1.1.2)
    assert resent == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(a.message is tx.request for _, a in log if isinstance(a, Send))
    assert timeline(log[-2:]) == [(32.0, "Timeout"), (32.0, "Terminated")]


def test_timer_b_timeout_delivers_a_synthetic_408() -> None:
    tx = started()
    log = run_clock(tx, 32.0)
    timeout = next(a for _, a in log if isinstance(a, Timeout))
    assert timeout.timer is Timer.B
    response = timeout.response
    assert response is not None and response.status == 408
    # §8.1.3.1: treated as a received 408 -- a real response to this request
    parsed = sipwire.parse(bytes(response))
    assert isinstance(parsed, sipwire.Response) and parsed.status == 408
    assert parsed.via[0].branch == tx.branch
    assert parsed.call_id == tx.request.call_id
    assert (parsed.cseq.seq, parsed.cseq.method) == (1, "INVITE")
    assert tx.state is State.TERMINATED
    assert log[-1][1] == Terminated("Timer B")


def test_timers_scale_with_the_instance_t1() -> None:
    slow = started(config=TimerConfig(t1=1.0, t2=8.0))
    fast = started()  # the default config: T1 is per instance, not global
    assert slow.timers == {Timer.A: 1.0, Timer.B: 64.0}
    assert fast.timers == {Timer.A: 0.5, Timer.B: 32.0}
    assert [t for t, a in run_clock(slow, 64.0) if isinstance(a, Send)] == [
        1.0, 3.0, 7.0, 15.0, 31.0, 63.0]


def test_reliable_transport_starts_timer_b_but_not_timer_a() -> None:
    tx = started(reliable=True)
    assert tx.timers == {Timer.B: 32.0}
    assert timeline(run_clock(tx, 32.0)) == [(32.0, "Timeout"), (32.0, "Terminated")]


def test_lost_invite_is_retransmitted_until_a_provisional_arrives() -> None:
    tx = started()
    assert sent(tx.handle_timer(0.5)) == [tx.request]  # the first copy was lost
    actions = tx.receive(reply(tx.request, 100), 0.7)
    assert kinds(actions) == ["Deliver"]
    assert tx.state is State.PROCEEDING
    # no retransmissions and no Timer B in Proceeding (§17.1.1.2)
    assert tx.next_deadline() is None


def test_provisionals_in_proceeding_are_passed_up() -> None:
    tx = started()
    tx.receive(reply(tx.request, 100), 0.1)
    ringing = reply(tx.request, 180)
    assert tx.receive(ringing, 0.2) == [Deliver(ringing)]
    assert tx.state is State.PROCEEDING


@pytest.mark.parametrize("first", [None, 180])
def test_2xx_enters_accepted_for_timer_m_without_generating_an_ack(first: int | None) -> None:
    tx = started()
    if first:
        tx.receive(reply(tx.request, first), 0.1)
    ok = reply(tx.request, 200)
    assert tx.receive(ok, 1.0) == [Deliver(ok)]  # RFC 6026: no ACK here, the TU sends it
    assert tx.state is State.ACCEPTED
    assert tx.timers == {Timer.M: 1.0 + 32.0}


def test_retransmitted_and_forked_2xx_in_accepted_are_passed_up() -> None:
    tx = started()
    ok = reply(tx.request, 200)
    tx.receive(ok, 1.0)
    again = reply(tx.request, 200)  # a retransmission of the same 2xx
    forked = reply(tx.request, 200, to_tag="carol")  # another branch of a fork
    assert tx.receive(again, 2.0) == [Deliver(again)]
    assert tx.receive(forked, 3.0) == [Deliver(forked)]
    assert tx.receive(reply(tx.request, 486), 4.0) == []  # not a 2xx: dropped
    assert tx.state is State.ACCEPTED


def test_timer_m_ends_accepted_at_64_t1() -> None:
    tx = started()
    tx.receive(reply(tx.request, 200), 1.0)
    assert tx.handle_timer(32.9) == []
    assert tx.handle_timer(33.0) == [Terminated("Timer M")]
    assert tx.state is State.TERMINATED


def test_non_2xx_final_is_passed_up_and_acknowledged() -> None:
    tx = started()
    busy = reply(tx.request, 486)
    actions = tx.receive(busy, 1.0)
    assert kinds(actions) == ["Deliver", "Send"]
    assert actions[0] == Deliver(busy)
    ack = sent(actions)[0]
    assert isinstance(ack, sipwire.Request) and ack.method == "ACK"
    assert tx.ack is ack
    assert tx.state is State.COMPLETED


def test_ack_for_non_2xx_is_sent_even_over_reliable_transports() -> None:
    tx = started(reliable=True)
    actions = tx.receive(reply(tx.request, 603), 1.0)
    assert kinds(actions) == ["Deliver", "Send"]


def test_timer_d_is_32_seconds_over_udp() -> None:
    tx = started()
    tx.receive(reply(tx.request, 486), 2.0)
    assert tx.timers == {Timer.D: 34.0}
    assert tx.handle_timer(33.9) == []
    assert tx.handle_timer(34.0) == [Terminated("Timer D")]


def test_timer_d_stays_at_least_32_seconds_when_t1_is_small() -> None:
    tx = started(config=TimerConfig(t1=0.1))
    tx.receive(reply(tx.request, 486), 0.0)
    assert tx.timers == {Timer.D: 32.0}  # not 64*T1 = 6.4 s (RFC 6026 §8.4)


def test_timer_d_is_zero_over_reliable_transports() -> None:
    tx = started(reliable=True)
    tx.receive(reply(tx.request, 486), 2.0)
    assert tx.state is State.COMPLETED
    assert tx.next_deadline() == 2.0
    assert tx.handle_timer(2.0) == [Terminated("Timer D")]


def test_retransmitted_final_response_resends_the_same_ack_and_is_not_passed_up() -> None:
    tx = started()
    first = sent(tx.receive(reply(tx.request, 486), 1.0))[0]
    for now in (1.5, 2.5):
        actions = tx.receive(reply(tx.request, 486), now)  # our ACK was lost
        assert actions == [Send(first)]
        assert sent(actions)[0] is first
    assert tx.state is State.COMPLETED
    assert tx.timers == {Timer.D: 33.0}  # Timer D is not restarted


def test_provisional_and_2xx_in_completed_are_dropped() -> None:
    tx = started()
    tx.receive(reply(tx.request, 486), 1.0)
    assert tx.receive(reply(tx.request, 180), 2.0) == []
    assert tx.receive(reply(tx.request, 200), 2.0) == []
    assert tx.state is State.COMPLETED


def test_transport_error_in_calling_delivers_a_synthetic_503() -> None:
    tx = started()
    actions = tx.transport_error(0.0)
    assert kinds(actions) == ["TransportFailure", "Terminated"]
    failure = actions[0]
    assert isinstance(failure, TransportFailure) and failure.response is not None
    parsed = sipwire.parse(bytes(failure.response))
    assert isinstance(parsed, sipwire.Response) and parsed.status == 503
    assert parsed.via[0].branch == tx.branch
    assert tx.state is State.TERMINATED
    assert tx.next_deadline() is None


def test_transport_error_sending_the_ack_informs_the_tu_and_terminates() -> None:
    tx = started()
    tx.receive(reply(tx.request, 486), 1.0)
    actions = tx.transport_error(1.0)
    # the TU already has its final response: no synthetic 503 on top of it
    assert actions == [TransportFailure(None), Terminated("transport error")]


def test_there_is_no_client_transaction_for_ack() -> None:
    with pytest.raises(ValueError, match="no client transaction for ACK"):
        NonInviteClientTransaction(request("ACK"), reliable=False)
    with pytest.raises(ValueError, match="OPTIONS"):
        InviteClientTransaction(request("OPTIONS"), reliable=False)
