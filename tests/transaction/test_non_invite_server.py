"""The non-INVITE server transaction: RFC 3261 §17.2.2 (Figure 8), §17.2.4 per RFC 6026."""

from __future__ import annotations

import pytest

from sipwire.transaction import (
    Deliver,
    NonInviteServerTransaction,
    Send,
    State,
    Terminated,
    Timer,
    TransportFailure,
)

from .builders import request, run_clock, wire


def started(method: str = "OPTIONS", *, reliable: bool = False) -> NonInviteServerTransaction:
    tx = NonInviteServerTransaction(request(method), reliable=reliable)
    assert tx.start(0.0) == [Deliver(tx.request)]
    assert tx.state is State.TRYING
    return tx


def test_request_is_passed_up_and_retransmissions_in_trying_are_discarded() -> None:
    tx = started()
    assert tx.receive(wire(tx.request), 0.5) == []
    assert tx.state is State.TRYING
    assert tx.next_deadline() is None  # no timer: the TU answers


def test_provisional_moves_to_proceeding_and_is_resent_for_retransmissions() -> None:
    tx = started("SUBSCRIBE")
    trying = tx.request.reply(100)
    assert tx.send(trying, 0.1) == [Send(trying)]
    assert tx.state is State.PROCEEDING
    assert tx.receive(wire(tx.request), 0.5) == [Send(trying)]
    progress = tx.request.reply(183, to_tag="uas")
    assert tx.send(progress, 0.6) == [Send(progress)]
    assert tx.receive(wire(tx.request), 1.5) == [Send(progress)]


@pytest.mark.parametrize("provisional", [False, True])
def test_final_response_moves_to_completed_where_timer_j_is_64_t1(provisional: bool) -> None:
    tx = started()
    if provisional:
        tx.send(tx.request.reply(100), 0.1)
    ok = tx.request.reply(200, to_tag="uas")
    assert tx.send(ok, 1.0) == [Send(ok)]
    assert tx.state is State.COMPLETED
    assert tx.timers == {Timer.J: 33.0}
    assert tx.handle_timer(32.9) == []
    assert tx.handle_timer(33.0) == [Terminated("Timer J")]


def test_timer_j_is_zero_over_reliable_transports() -> None:
    tx = started(reliable=True)
    tx.send(tx.request.reply(200, to_tag="uas"), 1.0)
    assert tx.next_deadline() == 1.0
    assert [a for _, a in run_clock(tx, 1.0)] == [Terminated("Timer J")]


def test_lost_final_response_is_resent_for_each_retransmitted_request() -> None:
    tx = started("REGISTER")
    ok = tx.request.reply(200, to_tag="uas")
    tx.send(ok, 0.0)
    for now in (0.5, 1.5, 3.5):
        assert tx.receive(wire(tx.request), now) == [Send(ok)]
    assert tx.state is State.COMPLETED


def test_other_responses_from_the_tu_in_completed_are_discarded() -> None:
    tx = started()
    ok = tx.request.reply(200, to_tag="uas")
    tx.send(ok, 0.0)
    assert tx.send(tx.request.reply(500, to_tag="uas"), 0.1) == []
    assert tx.send(tx.request.reply(180, to_tag="uas"), 0.1) == []
    assert tx.receive(wire(tx.request), 0.5) == [Send(ok)]  # still the first final


@pytest.mark.parametrize("final", [False, True])
def test_transport_error_informs_the_tu_and_keeps_the_state(final: bool) -> None:
    # RFC 6026 §8.8 rewrote §17.2.4 for all server transactions: remain in the
    # current state, so retransmissions are still absorbed (not new requests)
    tx = started()
    tx.send(tx.request.reply(200 if final else 180, to_tag="uas"), 0.0)
    state, timers = tx.state, tx.timers
    assert tx.transport_error(0.1) == [TransportFailure(None)]
    assert (tx.state, tx.timers) == (state, timers)


def test_invite_and_ack_need_no_non_invite_server_transaction() -> None:
    with pytest.raises(ValueError, match="InviteServerTransaction"):
        NonInviteServerTransaction(request("INVITE"), reliable=False)
    with pytest.raises(ValueError, match="ACK"):
        NonInviteServerTransaction(request("ACK"), reliable=False)


def test_compacted_completed_transaction_answers_retransmissions_with_the_same_bytes() -> None:
    tx = started("REGISTER")
    ok = tx.request.reply(200, to_tag="uas")
    assert tx.send(ok, 1.0) == [Send(ok)]
    assert tx.settled
    sent = bytes(ok)  # what the transport put on the wire
    request_bytes = bytes(tx.request)
    tx.compact()
    assert tx.method == "REGISTER" and tx.state is State.COMPLETED
    [again] = tx.receive(wire(tx.request), 2.0)
    assert isinstance(again, Send) and bytes(again.message) == sent
    assert bytes(tx.request) == request_bytes
    assert tx.branch is not None and tx.branch.startswith("z9hG4bK")  # parsed again
    assert tx.handle_timer(33.0) == [Terminated("Timer J")]


def test_only_completed_non_invite_transactions_are_settled() -> None:
    tx = started()
    assert not tx.settled  # Trying: the TU has not answered yet
    tx.send(tx.request.reply(100), 0.1)
    assert not tx.settled  # Proceeding: a final response is still to come
    tx.send(tx.request.reply(404, to_tag="uas"), 0.2)
    assert tx.settled
