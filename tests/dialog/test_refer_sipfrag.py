"""message/sipfrag bodies (RFC 3420) as REFER's NOTIFYs carry them (RFC 3515 §2.4.5)."""

from __future__ import annotations

import pytest

from sipwire.message.errors import ParseError
from sipwire.sipfrag import CONTENT_TYPE, SipFrag, status_fragment


def test_status_fragment() -> None:
    assert status_fragment(100) == b"SIP/2.0 100 Trying\r\n"
    assert status_fragment(200) == b"SIP/2.0 200 OK\r\n"
    assert status_fragment(503, "Service Unavailable") == b"SIP/2.0 503 Service Unavailable\r\n"
    assert status_fragment(599) == b"SIP/2.0 599 Internal Server Error\r\n"  # the 5xx phrase
    with pytest.raises(ValueError):
        status_fragment(99)
    assert CONTENT_TYPE == "message/sipfrag;version=2.0"


def test_parse_status_only() -> None:
    frag = SipFrag.parse(b"SIP/2.0 180 Ringing\r\n")
    assert (frag.status, frag.reason, frag.headers, frag.body) == (180, "Ringing", (), b"")
    assert bytes(frag) == b"SIP/2.0 180 Ringing\r\n"


def test_parse_rfc_3420_examples() -> None:
    # §2: a start line with headers, and headers alone
    frag = SipFrag.parse(b"INVITE sip:alice@atlanta.com SIP/2.0\r\n"
                         b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
                         b"Subject:\r\n lunch\r\n")
    assert frag.start_line == "INVITE sip:alice@atlanta.com SIP/2.0"
    assert frag.status is None and frag.reason is None
    assert frag.headers == (("Contact", "<sip:alice@pc33.atlanta.com>"), ("Subject", "lunch"))
    frag = SipFrag.parse(b"From: Alice <sip:alice@atlanta.com>\r\n\r\nbody text")
    assert frag.start_line is None and frag.status is None and frag.reason is None
    assert frag.body == b"body text"
    assert bytes(frag) == b"From: Alice <sip:alice@atlanta.com>\r\n\r\nbody text"
    assert SipFrag.parse(b"") == SipFrag()


def test_bad_fragment() -> None:
    with pytest.raises(ParseError) as info:
        SipFrag.parse(b"this is not SIP\r\n")
    assert info.value.rfc == "RFC 3420 §2"
