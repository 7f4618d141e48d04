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


# ---- reading tolerantly -------------------------------------------------------------

MINIMAL = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"


def parse(text: str) -> SessionDescription:
    return SessionDescription.parse(text)


def test_bare_lf_mixed_endings_and_a_missing_last_ending_are_kept() -> None:
    text = "v=0\no=- 1 1 IN IP4 h\r\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0\na=sendrecv"
    sdp = parse(text)
    assert sdp.eol == "\n"
    assert str(sdp) == text
    # a line added after the unterminated last line gets the description's ending
    more = sdp.replace_media(0, dataclasses.replace(
        sdp.media[0], attributes=(*sdp.media[0].attributes, Attribute("ptime", "20"))))
    assert str(more).endswith("a=sendrecv\na=ptime:20\n")


def test_a_new_section_after_an_unterminated_one_starts_on_its_own_line() -> None:
    sdp = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0")
    added = dataclasses.replace(sdp, media=(*sdp.media, MediaDescription("video", 0, "RTP/AVP",
                                                                        ("31",))))
    assert str(added).endswith("m=audio 1 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n")


def test_trailing_white_space_is_trimmed_from_values_but_kept_in_the_text() -> None:
    text = (MINIMAL + "c=IN IP4 192.0.2.1  \r\nt=0 0 \r\nm=audio 4000 RTP/AVP 0 8 \r\n"
            "a=ptime:20\t\r\n")
    sdp = parse(text)
    assert sdp.connection == Connection("IN", "IP4", "192.0.2.1")
    assert sdp.media[0].formats == ("0", "8")
    assert sdp.media[0].ptime == 20
    assert str(sdp) == text


def test_the_session_name_is_kept_as_written_even_a_single_space() -> None:
    # RFC 3264 §5 recommends "s= " for unicast sessions
    sdp = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns= \r\n")
    assert sdp.session_name == " "
    assert parse(str(sdp.canonical())).session_name == " "


def test_upper_case_type_letters_are_read_and_written_lower_case_when_rewritten() -> None:
    sdp = parse("V=0\r\nO=- 1 1 IN IP4 h\r\nS=-\r\nA=sendonly\r\n")
    assert sdp.direction is Direction.SENDONLY
    assert str(sdp.canonical()) == "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=sendonly\r\n"


def test_a_missing_t_line_is_accepted_and_not_invented() -> None:
    sdp = parse(MINIMAL + "m=audio 1 RTP/AVP 0\r\n")
    assert sdp.timings == ()
    assert "t=" not in str(sdp.canonical())


def test_lines_out_of_order_keep_their_order_until_changed() -> None:
    text = MINIMAL + "a=tool:x\r\nt=0 0\r\nc=IN IP4 h\r\nb=AS:64\r\n"
    sdp = parse(text)
    assert (sdp.connection, sdp.bandwidths) == (Connection("IN", "IP4", "h"),
                                                (Bandwidth("AS", 64),))
    assert str(sdp) == text
    renamed = dataclasses.replace(sdp, session_name="call")
    assert str(renamed) == ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=call\r\nc=IN IP4 h\r\n"
                            "b=AS:64\r\nt=0 0\r\na=tool:x\r\n")


def test_unknown_lines_and_unreadable_values_are_kept_as_other_lines() -> None:
    text = (MINIMAL + "t=0 0\r\nr=sometimes\r\nz=bad\r\ny=1234\r\nb=AS\r\na=\r\na=bad name\r\n"
            "m=audio 1 RTP/AVP 0\r\nt=0 0\r\nb=X:y\r\nx=media-level\r\n")
    sdp = parse(text)
    assert sdp.other == (OtherLine("r", "sometimes"), OtherLine("z", "bad"),
                         OtherLine("y", "1234"), OtherLine("b", "AS"), OtherLine("a", ""),
                         OtherLine("a", "bad name"))
    assert sdp.media[0].other == (OtherLine("t", "0 0"), OtherLine("b", "X:y"),
                                  OtherLine("x", "media-level"))
    assert str(sdp) == text
    assert parse(str(sdp.canonical())) == sdp


