"""answer(): RFC 3264 §6, rule by rule."""

from __future__ import annotations

import pytest

from sipwire.sdp import (
    G722,
    OPUS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    MediaCapabilities,
    NotAcceptableHere,
    Origin,
    SdpError,
    SessionDescription,
    Timing,
    answer,
    negotiate,
    new_origin,
)

LOCAL = MediaCapabilities("198.51.100.7", 30000)
HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def offer(*sections: str, head: str = HEAD) -> SessionDescription:
    return SessionDescription.parse(head + "".join(sections))


def audio(formats: str, *attributes: str, port: int = 4000, proto: str = "RTP/AVP") -> str:
    return f"m=audio {port} {proto} {formats}\r\n" + "".join(f"a={a}\r\n" for a in attributes)


def test_one_m_line_per_offered_m_line_in_order() -> None:
    reply = answer(offer(audio("0"), "m=video 5000 RTP/AVP 31\r\n", audio("8", port=6000),
                         "m=application 7000 TCP/MSRP *\r\n"), LOCAL)
    assert [(m.media, m.port) for m in reply.media] == [
        ("audio", 30000), ("video", 0), ("audio", 0), ("application", 0)]


def test_an_offer_without_streams_gets_an_answer_without_streams() -> None:
    reply = answer(offer(), LOCAL)
    assert reply.media == ()


def test_static_payload_types_match_by_number_and_keep_the_offer_order() -> None:
    reply = answer(offer(audio("8 3 0")), LOCAL)
    m = reply.media[0]
    assert m.formats == ("8", "0")
    # rtpmaps for static payload types too (RFC 3264 §6 SHOULD)
    assert m.attribute_values("rtpmap") == ["8 PCMA/8000", "0 PCMU/8000"]


def test_dynamic_payload_types_match_by_name_and_rate_and_keep_the_offerers_number() -> None:
    reply = answer(offer(audio("98 97 99", "rtpmap:98 OPUS/48000/2", "rtpmap:97 G722/16000",
                               "rtpmap:99 pcmu/16000")), LOCAL)
    m = reply.media[0]
    assert m.formats == ("98",)
    assert m.rtpmap(98) is not None and m.rtpmap(98).key == ("opus", 48000, 2)  # type: ignore[union-attr]
    assert m.fmtp(98) == "useinbandfec=1"  # our own fmtp for what we receive


def test_telephone_event_is_kept_at_the_rate_of_an_accepted_codec_only() -> None:
    reply = answer(offer(audio("96 0 101 102", "rtpmap:96 opus/48000/2",
                               "rtpmap:101 telephone-event/48000",
                               "rtpmap:102 telephone-event/8000", "fmtp:102 0-11")), LOCAL)
    m = reply.media[0]
    assert m.formats == ("96", "0", "101", "102")
    assert m.fmtp(102) == "0-16"
    only_g711 = answer(offer(audio("0 101 102", "rtpmap:101 telephone-event/48000",
                                   "rtpmap:102 telephone-event/8000")), LOCAL)
    assert only_g711.media[0].formats == ("0", "102")


def test_telephone_event_alone_is_no_codec_in_common() -> None:
    with pytest.raises(NotAcceptableHere) as caught:
        answer(offer(audio("101", "rtpmap:101 telephone-event/8000")), LOCAL)
    assert "no codec in common (offered: telephone-event/8000)" in str(caught.value)


def test_without_telephone_event_of_ours_none_is_answered() -> None:
    local = MediaCapabilities("198.51.100.7", 30000, codecs=(PCMU,))
    reply = answer(offer(audio("0 101", "rtpmap:101 telephone-event/8000")), local)
    assert reply.media[0].formats == ("0",)


def test_refused_stream_is_port_0_with_the_offered_formats_and_no_attributes() -> None:
    reply = answer(offer(audio("0"), "m=video 5000 RTP/AVP 96 97\r\na=rtpmap:96 VP8/90000\r\n"),
                   LOCAL)
    video = reply.media[1]
    assert (video.port, video.proto, video.formats, video.attributes) == (
        0, "RTP/AVP", ("96", "97"), ())
    assert "m=video 0 RTP/AVP 96 97\r\n" in str(reply)


