"""make_offer() and negotiate(): RFC 3264 §5, §7 and §8 (modifications, hold)."""

from __future__ import annotations

import pytest

from sipwire.sdp import (
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    MediaCapabilities,
    Negotiated,
    SdpError,
    SessionDescription,
    answer,
    make_offer,
    negotiate,
    new_origin,
)

LOCAL = MediaCapabilities("198.51.100.7", 30000)
HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def sdp(*sections: str) -> SessionDescription:
    return SessionDescription.parse(HEAD + "".join(sections))


def answered(remote_offer: SessionDescription, local: MediaCapabilities = LOCAL) -> Negotiated:
    """The state after we answered ``remote_offer``."""
    return negotiate(answer(remote_offer, local), remote_offer)


def test_initial_offer() -> None:
    offer = make_offer(LOCAL, origin=new_origin(LOCAL, 7))
    assert str(offer) == (
        "v=0\r\no=- 7 7 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 111 9 0 8 101 96\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"
        "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        "a=rtpmap:96 telephone-event/48000\r\na=fmtp:96 0-16\r\n"
        "a=ptime:20\r\na=sendrecv\r\n")


def test_initial_offer_over_ipv6_and_on_hold() -> None:
    local = MediaCapabilities("2001:db8::7", 30000, codecs=(PCMU,))
    offer = make_offer(local, hold=True)
    assert offer.origin.addrtype == "IP6" and offer.connection is not None
    assert str(offer.connection) == "IN IP6 2001:db8::7"
    assert offer.direction_of(0) is Direction.SENDONLY


def test_a_recvonly_party_offers_recvonly() -> None:
    local = MediaCapabilities("198.51.100.7", 30000, direction=Direction.RECVONLY)
    assert make_offer(local).direction_of(0) is Direction.RECVONLY
    assert make_offer(local, hold=True).direction_of(0) is Direction.INACTIVE


def test_a_reoffer_keeps_every_m_line_in_its_place() -> None:
    previous = answered(sdp("m=video 5000 RTP/AVP 31\r\n", "m=audio 4000 RTP/AVP 0 8\r\n",
                            "m=audio 4002 RTP/AVP 0\r\n"))
    offer = make_offer(LOCAL, previous=previous)
    assert [(m.media, m.port, m.formats) for m in offer.media] == [
        ("video", 0, ("31",)), ("audio", 30000, offer.media[1].formats), ("audio", 0, ("0",))]
    assert offer.media[1].rtpmap(0) is not None


def test_removing_a_stream_sets_its_port_to_0_and_keeps_it() -> None:
    previous = answered(sdp("m=audio 4000 RTP/AVP 0 8\r\n"))
    offer = make_offer(LOCAL, previous=previous, remove={0})
    (m,) = offer.media
    assert (m.media, m.port, m.proto, m.formats, m.attributes) == ("audio", 0, "RTP/AVP",
                                                                   ("0", "8"), ())


def test_adding_a_stream_appends_it_below_the_existing_ones() -> None:
    previous = answered(sdp("m=video 5000 RTP/AVP 31\r\n", "m=audio 4000 RTP/AVP 0\r\n"))
    removed = negotiate(make_offer(LOCAL, previous=previous, remove={1}),
                        sdp("m=video 0 RTP/AVP 31\r\n", "m=audio 0 RTP/AVP 0\r\n"))
    offer = make_offer(LOCAL, previous=removed, add=True)
    assert [(m.media, m.port) for m in offer.media] == [
        ("video", 0), ("audio", 0), ("audio", 30000)]
    with pytest.raises(ValueError, match="nothing to add"):
        make_offer(LOCAL, previous=previous, add=True)


def test_dynamic_payload_types_keep_their_codec_for_the_session() -> None:
    # the peer numbered opus 96, telephone-event/48000 101, telephone-event/8000 100, and
    # used our favourite numbers 111 and 9 for codecs we do not have
    previous = answered(sdp("m=audio 4000 RTP/AVP 96 0 101 100 111 9\r\n",
                            "a=rtpmap:96 opus/48000/2\r\n",
                            "a=rtpmap:101 telephone-event/48000\r\n",
                            "a=rtpmap:100 telephone-event/8000\r\n",
                            "a=rtpmap:111 speex/16000\r\n", "a=rtpmap:9 iLBC/8000\r\n"))
    m = make_offer(LOCAL, previous=previous).media[0]
    codecs = {f: (r.encoding, r.clock_rate) for f, r in m.rtpmaps().items()}
    assert codecs["96"] == ("opus", 48000)
    assert codecs["100"] == ("telephone-event", 8000)
    assert codecs["101"] == ("telephone-event", 48000)
    assert "111" not in codecs and "9" not in codecs  # taken by the peer for other codecs
    assert ("G722", 8000) in codecs.values() and ("PCMU", 8000) in codecs.values()
    assert all(int(f) < 128 for f in codecs)


