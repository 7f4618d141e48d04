"""Where offers and answers go around reliable provisional responses and forks,
and the session's public hooks: the answer in the first reliable 1xx (RFC 3261
§13.2.1, RFC 3262 §5, RFC 6337), an offer in a PRACK, an UPDATE in the early
dialog (RFC 3311 §5.1), forked early dialogs each with their own answer
(§13.2.2.4), a request retried with credentials (§22.2), the application's
say on a modification (§14.2), and the answer made again from new capabilities."""

from __future__ import annotations

import random

import pytest

from sipwire import Request, Response
from sipwire.dialog import (
    InviteSession,
    Rel100,
    SendAck,
    SendRequest,
    SessionError,
    SessionState,
)
from sipwire.dialog.dialog import Dialog
from sipwire.sdp import MediaCapabilities, OfferAnswer, OfferAnswerState

from .builders import invite, reply, wire
from .net import TIMERS
from .probe import ALICE_CONTACT, Probe

REL = (("Supported", "100rel"),)


def _reliable_uas(body: bytes = b"offer alice v1 sendrecv") -> Probe:
    probe = Probe.uas(body=body, headers=REL, rel100=Rel100.PREFERRED)
    probe.do(probe.session.start(0.0))
    return probe


def _rack(response: Response) -> str:
    return f"{response.headers.get('RSeq')} {response.cseq.seq} INVITE"


def _prack(probe: Probe, provisional: Response, body: bytes = b"") -> Request:
    assert probe.peer is not None
    prack = probe.peer.create_request("PRACK", body=body,
                                      content_type="application/sdp" if body else None,
                                      headers=[("RAck", _rack(provisional))])
    return wire(prack)


# -- the answer in the first reliable provisional response -------------------------------


def test_a_reliable_180_carries_the_answer_to_the_invites_offer() -> None:
    probe = _reliable_uas()
    s = probe.session
    probe.do(s.provisional(0.0, 180))
    ringing = probe.last_response()
    assert ringing.headers.get("Require") == "100rel"
    assert ringing.body == b"answer bob sendrecv"
    assert ringing.headers.get("Content-Type") == "application/sdp"
    assert not s.answer_pending
    assert probe.media.kinds() == ["receive_offer", "answer_sent"]
    # the 2xx waits for the PRACK, then goes without a session description:
    # the exchange is complete (§13.2.1: the UAC ignores later ones)
    probe.do(s.answer(0.1))
    assert probe.last_response().status == 180
    sent = probe.sent(s.receive_request(_prack(probe, ringing), 0.2))
    assert [m.status for m in sent] == [200, 200]  # type: ignore[union-attr]
    ok = sent[1]
    assert isinstance(ok, Response) and ok.cseq.method == "INVITE" and ok.body == b""


def test_an_unreliable_180_has_no_body_unless_early_media_is_asked() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.provisional(0.0, 180))
    assert probe.last_response().body == b""
    probe.do(s.provisional(0.0, 183, early_media=True))
    assert probe.last_response().body == b"answer bob sendrecv"
    assert s.answer_pending  # a preview: the 2xx carries the answer (§13.2.1)
    probe.do(s.answer(0.1))
    assert probe.last_response().body == b"answer bob sendrecv"


# -- an offer in a PRACK (RFC 3262 §5) --------------------------------------------------


def test_a_new_offer_in_a_prack_is_answered_in_its_200() -> None:
    probe = _reliable_uas()
    s = probe.session
    probe.do(s.provisional(0.0, 183))
    early = probe.last_response()
    actions = s.receive_request(_prack(probe, early, b"offer alice v2 sendonly"), 0.1)
    [ok] = probe.sent(actions)
    assert isinstance(ok, Response) and ok.status == 200 and ok.cseq.method == "PRACK"
    assert ok.body == b"answer bob recvonly"
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert "OfferReceived" in probe.events(actions)
    assert probe.media.kinds()[-2:] == ["receive_offer", "answer_sent"]
    assert not s.answer_pending


