"""Transaction identifiers: which transaction a message belongs to (§17.1.3, §17.2.3).

Responses match client transactions by top Via branch and CSeq method.
Requests whose top Via branch carries the magic cookie match server
transactions by branch, sent-by and method (ACK going to INVITE); requests
without it (RFC 2543 elements, or no branch at all) fall back to comparing
Request-URI, tags, Call-ID, CSeq and the whole top Via.  The keys here are
frozen snapshots, so changing a message afterwards cannot corrupt an index.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..message.errors import ParseError
from ..message.fields.via import Via
from ..message.message import Request, Response
from ..message.uri import URI

__all__ = [
    "BranchKey",
    "ClientKey",
    "MergeKey",
    "Rfc2543Key",
    "branch_key",
    "branch_key_of",
    "client_key",
    "completed_key",
    "merge_key",
    "response_key",
    "rfc2543_key",
    "rfc2543_matches",
    "to_tag",
]

#: (branch, CSeq method): a client transaction's identifier (§17.1.3)
ClientKey = tuple[str, str]
#: (branch, sent-by host, sent-by port): a server transaction's identifier when
#: the branch has the magic cookie, before the method is compared (§17.2.3)
BranchKey = tuple[str, str, int | None]
#: (From tag, Call-ID, CSeq number, CSeq method): what §8.2.2.2 compares
MergeKey = tuple[str | None, str, int, str]
ViaKey = tuple[str, str, str, str, int | None, frozenset[tuple[str, str | None]]]


def client_key(request: Request) -> ClientKey:
    """The identifier of the client transaction that sends ``request``."""
    branch = request.top_via.branch
    if not branch:
        raise ValueError("a client transaction needs a top Via branch (§8.1.1.7)")
    return branch, request.method


def response_key(response: Response) -> ClientKey | None:
    """§17.1.3: the branch of the top Via and the method of CSeq (a CANCEL has the
    branch of its INVITE but is another transaction).  None without a branch."""
    try:
        via = response.top_via  # not every Via: only the top one is matched
    except ParseError:  # a response made without any
        return None
    branch = via.branch
    if not branch:
        return None
    return branch, response.cseq.method


def branch_key(request: Request) -> BranchKey | None:
    """§17.2.3 for a top Via branch with the z9hG4bK cookie; None to fall back to 2543."""
    return branch_key_of(request.top_via)


def branch_key_of(via: Via) -> BranchKey | None:
    """``branch_key`` of a top Via (a request's, or the copy in its response)."""
    if not via.has_magic_cookie:
        return None
    assert via.branch is not None
    return via.branch, via.host.lower(), via.port


def completed_key(key: BranchKey, method: str) -> bytes:
    """The whole §17.2.3 match of a request with the magic cookie as one
    string of bytes: branch, sent-by host and port, and method (never ACK: an
    ACK matches only an INVITE transaction).  A branch is a token and a method
    a token, neither holds a space, so no two different matches give the same
    string.  Bytes, not str: 16 bytes less per retired transaction, of which a
    registrar holds tens of thousands."""
    branch, host, port = key
    return f"{method} {branch} {host} {port}".encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Rfc2543Key:
    """What §17.2.3 compares for every method when the branch lacks the cookie.

    Request-URI (§19.1.4 equality), From tag, Call-ID, CSeq number and top Via;
    the To tag and CSeq method are compared per method by ``rfc2543_matches``.
    """

    request_uri: URI
    from_tag: str | None
    call_id: str
    seq: int
    via: ViaKey


def rfc2543_key(request: Request) -> Rfc2543Key:
    return Rfc2543Key(request.uri.copy(), request.from_.tag, request.call_id,
                      request.cseq.seq, _via_key(request.top_via))


def rfc2543_matches(original: Request, last_response: Response | None,
                    request: Request) -> bool:
    """§17.2.3, RFC 2543 fallback, given equal ``Rfc2543Key``s.

    An INVITE or other request matches if its To tag and CSeq method equal those
    of the ``original`` request; an ACK matches an INVITE transaction if its To
    tag equals that of the response the transaction sent.
    """
    if request.method == "ACK":
        return (original.method == "INVITE" and last_response is not None
                and to_tag(request) == to_tag(last_response))
    return request.method == original.method and to_tag(request) == to_tag(original)


def merge_key(request: Request | Response) -> MergeKey:
    """§8.2.2.2: From tag, Call-ID and CSeq of a request (or of a response to it)."""
    cseq = request.cseq
    return request.from_.tag, request.call_id, cseq.seq, cseq.method


def to_tag(message: Request | Response) -> str | None:
    return message.to.tag


def _via_key(via: Via) -> ViaKey:
    # Protocol names, transport, host and parameter names are case-insensitive
    # (§7.3.1); parameter values (the branch among them) are compared as sent.
    return (via.protocol.upper(), via.version, via.transport.upper(), via.host.lower(),
            via.port, frozenset(via.params.items()))
