"""Accept, Accept-Encoding, Accept-Language (RFC 3261 §20.1-§20.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.accept import (
    AcceptEncoding,
    AcceptLanguage,
    AcceptRange,
    format_qvalue,
)
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS

GRAMMAR_CHARS = "abcxyzAZ019*/;=.q \t\"\\,-<>@[]:é\x00"


def test_registered_as_lists() -> None:
    assert HEADER_TYPES["accept"] is AcceptRange
    assert HEADER_TYPES["accept-encoding"] is AcceptEncoding
    assert HEADER_TYPES["accept-language"] is AcceptLanguage
    assert {"accept", "accept-encoding", "accept-language"} <= LIST_HEADERS


# -- Accept ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.1: Accept: application/sdp;level=1, application/x-private, text/html
    "application/sdp;level=1", "application/x-private", "text/html",
    "*/*", "text/*", "*/*;q=0.1", "text/html;q=0.5", "application/sdp ; q = 0.5",
    "application / sdp", 'text/plain;charset="utf-8";q=1.000;foo', "TEXT/HTML;Q=0",
    "  application/sdp  ",
])
def test_accept_round_trip(text: str) -> None:
    value = AcceptRange.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_accept_attributes() -> None:
    value = AcceptRange.parse("application/sdp;level=1;q=0.5")
    assert (value.type, value.subtype) == ("application", "sdp")
    assert value.params == {"level": "1", "q": "0.5"}
    assert value.q == 0.5
    assert value.mime == "application/sdp"
    assert AcceptRange.parse("text/html").q == 1.0
    assert AcceptRange.parse("Text/HTML;Q=0.").q == 0.0


@pytest.mark.parametrize(("text", "mime", "expected"), [
    ("*/*", "application/sdp", True),
    ("application/*", "application/sdp", True),
    ("APPLICATION/SDP", "application/sdp", True),
    ("application/sdp", "application/pidf+xml", False),
    ("text/*", "application/sdp", False),
])
def test_accept_matches(text: str, mime: str, expected: bool) -> None:
    assert AcceptRange.parse(text).matches(mime) is expected


@pytest.mark.parametrize("text", [
    "", "application", "application/", "/sdp", "application/sdp/x", "application/sdp;",
    "application/sdp;q=2", "application/sdp;q=1.5", "application/sdp;q=0.1234",
    "application/sdp;q=1.001", "application/sdp;q", 'application/sdp;q="0.5"',
    "application/sdp;q=.5", "application/sdp q=0.5", "appl ication/sdp",
    "application/sdp,text/html", "text/html;level=1 2", "application/sdp\x00",
])
def test_accept_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        AcceptRange.parse(text)


def test_accept_modify_renders_canonically() -> None:
    value = AcceptRange.parse("application / sdp ; level = 1")
    value.q = 0.25
    assert str(value) == "application/sdp;level=1;q=0.25"
    value.q = None
    value.subtype = "pidf+xml"
    assert str(value) == "application/pidf+xml;level=1"


def test_accept_build() -> None:
    value = AcceptRange("application", "sdp", q=1)
    assert str(value) == "application/sdp;q=1"
    assert value == AcceptRange.parse("application/sdp;q=1")
    assert str(AcceptRange()) == "*/*"


@pytest.mark.parametrize(("q", "text"), [
    (1.0, "1"), (0.0, "0"), (0.5, "0.5"), (0.125, "0.125"), (0.1, "0.1"), (0.9999, "1"),
])
def test_format_qvalue(q: float, text: str) -> None:
    assert format_qvalue(q) == text


@pytest.mark.parametrize("q", [-0.1, 1.01, float("nan")])
def test_format_qvalue_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        format_qvalue(q)


# -- Accept-Encoding -----------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.2: Accept-Encoding: gzip
    "gzip", "identity; q=0.5", "*;q=0", "gzip;q=1.0", "compress ; q = 0.001",
])
def test_accept_encoding_round_trip(text: str) -> None:
    assert str(AcceptEncoding.parse(text)) == text.strip(" \t")


def test_accept_encoding_attributes() -> None:
    value = AcceptEncoding.parse("identity; q=0.5")
    assert value.coding == "identity"
    assert value.q == 0.5
    value.coding = "gzip"
    assert str(value) == "gzip;q=0.5"
    assert str(AcceptEncoding("gzip", q=0)) == "gzip;q=0"


@pytest.mark.parametrize("text", ["", "gz ip", "gzip;q=x", "gzip/1", "(gzip)", "gzip;"])
def test_accept_encoding_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        AcceptEncoding.parse(text)


# -- Accept-Language -----------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.3: Accept-Language: da, en-gb;q=0.8, en;q=0.7
    "da", "en-gb;q=0.8", "en;q=0.7", "*", "*;q=0.1", "abcdefgh-ABCDEFGH", "en-GB ; q=1",
])
def test_accept_language_round_trip(text: str) -> None:
    assert str(AcceptLanguage.parse(text)) == text.strip(" \t")


def test_accept_language_attributes() -> None:
    value = AcceptLanguage.parse("en-gb;q=0.8")
    assert value.language == "en-gb"
    assert value.q == 0.8
    value.q = 1
    assert str(value) == "en-gb;q=1"
    assert str(AcceptLanguage("fr")) == "fr"


@pytest.mark.parametrize("text", [
    "", "abcdefghi", "en-", "-en", "en--gb", "en_gb", "en-gb1", "es-419", "**", "en;q=3",
])
def test_accept_language_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        AcceptLanguage.parse(text)


# -- the Field contract --------------------------------------------------------

@pytest.mark.parametrize("cls", [AcceptRange, AcceptEncoding, AcceptLanguage])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[AcceptRange], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value
