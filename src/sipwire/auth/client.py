"""The client side of Digest: answer 401/407 and pre-authorize (RFC 3261 §22.2, §22.3).

:meth:`DigestClient.answer` turns a challenge and the request it answered
into the request to send next: a copy with CSeq incremented (§22.2) and a new
Via branch (a new transaction, §8.1.1.7), carrying an Authorization for each
realm challenged in WWW-Authenticate and a Proxy-Authorization for each realm
in Proxy-Authenticate (§22.3: a forking proxy may aggregate several).

Per realm it answers the strongest challenge it supports, the topmost among
equals (RFC 8760 §2.4 asks for the topmost; ours is the local policy the RFC
allows, so a server listing MD5 before SHA-256 still gets SHA-256), with
``qop=auth`` when offered (``auth-int`` when only that is), and without qop
only when the challenge has none (RFC 2069).  Challenges it does not
understand are ignored (§2.4).  It gives up on a realm whose credentials the
request already carried unless the challenge says ``stale=true``: a UAC MUST
NOT retry credentials that were just rejected (§22.1).

The client remembers each realm's nonce, so :meth:`DigestClient.authorize`
can put credentials on the next request without waiting for a challenge
(nonce-count counting up).  RFC 3261 §22.3 would have proxy credentials
reused only within a Call-ID, or for a configured outbound proxy; the caller
picks ``realms`` accordingly, or calls :meth:`DigestClient.forget`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ..message.errors import ParseError
from ..message.fields.auth import Challenge, Credentials
from ..message.fields.cseq import CSeq
from ..message.fields.via import Via
from ..message.message import Request, Response, new_branch
from .digest import ALGORITHMS, Algorithm, ha1, request_digest

__all__ = ["DigestClient", "answer_challenge"]

_A = TypeVar("_A", Challenge, Credentials)

_NEVER_AUTHORIZED = frozenset({"ACK", "CANCEL"})  # ACK copies the INVITE's (§22.1)


@dataclass(slots=True)
class _Session:
    """What a realm's last challenge told us, and how far we counted."""

    realm: str
    proxy: bool
    algorithm: Algorithm
    #: the algorithm parameter as the challenge wrote it (None: absent, MD5)
    algorithm_param: str | None
    nonce: str
    qop: str | None
    opaque: str | None
    nc: int = 0
    #: the cnonce of a -sess session key, fixed for the nonce (RFC 7616 §3.4.2)
    session_cnonce: str | None = None