def test_repeated_single_lines_are_kept_as_other_lines() -> None:
    sdp = parse(MINIMAL + "i=one\r\ni=two\r\nc=IN IP4 a\r\nc=IN IP4 b\r\nk=prompt\r\nk=x\r\n"
                "m=audio 1 RTP/AVP 0\r\ni=m1\r\ni=m2\r\nk=a\r\nk=b\r\n")
    assert (sdp.info, sdp.connection, sdp.key) == ("one", Connection("IN", "IP4", "a"), "prompt")
    assert [o.type for o in sdp.other] == ["i", "c", "k"]
    assert (sdp.media[0].info, sdp.media[0].key) == ("m1", "a")
    assert [o.value for o in sdp.media[0].other] == ["m2", "b"]


def test_blank_lines_are_kept_while_the_section_is_unchanged() -> None:
    text = "\r\nv=0\r\n\r\no=- 1 1 IN IP4 h\r\ns=-\r\n\r\nm=audio 1 RTP/AVP 0\r\n\r\n\r\n"
    sdp = parse(text)
    assert str(sdp) == text
    assert str(sdp.canonical()) == "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"


def test_non_utf8_bytes_survive() -> None:
    data = MINIMAL.encode() + b"i=caf\xe9\r\n"
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert bytes(sdp.canonical()) == data


@pytest.mark.parametrize(("address", "expected"), [
    ("224.2.1.1/127/3", Connection("IN", "IP4", "224.2.1.1", 127, 3)),
    ("224.2.1.1/127", Connection("IN", "IP4", "224.2.1.1", 127)),
    ("FF15::101/3", Connection("IN", "IP6", "FF15::101", None, 3)),
    ("2001:db8::1", Connection("IN", "IP6", "2001:db8::1")),
    ("host.example.com", Connection("IN", "IP4", "host.example.com")),
])
def test_connection_addresses(address: str, expected: Connection) -> None:
    addrtype = "IP6" if ":" in address else "IP4"
    connection = Connection.parse(f"IN {addrtype} {address}")
    assert connection == expected
    assert str(connection) == f"IN {addrtype} {address}"


def test_connection_for_address_picks_the_address_type() -> None:
    assert Connection.for_address("[2001:db8::1]") == Connection("IN", "IP6", "2001:db8::1")
    assert Connection.for_address("192.0.2.1") == Connection("IN", "IP4", "192.0.2.1")
    assert Connection.for_address("::").is_null


def test_a_port_count_is_read_and_written() -> None:
    sdp = parse(MINIMAL + "m=video 49170/2 RTP/AVP 31\r\n")
    assert (sdp.media[0].port, sdp.media[0].port_count) == (49170, 2)
    assert sdp.media[0].lines()[0] == "m=video 49170/2 RTP/AVP 31"


