"""The INVITE session with reliable provisionals (RFC 3262) and session timers
(RFC 4028) composed in, two sessions back to back with a driven clock."""

from __future__ import annotations

from sipwire import Request, Response
from sipwire.dialog import (
    AnswerReceived,
    Ended,
    InviteSession,
    Rel100,
    SendAck,
    SendResponse,
    SessionState,
)
from sipwire.dialog.session_timer import SessionTimerConfig

from .builders import wire
from .net import FakeMedia, Net


def _state(session: InviteSession) -> SessionState:
    return session.state  # read through a call: mypy narrows the attribute otherwise


def _prack_dropped(side: str, message: Request | Response) -> bool:
    return isinstance(message, Request) and message.method == "PRACK"


def test_a_reliable_183_with_the_answer_is_pracked() -> None:
    net = Net.call(bob_rel100=Rel100.PREFERRED)
    invite = net.sent("alice", "INVITE")[0]
    assert invite.headers.getall("Supported") == ["100rel"]
    bob = net.bob
    assert bob is not None and bob.reliable is not None
    net.perform("bob", bob.provisional(0.0, 183, early_media=True))
    early = net.sent("bob", "183 INVITE")[0]
    assert early.headers.get("Require") == "100rel" and early.headers.get("RSeq") is not None
    assert early.body == b"answer bob sendrecv"
    prack = net.sent("alice", "PRACK")[0]
    assert isinstance(prack, Request) and prack.to.tag == bob.to_tag
    rseq = early.headers.get("RSeq")
    assert prack.headers.get("RAck") == f"{rseq} 1 INVITE"
    assert [m.status for m in net.sent("bob", "200 PRACK")] == [200]  # type: ignore[union-attr]
    assert net.kinds("alice") == ["EarlyMedia", "AnswerReceived"]
    assert bob.next_deadline() is None  # no more retransmissions of the 183
    # the offer/answer exchange is done: the 2xx carries no new offer
    net.perform("bob", bob.answer(1.0))
    ok = net.sent("bob", "200 INVITE")[0]
    assert ok.body == b""
    assert net.alice.state is SessionState.CONFIRMED and bob.state is SessionState.CONFIRMED
    alice_media = net.alice.media
    assert isinstance(alice_media, FakeMedia)
    assert alice_media.kinds() == ["make_offer", "receive_answer"]


def test_a_2xx_repeating_the_early_answer_is_not_an_offer() -> None:
    net = Net.call(bob_rel100=Rel100.PREFERRED)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.provisional(0.0, 183, early_media=True))
    early = net.sent("bob", "183 INVITE")[0]
    ok = bob.invite.reply(200, to_tag=bob.to_tag, contact="<sip:bob@192.0.2.4:5062>",
                          body=early.body, content_type="application/sdp")
    actions = net.alice.receive_response(ok, 1.0)
    assert [type(a).__name__ for a in actions] == ["SendAck", "Answered"]
    ack = actions[0]
    assert isinstance(ack, SendAck) and ack.request.body == b""
    alice_media = net.alice.media
    assert isinstance(alice_media, FakeMedia)
    assert alice_media.kinds() == ["make_offer", "receive_answer"]


def test_the_2xx_waits_for_the_prack_of_a_1xx_with_sdp() -> None:
    net = Net.call(bob_rel100=Rel100.PREFERRED, drop=_prack_dropped)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.provisional(0.0, 183, early_media=True))
    assert bob.answer(0.2) == []  # held (RFC 3262 §3)
    assert bob.state is SessionState.ACCEPTED
    # the 183 goes again at T1, 2*T1 (no cap, §3) while no PRACK comes
    net.advance(1.6)
    assert len(net.sent("bob", "183 INVITE")) == 3
    prack = net.sent("alice", "PRACK")[0]
    assert isinstance(prack, Request)
    net.drop = None
    net.perform("alice", [])
    released = bob.receive_request(prack, 1.7)
    assert [type(a) for a in released][:2] == [SendResponse, SendResponse]
    net.perform("bob", released)
    assert [m.status for m in net.sent("bob", "200 INVITE")] == [200]  # type: ignore[union-attr]
    assert _state(net.alice) is SessionState.CONFIRMED
    assert _state(bob) is SessionState.CONFIRMED
    assert net.kinds("bob")[-1] == "AckReceived"


