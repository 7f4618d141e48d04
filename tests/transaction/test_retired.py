"""Completed non-INVITE server transactions retired into their layer's table
(``TransactionLayer.retire``): the final response's bytes and where they went,
answering retransmissions of the request until Timer J (RFC 3261 §17.2.2)."""

from __future__ import annotations

from sipwire import Request
from sipwire.transaction import (
    J_RESOLUTION,
    Deliver,
    NonInviteClientTransaction,
    Retransmit,
    Send,
    ServerTransaction,
    State,
    Terminated,
    TimerConfig,
    TransactionLayer,
)

from .builders import kinds, request, run_clock, wire

FLOW = ("udp", "192.0.2.4", 5060)  # the driver's own value: given back untouched


def answered(layer: TransactionLayer, req: Request, now: float = 0.0,
             status: int = 200) -> tuple[ServerTransaction, bytes]:
    [deliver] = layer.receive(req, now)
    assert isinstance(deliver, Deliver) and isinstance(deliver.transaction, ServerTransaction)
    tx = deliver.transaction
    [send] = tx.send(req.reply(status, to_tag="registrar"), now)
    assert isinstance(send, Send)
    return tx, bytes(send.message)  # what the transport put on the wire


def test_a_retransmission_is_answered_from_the_table() -> None:
    layer = TransactionLayer()
    req = request("REGISTER", branch="z9hG4bK-ret-1")
    tx, sent = answered(layer, req)
    assert layer.retire(tx, sent, FLOW)
    # the layer forgot the object: one entry of bytes is left
    assert len(layer) == 0 and list(layer) == [] and layer.retired == 1
    assert tx._observer is None
    for now in (0.5, 1.5, 3.5):
        again = layer.receive(wire(req), now)
        assert again == [Retransmit(sent, FLOW)]
        assert isinstance(again[0], Retransmit) and again[0].destination == FLOW
        assert again[0].transaction is None
    assert layer.find_server(wire(req)) is None
    assert layer.retired == 1 and len(layer) == 0


def test_a_response_sent_back_where_its_request_came_from_keeps_no_destination() -> None:
    # RFC 3581 §4, the usual case: the driver answers where each retransmission came from
    layer = TransactionLayer()
    req = request("OPTIONS", branch="z9hG4bK-ret-15")
    tx, sent = answered(layer, req)
    assert layer.retire(tx, sent)
    [again] = layer.receive(wire(req), 1.0)
    assert isinstance(again, Retransmit) and again.data == sent and again.destination is None


def test_timer_j_deadlines_close_together_share_one_never_earlier() -> None:
    # J_RESOLUTION apart at most: both end at the later deadline, not before
    layer = TransactionLayer(detect_merged_requests=False)
    first, sent1 = answered(layer, request("REGISTER", branch="z9hG4bK-ret-16"), now=1.0)
    second, sent2 = answered(layer, request("REGISTER", branch="z9hG4bK-ret-17"),
                             now=1.0 + J_RESOLUTION / 2)
    assert layer.retire(first, sent1) and layer.retire(second, sent2)
    assert layer.next_deadline() == 33.0 + J_RESOLUTION / 2
    assert layer.handle_timer(33.0) == [] and layer.retired == 2
    assert layer.handle_timer(33.0 + J_RESOLUTION / 2) == [] and layer.retired == 0
    # one more than J_RESOLUTION later gets its own deadline
    third, sent3 = answered(layer, request("REGISTER", branch="z9hG4bK-ret-18"), now=2.0)
    fourth, sent4 = answered(layer, request("REGISTER", branch="z9hG4bK-ret-19"),
                             now=2.0 + 2 * J_RESOLUTION)
    assert layer.retire(third, sent3) and layer.retire(fourth, sent4)
    assert layer.handle_timer(34.0) == [] and layer.retired == 1
    assert layer.next_deadline() == 34.0 + 2 * J_RESOLUTION


def test_the_match_is_branch_sent_by_and_method() -> None:
    # §17.2.3: another method, sent-by or branch is another transaction (the
    # copies share Call-ID and CSeq: no §8.2.2.2 check here, as in a proxy)
    layer = TransactionLayer(detect_merged_requests=False)
    req = request("REGISTER", branch="z9hG4bK-ret-2")
    tx, sent = answered(layer, req)
    assert layer.retire(tx, sent, FLOW)
    for other in (request("OPTIONS", branch="z9hG4bK-ret-2"),
                  request("REGISTER", branch="z9hG4bK-ret-2", port=5070),
                  request("REGISTER", branch="z9hG4bK-ret-2", host="pc34.atlanta.example.com"),
                  request("REGISTER", branch="z9hG4bK-ret-3")):
        assert kinds(layer.receive(other, 1.0)) == ["Deliver"]
    # sent-by hosts compare case-insensitively (§17.2.3 via branch_key)
    upper = request("REGISTER", branch="z9hG4bK-ret-2", host="PC33.atlanta.example.com")
    assert layer.receive(upper, 1.0) == [Retransmit(sent, FLOW)]