@pytest.mark.parametrize(("section", "reason"), [
    ("m=video 5000 RTP/AVP 31\r\n", "we do not do video"),
    (audio("0", proto="RTP/SAVP"), "we do not do RTP/SAVP"),
    (audio("18 3"), "no codec in common (offered: G729/8000 GSM/8000)"),
    (audio("99"), "no codec in common (offered: none known)"),
])
def test_nothing_acceptable_is_488_with_the_reasons(section: str, reason: str) -> None:
    with pytest.raises(NotAcceptableHere) as caught:
        answer(offer(section), LOCAL)
    assert caught.value.status_code == 488
    assert caught.value.rfc == "RFC 3264 §6"
    assert reason in str(caught.value)


def test_an_offer_with_every_stream_disabled_is_answered_all_disabled() -> None:
    reply = answer(offer(audio("0", port=0), "m=video 0 RTP/AVP 31\r\n"), LOCAL)
    assert [m.port for m in reply.media] == [0, 0]


def test_an_offered_port_0_is_answered_port_0_even_for_a_codec_we_do() -> None:
    reply = answer(offer(audio("0", port=0), audio("8")), LOCAL)
    assert [m.port for m in reply.media] == [0, 30000]


def test_only_the_first_acceptable_stream_of_our_type_is_taken() -> None:
    reply = answer(offer(audio("18"), audio("0", port=4002), audio("8", port=4004)), LOCAL)
    assert [m.port for m in reply.media] == [0, 30000, 0]


def test_proto_comparison_is_case_insensitive_and_the_offered_spelling_is_answered() -> None:
    reply = answer(offer(audio("0", proto="rtp/avp")), LOCAL)
    assert reply.media[0].proto == "rtp/avp"


@pytest.mark.parametrize(("offered", "local", "hold", "expected"), [
    (None, Direction.SENDRECV, False, Direction.SENDRECV),
    ("sendrecv", Direction.SENDRECV, False, Direction.SENDRECV),
    ("sendonly", Direction.SENDRECV, False, Direction.RECVONLY),
    ("recvonly", Direction.SENDRECV, False, Direction.SENDONLY),
    ("inactive", Direction.SENDRECV, False, Direction.INACTIVE),
    ("sendrecv", Direction.RECVONLY, False, Direction.RECVONLY),
    ("sendrecv", Direction.SENDONLY, False, Direction.SENDONLY),
    ("recvonly", Direction.RECVONLY, False, Direction.INACTIVE),
    # our own hold: we stop receiving
    ("sendrecv", Direction.SENDRECV, True, Direction.SENDONLY),
    ("sendonly", Direction.SENDRECV, True, Direction.INACTIVE),
    ("recvonly", Direction.SENDRECV, True, Direction.SENDONLY),
    ("inactive", Direction.SENDRECV, True, Direction.INACTIVE),
])
def test_direction_rules(offered: str | None, local: Direction, hold: bool,
                         expected: Direction) -> None:
    attributes = (offered,) if offered else ()
    caps = MediaCapabilities("198.51.100.7", 30000, direction=local)
    reply = answer(offer(audio("0", *attributes)), caps, hold=hold)
    assert reply.direction_of(0) is expected
    assert reply.media[0].direction is expected  # always written at media level


def test_session_level_direction_of_the_offer_counts() -> None:
    reply = answer(offer(audio("0"), head=HEAD + "a=sendonly\r\n"), LOCAL)
    assert reply.direction_of(0) is Direction.RECVONLY


def test_rfc2543_hold_address_is_answered_recvonly() -> None:
    held = HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0")
    reply = answer(offer(audio("0"), head=held), LOCAL)
    assert reply.direction_of(0) is Direction.RECVONLY


def test_a_stream_without_any_connection_address_is_a_400() -> None:
    head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
    with pytest.raises(SdpError) as caught:
        answer(offer(audio("0"), head=head), LOCAL)
    assert (caught.value.status_code, caught.value.rfc) == (400, "RFC 4566 §5.7")
    with_media_c = answer(offer(audio("0", port=4000) + "c=IN IP4 192.0.2.9\r\n", head=head),
                          LOCAL)
    assert with_media_c.media[0].port == 30000


