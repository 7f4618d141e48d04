"""Content-Type and Content-Disposition (RFC 3261 §20.15, §20.11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.mediatype import ContentDisposition, MediaType

GRAMMAR_CHARS = "abcAZ09/-+.;= \t\"\\,[]:*é\x00"


def test_registered() -> None:
    assert HEADER_TYPES["content-type"] is MediaType
    assert HEADER_TYPES["c"] is MediaType
    assert HEADER_TYPES["content-disposition"] is ContentDisposition
    assert "content-type" not in LIST_HEADERS
    assert "content-disposition" not in LIST_HEADERS


# -- Content-Type ------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.15: Content-Type: application/sdp / c: text/html; charset=ISO-8859-4
    "application/sdp", "text/html; charset=ISO-8859-4", "application/pidf+xml",
    'multipart/mixed;boundary="unique-boundary-1"', 'multipart/mixed ; boundary = "a, b; c"',
    "application / sdp", "APPLICATION/SDP", "x-foo/x-bar", "message/sipfrag;version=2.0",
    " application/sdp\t",
])
def test_content_type_round_trip(text: str) -> None:
    value = MediaType.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_content_type_attributes() -> None:
    value = MediaType.parse("Text/HTML; Charset=ISO-8859-4")
    assert value.type == "Text"
    assert value.subtype == "HTML"
    assert value.mime == "text/html"
    assert value.params == {"charset": "ISO-8859-4"}
    assert value.param("CHARSET") == "ISO-8859-4"
    quoted = MediaType.parse('multipart/mixed;boundary="a \\"b\\""')
    assert quoted.params["boundary"] == '"a \\"b\\""'
    assert quoted.param("boundary") == 'a "b"'
    assert quoted.param("missing") is None
    assert MediaType.parse("application/sdp").params == {}


@pytest.mark.parametrize("text", [
    "", "application", "application/", "/sdp", "application/sdp/x", "application sdp",
    "application/sdp;", "application/sdp;charset", "application/sdp;charset=",
    "application/sdp;a=[::1]", "application/sdp charset=x", "application/sdp, text/html",
    'application/sdp;a="b', "applicatión/sdp", "application/sdp;a=b;", "text/html;a=b c",
])
def test_content_type_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        MediaType.parse(text)


def test_content_type_modify_and_build() -> None:
    value = MediaType.parse("text/html ; charset=ISO-8859-4")
    value.params["charset"] = "utf-8"
    assert str(value) == "text/html;charset=utf-8"
    value = MediaType.parse("application/sdp")
    value.subtype = "pidf+xml"
    assert str(value) == "application/pidf+xml"
    built = MediaType("multipart", "mixed", {"boundary": "b1"})
    assert str(built) == "multipart/mixed;boundary=b1"
    assert built == MediaType.parse("multipart/mixed; boundary=b1")
    assert built != MediaType.parse("multipart/mixed; boundary=b2")


# -- Content-Disposition -------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.11: Content-Disposition: session
    "session", "render", "icon", "alert", "session;handling=required",
    "attachment; handling=optional; filename=\"a b.txt\"", "x-custom;flag",
    "Session ; Handling = Optional",
])
def test_content_disposition_round_trip(text: str) -> None:
    value = ContentDisposition.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_content_disposition_attributes() -> None:
    value = ContentDisposition.parse("session")
    assert value.disposition == "session"
    assert value.params == {}
    assert value.handling == "required"  # assumed when absent, §20.11
    assert value.required
    value = ContentDisposition.parse("render;HANDLING=Optional")
    assert value.handling == "Optional"
    assert not value.required
    value.handling = "required"
    assert str(value) == "render;handling=required"
    value.handling = None
    assert str(value) == "render"
    assert str(ContentDisposition("session", handling="optional")) == "session;handling=optional"


@pytest.mark.parametrize("text", [
    "", ";handling=optional", "session render", "session;handling", 'session;handling="optional"',
    "session;", "sess/ion", "session,render",
])
def test_content_disposition_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        ContentDisposition.parse(text)


@pytest.mark.parametrize("cls", [MediaType, ContentDisposition])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[MediaType], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value


def test_media_types_seen_before_parse_the_same() -> None:
    first = MediaType.parse("application/sdp")
    first.params["x"] = "y"
    first.subtype = "changed"
    again = MediaType.parse(" application/sdp\t")
    assert (again.type, again.subtype, again.params, again._raw) == (
        "application", "sdp", {}, " application/sdp\t")
    assert again.params is not MediaType.parse("application/sdp").params
    assert str(again) == "application/sdp"


def test_media_types_remembered_are_bounded() -> None:
    from sipwire.message.fields import mediatype
    for i in range(1000):
        assert MediaType.parse(f"t{i}/s{i}").subtype == f"s{i}"
    assert 0 < len(mediatype._SIMPLE_TYPES) <= 256
    long = "t/" + "s" * 200
    assert MediaType.parse(long).subtype == "s" * 200
    assert long not in mediatype._SIMPLE_TYPES
    for bad in ("", "t/", "/s", "t/s/u", "t s"):
        with pytest.raises(ParseError):
            MediaType.parse(bad)
