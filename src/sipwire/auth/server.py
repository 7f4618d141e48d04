"""The server side of Digest: challenge requests and verify credentials (RFC 3261 §22).

One :class:`DigestServer` guards one realm in one role: a UAS or registrar
challenges with 401 and WWW-Authenticate and reads Authorization (§22.2); a
proxy challenges with 407 and Proxy-Authenticate and reads
Proxy-Authorization (§22.3), ignoring credentials for other realms.  A proxy
that is also a registrar uses two servers, which may share a secret and a
throttle.

Sans-I/O: :meth:`DigestServer.verify` takes the request, a user lookup and
``now``, and returns a verdict; the caller sends ``verdict.response`` if there
is one.  ``now`` is seconds on any clock that all servers sharing the secret
agree on; ``time.time()`` keeps nonces valid across restarts and nodes.

What a verdict can be, in the order the checks run:

=================  ==========================================================
``Exempt``         ACK or CANCEL, which are never challenged (§22.1)
``Rejected`` 403   the source is banned: it failed as many users
                   (``FailureThrottle``), with Retry-After; no credentials read
``Rejected`` 400   the credentials are malformed, or their ``uri`` is not the
                   Request-URI (RFC 2617 §3.2.2.5; turn off with
                   ``check_uri=False``, RFC 3261 §22.4 item 6)
``Rejected`` 403   the user is locked out from this source after repeated
                   failures, with Retry-After; the response is not checked
``Challenged``     no credentials for this realm, an algorithm or qop not
                   offered, no qop when one was offered (RFC 8760 §2.6 item
                   8), an unknown user or a wrong response (these two count
                   as failures of the user from the source, and may lock
                   it out or ban the source: 403), or, with ``stale=true``
                   because the response was right: a nonce expired, not ours,
                   or replayed (its (nonce, nc) pair was accepted before)
``Rejected`` 403   ``authorize(username, request)`` said no
``Authenticated``  the username, and the record it was checked against
=================  ==========================================================
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..message.errors import ParseError
from ..message.fields.auth import Challenge, Credentials
from ..message.message import Request, Response
from ..message.uri import URI
from .digest import QOPS, Algorithm, get_algorithm, request_digest
from .nonce import NonceCounter, NonceSigner
from .store import UserRecord
from .throttle import FailureThrottle, Penalty

__all__ = [
    "Authenticated",
    "Authorize",
    "Challenged",
    "DigestServer",
    "Exempt",
    "Lookup",
    "Rejected",
    "Verdict",
]

#: ``(username, realm) -> record or None``: ``UserStore.get`` fits
Lookup = Callable[[str, str], UserRecord | None]
#: ``(username, request) -> allowed``: the authorization policy after authentication
Authorize = Callable[[str, Request], bool]

_NEVER_CHALLENGED = frozenset({"ACK", "CANCEL"})
# Checked against when the user is unknown, so that unknown users and wrong
# passwords take the same time.
_DUMMY_HA1 = "0" * 64


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The request carries valid credentials of ``username``."""

    username: str
    realm: str
    algorithm: str
    #: ``auth``, ``auth-int``, or None for an RFC 2069 digest
    qop: str | None
    record: UserRecord
    #: nothing to send: carry on with the request
    response: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class Challenged:
    """Send ``response`` (401/407 with fresh challenges); ``reason`` is for logs.

    ``routine`` when nothing was refused: the request had no credentials for
    the realm (the first leg of every authentication, §22.1), or its nonce
    was stale while the response was right.
    """

    response: Response
    reason: str
    stale: bool = False
    routine: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """Send ``response`` (400 or 403), do not challenge; ``reason`` is for logs."""

    response: Response
    reason: str
    #: the lockout or ban refused for, when that is why
    penalty: Penalty | None = None


@dataclass(frozen=True, slots=True)
class Exempt:
    """ACK or CANCEL: never challenged (RFC 3261 §22.1); the caller decides."""

    reason: str
    response: ClassVar[None] = None


Verdict = Authenticated | Challenged | Rejected | Exempt


