"""The INVITE session's behaviours, one RFC rule each, with a driven clock."""

from __future__ import annotations

import random

import pytest

from sipwire import Request, Response
from sipwire.dialog import (
    AckReceived,
    Ended,
    Failed,
    InviteSession,
    ModifyFailed,
    OfferState,
    SendAck,
    SendRequest,
    SendResponse,
    SessionError,
    SessionState,
    glare_backoff,
)
from sipwire.transaction import build_cancel

from .builders import wire
from .net import FakeMedia as FakeMediaBase
from .probe import Probe


def _confirmed_uas() -> tuple[Probe, Response]:
    probe = Probe.uas()
    probe.do(probe.session.start(0.0))
    probe.do(probe.session.answer(0.0))
    return probe, probe.last_response()


def _confirmed_uac() -> Probe:
    probe = Probe.uac()
    probe.do(probe.session.start(0.0))
    probe.do(probe.session.receive_response(
        probe.response(200, body=b"answer bob sendrecv"), 0.0))
    return probe


# -- the callee's 2xx until the ACK (§13.3.1.4, RFC 6026) ----------------------------------


def test_2xx_is_sent_again_at_t1_doubling_to_t2_until_64_t1_then_bye() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    times: list[float] = []
    while (deadline := s.next_deadline()) is not None:
        actions = probe.do(s.handle_timer(deadline))
        if any(isinstance(a, SendResponse) for a in actions):
            times.append(deadline)
            assert [bytes(m) for m in probe.sent(actions)] == [bytes(wire(ok))]
        last = actions
    # T1 = 0.5, T2 = 4: 0.5 1.5 3.5 7.5 11.5 ... while before 64*T1 = 32
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    sent = probe.sent(last)
    assert len(sent) == 1 and isinstance(sent[0], Request) and sent[0].method == "BYE"
    assert sent[0].to.tag == "alicetag" and sent[0].from_.tag == "bobtag"
    assert last[-1] == Ended("no ACK", None)
    assert s.terminated and s.dialog is not None and s.dialog.terminated


def test_the_ack_stops_the_retransmissions() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    probe.do(s.handle_timer(0.5))
    actions = s.receive_request(probe.peer_ack(probe.invite, ok), 0.7)
    assert [type(a) for a in actions] == [AckReceived]
    assert s.next_deadline() is None and s.state is SessionState.CONFIRMED
    # a retransmitted ACK changes nothing
    assert s.receive_request(probe.peer_ack(probe.invite, ok), 0.8) == []


def test_the_callees_bye_waits_for_the_ack() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    assert s.bye(0.1) == []  # §15: not before the ACK
    actions = s.receive_request(probe.peer_ack(probe.invite, ok), 0.2)
    sent = probe.sent(actions)
    assert [m.method for m in sent if isinstance(m, Request)] == ["BYE"]
    assert isinstance(actions[-1], Ended) and actions[-1].reason == "BYE sent"


def test_the_callee_cannot_bye_an_early_dialog() -> None:
    probe = Probe.uas()
    probe.do(probe.session.start(0.0))
    probe.do(probe.session.provisional(0.0, 180))
    with pytest.raises(SessionError, match="§15"):
        probe.session.bye(0.0)


# -- the caller's ACK (§13.2.2.4) ----------------------------------------------------------


def test_the_same_ack_answers_a_retransmitted_2xx() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    ok = probe.response(200, body=b"answer bob sendrecv")
    first = s.receive_response(ok, 0.0)
    again = s.receive_response(ok, 0.5)
    assert isinstance(first[0], SendAck) and again == [first[0]]
    ack = probe.sent([first[0]])[0]
    assert isinstance(ack, Request) and ack.cseq.seq == probe.invite.cseq.seq
    assert ack.cseq.method == "ACK"


