"""Alert-Info, Call-Info, Error-Info (RFC 3261 §20.4, §20.9, §20.18)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.info import AlertInfo, CallInfo, ErrorInfo, InfoURI
from sipwire.message.uri import URI

GRAMMAR_CHARS = "<>:/@.;=\"\\ \tabcsiphtp019é,[]%"


def test_registered_as_lists() -> None:
    assert HEADER_TYPES["alert-info"] is AlertInfo
    assert HEADER_TYPES["call-info"] is CallInfo
    assert HEADER_TYPES["error-info"] is ErrorInfo
    assert {"alert-info", "call-info", "error-info"} <= LIST_HEADERS


@pytest.mark.parametrize(("cls", "text"), [
    # RFC 3261 §20.4, §20.9, §20.18 examples
    (AlertInfo, "<http://www.example.com/sounds/moo.wav>"),
    (CallInfo, "<http://wwww.example.com/alice/photo.jpg> ;purpose=icon"),
    (CallInfo, "<http://www.example.com/alice/> ;purpose=info"),
    (ErrorInfo, "<sip:not-in-service-recording@atlanta.com>"),
    (CallInfo, " <https://example.com/card.vcf>;purpose=card;x=\"a, b\";flag "),
    (AlertInfo, "<urn:alert:tone:normal>;appearance=2"),
    (ErrorInfo, "<tel:+1-201-555-0123>"),
])
def test_round_trip(cls: type[InfoURI], text: str) -> None:
    value = cls.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_attributes() -> None:
    value = CallInfo.parse("<http://www.example.com/alice/photo.jpg> ;purpose=icon;Size=2")
    assert isinstance(value.uri, URI)
    assert value.uri.scheme == "http"
    assert str(value.uri) == "http://www.example.com/alice/photo.jpg"
    assert value.params == {"purpose": "icon", "size": "2"}
    assert value.purpose == "icon"
    assert AlertInfo.parse("<http://a.example/x>").params == {}
    assert CallInfo.parse("<http://a.example/x>").purpose is None


@pytest.mark.parametrize("text", [
    "", "http://www.example.com/", "<http://www.example.com/", "< http://www.example.com/>",
    "<http://www.example.com/ >", "<>", "<www.example.com>", "<http:>",
    "<http://a.example/x> purpose=icon", "<http://a.example/x>;", "<http://a.example/x>x",
    "<http://a.example/x>;purpose=", "<http://a b>", "<http://a.example/x><http://b>",
    "<sip:alice@[::1>",
])
def test_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        AlertInfo.parse(text)


@pytest.mark.parametrize("text", [
    '<http://a.example/x>;purpose="icon"', "<http://a.example/x>;purpose",
    "<http://a.example/x>;purpose=[::1]",
])
def test_call_info_purpose_must_be_token(text: str) -> None:
    with pytest.raises(ParseError):
        CallInfo.parse(text)
    AlertInfo.parse(text)  # any generic-param is fine elsewhere


def test_modify_renders_canonically() -> None:
    value = CallInfo.parse("<http://www.example.com/alice/> ;purpose=info")
    value.purpose = "card"
    assert str(value) == "<http://www.example.com/alice/>;purpose=card"
    value = ErrorInfo.parse("<sip:rec@atlanta.com> ; x=1")
    value.uri.host = "biloxi.com"
    assert str(value) == "<sip:rec@biloxi.com>;x=1"
    value.uri = URI.parse("http://example.com/e")
    assert str(value) == "<http://example.com/e>;x=1"


def test_build() -> None:
    value = CallInfo("http://www.example.com/alice/photo.jpg", purpose="icon")
    assert str(value) == "<http://www.example.com/alice/photo.jpg>;purpose=icon"
    assert value == CallInfo.parse("<http://www.example.com/alice/photo.jpg> ; purpose=icon")
    assert str(AlertInfo(URI.parse("http://x.example/a.wav"))) == "<http://x.example/a.wav>"
    value.purpose = None
    assert value.params == {}


@pytest.mark.parametrize("cls", [AlertInfo, CallInfo, ErrorInfo])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[InfoURI], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value
