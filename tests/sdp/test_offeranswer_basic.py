"""A first walk through offer, answer and negotiation between two OfferAnswer objects."""

from __future__ import annotations

from sipwire.sdp import (
    PCMA,
    TELEPHONE_EVENT,
    Direction,
    MediaCapabilities,
    OfferAnswer,
    OfferAnswerState,
)


def test_two_parties_agree_on_the_common_codec_and_hold() -> None:
    alice = OfferAnswer(MediaCapabilities("192.0.2.1", 4000), session_id=1000)
    bob = OfferAnswer(MediaCapabilities("192.0.2.2", 5000, codecs=(PCMA, TELEPHONE_EVENT)),
                      session_id=2000)
    offer = alice.make_offer()
    answer = bob.receive_offer(bytes(offer))
    assert bob.state is OfferAnswerState.REMOTE_OFFER
    bob.answer_sent()
    result = alice.receive_answer(bytes(answer))
    (stream,) = result.streams
    assert stream.codec is not None and stream.codec.name == "PCMA"
    assert stream.telephone_event is not None and stream.telephone_event.payload_type == 101
    assert (stream.remote_address, stream.remote_port) == ("192.0.2.2", 5000)
    held = alice.make_offer(hold=True)
    assert held.origin.sess_version == offer.origin.sess_version + 1
    bob.receive_offer(held)
    assert bob.answer_sent().streams[0].direction is Direction.RECVONLY