def test_the_entry_expires_at_timer_j_on_the_driven_clock() -> None:
    layer = TransactionLayer()  # T1 0.5 s: Timer J 32 s
    req = request("REGISTER", branch="z9hG4bK-ret-4")
    tx, sent = answered(layer, req, now=10.0)
    assert layer.retire(tx, sent, FLOW)
    assert layer.next_deadline() == 42.0
    assert layer.handle_timer(41.999) == [] and layer.retired == 1
    assert layer.receive(wire(req), 41.999) == [Retransmit(sent, FLOW)]
    assert layer.handle_timer(42.0) == []  # nothing to tell: no transaction is left
    assert layer.retired == 0 and layer.next_deadline() is None
    # afterwards the same request is a new transaction
    [deliver] = layer.receive(wire(req), 42.5)
    assert isinstance(deliver, Deliver) and deliver.transaction is not tx


def test_a_later_response_of_the_tu_matches_nothing() -> None:
    layer = TransactionLayer(detect_merged_requests=False)
    req = request("REGISTER", branch="z9hG4bK-ret-5")
    tx, sent = answered(layer, req)
    assert layer.retire(tx, sent, FLOW)
    assert layer.send_response(req.reply(500, to_tag="registrar"), 1.0) == []  # §17.2.2


def test_a_tcp_transaction_never_enters_the_table() -> None:
    # Timer J is zero over a reliable transport (§17.2.2): it terminates at once
    layer = TransactionLayer()
    req = request("REGISTER", transport="TCP", branch="z9hG4bK-ret-6")
    tx, sent = answered(layer, req, now=1.0)
    assert tx.reliable and tx.state is State.COMPLETED
    assert not layer.retire(tx, sent, FLOW)
    assert layer.retired == 0 and len(layer) == 1
    assert layer.next_deadline() == 1.0
    assert layer.handle_timer(1.0) == [Terminated("Timer J")]
    assert len(layer) == 0 and layer.retired == 0


def test_only_a_completed_non_invite_transaction_with_a_branch_key_is_retired() -> None:
    layer = TransactionLayer()
    # an INVITE server transaction (its 2xx is the TU's to retransmit)
    invite = request("INVITE", branch="z9hG4bK-ret-7")
    tx, sent = answered(layer, invite)
    assert tx.state is State.ACCEPTED and not layer.retire(tx, sent, FLOW)
    # a non-INVITE one still in Trying (no final response yet)
    options = request("OPTIONS", branch="z9hG4bK-ret-8")
    [deliver] = layer.receive(options, 0.0)
    assert isinstance(deliver.transaction, ServerTransaction)
    assert not layer.retire(deliver.transaction, b"", FLOW)
    # an RFC 2543 request (no magic cookie: matched by its fields, §17.2.3)
    old = request("REGISTER", branch="1234-rfc2543")
    tx, sent = answered(layer, old)
    assert tx.state is State.COMPLETED and not layer.retire(tx, sent, FLOW)
    # a transaction of another layer
    other, sent = answered(TransactionLayer(), request("REGISTER", branch="z9hG4bK-ret-9"))
    assert not layer.retire(other, sent, FLOW)
    assert layer.retired == 0 and len(layer) == 3


def test_unretired_ones_end_by_timer_j_in_deadline_order_with_the_others() -> None:
    # Timer J of a completed transaction waits in the layer's own queue; a
    # transaction that is not retired still terminates there, and the layer
    # fires it in deadline order with every other timer
    layer = TransactionLayer()
    req = request("MESSAGE", branch="z9hG4bK-ret-10")
    server, _ = answered(layer, req, now=0.0)            # Timer J at 32
    client = layer.create_client(request("OPTIONS", branch="z9hG4bK-ret-11"), reliable=False)
    assert isinstance(client, NonInviteClientTransaction)
    client.start(1.0)                                     # Timer F at 33, E every T1..T2
    retired_tx, sent = answered(layer, request("REGISTER", branch="z9hG4bK-ret-12"), now=0.25)
    assert layer.retire(retired_tx, sent, FLOW)           # its entry: 32.25
    log = run_clock(layer, 40.0)
    ends = [(when, action, action.transaction) for when, action in log
            if isinstance(action, Terminated)]
    assert ends == [(32.0, Terminated("Timer J"), server), (33.0, Terminated("Timer F"), client)]
    retransmitted = [when for when, action in log if isinstance(action, Send)]
    assert retransmitted == sorted(retransmitted) and retransmitted[-1] <= 33.0
    assert len(layer) == 0 and layer.retired == 0 and layer.next_deadline() is None


def test_a_clock_going_back_keeps_timer_j_exact_but_the_transaction_unretired() -> None:
    # the queue needs deadlines in order; an earlier one goes to the heap
    layer = TransactionLayer(TimerConfig(t1=0.5), detect_merged_requests=False)
    late, sent = answered(layer, request("REGISTER", branch="z9hG4bK-ret-13"), now=5.0)
    early, early_sent = answered(layer, request("REGISTER", branch="z9hG4bK-ret-14"), now=1.0)
    assert layer.retire(late, sent, FLOW)
    assert not layer.retire(early, early_sent, FLOW)
    assert layer.next_deadline() == 33.0
    assert layer.handle_timer(33.0) == [Terminated("Timer J")]
    assert layer.handle_timer(37.0) == [] and layer.retired == 0 and len(layer) == 0
