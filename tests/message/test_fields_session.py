"""RSeq, RAck (RFC 3262 §7), Session-Expires and Min-SE (RFC 4028 §4-5)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.session import MinSE, RAck, RSeq, SessionExpires
from sipwire.message.headers import Headers

from .conftest import sip

RESPONSE = sip("""\
SIP/2.0 183 Session Progress
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776asdhds
From: <sip:alice@example.com>;tag=1928301774
To: <sip:bob@example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
RSeq:  988789
x: 1800 ; REFRESHER=UAS
Min-SE: 90
Content-Length: 0

""")


def test_registered() -> None:
    assert HEADER_TYPES["rseq"] is RSeq
    assert HEADER_TYPES["rack"] is RAck
    assert HEADER_TYPES["session-expires"] is SessionExpires
    assert HEADER_TYPES["x"] is SessionExpires
    assert HEADER_TYPES["min-se"] is MinSE
    assert not {"rseq", "rack", "session-expires", "min-se"} & LIST_HEADERS


def test_read_from_a_message_and_lossless() -> None:
    msg = sipwire.parse(RESPONSE)
    rseq = msg.headers.first("RSeq")
    assert isinstance(rseq, RSeq) and rseq.value == 988789 and int(rseq) == 988789
    se = msg.headers.first("Session-Expires")
    assert isinstance(se, SessionExpires)
    assert se.value == 1800 and se.refresher == "uas"
    min_se = msg.headers.first("min-se")
    assert isinstance(min_se, MinSE) and int(min_se) == 90
    assert bytes(msg) == RESPONSE
    # the compact form x and the long form are one header
    assert msg.headers.get("Session-Expires") == "1800 ; REFRESHER=UAS"


def test_changed_value_written_canonically() -> None:
    msg = sipwire.parse(RESPONSE)
    se = msg.headers.first("x")
    assert isinstance(se, SessionExpires)
    se.refresher = "uac"
    assert b"\r\nx: 1800;refresher=uac\r\n" in bytes(msg)


@pytest.mark.parametrize("text", ["1 1 INVITE", "776656 1 INVITE", " 5\t22 INVITE ",
                                  "4294967295 2147483647 FOO"])
def test_rack_round_trip(text: str) -> None:
    value = RAck.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_rack_attributes_and_build() -> None:
    value = RAck.parse("776656 1 INVITE")
    assert (value.rseq, value.cseq, value.method) == (776656, 1, "INVITE")
    assert value == RAck(776656, 1, "INVITE")
    assert str(RAck(7, 2, "INVITE")) == "7 2 INVITE"
    value.rseq = 776657
    assert value.modified and str(value) == "776657 1 INVITE"


@pytest.mark.parametrize("text", ["", "1 INVITE", "1 2", "a 1 INVITE", "1 2 INV@TE",
                                  "1 2147483648 INVITE", "4294967296 1 INVITE", "1 2 3 INVITE"])
def test_rack_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        RAck.parse(text)
    assert info.value.rfc == "RFC 3262 §7.2"


@pytest.mark.parametrize("text", ["", "-1", "1.5", "4294967296", "x"])
def test_rseq_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        RSeq.parse(text)
    assert info.value.rfc == "RFC 3262 §7.1"


@pytest.mark.parametrize(("text", "value", "refresher"), [
    ("4000;refresher=uac", 4000, "uac"),
    ("1800", 1800, None),
    ("90;x=y;refresher=UAS", 90, "uas"),
    ("3600 ;refresher=uac;flag", 3600, "uac"),
])
def test_session_expires(text: str, value: int, refresher: str | None) -> None:
    se = SessionExpires.parse(text)
    assert (se.value, se.refresher) == (value, refresher)
    assert str(se) == text


@pytest.mark.parametrize("text", ["", "abc", "1800;refresher=proxy", "1800;refresher",
                                  "1800;;", "-5"])
def test_session_expires_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        SessionExpires.parse(text)
    assert info.value.rfc == "RFC 4028 §4"


def test_session_expires_build() -> None:
    assert str(SessionExpires(1800, "uac")) == "1800;refresher=uac"
    assert str(SessionExpires(1800)) == "1800"
    se = SessionExpires(1800, "uas")
    se.refresher = None
    assert str(se) == "1800"
    with pytest.raises(ValueError, match="uac"):
        SessionExpires(1800, "proxy")


def test_min_se() -> None:
    assert MinSE.parse("90;lr").params == {"lr": None}
    assert str(MinSE(120)) == "120"
    with pytest.raises(ParseError) as info:
        MinSE.parse("ninety")
    assert info.value.rfc == "RFC 4028 §5"


def test_headers_build_with_typed_values() -> None:
    headers = Headers([("RAck", RAck(1, 2, "INVITE")), ("Session-Expires", SessionExpires(90))])
    assert headers.get("RAck") == "1 2 INVITE"
    assert headers.first("x") == SessionExpires(90)