def test_an_offer_in_a_prack_that_cannot_be_met_gets_488_and_the_1xx_is_acknowledged(
) -> None:
    probe = _reliable_uas()
    s = probe.session
    probe.do(s.provisional(0.0, 183))
    early = probe.last_response()
    probe.media.refuse = True
    [refusal] = probe.sent(s.receive_request(_prack(probe, early, b"offer alice v2"), 0.1))
    assert isinstance(refusal, Response) and refusal.status == 488
    assert (refusal.headers.get("Warning") or "").startswith("399 ")
    # the 1xx counts as acknowledged: no retransmission, the 2xx is not held
    assert s.reliable is not None and s.reliable.next_deadline() is None
    probe.do(s.answer(0.2))
    assert probe.last_response().status == 200


# -- UPDATE in the early dialog (RFC 3311 §5.1) ------------------------------------------


def test_the_caller_updates_the_early_dialog_once_the_1xx_answered_its_offer() -> None:
    probe = Probe.uac(rel100=Rel100.SUPPORTED)
    s = probe.session
    probe.do(s.start(0.0))
    response = probe.response(183, body=b"answer bob sendrecv")
    response.headers.add("Require", "100rel", before="Content-Length")
    response.headers.add("RSeq", "7", before="Content-Length")
    sent = probe.sent(s.receive_response(wire(response), 0.1))
    assert [m.method for m in sent] == ["PRACK"]  # type: ignore[union-attr]
    assert s.state is SessionState.EARLY
    [update] = probe.sent(s.update(0.2))
    assert isinstance(update, Request) and update.method == "UPDATE"
    assert update.body == b"offer alice v2 sendrecv"
    assert update.to.tag == "bobtag"
    answer = reply(update, 200, body=b"answer bob sendrecv")
    events = probe.events(s.receive_response(answer, 0.3))
    assert events == ["AnswerReceived", "Modified"]
    assert s.state is SessionState.EARLY


def test_the_callee_updates_the_early_dialog_only_after_the_prack() -> None:
    probe = _reliable_uas()
    s = probe.session
    probe.do(s.provisional(0.0, 183))
    early = probe.last_response()
    with pytest.raises(SessionError, match="PRACK"):
        s.update(0.1)
    probe.do(s.receive_request(_prack(probe, early), 0.1))
    [update] = probe.sent(s.update(0.2))
    assert isinstance(update, Request) and update.method == "UPDATE"
    assert update.body == b"offer bob v1 sendrecv" and update.to.tag == "alicetag"


# -- forked early dialogs, each with its own answer (§13.2.2.4) ----------------------------


def _reliable(inv: Request, status: int, tag: str, rseq: int, media: OfferAnswer | None,
              ) -> Response:
    body = bytes(media.receive_offer(inv.body)) if media is not None else b""
    if media is not None:
        media.answer_sent()
    return reply(inv, status, to_tag=tag, body=body,
                 headers=[("Require", "100rel"), ("RSeq", str(rseq))])


def test_forked_early_dialogs_keep_their_own_answers_and_the_2xx_picks_one() -> None:
    alice = OfferAnswer(MediaCapabilities("192.0.2.1", 4000))
    inv = invite(contact=ALICE_CONTACT)
    s = InviteSession.uac(inv, media=alice, timers=TIMERS, rng=random.Random(1))
    [sent] = s.start(0.0)
    assert isinstance(sent, SendRequest)
    offer = wire(sent.request)
    fork_a = OfferAnswer(MediaCapabilities("192.0.2.10", 5000))
    fork_b = OfferAnswer(MediaCapabilities("192.0.2.20", 6000))
    s.receive_response(wire(_reliable(offer, 183, "forkA", 1, fork_a)), 0.1)
    media_a = s.media
    assert isinstance(media_a, OfferAnswer) and media_a.negotiated is not None
    assert media_a.negotiated.streams[0].remote_port == 5000
    s.receive_response(wire(_reliable(offer, 183, "forkB", 1, fork_b)), 0.2)
    media_b = s.media
    # fork B's answer is taken by a state of its own, not ignored as a second answer
    assert isinstance(media_b, OfferAnswer) and media_b is not media_a
    assert media_b.negotiated is not None
    assert media_b.negotiated.streams[0].remote_port == 6000
    assert media_a.negotiated.streams[0].remote_port == 5000
    # a 183 of fork A again (a new reliable one) switches back to A's state
    s.receive_response(wire(_reliable(offer, 183, "forkA", 2, None)), 0.3)
    assert s.media is media_a
    # fork B answers: the call's media is B's answer, the ACK has no body
    ok = wire(reply(offer, 200, to_tag="forkB"))
    actions = s.receive_response(ok, 0.4)
    acks = [a.request for a in actions if isinstance(a, SendAck)]
    assert len(acks) == 1 and acks[0].body == b""
    assert s.state is SessionState.CONFIRMED and s.media is media_b
    assert media_b.state is OfferAnswerState.STABLE
    # the next offer builds on B's negotiation (RFC 3264 §8)
    [reoffer] = s.reinvite(1.0)
    assert isinstance(reoffer, SendRequest) and reoffer.request.to.tag == "forkB"