# ---- errors -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "rule"), [
    ("", 1, "RFC 4566 §5.1"),
    ("\r\n\r\n", 1, "RFC 4566 §5.1"),
    ("o=- 1 1 IN IP4 h\r\nv=0\r\n", 1, "RFC 4566 §5.1 proto-version"),
    ("v=zero\r\n", 1, "RFC 4566 §5.1 proto-version"),
    ("v=0\r\nhello\r\n", 2, "RFC 4566 §5"),
    ("v=0\r\no=- 1 1 IN IP4\r\n", 2, "RFC 4566 §5.2 origin-field"),
    ("v=0\r\no=- one 1 IN IP4 h\r\n", 2, "RFC 4566 §5.2 origin-field"),
    (MINIMAL + "o=- 1 1 IN IP4 h\r\n", 4, "RFC 4566 §5"),
    (MINIMAL + "s=again\r\n", 4, "RFC 4566 §5"),
    (MINIMAL + "c=IN IP4\r\n", 4, "RFC 4566 §5.7 connection-field"),
    (MINIMAL + "c=IN IP4 224.2.1.1/ttl\r\n", 4, "RFC 4566 §5.7 connection-address"),
    (MINIMAL + "c=IN IP6 FF15::1/1/2\r\n", 4, "RFC 4566 §5.7 IP6-multicast"),
    (MINIMAL + "t=now\r\n", 4, "RFC 4566 §5.9 time-fields"),
    (MINIMAL + "r=7d 1h 0\r\n", 4, "RFC 4566 §5.10 repeat-fields"),
    (MINIMAL + "m=audio\r\n", 4, "RFC 4566 §5.14 media-field"),
    (MINIMAL + "m=audio 70000 RTP/AVP 0\r\n", 4, "RFC 4566 §5.14 media-field"),
    (MINIMAL + "m=audio 1/x RTP/AVP 0\r\n", 4, "RFC 4566 §5.14 media-field"),
    (MINIMAL + "m=audio 1 RTP/AVP 0\r\nc=IN\r\n", 5, "RFC 4566 §5.7 connection-field"),
    (MINIMAL + "v=0\r\n", 4, "RFC 3264 §5"),
])
def test_unusable_descriptions_name_the_line_and_the_rule(text: str, line: int,
                                                          rule: str) -> None:
    with pytest.raises(SdpError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.rfc, caught.value.status_code) == (line, rule, 400)
    assert f"SDP line {line}:" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("text", "rule"), [
    ("v=0\r\ns=-\r\n", "RFC 4566 §5.2 origin-field"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\n", "RFC 4566 §5.3 session-name-field"),
])
def test_a_missing_mandatory_line_is_an_error(text: str, rule: str) -> None:
    with pytest.raises(SdpError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.rfc) == (None, rule)


# ---- attribute helpers --------------------------------------------------------------

def test_rtpmap_static_payload_types_and_unreadable_rtpmaps() -> None:
    m = parse(MINIMAL + "m=audio 1 RTP/AVP 0 9 96 97 98 120\r\na=rtpmap:96 opus/48000/2\r\n"
              "a=rtpmap:97 garbage\r\na=rtpmap:0 PCMA/8000\r\n").media[0]
    # an rtpmap overrides the static meaning; a static type without one has its RFC 3551 meaning
    assert m.rtpmap(0) is not None and m.rtpmap(0).encoding == "PCMA"  # type: ignore[union-attr]
    assert m.rtpmap("9") is not None and m.rtpmap("9").key == ("g722", 8000, 1)  # type: ignore[union-attr]
    assert m.rtpmap(96) is not None and m.rtpmap(96).channels == 2  # type: ignore[union-attr]
    assert m.rtpmap(97) is None and m.rtpmap(98) is None
    assert list(m.rtpmaps()) == ["0", "9", "96"]


def test_formats_of_a_non_rtp_stream_have_no_static_meaning() -> None:
    m = parse(MINIMAL + "m=application 9 TCP/MSRP *\r\nm=image 9 udptl t38\r\n").media
    assert not m[0].is_rtp and m[0].rtpmap("0") is None
    assert m[1].rtpmaps() == {}


def test_fmtp_ptime_and_maxptime() -> None:
    m = parse(MINIMAL + "m=audio 1 RTP/AVP 101 18\r\na=fmtp:101 0-15\r\na=fmtp:bad\r\n"
              "a=fmtp:18 annexb=no\r\na=ptime:x\r\na=maxptime:40\r\n").media[0]
    assert m.fmtp(101) == "0-15" and m.fmtp("18") == "annexb=no" and m.fmtp(0) is None
    assert m.ptime is None and m.maxptime == 40


