"""RFC 3262: reliable provisionals and PRACK, every edge of the UAS table, the UAC
sorting of received 1xx, and when 100rel is used."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.dialog.prack import (
    PRACK_UAS_TABLE,
    Acknowledged,
    GaveUp,
    PrackAction,
    ProvisionalKind,
    ReceivedProvisionals,
    Rel100,
    ReliableProvisionals,
    ReliableState,
    SendFinal,
    SendPrackResponse,
    SendProvisional,
    rack_for,
    uac_option_tags,
    uas_decision,
)
from sipwire.message.errors import ParseError
from sipwire.message.fields.session import RAck, RSeq
from sipwire.transaction.config import TimerConfig

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
T1 = 0.5


def wire(message: Request | Response) -> Request | Response:
    return sipwire.parse(bytes(message))


def invite(*headers: tuple[str, str], cseq: int = 1) -> Request:
    built = Request.build("INVITE", "sip:bob@biloxi.example.com",
                          from_="<sip:alice@atlanta.example.com>;tag=alice",
                          call_id="call-1@atlanta", cseq=cseq, headers=list(headers))
    parsed = wire(built)
    assert isinstance(parsed, Request)
    return parsed


def provisional(inv: Request, status: int = 180, *, sdp: bool = False) -> Response:
    if sdp:
        return inv.reply(status, to_tag="bob", body=SDP, content_type="application/sdp")
    return inv.reply(status, to_tag="bob")


def prack(rack: RAck | str | None, cseq: int = 2) -> Request:
    headers: list[tuple[str, str]] = [] if rack is None else [("RAck", str(rack))]
    built = Request.build("PRACK", "sip:bob@192.0.2.4", from_="<sip:alice@a>;tag=alice",
                          to="<sip:bob@b>;tag=bob", call_id="call-1@atlanta", cseq=cseq,
                          headers=headers)
    parsed = wire(built)
    assert isinstance(parsed, Request)
    return parsed


def uas(inv: Request | None = None, seed: int = 7) -> ReliableProvisionals:
    return ReliableProvisionals(inv or invite(("Supported", "100rel")),
                                timers=TimerConfig(t1=T1), rng=random.Random(seed))


def kinds(actions: Sequence[PrackAction]) -> list[str]:
    return [type(a).__name__ for a in actions]


def prack_status(actions: Sequence[PrackAction]) -> int:
    first = actions[0]
    assert isinstance(first, SendPrackResponse)
    return first.response.status


def rack_of(response: Response) -> RAck:
    return rack_for(response)


# -- the UAS numbering ---------------------------------------------------------------


def test_first_rseq_from_the_injected_random_source_then_one_more_each() -> None:
    expected = random.Random(7).randint(1, 2**31 - 1)
    rel = uas()
    inv = rel.invite
    first = provisional(inv, 180)
    actions = rel.send(first, 0.0)
    assert actions == [SendProvisional(first)]
    rseq = first.headers.first("RSeq")
    assert isinstance(rseq, RSeq) and rseq.value == expected
    assert first.headers.get("Require") == "100rel"
    # what goes on the wire parses back with the same RSeq and Require
    received = wire(first)
    assert isinstance(received, Response)
    assert rack_for(received) == RAck(expected, 1, "INVITE")
    rel.receive_prack(prack(rack_of(first)), 0.1)
    second = provisional(inv, 183)
    rel.send(second, 0.2)
    assert rack_of(second).rseq == expected + 1


def test_rseq_range_over_many_seeds() -> None:
    for seed in range(200):
        assert 1 <= uas(seed=seed).next_rseq <= 2**31 - 1


def test_only_101_to_199() -> None:
    rel = uas()
    with pytest.raises(ValueError, match="101-199"):
        rel.send(provisional(rel.invite, 100), 0.0)
    with pytest.raises(ValueError, match="101-199"):
        rel.send(provisional(rel.invite, 200), 0.0)


def test_no_wrap_around() -> None:
    rel = uas()
    rel.next_rseq = 2**32
    with pytest.raises(ValueError, match="wrap"):
        rel.send(provisional(rel.invite), 0.0)


def test_existing_require_kept_once() -> None:
    rel = uas()
    response = provisional(rel.invite)
    response.headers.add("Require", "100rel")
    rel.send(response, 0.0)
    assert response.headers.getall("Require") == ["100rel"]


# -- every edge of the UAS table ------------------------------------------------------

Setup = Callable[[ReliableProvisionals], None]


def to_waiting(rel: ReliableProvisionals) -> None:
    rel.send(provisional(rel.invite, 180), 0.0)


def to_holding(rel: ReliableProvisionals) -> None:
    rel.send(provisional(rel.invite, 183, sdp=True), 0.0)
    rel.send_final(rel.invite.reply(200, to_tag="bob"), 0.1)


def to_final(rel: ReliableProvisionals) -> None:
    rel.send(provisional(rel.invite, 180), 0.0)
    rel.send_final(rel.invite.reply(486, to_tag="bob"), 0.1)


def outstanding_rack(rel: ReliableProvisionals) -> RAck:
    unacked = rel._unacked[0]
    return rack_of(unacked)


def fire(rel: ReliableProvisionals, event: str) -> list[PrackAction]:
    inv = rel.invite
    if event == "provisional":
        return rel.send(provisional(inv, 181), 1.0)
    if event == "final":
        return rel.send_final(inv.reply(486, to_tag="bob"), 1.0)
    if event == "2xx held":
        return rel.send_final(inv.reply(200, to_tag="bob"), 1.0)
    if event == "retransmit":
        deadline = rel.next_deadline()
        assert deadline is not None
        return rel.handle_timer(deadline)
    if event == "give up":
        return rel.handle_timer(64 * T1)
    if event in ("prack", "prack, next"):
        return rel.receive_prack(prack(outstanding_rack(rel)), 1.0)
    assert event == "other prack"
    return rel.receive_prack(prack(RAck(1, 99, "INVITE")), 1.0)


CASES: list[tuple[Setup | None, str, list[str], ReliableState]] = [
    (None, "provisional", ["SendProvisional"], ReliableState.WAITING),
    (None, "final", ["SendFinal"], ReliableState.FINAL),
    (None, "other prack", ["SendPrackResponse"], ReliableState.IDLE),
    (to_waiting, "provisional", [], ReliableState.WAITING),
    (to_waiting, "retransmit", ["SendProvisional"], ReliableState.WAITING),
    (to_waiting, "give up", ["GaveUp"], ReliableState.FINAL),
    (to_waiting, "prack", ["SendPrackResponse", "Acknowledged"], ReliableState.IDLE),
    (to_waiting, "other prack", ["SendPrackResponse"], ReliableState.WAITING),
    (to_waiting, "final", ["SendFinal"], ReliableState.FINAL),
    (to_holding, "retransmit", ["SendProvisional"], ReliableState.HOLDING),
    (to_holding, "give up", ["GaveUp"], ReliableState.FINAL),
    (to_holding, "prack", ["SendPrackResponse", "Acknowledged", "SendFinal"],
     ReliableState.FINAL),
    (to_holding, "other prack", ["SendPrackResponse"], ReliableState.HOLDING),
    (to_final, "prack", ["SendPrackResponse", "Acknowledged"], ReliableState.FINAL),
    (to_final, "other prack", ["SendPrackResponse"], ReliableState.FINAL),
]


@pytest.mark.parametrize(("setup", "event", "expected", "next_state"), CASES)
def test_edge(setup: Setup | None, event: str, expected: list[str],
              next_state: ReliableState) -> None:
    rel = uas()
    if setup is not None:
        setup(rel)
    actions = fire(rel, event)
    assert kinds(actions) == expected
    assert rel.state is next_state


def test_edge_waiting_prack_sends_the_queued_one() -> None:
    rel = uas()
    to_waiting(rel)
    queued = provisional(rel.invite, 183)
    assert rel.send(queued, 0.5) == []
    actions = fire(rel, "prack, next")
    assert kinds(actions) == ["SendPrackResponse", "Acknowledged", "SendProvisional"]
    assert actions[2] == SendProvisional(queued)
    assert rel.state is ReliableState.WAITING and rel.outstanding is queued


def test_edge_waiting_2xx_held_while_the_1xx_with_sdp_is_unacknowledged() -> None:
    rel = uas()
    rel.send(provisional(rel.invite, 183, sdp=True), 0.0)
    ok = rel.invite.reply(200, to_tag="bob")
    assert rel.send_final(ok, 0.1) == []
    assert rel.state is ReliableState.HOLDING and rel.held is ok
    actions = rel.receive_prack(prack(outstanding_rack(rel)), 0.2)
    assert actions[-1] == SendFinal(ok)
    assert rel.next_deadline() is None


def test_every_edge_has_a_test() -> None:
    walked = set()
    for setup, event, _, next_state in CASES:
        rel = uas()
        if setup is not None:
            setup(rel)
        walked.add((rel.state, event, next_state))
    # the two tests just above
    walked |= {(ReliableState.WAITING, "prack, next", ReliableState.WAITING),
               (ReliableState.WAITING, "2xx held", ReliableState.HOLDING)}
    assert walked == PRACK_UAS_TABLE


# -- details of the edges ----------------------------------------------------------------


def test_retransmissions_double_without_cap_and_give_up_at_64_t1() -> None:
    rel = uas()
    to_waiting(rel)
    times = []
    while True:
        deadline = rel.next_deadline()
        assert deadline is not None
        actions = rel.handle_timer(deadline)
        if kinds(actions) == ["GaveUp"]:
            break
        times.append(deadline)
    # intervals T1, 2*T1, 4*T1 ... past T2 (4 s); the next after 31.5 (at 63.5) is
    # cut by the give-up at 64*T1 = 32
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert deadline == 64 * T1
    gave_up = actions[0]
    assert isinstance(gave_up, GaveUp)
    assert gave_up.final.status == 500 and gave_up.final.to.tag == "bob"
    assert rel.next_deadline() is None and rel.handle_timer(100.0) == []


def test_timer_before_its_deadline_does_nothing() -> None:
    rel = uas()
    to_waiting(rel)
    assert rel.handle_timer(0.2) == []
    assert rel.next_deadline() == 0.5
    assert uas().handle_timer(5.0) == []


def test_give_up_replaces_the_held_2xx() -> None:
    rel = uas()
    to_holding(rel)
    actions = rel.handle_timer(64 * T1)
    assert isinstance(actions[0], GaveUp) and actions[0].final.status == 500


def test_prack_matching_needs_rseq_cseq_and_method() -> None:
    rel = uas()
    to_waiting(rel)
    good = outstanding_rack(rel)
    for rack in (RAck(good.rseq + 1, good.cseq, "INVITE"), RAck(good.rseq, good.cseq + 1,
                 "INVITE"), RAck(good.rseq, good.cseq, "invite")):
        assert prack_status(rel.receive_prack(prack(rack), 1.0)) == 481
    actions = rel.receive_prack(prack(good), 1.0)
    assert prack_status(actions) == 200
    assert isinstance(actions[1], Acknowledged) and actions[1].provisional.status == 180
    # the same PRACK again (a new transaction) matches nothing unacknowledged
    assert prack_status(rel.receive_prack(prack(good, cseq=3), 1.1)) == 481


def test_prack_without_or_with_bad_rack() -> None:
    rel = uas()
    to_waiting(rel)
    assert prack_status(rel.receive_prack(prack(None), 1.0)) == 481
    assert prack_status(rel.receive_prack(prack("1 INVITE"), 1.0)) == 400


def test_final_stops_retransmissions_and_drops_the_queue() -> None:
    rel = uas()
    to_waiting(rel)
    rel.send(provisional(rel.invite, 183), 0.1)
    rel.send_final(rel.invite.reply(200, to_tag="bob"), 0.2)  # no SDP: not held
    assert rel.next_deadline() is None
    actions = rel.receive_prack(prack(outstanding_rack(rel)), 0.3)
    assert kinds(actions) == ["SendPrackResponse", "Acknowledged"]
    with pytest.raises(ValueError, match="after the final"):
        rel.send(provisional(rel.invite, 183), 0.4)
    with pytest.raises(ValueError, match="already"):
        rel.send_final(rel.invite.reply(500), 0.4)


def test_a_non_2xx_final_is_never_held() -> None:
    rel = uas()
    rel.send(provisional(rel.invite, 183, sdp=True), 0.0)
    assert kinds(rel.send_final(rel.invite.reply(486, to_tag="bob"), 0.1)) == ["SendFinal"]


def test_send_final_needs_a_final_status() -> None:
    with pytest.raises(ValueError, match="not a final"):
        uas().send_final(provisional(invite()), 0.0)


# -- the UAC side ---------------------------------------------------------------------


def reliable(rseq: int, *, status: int = 180, tag: str = "bob") -> Response:
    inv = invite()
    response = inv.reply(status, to_tag=tag, headers=[("Require", "100rel"),
                                                      ("RSeq", str(rseq))])
    parsed = wire(response)
    assert isinstance(parsed, Response)
    return parsed


def test_uac_in_order_retransmission_out_of_order() -> None:
    uac = ReceivedProvisionals()
    assert uac.receive(reliable(500)) is ProvisionalKind.NEW
    assert uac.last_rseq("bob") == 500
    assert uac.receive(reliable(500)) is ProvisionalKind.RETRANSMISSION
    assert uac.receive(reliable(502)) is ProvisionalKind.OUT_OF_ORDER
    assert uac.receive(reliable(501)) is ProvisionalKind.NEW
    assert uac.receive(reliable(500)) is ProvisionalKind.RETRANSMISSION
    assert uac.receive(reliable(502)) is ProvisionalKind.NEW
    assert uac.last_rseq("bob") == 502


def test_uac_rseq_space_per_dialog() -> None:
    uac = ReceivedProvisionals()
    assert uac.receive(reliable(10, tag="fork1")) is ProvisionalKind.NEW
    assert uac.receive(reliable(9000, tag="fork2")) is ProvisionalKind.NEW
    assert uac.receive(reliable(11, tag="fork1")) is ProvisionalKind.NEW
    assert uac.last_rseq("fork2") == 9000 and uac.last_rseq("other") is None


def test_uac_unreliable_and_invalid() -> None:
    uac = ReceivedProvisionals()
    inv = invite()
    assert uac.receive(wire_response(inv.reply(180, to_tag="b"))) is ProvisionalKind.UNRELIABLE
    # 100 Trying is never reliable, whatever it says (§4)
    assert uac.receive(reliable(5, status=100)) is ProvisionalKind.UNRELIABLE
    missing = wire_response(inv.reply(183, to_tag="b", headers=[("Require", "100rel")]))
    assert uac.receive(missing) is ProvisionalKind.INVALID
    bad = wire_response(inv.reply(183, to_tag="b", headers=[("Require", "100rel"),
                                                            ("RSeq", "x")]))
    assert uac.receive(bad) is ProvisionalKind.INVALID
    with pytest.raises(ParseError, match="RSeq"):
        rack_for(missing)


def wire_response(response: Response) -> Response:
    parsed = wire(response)
    assert isinstance(parsed, Response)
    return parsed


def test_uac_rack_for_the_prack() -> None:
    assert str(rack_for(reliable(776656))) == "776656 1 INVITE"


# -- when 100rel is used -------------------------------------------------------------


def test_uac_option_tags() -> None:
    assert uac_option_tags(Rel100.DISABLED) == ([], [])
    assert uac_option_tags(Rel100.SUPPORTED) == (["100rel"], [])
    assert uac_option_tags(Rel100.PREFERRED) == (["100rel"], [])
    assert uac_option_tags(Rel100.REQUIRED) == (["100rel"], ["100rel"])


@pytest.mark.parametrize(("offered", "policy", "reliable", "reject"), [
    ("Require", Rel100.DISABLED, False, 420),
    ("Require", Rel100.SUPPORTED, True, None),
    ("Require", Rel100.PREFERRED, True, None),
    ("Require", Rel100.REQUIRED, True, None),
    ("Supported", Rel100.DISABLED, False, None),
    ("Supported", Rel100.SUPPORTED, False, None),
    ("Supported", Rel100.PREFERRED, True, None),
    ("Supported", Rel100.REQUIRED, True, None),
    (None, Rel100.DISABLED, False, None),
    (None, Rel100.SUPPORTED, False, None),
    (None, Rel100.PREFERRED, False, None),
    (None, Rel100.REQUIRED, False, 421),
])
def test_uas_decision(offered: str | None, policy: Rel100, reliable: bool,
                      reject: int | None) -> None:
    inv = invite(*([(offered, "timer, 100REL")] if offered else []))
    decision = uas_decision(inv, policy)
    assert decision.reliable is reliable
    assert (decision.reject.status if decision.reject else None) == reject
    if reject == 420:
        assert decision.reject is not None
        assert decision.reject.headers.get("Unsupported") == "100rel"
    if reject == 421:
        assert decision.reject is not None
        assert decision.reject.headers.get("Require") == "100rel"
