"""The back-to-back call with sipwire.sdp's OfferAnswer on both sides: real SDP
offers and answers, hold as sendonly/recvonly (RFC 3264 §8.4), and glare."""

from __future__ import annotations

from sipwire.dialog import ModifyFailed, SessionState
from sipwire.sdp import Direction, MediaCapabilities, OfferAnswer, OfferAnswerState

from .net import Net


def _media(address: str, port: int) -> OfferAnswer:
    return OfferAnswer(MediaCapabilities(address, port))


def _state(media: OfferAnswer) -> OfferAnswerState:
    return media.state  # read through a call: mypy narrows the property otherwise


def test_a_call_with_real_sdp() -> None:
    alice_media, bob_media = _media("192.0.2.1", 4000), _media("192.0.2.4", 5000)
    net = Net.call(alice_media=alice_media, bob_media=bob_media)
    invite = net.sent("alice", "INVITE")[0]
    assert invite.headers.get("Content-Type") == "application/sdp"
    assert b"m=audio 4000 RTP/AVP" in invite.body
    bob = net.bob
    assert bob is not None
    assert _state(bob_media) is OfferAnswerState.REMOTE_OFFER  # answered in the 2xx
    net.perform("bob", bob.answer(1.0))
    assert net.alice.state is SessionState.CONFIRMED and bob.state is SessionState.CONFIRMED
    assert _state(alice_media) is OfferAnswerState.STABLE
    assert _state(bob_media) is OfferAnswerState.STABLE
    negotiated = alice_media.negotiated
    assert negotiated is not None
    stream = negotiated.streams[0]
    assert (stream.remote_address, stream.remote_port) == ("192.0.2.4", 5000)
    assert stream.direction is Direction.SENDRECV

    # hold: our re-INVITE offers sendonly, Bob answers recvonly
    net.now = 5.0
    net.perform("alice", net.alice.hold(net.now))
    reinvite = net.sent("alice", "INVITE")[-1]
    assert b"a=sendonly" in reinvite.body
    assert b"a=recvonly" in net.sent("bob", "200 INVITE")[-1].body
    held = alice_media.negotiated
    assert held is not None and held.streams[0].direction is Direction.SENDONLY
    bob_view = bob_media.negotiated
    assert bob_view is not None and bob_view.streams[0].direction is Direction.RECVONLY
    net.perform("alice", net.alice.unhold(net.now))
    resumed = alice_media.negotiated
    assert resumed is not None and resumed.streams[0].direction is Direction.SENDRECV

    # glare: both offer at once; the 491s roll both offers back, the retries succeed
    net.now = 10.0
    before = {side: net.kinds(side).count("Modified") for side in ("alice", "bob")}
    net.queue += [("alice", a) for a in net.alice.reinvite(net.now)]
    net.queue += [("bob", a) for a in bob.reinvite(net.now)]
    net.flush()
    failures = [e for side in ("alice", "bob") for e in net.events[side]
                if isinstance(e, ModifyFailed)]
    assert [f.response.status for f in failures] == [491, 491]
    assert _state(alice_media) is OfferAnswerState.STABLE
    retry_at = max(f.retry_at or 0.0 for f in failures)
    net.advance(retry_at)
    # each side saw its own re-INVITE and the other's go through
    assert {side: net.kinds(side).count("Modified") - before[side]
            for side in ("alice", "bob")} == {"alice": 2, "bob": 2}
    assert _state(alice_media) is OfferAnswerState.STABLE
    assert _state(bob_media) is OfferAnswerState.STABLE

    net.perform("alice", net.alice.bye(20.0))
    assert net.alice.terminated and bob.terminated


def test_an_offer_without_common_codec_gets_488() -> None:
    from sipwire.sdp import PCMA, PCMU
    alice_media = OfferAnswer(MediaCapabilities("192.0.2.1", 4000, codecs=(PCMU,)))
    bob_media = OfferAnswer(MediaCapabilities("192.0.2.4", 5000, codecs=(PCMA,)))
    net = Net.call(alice_media=alice_media, bob_media=bob_media)
    refused = net.sent("bob", "488 INVITE")
    assert len(refused) == 1 and refused[0].headers.get("Warning") is not None
    assert net.bob is not None and net.bob.terminated
    assert net.alice.terminated and _state(alice_media) is OfferAnswerState.NO_OFFER
