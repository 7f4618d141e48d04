"""Requests for the auth tests, built the way a UA builds them (RFC 3261 §8.1.1)."""

from __future__ import annotations

import sipwire
from sipwire import Request

REALM = "example.com"
SECRET = b"0123456789abcdef0123456789abcdef"


def register(user: str = "alice", *, cseq: int = 1, call_id: str = "reg-1@client") -> Request:
    """REGISTER sip:example.com, as a UA binding ``user`` (§10.2)."""
    aor = f"sip:{user}@{REALM}"
    return Request.build("REGISTER", f"sip:{REALM}", from_=f"<{aor}>", to=f"<{aor}>",
                         call_id=call_id, cseq=cseq, contact=f"<sip:{user}@192.0.2.10:5060>",
                         sent_by=("192.0.2.10", 5060))


def invite(target: str = "sip:bob@example.com", *, cseq: int = 1,
           body: bytes = b"") -> Request:
    """INVITE ``target`` from alice, as sent to her proxy."""
    return Request.build("INVITE", target, from_=f"<sip:alice@{REALM}>", cseq=cseq,
                         call_id="inv-1@client", contact="<sip:alice@192.0.2.10:5060>",
                         sent_by=("192.0.2.10", 5060), body=body,
                         content_type="application/sdp" if body else None)


WIRE_OPTIONS = (
    b"OPTIONS sip:carol@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:carol@example.com>\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def options() -> Request:
    """An OPTIONS parsed from the wire (sipwire.parse), not built."""
    msg = sipwire.parse(WIRE_OPTIONS)
    assert isinstance(msg, Request)
    return msg
