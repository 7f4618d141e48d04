"""Who must authenticate to ``sipwire serve``, and how (RFC 3261 §22).

A REGISTER is challenged by the registrar with 401 and WWW-Authenticate
(§22.2); the user it authenticates may only change the bindings of its own
address-of-record (§10.3 step 4).  A request to be proxied is challenged
with 407 and Proxy-Authenticate (§22.3) when it starts a dialog or stands
alone (no To tag) and comes from a user of a served domain; the user must
then be the one in From, and our credentials are taken off before the
request goes on.  Requests within a dialog this proxy record-routed (a valid
Record-Route token, ``routing.token``), ACK and CANCEL (§22.1) are never
challenged; a To tag without such a token is checked as any request outside
a dialog.  A request from another domain may reach the users of the served
domains unchallenged, as a call from outside does; with authentication on it
is not relayed elsewhere (403), so the server is no open relay.

Both challengers share one throttle and one nonce secret, so a nonce of a
401 is good in a Proxy-Authorization too.  The secret comes from the
``secret`` setting, else ``$SIPWIRE_SECRET``, else is random per process
(nonces then die with it; several nodes sharing a Redis store must share the
secret).

The throttle (``FailureThrottle``, RFC 7616 §5.7): ``max_failures`` wrong
answers of one user from one address within ``failure_window`` seconds lock
that user out from that address for ``lockout`` seconds (403 with
Retry-After, the answer not checked), doubled for each repeated lockout up
to ``max_lockout``; an address that fails as ``ban_users`` different users
within ``ban_window`` seconds is banned for ``ban_time`` seconds.  A banned
address's requests are dropped before any work (:meth:`AuthPolicy.banned`,
asked by the engine before the transaction layer): no transaction, no
response to send, no signal for the scanner, which stops when nothing
answers (svcrack and svwar do after a few seconds), where each 403 would
make it send the next request at once.

Every 401, 407 and 403 decided here is logged at info level with its reason
and the source address, and each lockout and ban at warning level, through
``SourceLimiter``: one line per address per 10 s, each saying how many were
held back before it (the routine challenges of requests without credentials
apart), and at most 100 lines per 10 s in all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sized

from ..auth.server import Authenticated, Challenged, DigestServer, Rejected, Verdict
from ..auth.store import UserStore
from ..auth.throttle import FailureThrottle, Penalty
from ..message.errors import ParseError
from ..message.fields.text import WarningValue
from ..message.message import Request, Response
from ..proxy.config import ProxyConfig
from ..proxy.validate import reject
from ..routing.myself import normalize_host
from ..transport.base import normalize_ip, source_key
from .config import ServerConfig
from .logs import SourceLimiter, kv, log, message_fields

__all__ = ["AuthPolicy", "nonce_secret", "source_address"]

_NEVER_CHALLENGED = frozenset({"ACK", "CANCEL"})


def nonce_secret(config: ServerConfig) -> bytes | None:
    """The key that signs nonces: derived from ``config.secret`` or
    ``$SIPWIRE_SECRET``; None for a random one."""
    text = config.secret or os.environ.get("SIPWIRE_SECRET", "")
    if not text:
        return None
    return hashlib.sha256(b"sipwire nonce secret\x00" + text.encode("utf-8")).digest()


#: the Warning text of the 403 to a request that would be challenged when the
#: user store is empty: no answer could succeed, so none is asked for
NO_USER = "no user is configured on this server"


def _has_users(users: UserStore) -> bool:
    """Whether any user exists (a ``UserFile`` first rereads its file if it changed)."""
    return len(users) > 0 if isinstance(users, Sized) else bool(users.list())


def source_address(request: Request) -> str:
    """The source a request came from, as the transport wrote it in its top Via
    (``received``, §18.2.1, RFC 3581 §4), else the Via host; an IPv6 address
    as its /64 (``transport.base.source_key``: one host has 2**64 addresses
    to rotate through, so lockouts and bans count the network)."""
    via = request.top_via
    return source_key(via.received or normalize_ip(via.host))


class AuthPolicy:
    """The digest policy of one server; ``enabled`` False lets everything through.

    ``users`` is the user store (None: authentication off), ``clock`` the POSIX
    clock nonces are stamped with (§22.4; shared by nodes that share a secret).

    The realm of a challenge (§22.1) is ``config.realm`` when one is set.
    Otherwise it is the served domain the user belongs to: the To host of a
    REGISTER, the From host of a request to proxy (Kamailio's default
    configuration challenges with ``$td`` and ``$fd`` the same way), else the
    first domain.  So ``sipwire user add alice@127.0.0.1`` and ``bob@localhost``
    both authenticate against the default domains.
    """

    __slots__ = ("_config", "_key", "_penalty_log", "_refusal_log", "_servers", "_throttle",
                 "clock", "enabled", "proxy_config", "users")

    def __init__(self, config: ServerConfig, users: UserStore | None, proxy_config: ProxyConfig,
                 clock: Callable[[], float], secret: bytes | None = None) -> None:
        self.users = users
        self.enabled = users is not None
        self.clock = clock
        self.proxy_config = proxy_config
        self._config = config
        self._throttle = FailureThrottle(
            max_failures=config.max_failures, window=config.failure_window,
            lockout=config.lockout, max_lockout=config.max_lockout, ban_users=config.ban_users,
            ban_window=config.ban_window, ban_time=config.ban_time)
        #: the refusals' log lines, and apart from them the lockouts' and bans'
        self._refusal_log = SourceLimiter()
        self._penalty_log = SourceLimiter()
        self._key = secret if secret is not None else nonce_secret(config)
        #: realm -> (the registrar's DigestServer, the proxy's); one per served
        #: domain at most, made when first needed
        self._servers: dict[str, tuple[DigestServer, DigestServer]] = {}
        self._digest(config.auth_realm)

    @property
    def throttle(self) -> FailureThrottle:
        """The lockouts and bans (read by ``/metrics``, retuned by a reload)."""
        return self._throttle

    def realm_for(self, host: str) -> str:
        """The realm of a user of domain ``host`` (see the class docs)."""
        config = self._config
        if config.realm:
            return config.realm
        for domain in config.domains:
            if normalize_host(domain) == normalize_host(host):
                return domain
        return config.auth_realm

    def _digest(self, realm: str) -> tuple[DigestServer, DigestServer]:
        servers = self._servers.get(realm)
        if servers is None:
            config = self._config
            registrar = DigestServer(realm, secret=self._key, throttle=self._throttle,
                                     nonce_lifetime=config.nonce_lifetime,
                                     algorithms=config.algorithms)
            proxy = DigestServer(realm, secret=self._key, proxy=True, throttle=self._throttle,
                                 nonce_lifetime=config.nonce_lifetime,
                                 algorithms=config.algorithms)
            # Start the nonce-count guards now: a nonce issued from here on, by
            # this node or another sharing the secret, is accepted here (RFC 7616
            # §5.5).  (Each node keeps its own counts, so a count used on one
            # node is not known to another: replay protection is per node.)
            now = self.clock()
            registrar.challenges(now)
            proxy.challenges(now)
            servers = self._servers[realm] = (registrar, proxy)
        return servers

    # -- the registrar's hooks (§10.3 steps 3 and 4) ------------------------------------

    def authenticate_register(self, request: Request) -> str | Response | None:
        """``Registrar``'s ``authenticate``: the user name, or the 401 / 403 to send."""
        if self.users is None:
            return None
        try:
            realm = self.realm_for(request.to.uri.host)
        except ParseError as exc:
            return request.reply(exc.status_code)
        if not _has_users(self.users):
            return self.refuse(request, NO_USER)
        registrar, _ = self._digest(realm)
        now = self.clock()
        verdict = registrar.verify(request, self.users.get, now, source=source_address(request))
        if isinstance(verdict, Authenticated):
            return verdict.username
        return self._refusal(request, verdict, now)

    def authorize_register(self, user: str | None, aor: str, request: Request) -> bool:
        """``Registrar``'s ``authorize``: a user registers its own AOR only
        (§10.3 step 4; the registrar answers 403)."""
        if user is None or request.to.uri.user == user:
            return True
        self._log_refusal(request, 403, f"{user} may not register {aor}")
        return False

    # -- bans -------------------------------------------------------------------------------

    def banned(self, source: str) -> bool:
        """Whether requests from ``source`` (an address as ``Flow.remote.host``
        writes it) are to be dropped unanswered: it is banned (see the module
        docs).  Each drop is logged, rate-limited."""
        if self.users is None:
            return False
        source = source_key(source)
        now = self.clock()
        ban = self._throttle.banned(source, now)
        if ban is None:
            return False
        held = self._refusal_log.allow(f"drop {source}", now)
        if held is not None:
            log.info("dropped source=%s reason=%s until=%s held_back=%d", source,
                     kv(ban.reason), _stamp(ban.until), held)
        return True

    # -- the proxy's check (§16.3 step 6, §22.3) -------------------------------------------

    def check_proxied(self, request: Request, preprocessed: Request, *,
                      local_target: bool, routed: bool = False) -> Response | None:
        """None to go on with ``preprocessed`` (our credentials removed), or the
        407, 403 or 400 to answer ``request`` with.

        ``local_target`` says the Request-URI is a user of a served domain
        (the request is looked up, not relayed).  ``routed`` says it came by
        a Route value of ours with a valid token: a request within a dialog
        this proxy record-routed, never challenged (its sender authenticated
        when the dialog was set up).  A To tag alone proves nothing: a
        request that claims a dialog but carries no valid token is checked
        as one outside a dialog.
        """
        if self.users is None or request.method in _NEVER_CHALLENGED or routed:
            return None
        try:
            sender = request.from_.uri
        except ParseError as exc:
            return request.reply(exc.status_code)
        config = self.proxy_config
        if not (sender.is_sip and (config.serves(sender.host) or config.is_own_host(sender.host))):
            if local_target:
                return None  # a call from outside to one of ours
            return self.refuse(request, "relaying is for authenticated users only")
        if not _has_users(self.users):
            return self.refuse(request, NO_USER)
        _, proxy = self._digest(self.realm_for(sender.host))
        now = self.clock()
        verdict = proxy.verify(request, self.users.get, now, source=source_address(request))
        if not isinstance(verdict, Authenticated):
            return self._refusal(request, verdict, now)
        if verdict.username != sender.user:
            return self.refuse(request, f"{verdict.username} may not send as {sender}")
        proxy.consume(preprocessed)
        return None

    def _refusal(self, request: Request, verdict: Verdict, now: float) -> Response | None:
        """The response of a verdict that is not ``Authenticated``.  A 400 says
        why in a Warning (malformed credentials, a digest-uri that is not the
        Request-URI): the client's fault, which its operator must see."""
        response = verdict.response
        if response is None or isinstance(verdict, Authenticated):
            return None
        routine = isinstance(verdict, Challenged) and verdict.routine
        self._log_refusal(request, response.status, verdict.reason, routine=routine)
        if isinstance(verdict, Rejected) and verdict.penalty is not None:
            self._log_penalty(verdict.penalty, now)
        if isinstance(verdict, Rejected) and response.status == 400:
            text = " ".join(verdict.reason.split())
            response.headers.add("Warning", WarningValue(399, self.proxy_config.agent, text),
                                 before="Content-Length")
        return response

    def refuse(self, request: Request, reason: str) -> Response:
        """A 403 of the proxy, its reason in a Warning (§16.5) and in the log."""
        self._log_refusal(request, 403, reason)
        return reject(request, self.proxy_config, 403, reason)

    def _log_refusal(self, request: Request, status: int, reason: str, *,
                     routine: bool = False) -> None:
        """One info line for a 401, 407 or 403: why, and from where.  Rate-limited
        per source address, the routine challenges (no credentials yet, a stale
        nonce) apart from the refusals, so that they do not hide them."""
        if not log.isEnabledFor(logging.INFO):
            return
        source = source_address(request)
        held = self._refusal_log.allow(f"{source} {'challenge' if routine else 'refusal'}",
                                       self.clock())
        if held is None:
            return
        try:
            sender = str(request.from_.uri)
        except ParseError:
            sender = "-"
        log.info("refused status=%d method=%s source=%s from=%s reason=%s held_back=%d",
                 status, kv(request.method), source, kv(sender), kv(reason), held,
                 extra={"sip": {**message_fields(request), "source": source,
                                "status": status}})

    def _log_penalty(self, penalty: Penalty, now: float) -> None:
        """A warning when a lockout or ban starts at ``now`` (rate-limited apart
        from the refusals)."""
        if penalty.since != now:
            return  # in force before this request: logged when it started
        key = f"ban {penalty.source}" if penalty.banned else \
            f"lockout {penalty.user} {penalty.source}"
        held = self._penalty_log.allow(key, now)
        if held is not None:
            log.warning("%s source=%s until=%s reason=%s held_back=%d",
                        "banned" if penalty.banned else "locked_out", penalty.source,
                        _stamp(penalty.until), kv(penalty.reason), held)

    def authenticates(self, request: Request, *, routed: bool = False) -> bool:
        """Whether ``check_proxied`` makes the sender of ``request`` prove who it
        is: auth is on, the request is neither ACK nor CANCEL nor ``routed``,
        and its From is a user of a served domain.  When ``check_proxied``
        then let it through, the sender is a user of ours."""
        if self.users is None or request.method in _NEVER_CHALLENGED or routed:
            return False
        sender = request.from_.uri
        config = self.proxy_config
        return sender.is_sip and (config.serves(sender.host) or config.is_own_host(sender.host))

    def knows(self, aor: str) -> bool:
        """Whether the user of ``aor`` (``sip:user@domain``) has an account here:
        to an authenticated user of ours, a known user with no binding is 480,
        an unknown one 404 (§16.5).  Anyone else gets 404 for both, or they
        could list our users (``Engine`` asks only for authenticated callers)."""
        if self.users is None:
            return False
        _, _, rest = aor.partition(":")
        user, at, host = rest.rpartition("@")
        return bool(at) and self.users.get(user, self.realm_for(host)) is not None


def _stamp(when: float) -> str:
    """A POSIX time as an ISO 8601 UTC timestamp, for log lines."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
