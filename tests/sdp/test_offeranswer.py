"""OfferAnswer: every edge and refusal of the state table, o= versioning, hold, glare, forks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from sipwire.sdp import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Direction,
    MediaCapabilities,
    NotAcceptableHere,
    OfferAnswer,
    OfferAnswerError,
    OfferAnswerState,
    SdpError,
    SessionDescription,
)

S = OfferAnswerState
ALICE = MediaCapabilities("192.0.2.1", 4000)
BOB = MediaCapabilities("192.0.2.2", 5000, codecs=(PCMA, PCMU, TELEPHONE_EVENT))


def pair() -> tuple[OfferAnswer, OfferAnswer]:
    return OfferAnswer(ALICE, session_id=1000), OfferAnswer(BOB, session_id=2000)


def exchange(offerer: OfferAnswer, answerer: OfferAnswer, **offer_options: object) -> None:
    """One complete exchange over the wire (bytes both ways)."""
    offer = offerer.make_offer(**offer_options)  # type: ignore[arg-type]
    reply = answerer.receive_offer(bytes(offer))
    answerer.answer_sent()
    offerer.receive_answer(bytes(reply))


def in_state(state: OfferAnswerState) -> OfferAnswer:
    """An OfferAnswer of Alice's brought to ``state``."""
    alice, bob = pair()
    if state is S.STABLE:
        exchange(alice, bob)
    elif state is S.LOCAL_OFFER:
        alice.make_offer()
    elif state is S.REMOTE_OFFER:
        alice.receive_offer(bob.make_offer())
    assert alice.state is state
    return alice


def bob_offer() -> SessionDescription:
    return OfferAnswer(BOB, session_id=3000).make_offer()


def bob_answer_to(offer: SessionDescription) -> SessionDescription:
    return OfferAnswer(BOB, session_id=3000).receive_offer(offer)


# ---- the edges ----------------------------------------------------------------------

def test_initial_state() -> None:
    alice, _ = pair()
    assert alice.state is S.NO_OFFER
    assert (alice.negotiated, alice.pending_offer, alice.pending_answer, alice.remote_offer,
            alice.last_sent) == (None, None, None, None, None)


@pytest.mark.parametrize("start", [S.NO_OFFER, S.STABLE])
def test_make_offer_goes_to_local_offer(start: OfferAnswerState) -> None:
    oa = in_state(start)
    offer = oa.make_offer()
    assert oa.state is S.LOCAL_OFFER
    assert oa.pending_offer == offer and oa.last_sent == offer


@pytest.mark.parametrize("start", [S.NO_OFFER, S.STABLE])
def test_receive_offer_goes_to_remote_offer_and_answer_sent_to_stable(
        start: OfferAnswerState) -> None:
    oa = in_state(start)
    offer = bob_offer()
    reply = oa.receive_offer(offer)
    assert oa.state is S.REMOTE_OFFER
    assert oa.pending_answer == reply and oa.remote_offer == offer
    result = oa.answer_sent()
    assert oa.state is S.STABLE
    assert oa.negotiated == result and result.local == reply and result.remote == offer
    assert oa.last_sent == reply and oa.pending_answer is None


def test_receive_answer_goes_to_stable() -> None:
    oa = in_state(S.LOCAL_OFFER)
    offer = oa.pending_offer
    assert offer is not None
    result = oa.receive_answer(bob_answer_to(offer))
    assert oa.state is S.STABLE and oa.negotiated == result
    # the answer keeps the offer's order (RFC 3264 §6): PCMU before PCMA
    assert result.streams[0].codec is not None and result.streams[0].codec.name == "PCMU"
    assert oa.pending_offer is None


def test_an_answer_in_stable_is_ignored() -> None:
    # RFC 3261 §13.2.1: the first answer counts (a 2xx after a reliable 18x repeats it)
    oa = in_state(S.STABLE)
    before = oa.negotiated
    assert oa.receive_answer(b"not even SDP") is before
    assert oa.state is S.STABLE


@pytest.mark.parametrize(("start", "back_to"), [
    ("no offer then local", S.NO_OFFER), ("stable then local", S.STABLE),
    ("no offer then remote", S.NO_OFFER), ("stable then remote", S.STABLE)])
def test_rollback_returns_to_the_state_before_the_offer(start: str,
                                                        back_to: OfferAnswerState) -> None:
    oa = in_state(back_to)
    before = oa.negotiated
    if start.endswith("local"):
        oa.make_offer(hold=True)
    else:
        oa.receive_offer(bob_offer())
    oa.rollback()
    assert oa.state is back_to and oa.negotiated is before
    assert oa.pending_offer is None and oa.pending_answer is None and oa.remote_offer is None
    assert oa.hold is False