def test_direction_media_level_wins_over_session_level() -> None:
    sdp = parse(MINIMAL + "a=recvonly\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n"
                "a=inactive\r\nm=audio 3 RTP/AVP 0\r\na=SENDONLY\r\n")
    assert [sdp.direction_of(i) for i in range(3)] == [
        Direction.RECVONLY, Direction.INACTIVE, Direction.SENDONLY]
    plain = parse(MINIMAL + "m=audio 1 RTP/AVP 0\r\n")
    assert plain.direction_of(plain.media[0]) is Direction.SENDRECV


def test_with_direction_replaces_in_place_adds_or_removes() -> None:
    m = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(
        Attribute("sendrecv"), Attribute("ptime", "20"), Attribute("inactive")))
    assert [str(a) for a in m.with_direction(Direction.SENDONLY).attributes] == [
        "sendonly", "ptime:20"]
    assert [str(a) for a in m.with_direction(None).attributes] == ["ptime:20"]
    bare = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(Attribute("ptime", "20"),))
    assert bare.with_direction(Direction.INACTIVE).attributes[-1] == Attribute("inactive")


def test_attribute_lookups_are_case_insensitive() -> None:
    sdp = parse(MINIMAL + "a=Tool:x\r\na=flag\r\na=tool:y\r\n")
    assert sdp.attribute("TOOL") == "x"
    assert sdp.attribute_values("tool") == ["x", "y"]
    assert sdp.attribute("flag") == "" and sdp.attribute("none") is None


def test_connection_of_prefers_the_media_level() -> None:
    sdp = parse(MINIMAL + "c=IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n"
                "c=IN IP4 b\r\n")
    assert [sdp.connection_of(i).address for i in range(2)] == ["a", "b"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "multicast"), [
    ("IN IP4 224.2.1.1/127", True), ("IN IP4 239.255.255.255", True),
    ("IN IP4 223.1.1.1", False), ("IN IP4 host.example", False), ("IN IP6 ff02::1", True),
    ("IN IP6 2001:db8::1", False), ("IN IP4 0.0.0.0", False)])
def test_multicast_connection_addresses(text: str, multicast: bool) -> None:
    assert Connection.parse(text).is_multicast is multicast


def test_a_line_break_in_a_value_we_write_is_refused() -> None:
    sdp = SessionDescription(origin=Origin("-", 1, 1, "IN", "IP4", "h"),
                             session_name="call\r\na=injected")
    with pytest.raises(SdpError) as caught:
        bytes(sdp)
    assert caught.value.rfc == "RFC 4566 §9 byte-string"
    media = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(Attribute("x", "a\nb"),))
    with pytest.raises(SdpError):
        str(dataclasses.replace(sdp, session_name="-", media=(media,)))


def test_an_empty_fmtp_is_skipped_and_odd_zone_offsets_kept_as_other_lines() -> None:
    sdp = parse(MINIMAL + "t=0 0\r\nz=2882844526 soon\r\nm=audio 1 RTP/AVP 0\r\na=fmtp:\r\n"
                "a=fmtp:0 x=1\r\n")
    assert sdp.media[0].fmtp(0) == "x=1"
    assert sdp.zone_adjustments == () and sdp.other == (OtherLine("z", "2882844526 soon"),)


def test_a_media_section_alone_and_its_rejected_flag() -> None:
    sdp = parse(MINIMAL.replace("\r\n", "\n") + "m=audio 0 RTP/AVP 0\n\na=x \n")
    m = sdp.media[0]
    assert m.rejected and str(m) == "m=audio 0 RTP/AVP 0\n\na=x \n"
    assert str(dataclasses.replace(m, port=2)) == "m=audio 2 RTP/AVP 0\na=x \n"
    assert str(MediaDescription("audio", 3, "RTP/AVP", ("8",))) == "m=audio 3 RTP/AVP 8\r\n"
    assert not MediaDescription("audio", 3, "RTP/AVP", ("8",)).rejected