class DigestServer:
    """Challenges and verifies Digest credentials for ``realm``.

    ``proxy`` selects 407/Proxy-Authenticate/Proxy-Authorization over
    401/WWW-Authenticate/Authorization.  ``algorithms`` are offered one
    challenge each, in order of preference (RFC 8760 §2.3); ``qop`` is offered
    in every challenge (RFC 8760 §2.6 item 8: a UAS always sends one).
    ``secret`` signs nonces (random if not given: nonces then die with the
    process); servers that must accept each other's nonces share it.

    Replay: each (nonce, nc) pair is accepted once at most (RFC 7616 §5.5).
    When a qop was offered, an answer without one is refused with a new
    challenge: the client MUST send the qop (RFC 8760 §2.6 item 8, RFC 7616
    §3.4), and an answer without a nonce-count could otherwise be replayed
    for the nonce's whole lifetime.  ``qop=()`` offers none, for RFC
    2543-era clients (RFC 3261 §22.4, RFC 2069); their answers are accepted
    when ``accept_rfc2069`` is true, and each nonce then serves one answer.
    """

    __slots__ = ("_counter", "_signer", "accept_rfc2069", "algorithms", "check_uri",
                 "nonce_lifetime", "proxy", "qop", "realm", "throttle")

    def __init__(
        self,
        realm: str,
        *,
        secret: bytes | None = None,
        proxy: bool = False,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        qop: Sequence[str] = ("auth",),
        nonce_lifetime: float = 300.0,
        accept_rfc2069: bool = True,
        check_uri: bool = True,
        max_nonces: int = 10_000,
        throttle: FailureThrottle | None = None,
    ) -> None:
        if not realm:
            raise ValueError("a realm is required")
        if not algorithms:
            raise ValueError("offer at least one algorithm")
        if any(q not in QOPS for q in qop):
            raise ValueError(f"qop must be among {QOPS}")
        self.realm = realm
        self.proxy = proxy
        self.algorithms: tuple[Algorithm, ...] = tuple(get_algorithm(a) for a in algorithms)
        if not qop:
            if not accept_rfc2069:
                raise ValueError("with no qop offered only RFC 2069 answers can authenticate: "
                                 "offer a qop or accept_rfc2069")
            if any(alg.session for alg in self.algorithms):
                raise ValueError("a -sess algorithm needs a qop (RFC 3261 §22.4 item 8)")
        self.qop = tuple(qop)
        self.nonce_lifetime = nonce_lifetime
        self.accept_rfc2069 = accept_rfc2069
        self.check_uri = check_uri
        self.throttle = throttle if throttle is not None else FailureThrottle()
        self._signer = NonceSigner(realm, secret if secret is not None else secrets.token_bytes(32))
        self._counter = NonceCounter(nonce_lifetime, max_nonces)

    # -- the role -------------------------------------------------------------------

    @property
    def status(self) -> int:
        """401 for a UAS or registrar, 407 for a proxy (§22.1)."""
        return 407 if self.proxy else 401

    @property
    def challenge_header(self) -> str:
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"

    # -- challenging ------------------------------------------------------------------

    def challenges(self, now: float, *, stale: bool = False) -> list[Challenge]:
        """One challenge per offered algorithm, most preferred first, sharing a new nonce."""
        self._counter.start(now)
        nonce = self._signer.issue(now)
        return [Challenge.digest(self.realm, nonce, qop=self.qop or None, algorithm=alg.name,
                                 stale=True if stale else None)
                for alg in self.algorithms]

    def challenge(self, request: Request, now: float, *, stale: bool = False) -> Response:
        """The 401/407 answering ``request`` (§8.2.6), with :meth:`challenges`."""
        headers = [(self.challenge_header, c) for c in self.challenges(now, stale=stale)]
        return request.reply(self.status, headers=headers)

    # -- verifying --------------------------------------------------------------------

    def verify(
        self,
        request: Request,
        lookup: Lookup,
        now: float,
        *,
        source: str | None = None,
        authorize: Authorize | None = None,
    ) -> Verdict:
        """Check the credentials of ``request`` for this realm; see the module docs.

        ``source`` (the peer address, say) enables failure throttling: per
        (user, source) lockouts and per-source bans (``FailureThrottle``).
        """
        self._counter.start(now)
        if request.method in _NEVER_CHALLENGED:
            return Exempt(f"{request.method} is never challenged (RFC 3261 §22.1)")
        if source is not None:
            ban = self.throttle.banned(source, now)
            if ban is not None:
                return self._locked_out(request, ban, now)
        found: list[Credentials] = []
        error: ParseError | None = None
        for text in request.headers.getall(self.credentials_header):
            # Line by line: a malformed value for another realm is not ours to judge.
            try:
                creds = Credentials.parse(text)
            except ParseError as exc:
                error = exc
                continue
            if creds.is_digest and creds.realm == self.realm:
                found.append(creds)
        if not found and error is not None:
            return self._reject(request, 400, f"malformed {self.credentials_header}: {error}")
        if not found:
            return self._challenge(request, now, f"no Digest credentials for realm {self.realm!r}",
                                   routine=True)
        offered = {alg.name.upper(): alg for alg in self.algorithms}
        chosen = next((c for c in found if (c.algorithm or "MD5").upper() in offered), None)
        if chosen is None:
            return self._challenge(
                request, now, f"algorithm {found[0].algorithm or 'MD5'} is not offered")
        return self._check(request, chosen, offered[(chosen.algorithm or "MD5").upper()],
                           lookup, now, source, authorize)

    def _check(
        self, request: Request, creds: Credentials, alg: Algorithm, lookup: Lookup,
        now: float, source: str | None, authorize: Authorize | None,
    ) -> Verdict:
        problem = _malformed(creds, alg)
        if problem is not None:
            return self._reject(request, 400, problem)
        username, nonce_text, uri = creds.username, creds.nonce, creds.uri
        assert username is not None and nonce_text is not None and uri is not None
        qop = creds.qop
        if qop is None and self.qop:
            # Before the password is looked at: no answer to learn from.
            return self._challenge(request, now, "credentials without the qop the challenge "
                                                 "offered (RFC 8760 §2.6 item 8)")
        if qop is not None and qop not in self.qop:
            return self._challenge(request, now, f"qop={qop} is not offered")
        if self.check_uri and not _same_uri(uri, request.uri):
            return self._reject(request, 400, f"digest-uri {uri!r} is not the Request-URI "
                                              f"{str(request.uri)!r} (RFC 2617 §3.2.2.5)")

        who = f"{username}@{self.realm}"
        if source is not None:
            penalty = self.throttle.check(who, source, now)
            if penalty is not None:  # refused without a look at the response
                return self._locked_out(request, penalty, now)
        record = lookup(username, self.realm)
        ha1 = record.ha1(alg.name) if record is not None else _DUMMY_HA1
        if ha1 is None:
            return self._challenge(request, now, f"no {alg.base} HA1 stored for {username!r}")
        expected = request_digest(ha1, algorithm=alg, method=request.method, uri=uri,
                                  nonce=nonce_text, qop=qop, nc=creds.nc, cnonce=creds.cnonce,
                                  body=request.body)
        given = (creds.response or "").lower()
        if record is None or not hmac.compare_digest(expected, given):
            why = f"unknown user {username!r}" if record is None else \
                f"wrong response for {username!r}"
            if source is not None:
                penalty = self.throttle.failure(who, source, now)
                if penalty is not None:
                    return self._locked_out(request, penalty, now)
            return self._challenge(request, now, why)

        # The response is right: whatever is wrong now is the nonce, so the
        # client may retry at once with a new one (RFC 7616 §3.3 "stale").
        nonce = self._signer.check(nonce_text)
        if nonce is None:
            return self._challenge(request, now, "nonce not issued by this server", stale=True)
        if now - nonce.issued > self.nonce_lifetime:
            return self._challenge(request, now, "nonce expired", stale=True)
        if qop is None:
            if not self._counter.use_once(nonce, now):
                return self._challenge(request, now, "nonce used before, and an answer without "
                                                     "qop has no nonce-count", stale=True)
        elif not self._counter.advance(nonce, int(creds.nc or "0", 16), now):
            return self._challenge(request, now, f"nonce-count {creds.nc} replayed", stale=True)

        if source is not None:
            self.throttle.success(who, source)
        if authorize is not None and not authorize(username, request):
            return self._reject(request, 403, f"{username!r} is not allowed to {request.method}")
        assert record is not None
        return Authenticated(username, self.realm, alg.name, qop, record)

    def consume(self, request: Request) -> int:
        """Remove this realm's credentials from ``request``; return how many.

        For a proxy about to forward an authenticated request: its
        Proxy-Authorization is of no use downstream (§22.3), while values for
        other realms stay for the proxies they belong to.
        """
        header = self.credentials_header
        lines = request.headers.getall(header)
        kept = [text for text in lines if not self._is_ours(text)]
        if len(kept) == len(lines):
            return 0
        request.headers.remove(header)
        for text in kept:
            request.headers.add(header, text)
        return len(lines) - len(kept)

    def _is_ours(self, text: str) -> bool:
        try:
            creds = Credentials.parse(text)
        except ParseError:
            return False
        return creds.is_digest and creds.realm == self.realm

    # -- answers ------------------------------------------------------------------------

    def _challenge(
        self, request: Request, now: float, reason: str, *, stale: bool = False,
        routine: bool = False,
    ) -> Challenged:
        return Challenged(self.challenge(request, now, stale=stale), reason, stale,
                          routine or stale)

    @staticmethod
    def _reject(request: Request, status: int, reason: str) -> Rejected:
        return Rejected(request.reply(status), reason)

    @staticmethod
    def _locked_out(request: Request, penalty: Penalty, now: float) -> Rejected:
        """403 with the seconds left in Retry-After (RFC 3261 §21.4.4, §20.33)."""
        wait = max(math.ceil(penalty.retry_after(now)), 1)
        response = request.reply(403, headers=[("Retry-After", str(wait))])
        return Rejected(response, penalty.reason, penalty)


def _malformed(creds: Credentials, alg: Algorithm) -> str | None:
    """Why ``creds`` cannot be checked at all (answered 400), or None."""
    missing = [name for name in ("username", "nonce", "uri", "response")
               if not creds.param(name)]
    if missing:
        return f"credentials without {', '.join(missing)}"
    if (creds.param("userhash") or "").lower() == "true":
        return "userhash was not offered"
    if creds.qop is None:
        if alg.session:
            return f"{alg.name} needs qop (RFC 3261 §22.4 item 8)"
        return None
    nc = creds.nc or ""
    if not creds.cnonce:
        return f"qop={creds.qop} without cnonce"
    if len(nc) != 8 or not all(c in "0123456789abcdefABCDEF" for c in nc) or int(nc, 16) == 0:
        return f"nc={nc!r} is not 8 hex digits above zero (RFC 2617 §3.2.2)"
    return None


def _same_uri(digest_uri: str, request_uri: URI) -> bool:
    """Whether the digest-uri names the Request-URI (§19.1.4 comparison)."""
    if digest_uri == str(request_uri):
        return True
    try:
        return URI.parse(digest_uri) == request_uri
    except ParseError:
        return False

