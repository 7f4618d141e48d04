"""What a completed non-INVITE server transaction holds during Timer J (RFC 3261
§17.2.2): the response's bytes and its branch key, no message objects."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import ClassVar

import pytest

from sipwire import Request, Response
from sipwire.transaction import (
    Deliver,
    NonInviteServerTransaction,
    Send,
    ServerTransaction,
    State,
    Timer,
    TransactionLayer,
)

from .builders import reply, request, sip, wire


def received(layer: TransactionLayer, req: Request, now: float = 0.0) -> ServerTransaction:
    [deliver] = layer.receive(req, now)
    assert isinstance(deliver, Deliver) and deliver.transaction is not None
    assert isinstance(deliver.transaction, ServerTransaction)
    return deliver.transaction


def answered_and_compacted(layer: TransactionLayer, req: Request) -> tuple[ServerTransaction,
                                                                          bytes]:
    tx = received(layer, req)
    ok = req.reply(200, to_tag="registrar")
    [send] = tx.send(ok, 0.5)
    assert isinstance(send, Send)
    sent = bytes(send.message)  # what the transport put on the wire
    tx.compact()
    return tx, sent


def messages_referenced(obj: object) -> list[object]:
    return [o for o in gc.get_referents(obj) if isinstance(o, Request | Response)]


def test_completed_register_keeps_only_response_bytes_and_key() -> None:
    layer = TransactionLayer()
    req = request("REGISTER", branch="z9hG4bK-reg-1")
    tx, sent = answered_and_compacted(layer, req)
    assert isinstance(tx, NonInviteServerTransaction) and tx.state is State.COMPLETED
    assert messages_referenced(tx) == []
    held = [o for o in gc.get_referents(tx) if isinstance(o, bytes)]
    # besides the response, the key of its entry in the layer's Timer J queue
    assert [o for o in held if o is not tx._j_name] == [sent]
    assert tx.key == ("z9hG4bK-reg-1", "pc33.atlanta.example.com", 5060)
    assert tx.key in gc.get_referents(tx)
    assert (tx.method, tx.branch) == ("REGISTER", "z9hG4bK-reg-1")
    with pytest.raises(LookupError):
        _ = tx.request


def test_retransmission_still_gets_the_same_response_bytes() -> None:
    layer = TransactionLayer()
    req = request("REGISTER", branch="z9hG4bK-reg-2")
    tx, sent = answered_and_compacted(layer, req)
    for now in (1.0, 2.0):
        [again] = layer.receive(wire(req), now)
        assert isinstance(again, Send) and again.transaction is tx
        assert bytes(again.message) == sent
    assert messages_referenced(tx) == []  # answering did not keep a parsed copy


def test_a_later_response_of_the_tu_is_discarded() -> None:
    layer = TransactionLayer()
    req = request("REGISTER", branch="z9hG4bK-reg-3")
    tx, _ = answered_and_compacted(layer, req)
    assert layer.send_response(req.reply(500, to_tag="registrar"), 1.0) == []
    assert tx.send(req.reply(500, to_tag="registrar"), 1.0) == []  # §17.2.2


def test_timer_j_still_ends_it() -> None:
    layer = TransactionLayer()
    tx, _ = answered_and_compacted(layer, request("REGISTER", branch="z9hG4bK-reg-4"))
    assert layer.next_deadline() == pytest.approx(0.5 + 64 * 0.5)
    assert layer.handle_timer(32.0) == []
    layer.handle_timer(32.5)
    assert tx.terminated and len(layer) == 0


def test_a_cancel_still_finds_it_by_key_and_method() -> None:
    # §9.2: the CANCEL matches it; it is completed, so the TU does nothing more
    layer = TransactionLayer()
    req = request("REGISTER", branch="z9hG4bK-reg-5")
    tx, _ = answered_and_compacted(layer, req)
    assert layer.find_cancelled(request("CANCEL", branch="z9hG4bK-reg-5")) is tx
    assert layer.find_cancelled(request("CANCEL", branch="z9hG4bK-other")) is None


def test_an_rfc_2543_request_keeps_its_bytes_to_be_matched() -> None:
    # no magic cookie: matched by Request-URI, tags, Call-ID, CSeq and Via (§17.2.3)
    old = sip("""\
        REGISTER sip:registrar.biloxi.example.com SIP/2.0
        Via: SIP/2.0/UDP 192.0.2.4:5060;branch=old-style
        To: <sip:bob@biloxi.example.com>
        From: <sip:bob@biloxi.example.com>;tag=456248
        Call-ID: 843817637684230@998sdasdh09
        CSeq: 1826 REGISTER
        Max-Forwards: 70
        Content-Length: 0

        """.replace("        ", ""))
    assert isinstance(old, Request)
    layer = TransactionLayer()
    tx, sent = answered_and_compacted(layer, old)
    assert tx.key is None
    assert tx.request.call_id == "843817637684230@998sdasdh09"  # parsed again
    [again] = layer.receive(wire(old), 1.0)
    assert isinstance(again, Send) and bytes(again.message) == sent


def test_invite_in_accepted_keeps_its_request_for_the_ack() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bK-inv-1")
    tx, _ = answered_and_compacted(layer, invite)
    assert tx.state is State.ACCEPTED
    assert tx.request.method == "INVITE"  # kept as bytes, parsed again


def test_a_ringing_invite_keeps_its_provisional_as_bytes() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bK-inv-2")
    tx = received(layer, invite)
    [send] = tx.send(invite.reply(180, to_tag="callee"), 0.1)
    sent = bytes(send.message)
    tx.compact_response()
    assert tx.state is State.PROCEEDING
    assert [o for o in messages_referenced(tx) if isinstance(o, Response)] == []
    [again] = layer.receive(wire(invite), 1.0)  # §17.2.1: the latest provisional again
    assert isinstance(again, Send) and bytes(again.message) == sent
    assert [o for o in messages_referenced(tx) if isinstance(o, Response)] == []
    last = tx.last_response
    assert last is not None and last.status == 180  # parsed again when read
    [ok] = tx.send(invite.reply(200, to_tag="callee"), 2.0)
    assert tx.state is State.ACCEPTED and isinstance(ok, Send)


def test_a_transaction_holds_two_timers_at_most() -> None:
    # the figures never run more than two at once (A+B, E+F, G+H); a table that
    # would is refused when its class is made
    with pytest.raises(TypeError, match="more than two timers"):
        class Three(NonInviteServerTransaction):
            STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {
                State.COMPLETED: frozenset({Timer.J, Timer.K, Timer.D}),
            }
    layer = TransactionLayer()
    tx = received(layer, request("INVITE", branch="z9hG4bK-inv-3"))
    tx.send(request("INVITE", branch="z9hG4bK-inv-3").reply(486, to_tag="callee"), 1.0)
    assert tx.timers == {Timer.G: 1.5, Timer.H: 1.0 + 32.0}
    assert tx.next_deadline() == 1.5


@pytest.mark.parametrize("method", ["INVITE", "BYE"])
def test_a_compacted_client_transaction_ends_without_parsing_its_request(method: str) -> None:
    # The proxy keeps the forwarded request of a branch that got a response as
    # bytes (compact()).  The layer ends the transaction by its §17.1.3 key,
    # kept since it was created: reading the request for it would parse it again.
    layer = TransactionLayer()
    tx = layer.create_client(request(method, branch=f"z9hG4bK-end-{method}"), reliable=False)
    tx.start(0.0)
    assert tx.key == (f"z9hG4bK-end-{method}", method) and tx.branch == tx.key[0]
    final = reply(tx.request, 486 if method == "INVITE" else 200)
    layer.receive(final, 0.1)
    assert tx.state is State.COMPLETED
    tx.compact()

    def requests_held() -> list[object]:  # an INVITE's keeps its ACK for §17.1.1.2
        return [m for m in messages_referenced(tx) if m is not getattr(tx, "ack", None)]

    assert requests_held() == []
    actions = layer.handle_timer(64.0)  # Timer D (32 s) or Timer K (T4)
    assert [type(a).__name__ for a in actions] == ["Terminated"]
    assert tx.state is State.TERMINATED and len(layer) == 0
    assert layer.find_client(final) is None
    assert requests_held() == []  # nothing was parsed to end it
    assert (tx.key, tx.branch) == ((f"z9hG4bK-end-{method}", method), f"z9hG4bK-end-{method}")