def test_no_prack_in_64_t1_gives_up_with_500() -> None:
    net = Net.call(bob_rel100=Rel100.PREFERRED, drop=_prack_dropped)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.provisional(0.0, 180))
    net.advance(32.0)
    refused = net.sent("bob", "500 INVITE")
    assert len(refused) == 1 and bob.terminated
    assert net.events["bob"][-1] == Ended("no PRACK", net.events["bob"][-1].message)  # type: ignore[union-attr]
    assert net.alice.terminated and net.kinds("alice")[-2:] == ["Failed", "Ended"]
    # T1 doubling without cap: 0.5 1.5 3.5 7.5 15.5 31.5
    assert len(net.sent("bob", "180 INVITE")) == 7


def test_a_cancel_stops_the_reliable_provisional() -> None:
    net = Net.call(bob_rel100=Rel100.PREFERRED, drop=_prack_dropped)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.provisional(0.0, 180))
    assert bob.next_deadline() == 0.5
    net.perform("alice", net.alice.cancel(0.2))
    assert [m.status for m in net.sent("bob", "487 INVITE")] == [487]  # type: ignore[union-attr]
    assert bob.terminated and bob.next_deadline() is None and bob.handle_timer(1.0) == []
    assert net.alice.terminated


def test_a_callee_requiring_100rel_refuses_a_caller_without_it() -> None:
    net = Net.call(alice_rel100=Rel100.DISABLED, bob_rel100=Rel100.REQUIRED)
    refused = net.sent("bob", "421 INVITE")
    assert len(refused) == 1 and refused[0].headers.get("Require") == "100rel"
    assert net.alice.terminated and net.bob is not None and net.bob.terminated


def test_a_prack_without_reliable_provisionals_gets_481() -> None:
    net = Net.call()
    bob = net.bob
    assert bob is not None and bob.reliable is None
    net.perform("bob", bob.provisional(0.0, 180))
    assert net.alice.dialog is not None
    prack = net.alice.dialog.create_request("PRACK", headers=[("RAck", "1 1 INVITE")])
    answer = bob.receive_request(prack, 0.1)
    assert len(answer) == 1 and isinstance(answer[0], SendResponse)
    assert answer[0].response.status == 481


def test_an_offer_in_a_reliable_1xx_is_answered_in_the_prack() -> None:
    net = Net.call(offer=False, bob_rel100=Rel100.PREFERRED)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.provisional(0.0, 183, early_media=True))
    assert net.sent("bob", "183 INVITE")[0].body == b"offer bob v1 sendrecv"
    prack = net.sent("alice", "PRACK")[0]
    assert prack.body == b"answer alice sendrecv"
    assert isinstance(net.events["bob"][-1], AnswerReceived)
    net.perform("bob", bob.answer(1.0))
    assert net.sent("bob", "200 INVITE")[0].body == b""
    assert net.alice.state is SessionState.CONFIRMED


# -- session timers (RFC 4028) ---------------------------------------------------------


