"""Following a 3xx (RFC 3261 §8.1.3.4): the target set and the new request.

``TargetSet`` starts with the Request-URI of the original request; each 3xx
adds its Contact URIs in decreasing q order, none twice (the loop guard of
§8.1.3.4: two servers redirecting to each other run out of new URIs), and
``next()`` hands them out in that order.  ``redirected_request`` builds the
request to one of them: the whole URI but its method parameter and headers
as Request-URI, its headers as header fields, the same To, From and Call-ID,
CSeq one up, a new branch.  Whether to follow a redirect is the driver's call.
"""

from __future__ import annotations

from ..message.fields.cseq import CSeq
from ..message.fields.via import Via
from ..message.message import Request, Response, new_branch
from ..message.uri import URI, unescape

__all__ = ["TargetSet", "redirected_request"]

#: header fields a URI's headers may not set in the new request (§19.1.5)
_UNSAFE = frozenset({"via", "v", "call-id", "i", "cseq", "from", "f", "to", "t",
                     "max-forwards", "content-length", "l", "record-route", "route"})


class TargetSet:
    """The URIs a redirected request may go to, each once (§8.1.3.4)."""

    __slots__ = ("_queue", "_seen")

    def __init__(self, original: URI) -> None:
        self._seen: set[URI] = {_key(original)}
        self._queue: list[URI] = []

    def add(self, response: Response) -> list[URI]:
        """The Contact URIs of the 3xx ``response`` not seen before, highest
        q first (equal q in their order), queued; returns those added."""
        if not 300 <= response.status < 400:
            raise ValueError(f"a {response.status} is not a redirection (RFC 3261 §8.1.3.4)")
        ranked = sorted(enumerate(response.contact),
                        key=lambda item: (-_q(item[1].params.get("q")), item[0]))
        added: list[URI] = []
        for _, contact in ranked:
            key = _key(contact.uri)
            if key in self._seen:
                continue
            self._seen.add(key)
            added.append(contact.uri.copy())
        self._queue += added
        return added

    def next(self) -> URI | None:
        """The next URI to try, or None when the set is exhausted."""
        return self._queue.pop(0) if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)


def redirected_request(original: Request, target: URI) -> Request:
    """``original`` sent again to ``target`` (§8.1.3.4): Request-URI the target
    without method parameter and headers; the target's headers set as header
    fields (except those that would break the request, §19.1.5); CSeq one
    up; a new Via branch; the rest (To, From, Call-ID, body) copied."""
    request: Request = original.copy()
    params = {k: v for k, v in target.params.items() if k != "method"}
    request.uri = target.copy(params=params, headers={})
    request.headers.set("Via", Via(original.top_via.transport, "127.0.0.1", None,
                                   branch=new_branch()))
    request.headers.set("CSeq", CSeq(original.cseq.seq + 1, original.method))
    for name, value in target.headers.items():
        if name.lower() not in _UNSAFE and name.lower() != "body":
            request.headers.set(unescape(name), unescape(value))
    return request


def _q(value: str | None) -> float:
    try:
        return float(value) if value else 1.0
    except ValueError:
        return 0.0


def _key(uri: URI) -> URI:
    return uri.copy(params={k: v for k, v in uri.params.items() if k != "method"}, headers={})
