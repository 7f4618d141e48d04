"""The user agent: calls made and taken over an ``Endpoint`` (RFC 3261 §8, §12-15).

``UserAgent`` is the asyncio face of the dialog layer.  It owns an
``Endpoint`` (transports and transactions), keeps the registrations made with
``register`` (the registration client of ``sipwire.ua.registration``), places
calls (``call``: INVITE, 3xx following, 401/407 answered by the endpoint's
``DigestClient``, CANCEL when the caller gives up) and hands incoming ones to
``incoming()``.  Requests within a call's dialog reach the call through the
endpoint's ``dialog_router`` hook, matched by dialog id (§12.2.2); the
``Call`` (``sipwire.ua.call``) answers them.

    async with UserAgent(listen=["udp:127.0.0.1:0"]) as ua:
        call = await ua.call("sip:bob@127.0.0.1:5062")
        await call.hold(); await call.unhold(); await call.hangup()
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .. import __version__
from ..auth.client import DigestClient
from ..dialog.dialog import DialogState
from ..dialog.prack import Rel100
from ..dialog.session_timer import SessionTimerConfig
from ..message.fields.base import Field
from ..message.message import Request, Response
from ..message.uri import URI
from ..sdp import DEFAULT_CODECS, Codec, MediaCapabilities
from ..transport.base import ListeningPoint, TransportError
from .call import Call, CallFailed, CallState, Ended
from .config import EndpointConfig
from .endpoint import Endpoint, RequestHandler
from .registration import Registration
from .server import ServerTransactionHandle

__all__ = ["UserAgent", "UserAgentConfig"]

logger = logging.getLogger("sipwire.ua.agent")

#: the methods a UserAgent answers within a call (§20.5 Allow)
ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "REFER", "NOTIFY",
         "MESSAGE", "INFO")


#: how many ended calls' dialogs are remembered for RFC 3891's 603
_ENDED_DIALOGS = 256


@dataclass(frozen=True)
class UserAgentConfig:
    """How a ``UserAgent`` behaves; every value belongs to the instance.

    ``endpoint`` configures its ``Endpoint`` (timers, transports; the T1 and
    T2 of the calls' 2xx retransmissions too); ``media_address`` the address
    our SDP names (default: the first listening point's), ``rtp_ports`` the
    even ports handed to calls in turn
    and ``codecs`` the codecs offered and accepted, in order of preference.
    ``rel100`` is the policy for reliable provisional responses (RFC 3262),
    ``session_timer`` the session timer's (RFC 4028; None: none).  The
    option tags they need (``100rel``, ``timer``, and ``replaces``) are added
    to ``endpoint.supported``.
    """

    endpoint: EndpointConfig = field(
        default_factory=lambda: EndpointConfig(supported=("replaces",)))
    user_agent: str = f"sipwire/{__version__}"
    #: how many 3xx in a row a call follows (§8.1.3.4)
    max_redirects: int = 5
    #: how long a CANCEL, and the final response of the INVITE it cancels, may
    #: take before the call is given up anyway (§9.1: 64*T1)
    cancel_timeout: float = 32.0
    #: how long ``Call.refer`` waits for the final NOTIFY (RFC 3515 §2.4.5)
    refer_timeout: float = 32.0
    #: carry out the REFERs of the other side (RFC 3515 §2.4.2); False: 603
    accept_transfers: bool = True
    #: answer an INVITE with Replaces at once (RFC 3891 §3: it takes over a
    #: call already answered, so there is nothing to ask)
    auto_answer_replaces: bool = True
    media_address: str | None = None
    rtp_ports: tuple[int, int] = (16384, 32766)
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    rel100: Rel100 = Rel100.SUPPORTED
    session_timer: SessionTimerConfig | None = None

    def endpoint_config(self) -> EndpointConfig:
        """``endpoint`` with the option tags of what we support in Supported (§19.2)."""
        tags = list(self.endpoint.supported)
        wanted = ["replaces"]
        if self.rel100 is not Rel100.DISABLED:
            wanted.append("100rel")
        if self.session_timer is not None and self.session_timer.enabled:
            wanted.append("timer")
        tags += [tag for tag in wanted if tag not in tags]
        return dataclasses.replace(self.endpoint, supported=tuple(tags))


class UserAgent:
    """Calls over SIP: ``call()`` places one, ``incoming()`` yields the others.

    ``listen`` are the listening points (``udp:127.0.0.1:0`` ...); ``aor`` is
    our address of record (From of our calls, user of our Contact);
    ``proxy`` the outbound proxy every call goes through (a loose route,
    §8.1.2) unless ``call(proxy=...)`` says otherwise; ``user`` and
    ``password`` (or ``credentials``) answer 401/407 challenges (§22.2).
    """

    def __init__(self, listen: Iterable[str | ListeningPoint] = ("udp:127.0.0.1:0",), *,
                 aor: str | URI | None = None, proxy: str | URI | None = None,
                 user: str | None = None, password: str | None = None,
                 credentials: DigestClient | None = None,
                 config: UserAgentConfig | None = None) -> None:
        self.config = config if config is not None else UserAgentConfig()
        if credentials is None and user is not None and password is not None:
            credentials = DigestClient(user, password)
        self.endpoint = Endpoint(listen, config=self.config.endpoint_config(),
                                 credentials=credentials)
        self.aor: URI | None = URI.parse(aor) if isinstance(aor, str) else aor
        self.proxy: URI | None = _loose(proxy) if proxy is not None else None
        self.registrations: list[Registration] = []
        self._calls: dict[Call, None] = {}
        # by (Call-ID, local tag): every dialog of a call, early ones and forks
        # included, reaches it; its session sorts them out (§12.2.2)
        self._dialogs: dict[tuple[str, str], Call] = {}
        # the dialogs of the last calls that ended -> their remote tag, for the
        # 603 of a Replaces naming one (RFC 3891 §3)
        self._ended_dialogs: dict[tuple[str, str], str] = {}
        self._incoming: asyncio.Queue[Call | None] = asyncio.Queue()
        self._rtp_next = self.config.rtp_ports[0] & ~1
        self._closed = False
        endpoint = self.endpoint
        endpoint.dialog_router = self._route
        endpoint.on_request(self._on_invite, "INVITE")
        endpoint.on_request(self._on_stray_request, "BYE", "UPDATE", "INFO")
        if self.config.rel100 is not Rel100.DISABLED:
            # RFC 3262 §3: a PRACK matching no reliable 1xx of ours gets 481
            endpoint.on_request(self._on_stray_request, "PRACK")
        self._allow = ALLOW if self.config.rel100 is Rel100.DISABLED else (*ALLOW, "PRACK")

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> UserAgent:
        await self.endpoint.start()
        return self

    async def close(self) -> None:
        """Hang up every call (BYE, or 480 to one still ringing), unregister, stop."""
        if self._closed:
            return
        self._closed = True
        calls = list(self._calls)
        ends = [self._close_call(call) for call in calls]
        if ends:
            await asyncio.gather(*ends, return_exceptions=True)
        for registration in self.registrations:
            try:
                await asyncio.wait_for(registration.close(), self.config.cancel_timeout)
            except (TimeoutError, TransportError) as exc:
                logger.info("unregistering %s: %s", registration.core.aor, exc)
        for call in calls:
            call._finish(Ended("closed", "local"))
        self._incoming.put_nowait(None)
        await self.endpoint.close()

    async def _close_call(self, call: Call) -> None:
        try:
            async with asyncio.timeout(self.config.cancel_timeout):
                if call._tx is not None and call._tx.final_response is None:
                    await call.reject(480)
                elif call.dialog is not None:
                    await call.hangup()
        except (TimeoutError, TransportError, CallFailed) as exc:
            logger.info("hanging up %r: %s", call, exc)

    async def __aenter__(self) -> UserAgent:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- what the application reads -------------------------------------------------------

    @property
    def calls(self) -> tuple[Call, ...]:
        """The calls not over yet, oldest first."""
        return tuple(self._calls)

    @property
    def contact_uri(self) -> URI:
        """Our Contact (§8.1.1.8): the first listening point, with the AOR's user."""
        point = self.endpoint.listening_points[0]
        user = self.aor.user if self.aor is not None else None
        return self.endpoint.contact(point.transport, user=user)

    @property
    def media_address(self) -> str:
        """The address our SDP names (``config.media_address``, else our host)."""
        if self.config.media_address is not None:
            return self.config.media_address
        return self.endpoint.listening_points[0].address.host

    def capabilities(self) -> MediaCapabilities:
        """What a new call offers and accepts (``sipwire.sdp``): our media
        address, the next RTP port, ``config.codecs``."""
        return MediaCapabilities(self.media_address, self._next_rtp_port(),
                                 codecs=self.config.codecs)

    @property
    def allowed_methods(self) -> list[str]:
        """Our Allow (§20.5): PRACK too when we do reliable provisionals (RFC 3262)."""
        return list(self._allow)

    # -- registration ----------------------------------------------------------------------

    async def register(self, aor: str | URI | None = None, *,
                       registrar: str | URI | None = None, proxy: str | URI | None = None,
                       user: str | None = None, password: str | None = None,
                       ) -> Registration:
        """Register ``aor`` (and keep it registered until ``close()``, §10.2).

        ``registrar`` defaults to the AOR's domain, ``proxy`` to the agent's;
        ``user``/``password`` become the credentials of this registration and
        of every later request that has none.  Raises ``RegistrationError``
        when the registrar refuses.
        """
        if aor is not None:
            self.aor = URI.parse(aor) if isinstance(aor, str) else aor
        if self.aor is None:
            raise ValueError("register() needs an address of record")
        credentials = self.endpoint.credentials
        if user is not None and password is not None:
            credentials = DigestClient(user, password)
            if self.endpoint.credentials is None:
                self.endpoint.credentials = credentials
        route = proxy if proxy is not None else self.proxy
        registration = Registration(self.endpoint, self.aor, registrar=registrar,
                                    proxy=route, credentials=credentials)
        await registration.start(check=True)
        self.registrations.append(registration)
        return registration

    # -- calls we make ---------------------------------------------------------------------

    async def call(self, target: str | URI, *, proxy: str | URI | None = None,
                   from_: str | URI | None = None, sdp: MediaCapabilities | None = None,
                   headers: Iterable[tuple[str, str | Field]] = (),
                   timeout: float | None = None) -> Call:
        """Call ``target`` and return the ``Call`` once it is answered (§13.2).

        ``sdp`` is what we offer (``sipwire.sdp.MediaCapabilities``; default
        ``capabilities()``); ``from_`` our URI (default: the AOR).  3xx
        responses are followed; 401/407 are answered with the credentials.
        Raises ``CallFailed`` for any other final response (408 and 503
        included, §8.1.3.1); after ``timeout``
        seconds, or when the awaiting task is cancelled, the INVITE is
        cancelled (§9.1) and TimeoutError (or CancelledError) raised.
        """
        if self._closed:
            raise TransportError("the user agent is closed")
        uri = URI.parse(target) if isinstance(target, str) else target
        route = _loose(proxy) if proxy is not None else self.proxy
        sender = URI.parse(from_) if isinstance(from_, str) else from_
        if sender is None:
            sender = self.aor if self.aor is not None else URI(
                "sip", "sipwire", self.endpoint.listening_points[0].address.uri_host)
        invite = self._build_invite(uri, sender, route, list(headers))
        call = Call(self, direction="outgoing", invite=invite, proxy=route,
                    capabilities=sdp if sdp is not None else self.capabilities())
        self._calls[call] = None
        self._adopt(call)
        try:
            async with asyncio.timeout(timeout):
                await call._place(uri)
        except BaseException:
            if call.dialog is None:
                call._finish(Ended("failed", "local"))
            raise
        return call

    def _build_invite(self, target: URI, sender: URI, route: URI | None,
                      headers: list[tuple[str, str | Field]]) -> Request:
        """A call's INVITE (§8.1.1, §13.2.1), without its offer (the session
        adds it): the outbound proxy as a Route, our Contact, Allow, Supported."""
        lines: list[tuple[str, str | Field]] = []
        if route is not None:
            lines.append(("Route", f"<{route}>"))
        lines += [
            ("Allow", ", ".join(self._allow)),
            ("User-Agent", self.config.user_agent),
            *headers,
        ]
        return Request.build("INVITE", target.copy(), from_=sender.copy(),
                             to=target.copy(params={}, headers={}),
                             contact=self.contact_uri, headers=lines)

    def _answer_headers(self) -> list[tuple[str, str | Field]]:
        return [("Allow", ", ".join(self._allow)),
                ("Supported", ", ".join(self.endpoint.config.supported))]

    # -- calls we take ---------------------------------------------------------------------

    async def incoming(self) -> AsyncIterator[Call]:
        """Each incoming call as its INVITE arrives (ring it, answer or reject
        it); ends when the agent closes."""
        while True:
            call = await self._incoming.get()
            if call is None:
                self._incoming.put_nowait(None)  # for any other reader
                return
            yield call

    async def _on_invite(self, request: Request, tx: ServerTransactionHandle,
                         ) -> Response | None:
        if request.to.tag is not None:
            return tx.reply(481)  # a dialog the router did not know (§12.2.2)
        if self._closed:
            return tx.reply(480)
        replaced: Call | None = None
        values = request.headers.getall("Replaces")
        if values:
            if len(values) > 1:
                return tx.reply(400, "One Replaces (RFC 3891 §3)")
            replaced, refusal = self._replaced(values[0])
            if replaced is None:
                return tx.reply(refusal)
        call = Call(self, direction="incoming", invite=request, proxy=self.proxy,
                    capabilities=self.capabilities())
        if not call._start_incoming(tx):
            return None  # refused by the session (400, 420, 421, 422, 488), answered
        call.replaces = replaced
        self._calls[call] = None
        self._adopt(call)
        self._incoming.put_nowait(call)
        if replaced is not None and self.config.auto_answer_replaces:
            self._spawn(self._answer_quietly(call))
        try:
            await asyncio.shield(call._decided)
        except asyncio.CancelledError:
            if tx.cancelled:
                call._remote_cancelled()  # CANCEL (§9.2): the endpoint sent the 487
            raise
        return None

    async def _answer_quietly(self, call: Call) -> None:
        try:
            await call.answer()
        except (CallFailed, TransportError) as exc:
            logger.info("answering %r: %s", call, exc)

    def _replaced(self, value: str) -> tuple[Call | None, int]:
        """The call an INVITE's Replaces names (RFC 3891 §3: to-tag is our local
        tag, from-tag the remote one), or the status refusing the INVITE: 481
        when it names no dialog of ours, or an early one we did not initiate;
        603 for a dialog that has ended; 486 for a confirmed one when the
        Replaces says early-only."""
        call_id, _, rest = value.partition(";")
        params: dict[str, str] = {}
        for item in rest.split(";"):
            name, _, val = item.partition("=")
            params[name.strip().lower()] = val.strip()
        to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
        if to_tag is None or from_tag is None:
            return None, 481
        key = (call_id.strip(), to_tag)
        call = self._dialogs.get(key)
        dialog = call.dialog if call is not None else None
        if call is None or dialog is None or dialog.id.remote_tag != from_tag:
            return None, 603 if self._ended_dialogs.get(key) == from_tag else 481
        if dialog.terminated or call.state is CallState.TERMINATED:
            return None, 603
        if dialog.state is DialogState.EARLY:
            if call.direction == "incoming":
                return None, 481  # an early dialog not initiated by this UA
        elif "early-only" in params:
            return None, 486
        return call, 0

    async def _on_stray_request(self, request: Request, tx: ServerTransactionHandle,
                                ) -> Response:
        # within no dialog of ours (§12.2.2), or outside any (§15.1.2 for a BYE)
        return tx.reply(481)

    def _route(self, request: Request) -> RequestHandler | None:
        """The endpoint's dialog hook: a request with a To tag goes to its call."""
        tag = request.to.tag
        call = self._dialogs.get((request.call_id, tag)) if tag is not None else None
        return call._on_request if call is not None else None

    # -- bookkeeping -----------------------------------------------------------------------

    def _adopt(self, call: Call) -> None:
        self._dialogs[(call.call_id, call.local_tag)] = call

    def _forget(self, call: Call) -> None:
        self._calls.pop(call, None)
        key = (call.call_id, call.local_tag)
        if self._dialogs.get(key) is call:
            del self._dialogs[key]
        dialog = call.dialog
        if dialog is not None:
            self._ended_dialogs[key] = dialog.id.remote_tag
            if len(self._ended_dialogs) > _ENDED_DIALOGS:
                del self._ended_dialogs[next(iter(self._ended_dialogs))]

    def _next_rtp_port(self) -> int:
        port = self._rtp_next
        low, high = self.config.rtp_ports
        self._rtp_next = port + 2 if port + 2 <= high else low & ~1
        return port

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self.endpoint._spawn(coro)


def _loose(proxy: str | URI) -> URI:
    """An outbound proxy as a loose route (§8.1.2, §16.12: ``lr``)."""
    uri = URI.parse(proxy) if isinstance(proxy, str) else proxy.copy()
    if "lr" not in uri.params:
        uri = uri.copy(params={**uri.params, "lr": None})
    return uri
