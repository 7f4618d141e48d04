"""Messages for the dialog tests: what each side builds, passed through the wire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import sipwire
from sipwire import Request, Response

ALICE = "Alice <sip:alice@atlanta.example.com>"
BOB = "Bob <sip:bob@biloxi.example.com>"
ALICE_CONTACT = "<sip:alice@192.0.2.1:5060>"
BOB_CONTACT = "<sip:bob@192.0.2.4:5062>"

M = TypeVar("M", Request, Response)


def wire(message: M) -> M:
    """``message`` serialized and parsed again: what the far end receives."""
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, type(message))
    return parsed


def invite(*, uri: str = "sip:bob@biloxi.example.com", cseq: int = 1,
           call_id: str = "call-1@atlanta", transport: str = "UDP",
           contact: str | None = ALICE_CONTACT, body: bytes = b"",
           headers: Sequence[tuple[str, str]] = ()) -> Request:
    """Alice's INVITE as Bob receives it."""
    built = Request.build("INVITE", uri, from_=f"{ALICE};tag=alicetag", to=BOB,
                          call_id=call_id, cseq=cseq, transport=transport,
                          sent_by=("pc33.atlanta.example.com", 5060), contact=contact,
                          body=body, content_type="application/sdp" if body else None,
                          headers=list(headers))
    return wire(built)


def reply(request: Request, status: int, *, to_tag: str | None = "bobtag",
          contact: str | None = BOB_CONTACT, record_route: Sequence[str] = (),
          headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> Response:
    """A response of the far end, as received."""
    extra = [("Record-Route", rr) for rr in record_route] + list(headers)
    response = request.reply(status, to_tag=to_tag, contact=contact, headers=extra, body=body,
                             content_type="application/sdp" if body else None)
    if to_tag is None:  # an RFC 2543 peer's, or a stateless 100's
        response.headers.set("To", request.headers.get("To") or "")
    return wire(response)