def test_a_fork_that_answers_with_its_2xx_alone_gets_the_offer_answered_there() -> None:
    alice = OfferAnswer(MediaCapabilities("192.0.2.1", 4000))
    inv = invite(contact=ALICE_CONTACT)
    s = InviteSession.uac(inv, media=alice, timers=TIMERS, rng=random.Random(1))
    [sent] = s.start(0.0)
    assert isinstance(sent, SendRequest)
    offer = wire(sent.request)
    fork_a = OfferAnswer(MediaCapabilities("192.0.2.10", 5000))
    s.receive_response(wire(_reliable(offer, 183, "forkA", 1, fork_a)), 0.1)
    fork_b = OfferAnswer(MediaCapabilities("192.0.2.20", 6000))
    answer_b = bytes(fork_b.receive_offer(offer.body))
    s.receive_response(wire(reply(offer, 200, to_tag="forkB", body=answer_b)), 0.2)
    media = s.media
    assert isinstance(media, OfferAnswer) and media.negotiated is not None
    assert media.negotiated.streams[0].remote_port == 6000


# -- a request retried with credentials (§22.2) -----------------------------------------


def _confirmed_uac() -> tuple[Probe, Dialog]:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    ok = probe.response(200, body=b"answer bob sendrecv")
    probe.do(s.receive_response(wire(ok), 0.1))
    assert s.dialog is not None and s.state is SessionState.CONFIRMED
    return probe, s.dialog


def _retry(request: Request) -> Request:
    retry: Request = request.copy()
    retry.headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
    retry.headers.add("Authorization", 'Digest username="alice"', before="Content-Length")
    return wire(retry)


def test_a_challenged_reinvite_is_tracked_by_its_retry() -> None:
    probe, dialog = _confirmed_uac()
    s = probe.session
    [reinvite] = probe.sent(s.reinvite(1.0))
    assert isinstance(reinvite, Request)
    retry = _retry(reinvite)
    s.request_retried(reinvite, retry)
    assert dialog.local_seq == retry.cseq.seq
    ok = reply(retry, 200, body=b"answer bob sendrecv")
    actions = s.receive_response(ok, 1.1)
    [ack] = [a.request for a in actions if isinstance(a, SendAck)]
    assert ack.cseq.seq == retry.cseq.seq and ack.cseq.method == "ACK"
    assert "Modified" in probe.events(actions)
    # the next request of the dialog takes a CSeq above the retry's (§12.2.1.1)
    [info] = probe.sent(s.send_request("INFO", 2.0))
    assert isinstance(info, Request) and info.cseq.seq == retry.cseq.seq + 1


def test_a_challenged_update_and_info_are_tracked_by_their_retries() -> None:
    probe, dialog = _confirmed_uac()
    s = probe.session
    [info] = probe.sent(s.send_request("INFO", 1.0))
    assert isinstance(info, Request)
    retry = _retry(info)
    s.request_retried(info, retry)
    # the retry's 481 ends the dialog (§12.2.1.2): the session knows it as ours
    events = probe.events(s.receive_response(reply(retry, 481), 1.1))
    assert events == ["Ended"] and s.terminated
    assert dialog.terminated


def test_a_retry_must_be_the_same_method_with_a_higher_cseq() -> None:
    probe, _ = _confirmed_uac()
    s = probe.session
    [info] = probe.sent(s.send_request("INFO", 1.0))
    assert isinstance(info, Request)
    with pytest.raises(SessionError, match=r"22\.2"):
        s.request_retried(info, info)