def test_a_2xx_of_another_fork_is_acknowledged_and_ended() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.receive_response(probe.response(200, body=b"answer bob sendrecv"), 0.0))
    other = s.receive_response(probe.response(200, to_tag="carol"), 0.1)
    assert [type(a) for a in other] == [SendAck, SendRequest]
    bye = probe.sent(other)[1]
    assert isinstance(bye, Request) and bye.method == "BYE" and bye.to.tag == "carol"
    assert s.state is SessionState.CONFIRMED and s.dialog is not None
    assert s.dialog.id.remote_tag == "bobtag"


def test_a_failure_ends_the_call_and_rolls_back_the_offer() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    actions = s.receive_response(probe.response(404), 0.0)
    assert [type(a) for a in actions] == [Failed, Ended]
    assert probe.media.kinds() == ["make_offer", "rollback"]
    assert s.offer_state is OfferState.NONE


# -- CANCEL (§9.1, §9.2) -----------------------------------------------------------------


def test_cancel_waits_for_a_provisional_response() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    assert s.cancel(0.1) == []  # §9.1: not before a provisional response
    actions = s.receive_response(probe.response(100, to_tag=None), 0.2)
    cancel = probe.sent(actions)
    assert len(cancel) == 1 and isinstance(cancel[0], Request)
    assert cancel[0].method == "CANCEL" and cancel[0].cseq.seq == probe.invite.cseq.seq
    assert cancel[0].via[0].branch == probe.invite.via[0].branch
    assert s.cancel(0.3) == []  # once
    ended = s.receive_response(probe.response(487), 0.4)
    assert isinstance(ended[-1], Ended) and ended[-1].reason == "CANCEL"


def test_a_2xx_crossing_the_cancel_is_acknowledged_and_ended() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.receive_response(probe.response(180), 0.0))
    assert len(probe.sent(s.bye(0.1))) == 1  # before the 2xx, bye() is a CANCEL
    actions = s.receive_response(probe.response(200, body=b"answer bob sendrecv"), 0.2)
    methods = [m.method for m in probe.sent(actions) if isinstance(m, Request)]
    assert methods == ["ACK", "BYE"]
    assert isinstance(actions[-1], Ended) and s.terminated


def test_the_callee_answers_a_cancel_with_200_and_487() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.provisional(0.0, 180))
    actions = s.receive_request(build_cancel(probe.invite), 1.0)
    sent = probe.sent(actions)
    assert [(m.status, m.cseq.method) for m in sent if isinstance(m, Response)] == [
        (200, "CANCEL"), (487, "INVITE")]
    assert all(m.to.tag == "bobtag" for m in sent)
    assert isinstance(actions[-1], Ended) and actions[-1].reason == "CANCEL"


# -- BYE (§15) ---------------------------------------------------------------------------


def test_a_bye_on_an_early_dialog_gets_200_and_the_invite_487() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.provisional(0.0, 180))
    probe.last_response()
    actions = s.receive_request(probe.peer_request("BYE"), 1.0)
    assert [(m.status, m.cseq.method) for m in probe.sent(actions)
            if isinstance(m, Response)] == [(200, "BYE"), (487, "INVITE")]
    assert s.terminated


def test_requests_on_an_ended_session_get_481_and_out_of_order_500() -> None:
    probe = _confirmed_uac()
    s = probe.session
    probe.peer_request("INFO")  # CSeq 1 of the peer, never delivered
    info = probe.peer_request("INFO")
    assert [type(a).__name__ for a in s.receive_request(info, 1.0)] == ["RequestReceived"]
    stale = wire(info.copy())
    stale.headers.set("CSeq", f"{info.cseq.seq - 1} INFO")
    refused = s.receive_request(wire(stale), 1.0)
    assert [m.status for m in probe.sent(refused)] == [500]  # type: ignore[union-attr]
    probe.do(s.bye(2.0))
    late = s.receive_request(probe.peer_request("BYE"), 3.0)
    assert [m.status for m in probe.sent(late)] == [481]  # type: ignore[union-attr]


