"""Any sequence of inputs to ``ReliableProvisionals`` stays on its table (no input
reaches an edge the table lacks) and its timers always move forward (a fired
deadline is never offered again, so a driver cannot spin)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import Request
from sipwire.dialog.prack import ReliableProvisionals, SendPrackResponse, rack_for
from sipwire.message.fields.session import RAck
from sipwire.transaction.config import TimerConfig

SDP = b"v=0\r\ns=-\r\n"
OPS = st.lists(st.sampled_from(["1xx", "1xx sdp", "200", "486", "prack", "stray prack",
                                "timer", "wait"]), max_size=30)


def invite() -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        "INVITE", "sip:bob@example.com", from_="<sip:a@example.com>;tag=a", call_id="c")))
    assert isinstance(parsed, Request)
    return parsed


def prack(rack: RAck) -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        "PRACK", "sip:bob@example.com", from_="<sip:a@example.com>;tag=a",
        to="<sip:bob@example.com>;tag=b", call_id="c", cseq=2, headers=[("RAck", str(rack))])))
    assert isinstance(parsed, Request)
    return parsed


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(0, 2**16))
def test_any_sequence_stays_on_the_table(ops: list[str], seed: int) -> None:
    inv = invite()
    rel = ReliableProvisionals(inv, timers=TimerConfig(t1=0.5), rng=random.Random(seed))
    now = 0.0
    for op in ops:
        try:
            if op.startswith("1xx"):
                body = SDP if op == "1xx sdp" else b""
                rel.send(inv.reply(183, to_tag="b", body=body,
                                   content_type="application/sdp" if body else None), now)
            elif op in ("200", "486"):
                rel.send_final(inv.reply(int(op), to_tag="b"), now)
        except ValueError:
            continue  # refused by the API (a 1xx after the final ...): nothing changed
        if op == "prack" and rel.outstanding is not None:
            first = rel.receive_prack(prack(rack_for(rel.outstanding)), now)[0]
            assert isinstance(first, SendPrackResponse) and first.response.status == 200
        elif op == "stray prack":
            first = rel.receive_prack(prack(RAck(1, 99, "INVITE")), now)[0]
            assert isinstance(first, SendPrackResponse) and first.response.status == 481
        elif op == "timer":
            deadline = rel.next_deadline()
            if deadline is not None:
                now = max(now, deadline)
                rel.handle_timer(now)
                later = rel.next_deadline()
                assert later is None or later > deadline
        elif op == "wait":
            now += 1.0
        # a deadline exists exactly while a reliable 1xx is being retransmitted
        assert (rel.next_deadline() is None) == (rel.outstanding is None)