REFUSALS: list[tuple[OfferAnswerState, str, int]] = [
    (S.LOCAL_OFFER, "receive_offer", 491),
    (S.REMOTE_OFFER, "receive_offer", 500),
    (S.LOCAL_OFFER, "make_offer", 500),
    (S.REMOTE_OFFER, "make_offer", 500),
    (S.NO_OFFER, "receive_answer", 400),
    (S.REMOTE_OFFER, "receive_answer", 400),
    (S.NO_OFFER, "answer_sent", 500),
    (S.LOCAL_OFFER, "answer_sent", 500),
    (S.STABLE, "answer_sent", 500),
    (S.NO_OFFER, "rollback", 500),
    (S.STABLE, "rollback", 500),
]

CALLS: dict[str, Callable[[OfferAnswer], object]] = {
    "receive_offer": lambda oa: oa.receive_offer(bob_offer()),
    "make_offer": lambda oa: oa.make_offer(),
    "receive_answer": lambda oa: oa.receive_answer(bob_offer()),
    "answer_sent": lambda oa: oa.answer_sent(),
    "rollback": lambda oa: oa.rollback(),
}


@pytest.mark.parametrize(("state", "event", "status"), REFUSALS,
                         ids=[f"{s.name}-{e}" for s, e, _ in REFUSALS])
def test_refusals_carry_the_status_code_and_change_nothing(state: OfferAnswerState, event: str,
                                                           status: int) -> None:
    oa = in_state(state)
    before = (oa.negotiated, oa.pending_offer, oa.pending_answer, oa.remote_offer, oa.last_sent)
    with pytest.raises(OfferAnswerError) as caught:
        CALLS[event](oa)
    assert caught.value.status_code == status
    assert isinstance(caught.value, SdpError)
    assert event in str(caught.value) and state.value in str(caught.value)
    assert oa.state is state
    assert before == (oa.negotiated, oa.pending_offer, oa.pending_answer, oa.remote_offer,
                      oa.last_sent)


def test_the_refusals_and_edges_cover_every_pair() -> None:
    edges = {(S.NO_OFFER, "make_offer"), (S.STABLE, "make_offer"),
             (S.NO_OFFER, "receive_offer"), (S.STABLE, "receive_offer"),
             (S.REMOTE_OFFER, "answer_sent"), (S.LOCAL_OFFER, "receive_answer"),
             (S.STABLE, "receive_answer"), (S.LOCAL_OFFER, "rollback"),
             (S.REMOTE_OFFER, "rollback")}
    refused = {(s, e) for s, e, _ in REFUSALS}
    assert edges | refused == {(s, e) for s in S for e in CALLS}
    assert not edges & refused


def test_glare_both_offers_refused_with_491_then_one_retries() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    a_offer, b_offer = alice.make_offer(hold=True), bob.make_offer()
    for oa, other in ((alice, b_offer), (bob, a_offer)):
        with pytest.raises(OfferAnswerError) as caught:
            oa.receive_offer(other)
        assert caught.value.status_code == 491
        assert caught.value.rfc == "RFC 3261 §14.2, RFC 3311 §5.2"
    alice.rollback()
    bob.rollback()
    assert alice.hold is False
    exchange(alice, bob, hold=True)
    assert alice.negotiated is not None
    assert alice.negotiated.streams[0].direction is Direction.SENDONLY


def test_a_refused_offer_leaves_the_state_alone() -> None:
    alice, _ = pair()
    video_only = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=video 1 RTP/AVP 31\r\n")
    with pytest.raises(NotAcceptableHere):
        alice.receive_offer(video_only)
    assert alice.state is S.NO_OFFER
    with pytest.raises(SdpError):
        alice.receive_offer(b"v=0\r\n")
    assert alice.state is S.NO_OFFER and alice.last_sent is None


def test_an_answer_that_does_not_match_the_offer_leaves_the_offer_pending() -> None:
    oa = in_state(S.LOCAL_OFFER)
    two = SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
                                   "m=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n")
    with pytest.raises(SdpError):
        oa.receive_answer(two)
    assert oa.state is S.LOCAL_OFFER


def test_delayed_offer_the_offer_in_the_2xx_and_the_answer_in_the_ack() -> None:
    caller, callee = pair()
    offer_in_200 = callee.make_offer()           # INVITE came without SDP
    answer_in_ack = caller.receive_offer(bytes(offer_in_200))
    caller.answer_sent()
    result = callee.receive_answer(bytes(answer_in_ack))
    assert callee.state is caller.state is S.STABLE
    assert result.streams[0].active


# ---- o= versions (RFC 3264 §8) --------------------------------------------------------

def test_versions_go_up_by_one_per_new_description_and_stay_for_the_same() -> None:
    alice, bob = pair()
    first = alice.make_offer()
    assert (first.origin.sess_id, first.origin.sess_version) == (1000, 1000)
    bob.receive_offer(first)
    bob.answer_sent()
    alice.receive_answer(bob.last_sent)  # type: ignore[arg-type]
    same = alice.make_offer()            # a session refresh: the same SDP
    assert same == first and same.origin.sess_version == 1000
    reply = bob.receive_offer(same)      # the same offer: the same answer and version
    assert reply.origin.sess_version == 2000
    bob.answer_sent()
    alice.receive_answer(reply)
    held = alice.make_offer(hold=True)
    assert held.origin == dataclasses.replace(first.origin, sess_version=1001)
    reply = bob.receive_offer(held)
    assert reply.origin.sess_version == 2001  # bob's answer changed: recvonly now
    bob.answer_sent()
    alice.receive_answer(reply)
    unheld = alice.make_offer(hold=False)
    assert unheld.origin.sess_version == 1002


