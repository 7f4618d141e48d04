"""The Via branch a proxy inserts, built so loops can be told from spirals
(RFC 3261 §16.6 step 8, §16.3 step 4).

A branch is ``z9hG4bK<unique>.<index>.<loop>``:

``unique``
    a hash of the received request's top Via (sent-by and branch) and of the
    loop part: what §16.11 recommends for branches that must be unique yet
    the same for the same request.  Different server transactions differ in
    their top Via (an RFC 2543 client's in the other fields), so branches are
    unique across transactions without a random number.
``index``
    the number of the branch within its response context, so every target
    and every retry gets its own (§16.6 step 7: "MUST be different for each
    attempt").
``loop``
    a hash of the fields that decide how the request is processed: the To
    and From tags, Call-ID, CSeq number, the Request-URI as received (before
    any retargeting), and every Route, Proxy-Require and Proxy-Authorization
    value.  The method is left out (§16.6 step 8).

The top Via is in ``unique`` but not in ``loop``, although §16.6 step 8
lists it among the fields of its example: the top Via is the previous hop's,
so a request that comes back has a different one each time round, and a loop
hash over it would never match.  With it left out, a request that returns
unchanged is a loop (482); one whose Request-URI, Route or credentials
changed on the way is a spiral and goes on.

Both hashes are 64-bit BLAKE2s in hexadecimal: the branch needs to be
unique, not secret (§16.6 step 8 names MD5 as "a reasonable choice"; BLAKE2s
is as good a hash and, built into Python, costs less per call than MD5
through OpenSSL).  ``unique`` continues the hash of the loop part with the
top Via and the index, so one hash object makes both.
"""

from __future__ import annotations

import hashlib

from ..message.fields.via import BRANCH_MAGIC_COOKIE, Via
from ..message.message import Request
from .config import ProxyConfig

__all__ = ["branch_for", "is_looped", "loop_hash", "loop_part"]

_HASH_BYTES = 8
_HASH_CHARS = 2 * _HASH_BYTES
_HEX = frozenset("0123456789abcdef")


def _encoded(parts: list[str]) -> bytes:
    return "\x00".join(parts).encode("utf-8", "surrogateescape")


def _loop_hasher(request: Request) -> hashlib.blake2s:
    """A hash object over the loop-detection fields of ``request``."""
    headers = request.headers
    parts = [
        request.to.tag or "",
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        str(request.uri),
    ]
    for name, prefix in _LOOP_HEADERS:
        if name in headers:  # most requests have none of them
            parts += [prefix + value for value in headers.getall(name)]
    return hashlib.blake2s(_encoded(parts), digest_size=_HASH_BYTES)


def loop_hash(request: Request) -> str:
    """The loop-detection part of the branch for ``request`` as received."""
    return _loop_hasher(request).hexdigest()


#: the headers of the loop hash beyond the fixed fields, with their prefixes
_LOOP_HEADERS = (("Route", "route:"), ("Proxy-Require", "proxy-require:"),
                 ("Proxy-Authorization", "proxy-authorization:"))


def branch_for(request: Request, index: int = 0) -> str:
    """The branch of the ``index``-th request forwarded for ``request`` (as
    received, before §16.4 preprocessing).  The same request and index give
    the same branch."""
    via = request.top_via
    hasher = _loop_hasher(request)
    loop = hasher.hexdigest()
    # hexdigest() leaves the object as it was: the loop fields, then these
    hasher.update(_encoded(["", via.transport, via.host, str(via.port), via.branch or "",
                            str(index)]))
    return f"{BRANCH_MAGIC_COOKIE}{hasher.hexdigest()}.{index}.{loop}"


def loop_part(branch: str | None) -> str | None:
    """The loop hash inside a branch this module made, or None for another's."""
    if branch is None or not branch.startswith(BRANCH_MAGIC_COOKIE):
        return None
    _, dot, loop = branch.rpartition(".")
    if not dot or len(loop) != _HASH_CHARS or not _HEX.issuperset(loop):
        return None
    return loop


def is_looped(request: Request, config: ProxyConfig, vias: list[Via] | None = None) -> bool:
    """§16.3 step 4: a Via with our sent-by whose loop part equals the one
    this request would get now.  A Via of ours with another loop part is a
    spiral: the request came back changed.  ``vias``: ``request.via``, when
    the caller has it already."""
    mine = config.myself.is_my_sent_by
    own = [via for via in (request.via if vias is None else vias) if mine(via)]
    if not own:
        return False
    current = loop_hash(request)
    return any(loop_part(via.branch) == current for via in own)
