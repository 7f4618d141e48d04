"""Properties of OfferAnswer: random event sequences follow the state table and the o= version
rule; two parties always agree on what they negotiated."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sipwire.sdp import (
    DEFAULT_CODECS,
    Direction,
    MediaCapabilities,
    NotAcceptableHere,
    OfferAnswer,
    OfferAnswerError,
    OfferAnswerState,
    SessionDescription,
    answer,
)

S = OfferAnswerState
ALICE = MediaCapabilities("192.0.2.1", 4000)
BOB = MediaCapabilities("192.0.2.2", 5000)

# the module docstring's table, written again independently: (state, event) -> next state,
# "back" for rollback's return to NO_OFFER or STABLE
EXPECTED = {
    (S.NO_OFFER, "make_offer"): S.LOCAL_OFFER, (S.STABLE, "make_offer"): S.LOCAL_OFFER,
    (S.NO_OFFER, "receive_offer"): S.REMOTE_OFFER, (S.STABLE, "receive_offer"): S.REMOTE_OFFER,
    (S.REMOTE_OFFER, "answer_sent"): S.STABLE, (S.LOCAL_OFFER, "receive_answer"): S.STABLE,
    (S.STABLE, "receive_answer"): S.STABLE,
    (S.LOCAL_OFFER, "rollback"): "back", (S.REMOTE_OFFER, "rollback"): "back",
}
EVENTS = ["make_offer", "receive_offer", "answer_sent", "receive_answer", "rollback"]


def _content(sdp: SessionDescription) -> SessionDescription:
    return dataclasses.replace(sdp, origin=dataclasses.replace(sdp.origin, sess_version=0))


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.sampled_from([None, True, False])),
                max_size=25))
def test_random_events_follow_the_table_and_the_version_rule(
        events: list[tuple[str, bool | None]]) -> None:
    oa = OfferAnswer(ALICE, session_id=100)
    peer = OfferAnswer(BOB, session_id=200)
    sent: list[SessionDescription] = []
    ever_negotiated = False
    for event, hold in events:
        before = oa.state
        expected = EXPECTED.get((before, event))
        pending = oa.pending_offer
        try:
            if event == "make_offer":
                sent.append(oa.make_offer(hold=hold))
            elif event == "receive_offer":
                oa.receive_offer(peer.make_offer(hold=hold))
            elif event == "answer_sent":
                answer_ = oa.pending_answer
                oa.answer_sent()
                assert answer_ is not None
                sent.append(answer_)
            elif event == "receive_answer":
                reply = answer(pending, BOB) if pending is not None else peer.make_offer()
                oa.receive_answer(reply)
            else:
                oa.rollback()
        except OfferAnswerError:
            assert expected is None, (before, event)
            assert oa.state is before
        else:
            assert expected is not None, (before, event)
            if expected == "back":
                assert oa.state is (S.STABLE if ever_negotiated else S.NO_OFFER)
            else:
                assert oa.state is expected
        finally:
            if peer.state is not S.NO_OFFER and peer.state is not S.STABLE:
                peer.rollback()
        ever_negotiated = oa.negotiated is not None
    # RFC 3264 §8: each SDP sent has the version of the one before if it is the same,
    # one more if it differs; so a version number never names two descriptions
    for previous, current in itertools.pairwise(sent):
        same = _content(previous) == _content(current)
        step = current.origin.sess_version - previous.origin.sess_version
        assert step == (0 if same else 1)
        assert current.origin.sess_id == 100
    by_version: dict[int, SessionDescription] = {}
    for sdp in sent:
        assert by_version.setdefault(sdp.origin.sess_version, _content(sdp)) == _content(sdp)


codec_sets = st.lists(st.sampled_from(DEFAULT_CODECS), min_size=1, unique=True).map(tuple)
directions = st.sampled_from(list(Direction))


@settings(max_examples=300)
@given(codec_sets, codec_sets, directions, directions, st.booleans(), st.booleans(),
       st.booleans())
def test_two_parties_agree_on_what_they_negotiated(
        alice_codecs: tuple, bob_codecs: tuple,  # type: ignore[type-arg]
        alice_direction: Direction, bob_direction: Direction,
        alice_holds: bool, bob_holds: bool, bob_offers: bool) -> None:
    alice = OfferAnswer(dataclasses.replace(ALICE, codecs=alice_codecs, direction=alice_direction))
    bob = OfferAnswer(dataclasses.replace(BOB, codecs=bob_codecs, direction=bob_direction))
    alice.hold, bob.hold = alice_holds, bob_holds
    offerer, answerer = (bob, alice) if bob_offers else (alice, bob)
    offer = offerer.make_offer()
    try:
        reply = answerer.receive_offer(bytes(offer))
    except NotAcceptableHere:
        # only when no audio codec is common to both
        common = {c.key for c in alice_codecs if not c.is_telephone_event} & {
            c.key for c in bob_codecs if not c.is_telephone_event}
        assert not common
        return
    answerers = answerer.answer_sent().streams[0]
    offerers = offerer.receive_answer(bytes(reply)).streams[0]
    a, b = (answerers, offerers) if bob_offers else (offerers, answerers)  # alice's, bob's
    assert a.active and b.active
    assert a.direction is b.direction.reversed()
    # the holding party never receives
    assert not (alice_holds and a.direction.receives)
    assert not (bob_holds and b.direction.receives)
    assert (a.remote_address, a.remote_port) == (b.local_address, b.local_port)
    assert (b.remote_address, b.remote_port) == (a.local_address, a.local_port)
    assert {(c.name.lower(), c.rate) for c in a.codecs} == {(c.name.lower(), c.rate)
                                                            for c in b.codecs}
    for c in a.codecs:  # what one sends with is what the other listed
        match = [d for d in b.codecs if d.local_payload_type == c.payload_type]
        assert match and match[0].name.lower() == c.name.lower()
    assert a.codec is not None and b.codec is not None


@settings(max_examples=200)
@given(codec_sets, codec_sets,
       st.lists(st.tuples(st.booleans(), st.sampled_from([None, True, False])), min_size=1,
                max_size=8))
def test_reoffers_keep_payload_types_and_m_lines_for_the_session(
        alice_codecs: tuple, bob_codecs: tuple,  # type: ignore[type-arg]
        turns: list[tuple[bool, bool | None]]) -> None:
    alice = OfferAnswer(dataclasses.replace(ALICE, codecs=alice_codecs))
    bob = OfferAnswer(dataclasses.replace(BOB, codecs=bob_codecs))
    bound: dict[int, tuple[str, int, int]] = {}  # RFC 3264 §8.3.2, over the whole session
    m_lines = 0
    for bob_offers, hold in turns:
        offerer, answerer = (bob, alice) if bob_offers else (alice, bob)
        offer = offerer.make_offer(hold=hold)
        try:
            reply = answerer.receive_offer(bytes(offer))
        except NotAcceptableHere:
            offerer.rollback()
            continue
        answerer.answer_sent()
        result = offerer.receive_answer(bytes(reply))
        for sdp in (offer, reply):
            assert len(sdp.media) >= m_lines  # §8: m-lines are never removed
            for fmt, rtpmap in sdp.media[0].rtpmaps().items():
                if int(fmt) >= 96:
                    assert bound.setdefault(int(fmt), rtpmap.key) == rtpmap.key
        m_lines = len(offer.media)
        stream = result.streams[0]
        # a holding party does not receive; with nobody holding, media flows both ways
        assert not (offerer.hold and stream.direction.receives)
        assert not (answerer.hold and stream.direction.sends)
        if not (offerer.hold or answerer.hold):
            assert stream.direction is Direction.SENDRECV
