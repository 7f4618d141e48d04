"""Descriptions in the style real user agents write (tests/sdp/samples/, written for these
tests): each is read, written back byte for byte, and answered as RFC 3264 says."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwire.sdp import (
    PCMU,
    TELEPHONE_EVENT,
    Direction,
    MediaCapabilities,
    NotAcceptableHere,
    SessionDescription,
    answer,
    negotiate,
    new_origin,
)

SAMPLES = Path(__file__).parent / "samples"
LOCAL = MediaCapabilities("198.51.100.7", 30000)


def sample(name: str) -> SessionDescription:
    return SessionDescription.parse((SAMPLES / name).read_bytes())


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.sdp")), ids=lambda p: p.name)
def test_every_sample_is_written_back_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert SessionDescription.parse(bytes(sdp.canonical())) == sdp


def test_baresip_offer_is_answered_with_opus_under_its_number() -> None:
    offer = sample("baresip.sdp")
    assert offer.attribute("tool") == "baresip 3.10.1"
    (audio,) = offer.media
    assert audio.fmtp(96) == "stereo=1;sprop-stereo=1;useinbandfec=1"
    assert audio.ptime == 20
    reply = answer(offer, LOCAL, origin=new_origin(LOCAL, 5))
    (m,) = reply.media
    # every codec of ours, in the offer's order, the offer's numbers; DTMF at 8000 Hz
    assert m.formats == ("96", "9", "0", "8", "101")
    assert m.rtpmap(96) is not None and m.rtpmap(96).encoding == "opus"  # type: ignore[union-attr]
    assert m.fmtp(101) == "0-16"
    stream = negotiate(reply, offer).streams[0]
    assert stream.codec is not None and (stream.codec.name, stream.codec.payload_type) == (
        "opus", 96)
    assert stream.codec.fmtp == "stereo=1;sprop-stereo=1;useinbandfec=1"
    assert stream.telephone_event is None  # telephone-event/8000 does not go with opus
    assert (stream.remote_address, stream.remote_port) == ("192.168.1.10", 10034)


def test_linphone_offer_video_refused_and_dtmf_rates_kept() -> None:
    offer = sample("linphone.sdp")
    assert offer.bandwidths[0].bandwidth == 380
    reply = answer(offer, LOCAL)
    audio, video = reply.media
    assert audio.formats == ("96", "0", "8", "101", "100")
    assert [audio.rtpmap(f).clock_rate for f in ("101", "100")] == [48000, 8000]  # type: ignore[union-attr]
    # a refused stream: port 0, the offered formats kept, no attributes (RFC 3264 §6)
    assert (video.port, video.media, video.proto, video.formats) == (0, "video", "RTP/AVP",
                                                                     ("102",))
    assert video.attributes == ()
    result = negotiate(reply, offer)
    assert [s.active for s in result.streams] == [True, False]
    assert result.streams[0].telephone_event is not None
    assert result.streams[0].telephone_event.payload_type == 101


def test_asterisk_holds_us_and_we_answer_recvonly() -> None:
    offer = sample("asterisk-hold.sdp")
    assert offer.media[0].maxptime == 150
    reply = answer(offer, MediaCapabilities("198.51.100.7", 30000, codecs=(PCMU,
                                                                        TELEPHONE_EVENT)))
    assert reply.direction_of(0) is Direction.RECVONLY
    assert negotiate(reply, offer).streams[0].direction is Direction.RECVONLY


def test_webrtc_offer_needs_dtls_srtp_which_we_do_not_do() -> None:
    offer = sample("webrtc-offer.sdp")
    assert offer.attribute("group") == "BUNDLE 0 1"
    audio = offer.media[0]
    assert audio.attribute("mid") == "0"
    assert audio.attribute_values("extmap")[1].endswith("abs-send-time")
    assert audio.rtpmap(63) is not None and audio.rtpmap(63).channels == 2  # type: ignore[union-attr]
    assert audio.is_rtp
    with pytest.raises(NotAcceptableHere) as refused:
        answer(offer, LOCAL)
    assert refused.value.status_code == 488
    assert "UDP/TLS/RTP/SAVPF" in str(refused.value)


def test_webrtc_offer_accepted_when_the_profile_is_ours() -> None:
    offer = sample("webrtc-offer.sdp")
    local = MediaCapabilities("198.51.100.7", 30000, protos=("UDP/TLS/RTP/SAVPF",))
    reply = answer(offer, local)
    assert reply.media[0].formats == ("111", "9", "0", "8", "110", "126")
    assert reply.media[0].proto == "UDP/TLS/RTP/SAVPF"
    assert reply.media[1].port == 0


def test_deskphone_deviations_are_tolerated() -> None:
    data = (SAMPLES / "deskphone-lf.sdp").read_bytes()
    offer = SessionDescription.parse(data)
    assert offer.eol == "\n"
    assert offer.timings == ()  # no t= line
    assert offer.origin.nettype == "in" and offer.origin.address == "10.0.0.7"
    assert offer.media[0].formats == ("18", "0", "101")
    assert offer.direction_of(0) is Direction.SENDONLY  # from the session level
    connection = offer.connection_of(0)
    assert connection is not None and connection.is_null
    reply = answer(offer, LOCAL)
    # we write CRLF and a t= line of our own, whatever we received
    assert b"\r\nt=0 0\r\n" in bytes(reply)
    assert reply.media[0].formats == ("0", "101")  # G.729 is not ours; DTMF at PCMU's rate
    assert reply.direction_of(0) is Direction.RECVONLY
    # changing the received description keeps its LF line ending for what is rewritten
    changed = offer.replace_media(0, offer.media[0].with_direction(Direction.INACTIVE))
    assert b"\r" not in bytes(changed) and b"a=inactive\n" in bytes(changed)