def test_the_challenged_invite_is_replaced_by_its_retry() -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    first = s.invite
    retry = _retry(first)
    s.request_retried(first, retry)
    assert s.invite is retry and s.dialogs is not None and s.dialogs.invite is retry
    probe.invite = retry
    ok = probe.response(200, body=b"answer bob sendrecv")
    actions = s.receive_response(wire(ok), 0.2)
    [ack] = [a.request for a in actions if isinstance(a, SendAck)]
    assert ack.cseq.seq == retry.cseq.seq
    assert s.state is SessionState.CONFIRMED


# -- the application decides on a modification (§14.2) ----------------------------------


def test_the_modification_hook_refuses_or_accepts_a_reinvite() -> None:
    probe = Probe.uas()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.answer(0.1))
    ok = probe.last_response()
    probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), 0.2))
    seen: list[Request] = []

    def decide(request: Request) -> int | None:
        seen.append(request)
        return 488 if b"sendonly" in request.body else None

    s.modification_hook = decide
    before = list(probe.media.log)
    [refusal] = probe.sent(s.receive_request(probe.peer_request(
        "INVITE", body=b"offer alice v2 sendonly"), 1.0))
    assert isinstance(refusal, Response) and refusal.status == 488
    assert refusal.headers.get("Warning") is not None
    assert probe.media.log == before  # the offer was not taken
    [accepted] = probe.sent(s.receive_request(probe.peer_request(
        "UPDATE", body=b"offer alice v3 sendrecv"), 2.0))
    assert isinstance(accepted, Response) and accepted.status == 200
    assert accepted.body == b"answer bob sendrecv"
    assert [r.method for r in seen] == ["INVITE", "UPDATE"]
    s.modification_hook = lambda request: 100
    with pytest.raises(SessionError, match="300-699"):
        s.receive_request(probe.peer_request("UPDATE"), 3.0)


# -- the answer made again ----------------------------------------------------------------


def test_the_pending_answer_is_made_again_from_new_capabilities() -> None:
    bob = OfferAnswer(MediaCapabilities("192.0.2.4", 5000))
    alice = OfferAnswer(MediaCapabilities("192.0.2.1", 4000))
    inv = invite(body=bytes(alice.make_offer()))
    s = InviteSession.uas(inv, contact="<sip:bob@192.0.2.4>", media=bob, timers=TIMERS,
                          rng=random.Random(3))
    s.start(0.0)
    assert s.answer_pending
    bob.capabilities = MediaCapabilities("192.0.2.4", 7000)
    s.remake_answer()
    [sent] = s.answer(0.1)
    assert hasattr(sent, "response") and b"m=audio 7000 " in sent.response.body
    assert not s.answer_pending
    with pytest.raises(SessionError, match="no answer is pending"):
        s.remake_answer()


# -- re-INVITEs that must get 491 (§14.2, RFC 3311 §5.2) --------------------------------


def test_the_callers_early_dialog_answers_a_reinvite_491_while_its_invite_is_pending(
) -> None:
    probe = Probe.uac()
    s = probe.session
    probe.do(s.start(0.0))
    probe.do(s.receive_response(wire(probe.response(180)), 0.1))
    assert s.state is SessionState.EARLY and probe.peer is not None
    # the callee's INVITE on the early dialog while our INVITE is in progress:
    # 491, not the 500 of a UAS that has not answered yet
    [response] = probe.sent(s.receive_request(probe.peer_request("INVITE"), 0.2))
    assert isinstance(response, Response) and response.status == 491
    assert response.headers.get("Retry-After") is None


def test_a_reinvite_without_offer_while_our_update_offer_is_outstanding_is_491() -> None:
    probe, _ = _confirmed_uac()
    s = probe.session
    probe.do(s.update(1.0))
    assert probe.peer is not None
    before = list(probe.media.log)
    [response] = probe.sent(s.receive_request(probe.peer_request("INVITE"), 1.1))
    assert isinstance(response, Response) and response.status == 491
    assert probe.media.log == before  # no second offer made