class DigestClient:
    """Answers Digest challenges as ``username`` with ``password``.

    ``realms`` limits the realms those are given to (any when None);
    ``accounts`` maps other realms to their own ``(username, password)``
    (an outbound proxy's account, say).  ``cnonce`` makes client nonces
    (random 64 bits by default; tests pass a fixed one).
    """

    __slots__ = ("_accounts", "_cnonce", "_default", "_ha1", "_sessions", "realms")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        realms: Collection[str] | None = None,
        accounts: Mapping[str, tuple[str, str]] | None = None,
        cnonce: Callable[[], str] | None = None,
    ) -> None:
        self.realms = frozenset(realms) if realms is not None else None
        self._accounts = dict(accounts or {})
        self._default = (username, password)
        self._cnonce = cnonce or (lambda: secrets.token_hex(8))
        self._ha1: dict[tuple[str, str], str] = {}  # (realm, hash) -> HA1
        self._sessions: dict[str, _Session] = {}

    def account(self, realm: str) -> tuple[str, str] | None:
        """The ``(username, password)`` for ``realm``, or None when it is not ours."""
        found = self._accounts.get(realm)
        if found is not None:
            return found
        if self.realms is None or realm in self.realms:
            return self._default
        return None

    def __repr__(self) -> str:  # no passwords
        return f"DigestClient({self._default[0]!r}, sessions={sorted(self._sessions)!r})"

    # -- answering a challenge ------------------------------------------------------

    def answer(self, response: Response, request: Request) -> Request | None:
        """The request to send after ``response`` (401/407) to ``request``, or None.

        None when no challenge can be answered: none is Digest with an
        algorithm and qop we support for a realm we serve, or every realm
        challenged had just rejected our credentials.
        """
        if response.status not in (401, 407):
            raise ValueError(f"{response.status} is not a challenge (401 or 407)")
        sessions: list[_Session] = []
        for session, stale in self._choose(response):
            if not stale and session.realm in _realms(request, _header(session.proxy)):
                self._sessions.pop(session.realm, None)  # rejected: do not retry it
                continue
            sessions.append(session)
        if not sessions:
            return None
        retry = _next_request(request)
        for session in sessions:
            self._sessions[session.realm] = session
            _put(retry, session, self._credentials(session, retry))
        return retry

    def _choose(self, response: Response) -> list[tuple[_Session, bool]]:
        """Per realm, the strongest supported challenge (topmost among equals)."""
        best: dict[str, tuple[_Session, bool]] = {}
        for proxy in (False, True):
            for challenge in _parse_all(response, Challenge, _challenge_header(proxy)):
                session = self._session_for(challenge, proxy)
                if session is None:
                    continue
                held = best.get(session.realm)
                if held is None or session.algorithm.strength > held[0].algorithm.strength:
                    best[session.realm] = (session, challenge.stale)
        return list(best.values())

    def _session_for(self, challenge: Challenge, proxy: bool) -> _Session | None:
        realm, nonce = challenge.realm, challenge.nonce
        if not challenge.is_digest or realm is None or nonce is None:
            return None
        if self.account(realm) is None:
            return None
        alg = ALGORITHMS.get((challenge.algorithm or "MD5").upper())
        if alg is None:
            return None
        offered = challenge.qop
        if not offered:
            if alg.session:
                return None  # -sess needs a cnonce, so a qop (RFC 3261 §22.4 item 8)
            qop = None
        elif "auth" in offered:
            qop = "auth"
        elif "auth-int" in offered:
            qop = "auth-int"
        else:
            return None
        return _Session(realm, proxy, alg, challenge.algorithm, nonce, qop, challenge.opaque)

    # -- pre-authorizing ------------------------------------------------------------

    def authorize(self, request: Request, realms: Iterable[str] | None = None) -> bool:
        """Add credentials for the remembered realms (or ``realms``) to ``request``.

        Changes ``request`` in place, replacing credentials it had for those
        realms; returns whether any were added.  ACK and CANCEL are left alone:
        an ACK carries the INVITE's credentials (§22.1), copied by its builder.
        """
        if request.method.upper() in _NEVER_AUTHORIZED:
            return False
        wanted = self._sessions.keys() if realms is None else set(realms)
        added = False
        for realm in wanted:
            session = self._sessions.get(realm)
            if session is not None:
                _put(request, session, self._credentials(session, request))
                added = True
        return added

    def forget(self, realm: str | None = None) -> None:
        """Drop the nonce of ``realm`` (of every realm when None)."""
        if realm is None:
            self._sessions.clear()
        else:
            self._sessions.pop(realm, None)

    @property
    def sessions(self) -> frozenset[str]:
        """The realms holding a nonce for pre-authorization."""
        return frozenset(self._sessions)

    # -- computing ------------------------------------------------------------------

    def _credentials(self, session: _Session, request: Request) -> Credentials:
        alg = session.algorithm
        account = self.account(session.realm)
        assert account is not None  # sessions are only made for our realms
        username, password = account
        key = (session.realm, alg.base)
        base_ha1 = self._ha1.get(key)
        if base_ha1 is None:
            base_ha1 = self._ha1[key] = ha1(username, session.realm, password, alg)
        uri = str(request.uri)
        nc: str | None = None
        cnonce: str | None = None
        if session.qop is not None:
            session.nc += 1
            nc = f"{session.nc:08x}"
            if alg.session:
                if session.session_cnonce is None:
                    session.session_cnonce = self._cnonce()
                cnonce = session.session_cnonce
            else:
                cnonce = self._cnonce()
        response = request_digest(base_ha1, algorithm=alg, method=request.method, uri=uri,
                                  nonce=session.nonce, qop=session.qop, nc=nc, cnonce=cnonce,
                                  body=request.body)
        return Credentials.digest(username, session.realm, session.nonce, uri, response,
                                  algorithm=session.algorithm_param, cnonce=cnonce,
                                  opaque=session.opaque, qop=session.qop, nc=nc)


def answer_challenge(
    response: Response, request: Request, username: str, password: str,
    *, cnonce: Callable[[], str] | None = None,
) -> Request | None:
    """One-shot :meth:`DigestClient.answer`, for callers that keep no client."""
    return DigestClient(username, password, cnonce=cnonce).answer(response, request)


# -- helpers ------------------------------------------------------------------------


def _header(proxy: bool) -> str:
    return "Proxy-Authorization" if proxy else "Authorization"


def _challenge_header(proxy: bool) -> str:
    return "Proxy-Authenticate" if proxy else "WWW-Authenticate"


def _parse_all(message: Request | Response, cls: type[_A], header: str) -> list[_A]:
    """Each header line parsed on its own: a malformed one is skipped, not fatal."""
    out: list[_A] = []
    for text in message.headers.getall(header):
        try:
            out.append(cls.parse(text))
        except ParseError:
            continue
    return out


def _realms(request: Request, header: str) -> set[str]:
    return {c.realm for c in _parse_all(request, Credentials, header) if c.realm is not None}


def _next_request(request: Request) -> Request:
    """A copy to send as a new transaction: CSeq + 1 (§22.2), a new branch (§8.1.1.7)."""
    retry: Request = request.copy()
    cseq = request.cseq
    retry.headers.set("CSeq", CSeq(cseq.seq + 1, cseq.method))
    if retry.headers.get("Via") is not None:
        top = Via.parse(str(retry.top_via))  # a fresh value: the copy shares the original's
        top.branch = new_branch()
        retry.headers.pop("Via")
        retry.headers.add("Via", top, top=True)
    return retry


def _put(request: Request, session: _Session, credentials: Credentials) -> None:
    """Set ``credentials`` on ``request``, replacing any it had for the same realm."""
    header = _header(session.proxy)
    kept = [text for text in request.headers.getall(header)
            if _realm_of(text) != session.realm]
    request.headers.remove(header)
    for text in kept:
        request.headers.add(header, text)
    request.headers.add(header, credentials)
    length = request.headers.get("Content-Length")
    if length is not None:  # keep it last, where UAs and readers expect it
        request.headers.remove("Content-Length")
        request.headers.append("Content-Length", length)


def _realm_of(text: str) -> str | None:
    try:
        return Credentials.parse(text).realm
    except ParseError:
        return None