@pytest.mark.parametrize(("peer", "expected"), [
    ("sendrecv", Direction.SENDONLY),   # we were sendrecv: hold is sendonly
    ("sendonly", Direction.INACTIVE),   # the peer holds us (we were recvonly): inactive
    ("recvonly", Direction.SENDONLY),
    ("inactive", Direction.INACTIVE),
])
def test_hold_after_a_previous_exchange(peer: str, expected: Direction) -> None:
    previous = answered(sdp(f"m=audio 4000 RTP/AVP 0\r\na={peer}\r\n"))
    held = make_offer(LOCAL, previous=previous, hold=True)
    assert held.direction_of(0) is expected
    assert held.connection is not None and not held.connection.is_null  # no c=0.0.0.0
    assert make_offer(LOCAL, previous=previous).direction_of(0) is Direction.SENDRECV


# ---- negotiate ----------------------------------------------------------------------

def test_the_answerers_payload_type_numbers_are_what_the_offerer_sends() -> None:
    local = MediaCapabilities("198.51.100.7", 30000, codecs=(PCMU, TELEPHONE_EVENT))
    offer = make_offer(local)
    reply = sdp("m=audio 4000 RTP/AVP 0 100\r\na=rtpmap:100 telephone-event/8000\r\n"
                "a=fmtp:100 0-15\r\na=ptime:30\r\n")
    stream = negotiate(offer, reply).streams[0]
    assert stream.telephone_event is not None
    assert (stream.telephone_event.payload_type, stream.telephone_event.local_payload_type,
            stream.telephone_event.fmtp) == (100, 101, "0-15")
    assert (stream.local_ptime, stream.remote_ptime) == (20, 30)
    assert (stream.local_address, stream.local_port) == ("198.51.100.7", 30000)


def test_the_order_to_send_in_is_the_peers() -> None:
    offer = make_offer(LOCAL)
    stream = negotiate(offer, sdp("m=audio 4000 RTP/AVP 8 0 9\r\n")).streams[0]
    assert [c.name for c in stream.codecs] == ["PCMA", "PCMU", "G722"]
    assert stream.codec is not None and stream.codec.name == "PCMA"


def test_a_null_address_in_the_answer_means_we_do_not_send() -> None:
    offer = make_offer(LOCAL)
    reply = SessionDescription.parse(HEAD.replace("192.0.2.1\r\nt", "0.0.0.0\r\nt")
                                     + "m=audio 4000 RTP/AVP 0\r\n")
    assert negotiate(offer, reply).streams[0].direction is Direction.RECVONLY


def test_a_rejected_stream_is_inactive_without_codecs() -> None:
    offer = make_offer(LOCAL)
    stream = negotiate(offer, sdp("m=audio 0 RTP/AVP 0\r\n")).streams[0]
    assert (stream.active, stream.direction, stream.codecs) == (False, Direction.INACTIVE, ())
    assert negotiate(offer, sdp("m=audio 0 RTP/AVP 0\r\n")).active_streams == ()


def test_an_answer_with_another_media_type_or_no_common_codec_is_inactive() -> None:
    offer = make_offer(LOCAL)
    assert not negotiate(offer, sdp("m=video 4000 RTP/AVP 0\r\n")).streams[0].active
    assert not negotiate(offer, sdp("m=audio 4000 RTP/AVP 18\r\n")).streams[0].active
    only_dtmf = sdp("m=audio 4000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    assert not negotiate(offer, only_dtmf).streams[0].active


def test_an_answer_with_another_number_of_m_lines_is_a_400() -> None:
    offer = make_offer(LOCAL)
    with pytest.raises(SdpError) as caught:
        negotiate(offer, sdp("m=audio 4000 RTP/AVP 0\r\n", "m=video 0 RTP/AVP 31\r\n"))
    assert (caught.value.status_code, caught.value.rfc) == (400, "RFC 3264 §6")


def test_the_remote_rtcp_port_is_its_a_rtcp_or_the_rtp_port_plus_one() -> None:
    offer = make_offer(LOCAL)
    plain = negotiate(offer, sdp("m=audio 4000 RTP/AVP 0\r\n")).streams[0]
    assert plain.remote_rtcp_port == 4001
    rfc3605 = negotiate(offer, sdp("m=audio 4000 RTP/AVP 0\r\na=rtcp:4005 IN IP4 192.0.2.9\r\n"))
    assert rfc3605.streams[0].remote_rtcp_port == 4005
    bad = negotiate(offer, sdp("m=audio 4000 RTP/AVP 0\r\na=rtcp:none\r\n"))
    assert bad.streams[0].remote_rtcp_port == 4001
    assert negotiate(offer, sdp("m=audio 0 RTP/AVP 0\r\n")).streams[0].remote_rtcp_port == 0


def test_dynamic_payload_types_run_out_at_127() -> None:
    many = tuple(Codec(f"X{n}", 8000) for n in range(40))
    offer = make_offer(MediaCapabilities("198.51.100.7", 30000, codecs=many))
    formats = offer.media[0].formats
    assert formats == tuple(str(pt) for pt in range(96, 128))


def test_a_reoffer_recognises_our_stream_whatever_the_case_of_its_media() -> None:
    previous = answered(sdp("m=AUDIO 4000 RTP/AVP 0\r\n"))
    assert previous.streams[0].active
    assert make_offer(LOCAL, previous=previous).media[0].port == 30000