def test_481_or_408_to_a_request_in_the_dialog_ends_it() -> None:
    for status in (481, 408):
        probe = _confirmed_uac()
        s = probe.session
        info = probe.sent(s.send_request("INFO", 1.0, body=b"x", content_type="text/plain"))[0]
        assert isinstance(info, Request)
        actions = s.receive_response(wire(info.reply(status)), 2.0)
        assert actions == [Ended(str(status), actions[0].message)]  # type: ignore[union-attr]
        assert s.terminated
    probe = _confirmed_uac()
    info = probe.sent(probe.session.send_request("INFO", 1.0))[0]
    assert probe.session.receive_response(wire(info.reply(200)), 2.0) == []  # type: ignore[union-attr]
    with pytest.raises(SessionError):
        probe.session.send_request("BYE", 1.0)


# -- offers (§13.3.1.1, §14, RFC 3311) ---------------------------------------------------


def test_an_offer_that_cannot_be_met_gets_488() -> None:
    probe = Probe.uas(refuse=True)
    actions = probe.session.start(0.0)
    sent = probe.sent(actions)
    assert len(sent) == 1 and isinstance(sent[0], Response) and sent[0].status == 488
    assert sent[0].headers.get("Warning") == '399 sipwire "no common media format"'
    assert probe.session.terminated


def test_an_invite_without_contact_gets_400() -> None:
    probe = Probe.uas(contact=None)
    sent = probe.sent(probe.session.start(0.0))
    assert [m.status for m in sent] == [400]  # type: ignore[union-attr]


def test_a_reinvite_refused_by_the_media_gets_488_and_keeps_the_call() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), 0.1))
    probe.media.refuse = True
    reinvite = probe.peer_request("INVITE", body=b"offer alice v2 sendrecv")
    sent = probe.sent(s.receive_request(reinvite, 1.0))
    assert [m.status for m in sent] == [488]  # type: ignore[union-attr]
    assert s.state is SessionState.CONFIRMED and s.next_deadline() is None


def test_an_invite_before_the_final_response_gets_500_with_retry_after() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.provisional(0.0, 180))
    probe.last_response()
    sent = probe.sent(s.receive_request(probe.peer_request("INVITE"), 1.0))
    assert len(sent) == 1 and isinstance(sent[0], Response) and sent[0].status == 500
    assert 0 <= int(sent[0].headers.get("Retry-After") or "-1") <= 10  # §14.2


def test_a_failed_reinvite_keeps_the_session_and_rolls_back() -> None:
    probe = _confirmed_uac()
    s = probe.session
    reinvite = probe.sent(s.reinvite(1.0))[0]
    assert isinstance(reinvite, Request)
    with pytest.raises(SessionError, match=r"§14\.1"):
        s.reinvite(1.0)  # one at a time
    actions = s.receive_response(wire(reinvite.reply(488)), 2.0)
    assert [type(a) for a in actions] == [ModifyFailed]
    assert probe.media.kinds()[-1] == "rollback" and s.state is SessionState.CONFIRMED
    reinvite = probe.sent(s.reinvite(3.0))[0]
    actions = s.receive_response(wire(reinvite.reply(408)), 4.0)  # type: ignore[union-attr]
    assert [type(a).__name__ for a in actions] == ["ModifyFailed", "Ended"]


def test_glare_backoff_ranges() -> None:
    rng = random.Random(3)
    owner = [glare_backoff(True, rng) for _ in range(500)]
    other = [glare_backoff(False, rng) for _ in range(500)]
    assert min(owner) >= 2.1 and max(owner) <= 4.0
    assert min(other) >= 0.0 and max(other) <= 2.0
    assert all(abs(v * 100 - round(v * 100)) < 1e-9 for v in owner + other)  # 10 ms units


# -- UPDATE (RFC 3311) -------------------------------------------------------------------