def test_the_refresher_refreshes_at_half_the_interval() -> None:
    timer = SessionTimerConfig(interval=1800)
    net = Net.call(alice_timer=timer, bob_timer=SessionTimerConfig())
    invite = net.sent("alice", "INVITE")[0]
    assert invite.headers.get("Session-Expires") == "1800"
    assert "timer" in invite.headers.getall("Supported")
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.answer(0.0))
    ok = net.sent("bob", "200 INVITE")[0]
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    assert net.alice.next_deadline() == 900.0
    net.advance(900.0)
    refresh = net.sent("alice", "INVITE")[-1]
    assert refresh.cseq.seq == 2 and refresh.headers.get("Session-Expires") == \
        "1800;refresher=uac"
    assert net.kinds("alice")[-1] == "Modified" and net.kinds("bob")[-1] == "AckReceived"
    assert net.alice.next_deadline() == 1800.0
    net.advance(3600.0)
    assert len(net.sent("alice", "INVITE")) == 5 and not net.alice.terminated


def test_an_update_refreshes_when_the_peer_allows_it() -> None:
    timer = SessionTimerConfig(interval=90)
    net = Net.call(alice_timer=timer, bob_timer=SessionTimerConfig())
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.answer(0.0, headers=[("Allow", "INVITE, ACK, BYE, UPDATE")]))
    net.advance(45.0)
    update = net.sent("alice", "UPDATE")
    assert len(update) == 1 and update[0].body == b""
    assert [m.status for m in net.sent("bob", "200 UPDATE")] == [200]  # type: ignore[union-attr]


def test_no_refresh_ends_the_session_with_bye() -> None:
    def drop_refresh(side: str, message: Request | Response) -> bool:
        return side == "alice" and isinstance(message, Request) and message.cseq.seq > 1

    net = Net.call(alice_timer=SessionTimerConfig(interval=90),
                   bob_timer=SessionTimerConfig(), drop=drop_refresh)
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.answer(0.0))
    net.advance(100.0)
    # the refresher's re-INVITE at 45 s is lost; Bob ends it min(32, 90/3) = 30 s early
    byes = net.sent("bob", "BYE")
    assert len(byes) == 1 and bob.terminated
    assert net.events["bob"][-1] == Ended("session expired", net.events["bob"][-1].message)  # type: ignore[union-attr]
    assert net.alice.terminated and net.kinds("alice")[-1] == "Ended"


def test_422_makes_the_caller_ask_again_with_the_larger_interval() -> None:
    net = Net.call(alice_timer=SessionTimerConfig(interval=1800),
                   bob_timer=SessionTimerConfig(interval=3600, min_se=3600))
    refused = net.sent("bob", "422 INVITE")
    assert len(refused) == 1 and refused[0].headers.get("Min-SE") == "3600"
    invites = net.sent("alice", "INVITE")
    assert len(invites) == 2 and invites[1].cseq.seq == 2
    assert invites[1].headers.get("Session-Expires") == "3600"
    assert invites[1].headers.get("Min-SE") == "3600"
    assert invites[1].via[0].branch != invites[0].via[0].branch
    bob = net.bob
    assert bob is not None and bob.invite.cseq.seq == 2  # the second INVITE's session
    assert net.alice.state is SessionState.CALLING and not net.alice.terminated
    net.now = 1.0
    net.perform("bob", bob.answer(net.now))
    ok = net.sent("bob", "200 INVITE")[0]
    assert ok.headers.get("Session-Expires") == "3600;refresher=uac"
    assert _state(net.alice) is SessionState.CONFIRMED
    assert net.alice.next_deadline() == 1.0 + 1800.0


def test_a_refresh_below_our_min_se_gets_422() -> None:
    net = Net.call(alice_timer=SessionTimerConfig(interval=1800),
                   bob_timer=SessionTimerConfig(interval=1800, min_se=1800))
    bob = net.bob
    assert bob is not None
    net.perform("bob", bob.answer(0.0))
    assert net.alice.dialog is not None
    short = net.alice.dialog.create_request(
        "UPDATE", headers=[("Supported", "timer"), ("Session-Expires", "120")])
    refused = bob.receive_request(wire(short), 10.0)
    assert len(refused) == 1 and isinstance(refused[0], SendResponse)
    assert refused[0].response.status == 422
    assert refused[0].response.headers.get("Min-SE") == "1800"
