"""rtpmap and fmtp values, and the Direction algebra RFC 3264 §6.1 needs."""

from __future__ import annotations

import pytest

from sipwire.sdp import STATIC_PAYLOAD_TYPES, Direction, Fmtp, RtpMap, SdpError


@pytest.mark.parametrize(("value", "expected", "text"), [
    ("0 PCMU/8000", RtpMap(0, "PCMU", 8000), "0 PCMU/8000"),
    ("111 opus/48000/2", RtpMap(111, "opus", 48000, 2), "111 opus/48000/2"),
    ("96  L16/16000/1 ", RtpMap(96, "L16", 16000), "96 L16/16000"),
    ("10 L16/44100/2", RtpMap(10, "L16", 44100, 2), "10 L16/44100/2"),
])
def test_rtpmap(value: str, expected: RtpMap, text: str) -> None:
    assert RtpMap.parse(value) == expected
    assert str(RtpMap.parse(value)) == text


def test_opus_always_writes_its_channel_count() -> None:
    # RFC 7587 §7: the media subtype is "opus/48000/2" whatever is sent
    assert str(RtpMap(96, "OPUS", 48000, 1)) == "96 OPUS/48000/1"


@pytest.mark.parametrize("value", ["", "PCMU/8000", "0 PCMU", "0 PCMU/rate", "128 X/8000",
                                   "0 PCMU/8000/0", "0 PCMU/8000/two"])
def test_bad_rtpmap(value: str) -> None:
    with pytest.raises(SdpError) as caught:
        RtpMap.parse(value)
    assert caught.value.status_code == 400


def test_fmtp_and_its_parameters() -> None:
    fmtp = Fmtp.parse("111 minptime=10; useinbandfec=1;Stereo")
    assert fmtp.format == "111"
    assert fmtp.parameters() == {"minptime": "10", "useinbandfec": "1", "stereo": ""}
    assert str(Fmtp.parse("101 0-15")) == "101 0-15"
    assert Fmtp.parse("18") == Fmtp("18", "")
    assert str(Fmtp("18", "")) == "18"
    with pytest.raises(SdpError):
        Fmtp.parse("   ")


def test_static_payload_types_follow_rfc_3551() -> None:
    assert STATIC_PAYLOAD_TYPES["0"] == RtpMap(0, "PCMU", 8000)
    assert STATIC_PAYLOAD_TYPES["8"] == RtpMap(8, "PCMA", 8000)
    assert STATIC_PAYLOAD_TYPES["9"] == RtpMap(9, "G722", 8000)
    assert STATIC_PAYLOAD_TYPES["18"] == RtpMap(18, "G729", 8000)
    assert STATIC_PAYLOAD_TYPES["34"] == RtpMap(34, "H263", 90000)
    assert "96" not in STATIC_PAYLOAD_TYPES and "2" not in STATIC_PAYLOAD_TYPES


@pytest.mark.parametrize(("direction", "sends", "receives", "reversed_"), [
    (Direction.SENDRECV, True, True, Direction.SENDRECV),
    (Direction.SENDONLY, True, False, Direction.RECVONLY),
    (Direction.RECVONLY, False, True, Direction.SENDONLY),
    (Direction.INACTIVE, False, False, Direction.INACTIVE),
])
def test_direction(direction: Direction, sends: bool, receives: bool,
                   reversed_: Direction) -> None:
    assert (direction.sends, direction.receives) == (sends, receives)
    assert Direction.of(sends, receives) is direction
    assert direction.reversed() is reversed_
    assert direction & Direction.SENDRECV is direction
    assert direction & Direction.INACTIVE is Direction.INACTIVE


def test_direction_intersection() -> None:
    assert Direction.SENDONLY & Direction.RECVONLY is Direction.INACTIVE
    assert Direction.SENDRECV & Direction.RECVONLY is Direction.RECVONLY