def test_update_in_an_early_dialog() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.receive_response(probe.response(183), 0.0))
    # the INVITE's offer is unanswered: no new one (RFC 3264 §4, RFC 3311 §5.1)
    with pytest.raises(SessionError, match=r"RFC 3311 §5\.1"):
        s.update(0.5)
    uas = Probe.uas()
    us = uas.session
    uas.do(us.start(0.0))
    uas.do(us.provisional(0.0, 183, early_media=True))
    early = uas.last_response()
    assert early.body == b"answer bob sendrecv"
    # the caller's UPDATE with an offer while the INVITE's offer is unanswered:
    # 500 with Retry-After (RFC 3311 §5.2)
    sent = uas.sent(us.receive_request(uas.peer_request("UPDATE", body=b"offer alice v2"), 1.0))
    assert [m.status for m in sent] == [500]  # type: ignore[union-attr]
    assert sent[0].headers.get("Retry-After") is not None
    # without an offer (a target refresh) it is answered 200
    sent = uas.sent(us.receive_request(uas.peer_request("UPDATE"), 1.0))
    assert [m.status for m in sent] == [200]  # type: ignore[union-attr]
    assert us.state is SessionState.EARLY


def test_update_in_a_confirmed_dialog_and_its_glare() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), 0.1))
    update = probe.sent(s.update(1.0))[0]
    assert isinstance(update, Request) and update.method == "UPDATE"
    assert update.body == b"offer bob v1 sendrecv"
    assert [str(c.uri) for c in update.contact] == ["sip:bob@192.0.2.4:5062"]
    # the peer's offer crosses ours: 491 (RFC 3311 §5.2)
    crossing = probe.peer_request("UPDATE", body=b"offer alice v2 sendrecv")
    assert [m.status for m in probe.sent(s.receive_request(crossing, 1.1))] == [491]  # type: ignore[union-attr]
    crossing_invite = probe.peer_request("INVITE", body=b"offer alice v3 sendrecv")
    assert [m.status for m in probe.sent(s.receive_request(crossing_invite, 1.1))] == [491]  # type: ignore[union-attr]
    # our UPDATE got 491 too: retried after 0-2 s (we are not the Call-ID's owner)
    failed = s.receive_response(wire(update.reply(491)), 1.2)
    assert isinstance(failed[0], ModifyFailed) and failed[0].retry_at is not None
    assert 1.2 <= failed[0].retry_at <= 3.2
    retry = probe.sent(s.handle_timer(failed[0].retry_at))
    assert [m.method for m in retry] == ["UPDATE"]  # type: ignore[union-attr]
    assert retry[0].body == b"offer bob v2 sendrecv"
    done = s.receive_response(wire(retry[0].reply(200, body=b"answer alice")), 3.5)  # type: ignore[union-attr]
    assert [type(a).__name__ for a in done] == ["AnswerReceived", "Modified"]
    # the peer's UPDATE with an offer is answered at once
    update_in = probe.peer_request("UPDATE", body=b"offer alice v4 sendonly")
    answered = probe.sent(s.receive_request(update_in, 4.0))
    assert [m.status for m in answered] == [200]  # type: ignore[union-attr]
    assert answered[0].body == b"answer bob recvonly"


def test_session_commands_belong_to_one_role() -> None:
    probe = _confirmed_uac()
    for command in (probe.session.answer, probe.session.reject):
        with pytest.raises(SessionError):
            command(1.0)
    uas = Probe.uas()
    with pytest.raises(SessionError):
        uas.session.cancel(0.0)
    uas.do(uas.session.start(0.0))
    with pytest.raises(SessionError):
        uas.session.start(0.0)
    with pytest.raises(SessionError):
        uas.session.provisional(0.0, 200)
    with pytest.raises(SessionError):
        uas.session.reject(0.0, 200)
    assert isinstance(InviteSession.uas(uas.invite, contact="sip:b@192.0.2.4"), InviteSession)