def test_an_answer_that_changes_gets_a_new_version() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    v1 = bob.last_sent
    assert v1 is not None
    reply = bob.receive_offer(alice.make_offer(hold=True))
    assert reply.direction_of(0) is Direction.RECVONLY
    assert reply.origin.sess_version == v1.origin.sess_version + 1
    assert reply.origin.sess_id == v1.origin.sess_id


def test_a_rolled_back_offer_keeps_its_version_number_used() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    refused = alice.make_offer(hold=True)
    assert refused.origin.sess_version == 1001
    alice.rollback()                                          # 491: try again later
    assert alice.make_offer(hold=True).origin.sess_version == 1001  # the same SDP again
    alice.rollback()
    assert alice.make_offer().origin.sess_version == 1002     # different from 1001's


def test_an_unsent_answer_does_not_use_a_version() -> None:
    alice, bob = pair()
    exchange(bob, alice)
    first = alice.last_sent
    assert first is not None
    alice.receive_offer(bob.make_offer(hold=True))            # refused by the user: 488
    alice.rollback()
    bob.rollback()
    assert alice.last_sent is first
    reply = alice.receive_offer(bob.make_offer(hold=True))
    assert reply.origin.sess_version == first.origin.sess_version + 1


def test_new_capabilities_change_the_next_offer() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    alice.capabilities = dataclasses.replace(ALICE, port=4100)
    offer = alice.make_offer()
    assert offer.media[0].port == 4100 and offer.origin.sess_version == 1001
    bob.receive_offer(offer)
    bob.answer_sent()
    result = alice.receive_answer(bob.last_sent)  # type: ignore[arg-type]
    assert result.streams[0].local_port == 4100


# ---- hold -----------------------------------------------------------------------------

def test_hold_and_resume() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    exchange(alice, bob, hold=True)
    assert alice.hold
    assert alice.negotiated is not None and bob.negotiated is not None
    assert alice.negotiated.streams[0].direction is Direction.SENDONLY
    assert bob.negotiated.streams[0].direction is Direction.RECVONLY
    exchange(alice, bob)  # hold=None keeps holding
    assert alice.negotiated.streams[0].direction is Direction.SENDONLY
    exchange(alice, bob, hold=False)
    assert alice.negotiated.streams[0].direction is Direction.SENDRECV
    assert bob.negotiated.streams[0].direction is Direction.SENDRECV


def test_both_hold_inactive_then_the_first_resumes() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    exchange(alice, bob, hold=True)          # alice holds bob
    exchange(bob, alice, hold=True)          # bob, held, holds alice: inactive (RFC 3264 §8.4)
    assert bob.last_sent is not None and alice.last_sent is not None
    assert bob.negotiated is not None and alice.negotiated is not None
    assert bob.negotiated.local.direction_of(0) is Direction.INACTIVE
    # alice answers as a holding party
    assert alice.negotiated.local.direction_of(0) is Direction.INACTIVE
    exchange(alice, bob, hold=False)         # alice resumes; bob still holds
    assert alice.negotiated.streams[0].direction is Direction.RECVONLY
    assert bob.negotiated.streams[0].direction is Direction.SENDONLY


def test_removing_the_stream_and_adding_it_back() -> None:
    alice, bob = pair()
    exchange(alice, bob)
    exchange(alice, bob, remove={0})
    assert alice.negotiated is not None and alice.negotiated.active_streams == ()
    exchange(alice, bob, add=True)
    assert [m.port for m in alice.negotiated.local.media] == [0, 4000]
    assert alice.negotiated.active_streams[0].index == 1


def test_add_with_an_active_stream_is_refused_before_anything_changes() -> None:
    oa = in_state(S.STABLE)
    with pytest.raises(ValueError, match="nothing to add"):
        oa.make_offer(add=True, hold=True)
    assert oa.state is S.STABLE and oa.hold is False


# ---- forks ----------------------------------------------------------------------------

def test_each_early_dialog_of_a_forked_invite_takes_its_own_answer() -> None:
    caller = OfferAnswer(ALICE, session_id=1000)
    offer = caller.make_offer()
    fork = caller.fork()
    pcma_only = OfferAnswer(MediaCapabilities("192.0.2.3", 6000, codecs=(PCMA,)))
    pcmu_only = OfferAnswer(MediaCapabilities("192.0.2.4", 7000, codecs=(PCMU,)))
    first = caller.receive_answer(pcma_only.receive_offer(offer))
    second = fork.receive_answer(pcmu_only.receive_offer(offer))
    assert first.streams[0].codec is not None and first.streams[0].codec.name == "PCMA"
    assert second.streams[0].codec is not None and second.streams[0].codec.name == "PCMU"
    assert second.streams[0].remote_port == 7000
    assert caller.negotiated is first and fork.negotiated is second