def test_the_answer_time_equals_the_offer_time_and_a_missing_one_is_0_0() -> None:
    timed = HEAD.replace("t=0 0", "t=3034423619 3042462419")
    assert answer(offer(audio("0"), head=timed), LOCAL).timings == (
        Timing(3034423619, 3042462419),)
    untimed = HEAD.replace("t=0 0\r\n", "")
    assert answer(offer(audio("0"), head=untimed), LOCAL).timings == (Timing(0, 0),)


def test_the_answer_carries_our_address_ptime_and_origin() -> None:
    origin = Origin("bob", 9, 9, "IN", "IP4", "198.51.100.7")
    reply = answer(offer(audio("0")), LOCAL, origin=origin)
    assert reply.origin == origin
    assert reply.connection is not None and reply.connection.address == "198.51.100.7"
    assert reply.media[0].ptime == 20
    assert reply.session_name == "-"
    no_ptime = MediaCapabilities("198.51.100.7", 30000, ptime=None)
    assert answer(offer(audio("0")), no_ptime).media[0].ptime is None


def test_a_fresh_origin_is_below_2_62_with_the_version_equal_to_the_id() -> None:
    origin = answer(offer(audio("0")), LOCAL).origin
    assert 0 <= origin.sess_id < 2**62 and origin.sess_version == origin.sess_id
    assert new_origin(LOCAL, 42) == Origin("-", 42, 42, "IN", "IP4", "198.51.100.7")


def test_codec_preference_of_the_offer_wins_over_ours() -> None:
    local = MediaCapabilities("198.51.100.7", 30000, codecs=(OPUS, G722, PCMU, PCMA))
    reply = answer(offer(audio("8 0 9")), local)
    assert reply.media[0].formats == ("8", "0", "9")


def test_channel_counts_must_match() -> None:
    local = MediaCapabilities("198.51.100.7", 30000, codecs=(Codec("L16", 44100, 2, 10),))
    reply = answer(offer(audio("11 10")), local)
    assert reply.media[0].formats == ("10",)


def test_defaults_a_sip_engineer_expects() -> None:
    assert [c.name for c in LOCAL.codecs] == ["opus", "G722", "PCMU", "PCMA", "telephone-event"]
    assert (PCMU.payload_type, PCMA.payload_type, G722.payload_type) == (0, 8, 9)
    assert (OPUS.rate, OPUS.channels, TELEPHONE_EVENT.fmtp) == (48000, 2, "0-16")
    assert (LOCAL.direction, LOCAL.ptime, LOCAL.protos) == (Direction.SENDRECV, 20,
                                                            ("RTP/AVP",))


def test_opus_matches_whatever_channel_count_its_rtpmap_gives() -> None:
    # RFC 7587 §7: always opus/48000/2; some agents write opus/48000
    sent = offer(audio("96", "rtpmap:96 opus/48000"))
    reply = answer(sent, LOCAL)
    assert reply.media[0].formats == ("96",)
    assert reply.media[0].attribute_values("rtpmap") == ["96 opus/48000/2"]
    stream = negotiate(reply, sent).streams[0]
    assert stream.active and stream.codec is not None and stream.codec.channels == 2


@pytest.mark.parametrize("connection", ["IN IP4 224.2.17.12/127", "IN IP4 239.1.1.1",
                                        "IN IP6 FF15::101"])
def test_multicast_streams_are_refused(connection: str) -> None:
    head = HEAD.replace("IN IP4 192.0.2.1\r\nt", f"{connection}\r\nt")
    with pytest.raises(NotAcceptableHere, match="multicast"):
        answer(offer(audio("0"), head=head), LOCAL)
    unicast = answer(offer(audio("0"), audio("0", port=4002) + "c=IN IP4 192.0.2.9\r\n",
                           head=head), LOCAL)
    assert [m.port for m in unicast.media] == [0, 30000]