# -- more edges: retransmitted 2xx to a re-INVITE, refusals, odd responses ---------------------


def test_a_reinvites_2xx_retransmitted_gets_the_same_ack() -> None:
    probe = _confirmed_uac()
    s = probe.session
    reinvite = probe.sent(s.reinvite(1.0))[0]
    assert isinstance(reinvite, Request)
    ok = wire(reinvite.reply(200, body=b"answer bob sendrecv", content_type="application/sdp"))
    first = s.receive_response(ok, 1.1)
    again = s.receive_response(ok, 1.6)
    assert isinstance(first[0], SendAck) and again == [first[0]]
    assert probe.sent([first[0]])[0].cseq.seq == reinvite.cseq.seq


def test_an_invite_while_our_2xx_waits_for_its_ack_gets_500() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), 0.1))
    first = probe.peer_request("INVITE", body=b"offer alice v2 sendrecv")
    probe.do(s.receive_request(first, 1.0))  # answered 200, no ACK yet
    second = probe.sent(s.receive_request(probe.peer_request("INVITE"), 1.1))
    assert [m.status for m in second] == [500]  # type: ignore[union-attr]
    assert second[0].headers.get("Retry-After") is not None
    with pytest.raises(SessionError, match="ACK"):
        s.reinvite(1.2)


def test_a_2xx_without_contact_fails_the_call() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    bad = wire(probe.invite.reply(200, to_tag="bobtag"))
    actions = s.receive_response(bad, 0.1)
    assert [type(a) for a in actions] == [Failed, Ended] and s.terminated


def test_a_100_from_the_callee_creates_no_dialog() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    trying = probe.sent(s.provisional(0.0, 100))
    assert [m.status for m in trying] == [100]  # type: ignore[union-attr]
    assert trying[0].to.tag is None and s.dialog is None
    assert s.state is SessionState.PROCEEDING
    # a request before the session has a dialog: 481
    stray = probe.invite.copy()
    stray.method = "INFO"
    assert [m.status for m in probe.sent(s.receive_request(stray, 0.1))] == [481]  # type: ignore[union-attr]


class _Busy(ValueError):
    status_code = 491


class _BusyMedia(FakeMediaBase):
    def receive_offer(self, offer: bytes) -> bytes:
        raise _Busy("an offer of ours is pending")


def test_an_offer_refused_with_a_status_is_answered_with_it() -> None:
    probe, ok = _confirmed_uas()
    s = probe.session
    probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), 0.1))
    s.media = _BusyMedia("bob")
    update = probe.peer_request("UPDATE", body=b"offer alice v5 sendrecv")
    assert [m.status for m in probe.sent(s.receive_request(update, 1.0))] == [491]  # type: ignore[union-attr]


def test_commands_in_the_wrong_state() -> None:
    probe = Probe.uac()
    with pytest.raises(SessionError, match=r"§14\.1"):
        probe.session.reinvite(0.0)
    with pytest.raises(SessionError, match=r"RFC 3311"):
        probe.session.update(0.0)
    uas = Probe.uas()
    uas.do(uas.session.start(0.0))
    uas.do(uas.session.reject(0.0, 603))
    for command in (uas.session.answer, uas.session.provisional):
        with pytest.raises(SessionError):
            command(1.0)
    with pytest.raises(SessionError):
        uas.session.reject(1.0, 486)
    assert uas.session.bye(1.0) == []


def test_the_glare_retry_is_dropped_once_the_call_ended() -> None:
    probe = _confirmed_uac()
    s = probe.session
    reinvite = probe.sent(s.reinvite(1.0))[0]
    failed = s.receive_response(wire(reinvite.reply(491)), 1.1)  # type: ignore[union-attr]
    assert isinstance(failed[0], ModifyFailed) and failed[0].retry_at is not None
    probe.do(s.bye(1.2))
    assert s.handle_timer(failed[0].retry_at) == [] and s.next_deadline() is None
