"""The INVITE server transaction: RFC 3261 §17.2.1 with RFC 6026 §7.1 (Figure 7)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.transaction import (
    Deliver,
    InviteServerTransaction,
    Send,
    State,
    Terminated,
    Timeout,
    Timer,
    TimerConfig,
    TransportFailure,
    build_ack,
)

from .builders import invite, request, run_clock, sent, timeline, wire


def started(*, reliable: bool = False,
            config: TimerConfig | None = None) -> InviteServerTransaction:
    tx = InviteServerTransaction(invite(), reliable=reliable, config=config)
    assert tx.start(0.0) == [Deliver(tx.request)]  # "pass INV to TU"
    assert tx.state is State.PROCEEDING
    return tx


def answered(status: int, *, reliable: bool = False) -> InviteServerTransaction:
    tx = started(reliable=reliable)
    response = tx.request.reply(status, to_tag="uas")
    assert tx.send(response, 0.0) == [Send(response)]
    return tx


def ack_for(tx: InviteServerTransaction) -> sipwire.Request:
    assert tx.last_response is not None
    return wire(build_ack(tx.request, tx.last_response))


def test_100_trying_is_sent_when_the_tu_is_silent_for_200_ms() -> None:
    tx = started()
    assert tx.timers == {Timer.TRYING: 0.2}
    assert tx.handle_timer(0.19) == []
    actions = tx.handle_timer(0.2)
    [trying] = sent(actions)
    assert isinstance(trying, sipwire.Response) and trying.status == 100
    parsed = sipwire.parse(bytes(trying))
    assert parsed.to.tag is None  # §8.2.6.2: no To tag on a 100
    assert parsed.via[0].branch == tx.branch
    assert tx.state is State.PROCEEDING
    # a retransmitted INVITE is now answered with that 100
    assert tx.receive(wire(tx.request), 0.5) == [Send(trying)]


def test_no_100_trying_when_the_tu_answers_within_200_ms() -> None:
    tx = started()
    ringing = tx.request.reply(180, to_tag="uas")
    assert tx.send(ringing, 0.1) == [Send(ringing)]
    assert tx.next_deadline() is None
    assert run_clock(tx, 10.0) == []


def test_trying_delay_is_configurable_and_can_be_left_to_the_tu() -> None:
    tx = started(config=TimerConfig(trying_delay=0.05))
    assert tx.timers == {Timer.TRYING: 0.05}
    silent = started(config=TimerConfig(trying_delay=None))
    assert silent.next_deadline() is None


def test_retransmitted_invite_in_proceeding_resends_the_last_provisional() -> None:
    tx = started()
    assert tx.receive(wire(tx.request), 0.1) == []  # nothing sent yet: absorbed
    tx.send(tx.request.reply(180, to_tag="uas"), 0.1)
    progress = tx.request.reply(183, to_tag="uas")
    tx.send(progress, 0.15)
    assert tx.receive(wire(tx.request), 0.5) == [Send(progress)]
    assert tx.state is State.PROCEEDING


def test_non_2xx_final_is_retransmitted_on_timer_g_up_to_t2_until_timer_h() -> None:
    tx = answered(486)
    assert tx.timers == {Timer.G: 0.5, Timer.H: 32.0}  # in Completed
    log = run_clock(tx, 40.0)
    resent = [t for t, a in log if isinstance(a, Send)]
    # G: T1, then MIN(2*G, T2) (§17.2.1)
    assert resent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(a.message is tx.last_response for _, a in log if isinstance(a, Send))
    # Timer H: the ACK never came; the TU is told (§17.2.1)
    assert timeline(log[-2:]) == [(32.0, "Timeout"), (32.0, "Terminated")]
    assert log[-2][1] == Timeout(Timer.H)
    assert tx.state is State.TERMINATED


def test_reliable_transport_has_no_timer_g_but_timer_h() -> None:
    tx = answered(486, reliable=True)
    assert tx.timers == {Timer.H: 32.0}


def test_lost_final_response_is_resent_for_each_retransmitted_invite() -> None:
    tx = answered(404)
    for now in (0.3, 0.4):
        assert tx.receive(wire(tx.request), now) == [Send(tx.last_response)]  # type: ignore[arg-type]
    assert tx.state is State.COMPLETED


def test_ack_moves_completed_to_confirmed_and_timer_i_waits_t4() -> None:
    tx = answered(486)
    assert tx.receive(ack_for(tx), 1.0) == []  # absorbed, not passed to the TU
    assert tx.state is State.CONFIRMED
    assert tx.timers == {Timer.I: 6.0}  # G and H stop
    assert tx.receive(ack_for(tx), 2.0) == []  # further ACKs absorbed too
    assert tx.receive(wire(tx.request), 2.0) == []
    assert tx.handle_timer(6.0) == [Terminated("Timer I")]


def test_timer_i_is_zero_over_reliable_transports() -> None:
    tx = answered(486, reliable=True)
    tx.receive(ack_for(tx), 1.0)
    assert tx.next_deadline() == 1.0
    assert tx.handle_timer(1.0) == [Terminated("Timer I")]


def test_2xx_enters_accepted_and_is_not_retransmitted_by_the_transaction() -> None:
    tx = answered(200)
    assert tx.state is State.ACCEPTED
    assert tx.timers == {Timer.L: 32.0}  # no Timer G for a 2xx (RFC 6026 §8.5)
    assert [a for _, a in run_clock(tx, 31.9)] == []


def test_accepted_absorbs_invite_retransmissions() -> None:
    tx = answered(200)
    assert tx.receive(wire(tx.request), 1.0) == []
    assert tx.state is State.ACCEPTED


def test_accepted_passes_acks_to_the_tu() -> None:
    tx = answered(200)
    ack = ack_for(tx)
    assert tx.receive(ack, 1.0) == [Deliver(ack)]
    assert tx.receive(ack, 1.5) == [Deliver(ack)]  # every one: the TU stops its 2xx
    assert tx.state is State.ACCEPTED


def test_accepted_sends_the_tus_2xx_retransmissions() -> None:
    tx = answered(200)
    ok = tx.last_response
    assert ok is not None
    assert tx.send(ok, 0.5) == [Send(ok)]
    assert tx.send(ok, 1.5) == [Send(ok)]
    assert tx.send(tx.request.reply(486, to_tag="uas"), 2.0) == []  # not a 2xx: dropped


def test_accepted_is_settled_and_works_the_same_compacted() -> None:
    tx = started()
    assert not tx.settled  # Proceeding: the final response is still to come
    tx.send(tx.request.reply(180, to_tag="uas"), 0.1)
    assert not tx.settled
    tx.send(tx.request.reply(200, to_tag="uas"), 0.2)
    assert tx.settled and tx.state is State.ACCEPTED
    ok = tx.last_response
    assert ok is not None
    sent = bytes(ok)  # what the transport put on the wire
    request_bytes = bytes(tx.request)
    tx.compact()
    assert tx.method == "INVITE" and tx.timers == {Timer.L: 32.2}
    assert tx.receive(wire(tx.request), 1.0) == []  # still absorbed
    assert bytes(tx.request) == request_bytes  # parsed again from its bytes
    last = tx.last_response
    assert last is not None and bytes(last) == sent
    ack = ack_for(tx)
    assert tx.receive(ack, 1.5) == [Deliver(ack)]
    assert tx.send(last, 2.0) == [Send(last)]  # the TU's 2xx retransmission
    assert tx.handle_timer(32.2) == [Terminated("Timer L")]


def test_a_non_2xx_final_does_not_settle_an_invite_transaction() -> None:
    # Completed retransmits its response on Timer G until the ACK: not settled
    tx = answered(486)
    assert tx.state is State.COMPLETED and not tx.settled
    tx.receive(ack_for(tx), 0.5)
    assert tx.state is State.CONFIRMED and not tx.settled


def test_timer_l_ends_accepted_at_64_t1_for_all_transports() -> None:
    for reliable in (False, True):
        tx = answered(200, reliable=reliable)
        assert tx.timers == {Timer.L: 32.0}
        assert tx.handle_timer(32.0) == [Terminated("Timer L")]


@pytest.mark.parametrize("status", [None, 486, 200])
def test_transport_error_informs_the_tu_and_keeps_the_state(status: int | None) -> None:
    tx = answered(status) if status else started()
    state, timers = tx.state, tx.timers
    assert tx.transport_error(1.0) == [TransportFailure(None)]
    assert (tx.state, tx.timers) == (state, timers)  # RFC 6026 §7.1


def test_responses_from_tu_after_the_final_are_dropped() -> None:
    tx = answered(486)
    assert tx.send(tx.request.reply(180, to_tag="uas"), 0.1) == []
    assert tx.send(tx.request.reply(200, to_tag="uas"), 0.1) == []
    assert tx.state is State.COMPLETED


def test_only_invite_and_never_ack_makes_an_invite_server_transaction() -> None:
    with pytest.raises(ValueError, match="ACK"):
        InviteServerTransaction(request("ACK"), reliable=False)
    with pytest.raises(ValueError, match="BYE"):
        InviteServerTransaction(request("BYE"), reliable=False)
