"""The RFC 4566 model: parsing, lossless writing, canonical writing of changes, errors."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from sipwire.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    OtherLine,
    RepeatTime,
    SdpError,
    SessionDescription,
    Timing,
    ZoneAdjustment,
)

# RFC 4566 §5's example, with every session-level line type
RFC4566_EXAMPLE = (
    "v=0\r\n"
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    "s=SDP Seminar\r\n"
    "i=A Seminar on the session description protocol\r\n"
    "u=http://www.example.com/seminars/sdp.pdf\r\n"
    "e=j.doe@example.com (Jane Doe)\r\n"
    "p=+1 617 555-6011\r\n"
    "c=IN IP4 224.2.17.12/127\r\n"
    "b=CT:128\r\n"
    "t=2873397496 2873404696\r\n"
    "r=7d 1h 0 25h\r\n"
    "z=2882844526 -1h 2898848070 0\r\n"
    "k=prompt\r\n"
    "a=recvonly\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "i=the video\r\n"
    "b=AS:256\r\n"
    "k=clear:secret\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
)


def test_every_field_of_the_rfc_example_is_read() -> None:
    sdp = SessionDescription.parse(RFC4566_EXAMPLE.encode())
    assert sdp.version == 0
    assert sdp.origin == Origin("jdoe", 2890844526, 2890842807, "IN", "IP4", "10.47.16.5")
    assert sdp.session_name == "SDP Seminar"
    assert sdp.info == "A Seminar on the session description protocol"
    assert sdp.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sdp.emails == ("j.doe@example.com (Jane Doe)",)
    assert sdp.phones == ("+1 617 555-6011",)
    assert sdp.connection == Connection("IN", "IP4", "224.2.17.12", ttl=127)
    assert sdp.bandwidths == (Bandwidth("CT", 128),)
    assert sdp.timings == (Timing(2873397496, 2873404696,
                                  (RepeatTime("7d", "1h", ("0", "25h")),)),)
    assert sdp.zone_adjustments == (ZoneAdjustment(2882844526, "-1h"),
                                    ZoneAdjustment(2898848070, "0"))
    assert sdp.key == "prompt"
    assert sdp.attributes == (Attribute("recvonly"),)
    audio, video = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == ("audio", 49170, "RTP/AVP",
                                                                     ("0",))
    assert video.info == "the video"
    assert video.bandwidths == (Bandwidth("AS", 256),)
    assert video.key == "clear:secret"
    assert video.rtpmap(99) is not None and video.rtpmap(99).encoding == "h263-1998"  # type: ignore[union-attr]
    assert sdp.direction_of(0) is Direction.RECVONLY


def test_unmodified_description_writes_its_exact_bytes() -> None:
    data = RFC4566_EXAMPLE.encode()
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert str(sdp) == RFC4566_EXAMPLE


def test_a_description_built_in_code_is_canonical_crlf() -> None:
    sdp = SessionDescription(
        origin=Origin("-", 1, 2, "IN", "IP4", "192.0.2.1"),
        connection=Connection.for_address("192.0.2.1"),
        media=(MediaDescription("audio", 4000, "RTP/AVP", ("0",),
                                attributes=(Attribute("rtpmap", "0 PCMU/8000"),
                                            Attribute("sendrecv"))),))
    assert bytes(sdp) == (b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                          b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                          b"a=sendrecv\r\n")
    assert SessionDescription.parse(bytes(sdp)) == sdp


def test_pickled_error_keeps_its_fields() -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse(b"v=0\r\no=x\r\n")
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.line, again.rfc, again.status_code) == (2, "RFC 4566 §5.2 origin-field", 400)


def test_a_modified_media_section_is_written_canonically_and_others_kept() -> None:
    data = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\na=sendrecv \r\n"
            "m=video 4002 RTP/AVP 31\r\nx=kept\r\n")
    sdp = SessionDescription.parse(data)
    changed = sdp.replace_media(1, dataclasses.replace(sdp.media[1], port=0))
    assert str(changed) == data.replace("4002", "0")
    assert changed.media[1].other == (OtherLine("x", "kept"),)
