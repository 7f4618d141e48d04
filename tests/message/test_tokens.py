"""Allow, Require, Proxy-Require, Supported, Unsupported, Content-Encoding,
Content-Language and In-Reply-To (RFC 3261 §20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.tokens import (
    ContentCoding,
    InReplyTo,
    LanguageTag,
    Method,
    OptionTag,
    Token,
)

GRAMMAR_CHARS = "aZ09-.!%*_+`'~()<>:\\\"/[]?{}@ \t,;=é\x00"


@pytest.mark.parametrize(("name", "cls"), [
    ("allow", Method), ("require", OptionTag), ("proxy-require", OptionTag),
    ("supported", OptionTag), ("k", OptionTag), ("unsupported", OptionTag),
    ("content-encoding", ContentCoding), ("e", ContentCoding),
    ("content-language", LanguageTag), ("in-reply-to", InReplyTo),
])
def test_registered(name: str, cls: type[Token]) -> None:
    assert HEADER_TYPES[name] is cls
    if len(name) > 1:
        assert name in LIST_HEADERS


@pytest.mark.parametrize(("cls", "text"), [
    # RFC 3261 §20.5: Allow: INVITE, ACK, OPTIONS, CANCEL, BYE
    (Method, "INVITE"), (Method, "ACK"), (Method, "OPTIONS"), (Method, "CANCEL"),
    (Method, "BYE"), (Method, "FOOBAR"), (Method, "x-custom.method!"),
    # §20.32 Require: 100rel; §20.29 Proxy-Require: foo; §20.37 Supported: 100rel
    (OptionTag, "100rel"), (OptionTag, "foo"), (OptionTag, " timer "),
    # §20.12 Content-Encoding: gzip / e: tar
    (ContentCoding, "gzip"), (ContentCoding, "tar"),
    # §20.13 Content-Language: fr
    (LanguageTag, "fr"), (LanguageTag, "en-US"), (LanguageTag, "abcdefgh-a-bcdefghz"),
    # §20.21 In-Reply-To: 70710@saturn.bell-tel.com, 17320@saturn.bell-tel.com
    (InReplyTo, "70710@saturn.bell-tel.com"), (InReplyTo, "17320@saturn.bell-tel.com"),
    (InReplyTo, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), (InReplyTo, "a<b>:c/[d]?{e}@\"x\""),
])
def test_round_trip(cls: type[Token], text: str) -> None:
    value = cls.parse(text)
    assert str(value) == text.strip(" \t")
    assert value.value == text.strip(" \t")
    assert not value.modified


@pytest.mark.parametrize(("cls", "text"), [
    (Method, ""), (Method, "INV ITE"), (Method, "INVITE,ACK"), (Method, "INVITE;x"),
    (Method, "INVITE/2"), (Method, "<INVITE>"), (Method, "INVITÉ"),
    (OptionTag, ""), (OptionTag, "100rel;x"), (OptionTag, "a b"), (OptionTag, '"foo"'),
    (ContentCoding, ""), (ContentCoding, "g zip"), (ContentCoding, "gzip;q=1"),
    (LanguageTag, ""), (LanguageTag, "en_US"), (LanguageTag, "abcdefghi"),
    (LanguageTag, "en-"), (LanguageTag, "es-419"), (LanguageTag, "*"),
    (InReplyTo, ""), (InReplyTo, "a@"), (InReplyTo, "@b"), (InReplyTo, "a@b@c"),
    (InReplyTo, "a b"), (InReplyTo, "a;b"), (InReplyTo, "a,b"), (InReplyTo, "a=b"),
])
def test_invalid(cls: type[Token], text: str) -> None:
    with pytest.raises(ParseError):
        cls.parse(text)


def test_modify_and_build() -> None:
    value = OptionTag.parse("  100rel ")
    value.value = "timer"
    assert str(value) == "timer"
    assert Method("INVITE") == Method.parse("INVITE")
    assert Method("INVITE") != Method.parse("invite")  # methods are case-sensitive (§7.1)
    assert Method("INVITE") != OptionTag("INVITE")
    assert str(InReplyTo("a@b")) == "a@b"


@pytest.mark.parametrize("cls", [Method, OptionTag, ContentCoding, LanguageTag, InReplyTo])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[Token], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value


def test_a_word_known_as_a_token_is_still_checked_by_a_narrower_grammar() -> None:
    # OptionTag remembers "abcdefghij" as a token; LanguageTag must still refuse it
    assert OptionTag.parse("abcdefghij").value == "abcdefghij"
    for _ in range(2):  # found, then remembered
        value = OptionTag.parse(" abcdefghij\t")
        assert (value.value, value._raw) == ("abcdefghij", " abcdefghij\t")
    with pytest.raises(ParseError, match="language-tag"):
        LanguageTag.parse("abcdefghij")
    assert Method.parse("INVITE").value == "INVITE"
    with pytest.raises(ParseError, match="callid"):
        InReplyTo.parse("a@b@c")


def test_the_tokens_remembered_are_bounded() -> None:
    from sipwire.message.fields import tokens
    for i in range(3000):
        assert Method.parse(f"M{i}").value == f"M{i}"
    assert 0 < len(tokens._TOKENS) <= 1024
    long = "x" * 65
    assert OptionTag.parse(long).value == long
    assert long not in tokens._TOKENS
    for bad in ("IN VITE", "a,b", "é", ""):
        with pytest.raises(ParseError):
            Method.parse(bad)
