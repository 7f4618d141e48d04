"""Refer-To (RFC 3515 §2.1), Referred-By (RFC 3892 §3), Replaces (RFC 3891 §6.1)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES
from sipwire.message.fields.refer import ReferredBy, ReferTo, Replaces
from sipwire.message.uri import unescape

from .conftest import sip

REFER = sip("""\
REFER sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds9
Max-Forwards: 70
From: <sip:alice@example.com>;tag=1928301774
To: <sip:bob@example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710
CSeq: 3 REFER
r: <sip:carol@example.com?Replaces=425928%40bobster.example.org%3Bto-tag%3D7743%3Bfrom-tag%3D6472>
b: "Alice" <sip:alice@example.com>;cid="20398823.2UWQFN309shb3@example.com"
Content-Length: 0

""")


def test_registered_and_compact_forms() -> None:
    assert HEADER_TYPES["refer-to"] is ReferTo and HEADER_TYPES["r"] is ReferTo
    assert HEADER_TYPES["referred-by"] is ReferredBy and HEADER_TYPES["b"] is ReferredBy
    assert HEADER_TYPES["replaces"] is Replaces


def test_read_from_a_message_and_lossless() -> None:
    msg = sipwire.parse(REFER)
    refer_to = msg.headers.first("Refer-To")
    assert isinstance(refer_to, ReferTo)
    assert refer_to.uri.host == "example.com"
    embedded = refer_to.uri.headers["Replaces"]
    replaces = Replaces.parse(unescape(embedded))
    assert (replaces.call_id, replaces.to_tag, replaces.from_tag) == (
        "425928@bobster.example.org", "7743", "6472")
    by = msg.headers.first("Referred-By")
    assert isinstance(by, ReferredBy)
    assert by.display_name == "Alice" and by.cid == "20398823.2UWQFN309shb3@example.com"
    assert bytes(msg) == REFER


def test_refer_to_forms() -> None:
    assert str(ReferTo.parse("sip:carol@example.com")) == "sip:carol@example.com"
    assert ReferTo.parse("<sip:c@example.com;method=SUBSCRIBE>").uri.param("method") == "SUBSCRIBE"
    # a URI with embedded headers must be in angle brackets (RFC 3261 §20.10)
    with pytest.raises(ParseError):
        ReferTo.parse("sip:carol@example.com?Replaces=x")
    with pytest.raises(ParseError) as info:
        ReferTo.parse("<sip:carol@example.com")
    assert info.value.rfc == "RFC 3515 §2.1"
    assert ReferredBy.parse("<sip:a@example.com>").cid is None


@pytest.mark.parametrize("text", [
    "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff",
    "12345@192.168.118.3;to-tag=12345;from-tag=54321;early-only",
    "x;to-tag=a;from-tag=b;foo=\"bar\"",
])
def test_replaces_round_trip(text: str) -> None:
    value = Replaces.parse(text)
    assert str(value) == text and not value.modified


def test_replaces_attributes_and_build() -> None:
    value = Replaces.parse("12345@192.168.118.3;to-tag=12345;from-tag=54321;early-only")
    assert (value.call_id, value.to_tag, value.from_tag, value.early_only) == (
        "12345@192.168.118.3", "12345", "54321", True)
    built = Replaces("12345@192.168.118.3", "12345", "54321", early_only=True)
    assert built == value
    assert str(built) == "12345@192.168.118.3;to-tag=12345;from-tag=54321;early-only"
    assert not Replaces("a", "b", "c").early_only
    assert str(Replaces("a", "b", "c", params={"x": "1"})) == "a;to-tag=b;from-tag=c;x=1"


@pytest.mark.parametrize("text", ["", "a b;to-tag=1;from-tag=2", "abc;from-tag=2",
                                  "abc;to-tag=1", "abc;to-tag=1;from-tag=2;early-only=yes",
                                  "abc;to-tag;from-tag=2"])
def test_replaces_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        Replaces.parse(text)
    assert (info.value.rfc or "").startswith("RFC 3891 §6.1")
