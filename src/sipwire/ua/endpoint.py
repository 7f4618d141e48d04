"""The endpoint: a transport layer and a transaction layer driven by asyncio.

RFC 3261 §8 (UAC and UAS behaviour), §17 (transactions), §18 (transports).
The ``TransactionLayer`` is sans-I/O: this module is its driver.  It feeds
every message the ``TransportLayer`` receives to ``receive(message, now)``
with ``now = loop.time()``, performs the actions that come back (``Send``
over the right flow, ``Deliver`` to the client handle or a request handler,
``Timeout`` and ``TransportFailure`` as the synthetic 408 and 503 of
§8.1.3.1), and keeps one ``loop.call_at`` armed at ``next_deadline()``.

On top it does the UA core's share of the work that the transaction layer
leaves to the TU: the ACK for a 2xx and its retransmission (§13.2.2.4), the
2xx retransmissions of a UAS until the ACK (§13.3.1.4), CANCEL (§9), Digest
challenges (§22.2), OPTIONS (§11.2), and the 405/501/416/420 answers of
§8.2.1-§8.2.2.

With a ``resolver`` (``sipwire.dns.DnsResolver``), a request whose next hop
is a name goes where RFC 3263 says, and fails over (§4.3): a 503, a
transport failure, or Timer B/F with nothing heard sends the same request
with a new branch, in a new transaction, to the next target, and the failed
one is blacklisted for a while.  An explicit ``Target`` and an IP address
never go to the DNS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..auth.client import DigestClient
from ..dns.failover import TargetList, is_failure, retry_after
from ..dns.procedure import DnsTarget, address_families, needs_dns
from ..message.fields.via import Via
from ..message.message import Message, Request, Response, new_branch
from ..message.uri import URI
from ..transaction.actions import (
    Action,
    Deliver,
    LoopDetected,
    Send,
    Stray,
    Terminated,
    Timeout,
    TransportFailure,
)
from ..transaction.base import Transaction
from ..transaction.client import ClientTransaction
from ..transaction.layer import TransactionLayer
from ..transaction.server import ServerTransaction
from ..transport.base import Flow, ListeningPoint, Target, Transport, TransportError, is_ip
from ..transport.layer import TransportLayer
from .client import ClientTransactionHandle
from .config import EndpointConfig
from .server import ServerTransactionHandle
from .target import request_target, uri_target
from .uac import build_2xx_ack, build_in_dialog_request

if TYPE_CHECKING:
    from ..dns.resolver import DnsResolver

__all__ = [
    "KNOWN_METHODS",
    "AckHandler",
    "DialogRouter",
    "Endpoint",
    "ReceiveFilter",
    "RequestHandler",
    "StrayHandler",
]

logger = logging.getLogger("sipwire.ua")

#: ``async def handler(request, tx) -> Response | None``: answers through ``tx``
#: (``await tx.respond(...)``) or returns its final response
RequestHandler = Callable[[Request, ServerTransactionHandle], Awaitable[Response | None]]
#: ``filter(message, flow) -> bool``: False drops a received message (tests, tracing)
ReceiveFilter = Callable[[Request | Response, Flow], bool]
#: called with a response that matched no client transaction (§17.1.3, RFC 6026 §8.9)
StrayHandler = Callable[[Response, Flow], None]
#: called with an ACK that matched no 2xx awaiting one (§13.3.1.4)
AckHandler = Callable[[Request, Flow], None]
#: ``router(request) -> handler | None``: a dialog layer's pick for a request
#: with a To tag (§12.2.2), before the method handlers; None passes it on
DialogRouter = Callable[[Request], "RequestHandler | None"]

H = TypeVar("H", bound=RequestHandler)

#: methods of RFC 3261 and its extensions: a UAS that recognizes one but has no
#: handler for it answers 405 with Allow (§8.2.1); any other method gets 501
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER",  # RFC 3261
    "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})
_ALLOW_ORDER = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS")

# (Call-ID, CSeq number, To tag): one 2xx to an INVITE, and its ACK (§13.2.2.4, §13.3.1.4)
_DialogKey = tuple[str, int, str]


@dataclass(slots=True)
class _Awaiting2xx:
    """A 2xx to an INVITE we sent, retransmitted until its ACK (§13.3.1.4)."""

    handle: ServerTransactionHandle
    response: Response
    deadline: float
    interval: float
    timer: asyncio.TimerHandle | None = None


class Endpoint:
    """A SIP endpoint over asyncio: listening points, transactions, UAC and UAS.

    >>> async with Endpoint(listen=["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]) as ep:
    ...     response = await ep.request(Request.build("OPTIONS", "sip:bob@192.0.2.1",
    ...                                               from_="sip:alice@example.com"))

    ``credentials`` (a ``DigestClient``) answers 401/407 challenges of every
    request sent (§22.2).  ``receive_filter``, ``on_stray``, ``on_ack`` and
    ``dialog_router`` are hooks that may be set at any time.  ``resolver``
    finds the next hop of a name by RFC 3263 (NAPTR, SRV, A/AAAA) with
    failover; without one, a name is looked up with ``getaddrinfo``.
    """

    def __init__(self, listen: Iterable[str | ListeningPoint] = (), *,
                 config: EndpointConfig | None = None,
                 credentials: DigestClient | None = None,
                 resolver: DnsResolver | None = None) -> None:
        self.config = config if config is not None else EndpointConfig()
        self.credentials = credentials
        self.resolver = resolver
        #: the RFC 3263 targets of requests sent to a name (§4.3 failover)
        self._attempts: dict[ClientTransactionHandle, TargetList] = {}
        self.transport = TransportLayer(self.config.transport, on_message=self._on_message)
        self.transactions = TransactionLayer(
            self.config.timers, detect_merged_requests=self.config.detect_merged_requests)
        self.receive_filter: ReceiveFilter | None = None
        self.on_stray: StrayHandler | None = None
        self.on_ack: AckHandler | None = None
        self.dialog_router: DialogRouter | None = None
        self._listen = list(listen)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[ClientTransaction, ClientTransactionHandle] = {}
        # where each client transaction sends (§17.1: the TU's choice, kept for
        # retransmissions and the ACK of a non-2xx), and those whose first send
        # is under way
        self._client_flows: dict[ClientTransaction, Flow] = {}
        self._first_sends: set[ClientTransaction] = set()
        self._servers: dict[ServerTransaction, ServerTransactionHandle] = {}
        self._handlers: dict[str, RequestHandler] = {}
        self._fallback: RequestHandler | None = None
        self._awaiting_ack: dict[_DialogKey, _Awaiting2xx] = {}
        self._acks_sent: dict[ClientTransaction, dict[str, tuple[Request, Flow]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._closed = False
        # what handlers added to the capabilities OPTIONS describes (§11.2), in order
        self._accept: dict[str, None] = dict.fromkeys(self.config.accept)
        self._supported: dict[str, None] = dict.fromkeys(self.config.supported)
        self._events: dict[str, None] = {}

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> Endpoint:
        """Bind the listening points given to the constructor."""
        self._loop = asyncio.get_running_loop()
        for spec in self._listen:
            await self.transport.listen(spec)
        self._listen = []
        return self

    async def listen(self, spec: str | ListeningPoint, *, sent_by: str | None = None,
                     ) -> ListeningPoint:
        """Bind one more listening point (``udp:127.0.0.1:5060``, ``tls:[::1]:0`` ...)."""
        self._loop = asyncio.get_running_loop()
        return await self.transport.listen(spec, sent_by=sent_by)

    @property
    def listening_points(self) -> tuple[ListeningPoint, ...]:
        """Every bound listening point, with its actual port."""
        return self.transport.listening_points

    async def close(self) -> None:
        """Stop: pending requests end with 503, handlers are cancelled, sockets close."""
        if not self._closed:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for entry in self._awaiting_ack.values():
                if entry.timer is not None:
                    entry.timer.cancel()
                entry.handle._acknowledged(None)
            self._awaiting_ack.clear()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for handle in list(self._clients.values()):
                if not handle.done:
                    handle._on_response(handle.request.reply(503), synthetic=True)
        await self.transport.close()

    async def __aenter__(self) -> Endpoint:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def contact(self, transport: str | Transport = Transport.UDP, *, user: str | None = None,
                host: str | None = None) -> URI:
        """A URI that reaches this endpoint over ``transport``, for Contact (§8.1.1.8).

        ``sips:`` for TLS and WSS; ``host`` replaces the listening point's
        address (needed for a wildcard bind).
        """
        kind = Transport.parse(str(transport))
        point = next((p for p in self.listening_points if p.transport is kind), None)
        if point is None:
            raise ValueError(f"no {kind} listening point")
        if host is None:
            host = point.sent_by or point.address.uri_host
        params: dict[str, str | None] = {}
        if kind is Transport.TCP or kind is Transport.WS or kind is Transport.WSS:
            params["transport"] = "ws" if kind is Transport.WSS else kind.value.lower()
        return URI("sips" if kind.secure else "sip", user, host, point.port, params)

    # -- UAC ------------------------------------------------------------------------------------

    def send(self, request: Request, target: Target | URI | str | None = None, *,
             credentials: DigestClient | None = None) -> ClientTransactionHandle:
        """Send ``request`` in a new client transaction; returns at once.

        ``target`` defaults to the top Route or the Request-URI (§8.1.2); a
        ``URI`` is resolved as that hop would be (RFC 3263 with a resolver);
        ``credentials`` default to the endpoint's.  ``async for response in
        handle`` sees the responses as they come; ``await handle.final()`` the
        final one.
        """
        handle = self._client_handle(request, target, credentials)
        uri = self._dns_uri(request, target)
        handle._start_task = self._spawn(
            handle._start() if uri is None else self._start_resolved(handle, uri))
        return handle

    async def request(self, request: Request, target: Target | URI | str | None = None, *,
                      credentials: DigestClient | None = None) -> Response:
        """Send ``request`` and return its final response (408 and 503 included, §8.1.3.1)."""
        handle = self._client_handle(request, target, credentials)
        uri = self._dns_uri(request, target)
        await (handle._start() if uri is None else self._start_resolved(handle, uri))
        return await handle.final()

    async def ack(self, invite: Request, response: Response, *, body: bytes = b"",
                  content_type: str | None = None, request: Request | None = None,
                  ) -> Request:
        """Build the ACK for a 2xx to ``invite`` (§13.2.2.4) and send it; return it.

        It goes straight to the transport (no transaction), to the remote
        target or the first hop of the route set; every retransmission of
        that 2xx that reaches the INVITE's transaction is answered with it
        again.  ``invite`` may be the request before a Digest retry: the
        INVITE the 2xx answers is found by the response.  ``request`` is an
        ACK a dialog layer built (with the dialog's route set, which the 2xx
        to a re-INVITE does not carry), sent instead of one built here.
        """
        tx = self.transactions.find_client(response)
        if tx is not None:
            invite = tx.request
        ack = build_2xx_ack(invite, response) if request is None else request
        if body:
            ack.body = body
            ack.headers.set("Content-Length", str(len(body)))
            if content_type is not None:
                ack.headers.add("Content-Type", content_type, before="Content-Length")
        flow = await self.send_direct(ack)
        if tx is not None and response.to.tag is not None:
            self._acks_sent.setdefault(tx, {})[response.to.tag] = (ack, flow)
        return ack

    async def send_direct(self, request: Request,
                          target: Target | URI | str | None = None) -> Flow:
        """Send a request with no transaction (an ACK for a 2xx, §17.1); the flow used.

        A name goes to the first RFC 3263 target (an ACK gets no response that
        could tell a failure)."""
        self._check_open()
        uri = self._dns_uri(request, target)
        if uri is not None:
            assert self.resolver is not None
            targets = await self.resolver.resolve(
                uri, families=address_families(self.listening_points))
            if not targets:
                raise TransportError(f"no server for {uri} in the DNS (RFC 3263)",
                                     target=uri, nothing_sent=True)
            return await self.transport.send_request(request, targets[0])
        return await self.transport.send_request(request, self._target(request, target))

    # -- UAS ------------------------------------------------------------------------------------

    def on_request(self, handler: H, *methods: str) -> H:
        """Register ``handler`` for ``methods`` (case-sensitive, §7.1), or for every
        method without a handler of its own when none is given."""
        if methods:
            for method in methods:
                self._handlers[method] = handler
        else:
            self._fallback = handler
        return handler

    def handles(self, *methods: str) -> Callable[[H], H]:
        """Decorator form of ``on_request``: ``@ep.handles("INVITE")``."""
        def register(handler: H) -> H:
            return self.on_request(handler, *methods)
        return register

    @property
    def allowed_methods(self) -> list[str]:
        """The Allow header of our answers (§20.5): methods with a handler,
        OPTIONS (answered by default), ACK and CANCEL when INVITE is handled."""
        methods = set(self._handlers) | {"OPTIONS"}
        if "INVITE" in methods:
            methods |= {"ACK", "CANCEL"}
        first = [m for m in _ALLOW_ORDER if m in methods]
        return first + sorted(methods.difference(_ALLOW_ORDER))

    def announce(self, *, accept: Iterable[str] = (), supported: Iterable[str] = (),
                 events: Iterable[str] = ()) -> None:
        """Add to what OPTIONS describes (§11.2): body types a handler takes
        (Accept), option tags it implements (Supported; a request requiring
        one is then not answered 420, §8.2.2.3), event packages it serves
        (Allow-Events, RFC 6665 §8.2.2)."""
        for kind, values in ((self._accept, accept), (self._supported, supported),
                             (self._events, events)):
            for value in values:
                kind.setdefault(value, None)

    @property
    def accepted_types(self) -> list[str]:
        """The Accept of our OPTIONS answer: the configured types and those announced."""
        return list(self._accept)

    @property
    def supported_options(self) -> list[str]:
        """The Supported of our OPTIONS answer: configured and announced option tags."""
        return list(self._supported)

    def options_response(self, handle: ServerTransactionHandle) -> Response:
        """The default 200 to OPTIONS (§11.2): Allow, Accept, Accept-Encoding,
        Accept-Language and Supported describe what we can do, from the
        handlers registered and what they announced; Allow-Events the event
        packages served (RFC 6665 §8.2.2)."""
        headers = [
            ("Allow", ", ".join(self.allowed_methods)),
            ("Accept", ", ".join(self._accept)),
            ("Accept-Encoding", "identity"),
            ("Accept-Language", "en"),
            ("Supported", ", ".join(self._supported)),
        ]
        if self._events:
            headers.append(("Allow-Events", ", ".join(self._events)))
        return handle.reply(200, headers=headers)

    # -- the transport's entry point ---------------------------------------------------------

    def _on_message(self, message: Request | Response, flow: Flow) -> None:
        hook = self.receive_filter
        if hook is not None and not hook(message, flow):
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if isinstance(message, Request):
            actions = self.transactions.receive(message, loop.time(), reliable=flow.reliable)
        else:
            actions = self.transactions.receive(message, loop.time())
        self._perform(actions, None, flow)
        self._rearm()

    # -- performing actions ------------------------------------------------------------------

    def _perform(self, actions: list[Action], waits: list[Coroutine[Any, Any, None]] | None,
                 flow: Flow | None = None) -> None:
        """Do what the transactions ask.  Sends that cannot complete at once are
        appended to ``waits`` for the caller to await, or, with None, spawned."""
        for action in actions:
            kind = type(action)
            if kind is Send:
                assert isinstance(action, Send)
                self._send(action.message, action.transaction, waits)
            elif kind is Deliver:
                assert isinstance(action, Deliver)
                self._deliver(action.message, action.transaction, flow)
            elif kind is Terminated:
                self._forget(action.transaction)
            elif kind is Timeout or kind is TransportFailure:
                assert isinstance(action, Timeout | TransportFailure)
                self._failed(action, action.transaction)
            elif kind is Stray:
                assert isinstance(action, Stray)
                if self.on_stray is not None and flow is not None:
                    self.on_stray(action.message, flow)
            elif kind is LoopDetected:
                assert isinstance(action, LoopDetected) and flow is not None
                tx = action.transaction
                assert isinstance(tx, ServerTransaction)
                handle = ServerTransactionHandle(self, action.request, tx, flow)
                self._servers[tx] = handle
                handle.respond_nowait(action.response)  # 482, §8.2.2.2

    def _deliver(self, message: Request | Response, tx: Transaction | None,
                 flow: Flow | None) -> None:
        if isinstance(message, Response):
            assert isinstance(tx, ClientTransaction)
            handle = self._clients.get(tx)
            if handle is None or handle.transaction is not tx:
                return  # a transaction a Digest retry replaced
            final = handle.final_response
            if final is not None:
                if tx.method == "INVITE" and 200 <= message.status < 300:
                    self._another_2xx(tx, handle, message)
                return
            if self._attempts and self._fail_over(handle, message, synthetic=False):
                return
            handle._on_response(message)
        elif message.method == "ACK":
            self._on_ack(message, flow)
        else:
            assert isinstance(tx, ServerTransaction) and flow is not None
            self._new_request(message, tx, flow)

    def _failed(self, action: Timeout | TransportFailure, tx: Transaction | None) -> None:
        response = action.response
        if response is not None and isinstance(tx, ClientTransaction):
            handle = self._clients.get(tx)
            if handle is not None and handle.transaction is tx:
                if self._attempts and self._fail_over(handle, response, synthetic=True):
                    return
                handle._on_response(response, synthetic=True)  # 408 or 503 (§8.1.3.1)
        elif isinstance(action, Timeout):
            logger.info("no ACK for the final response to %r (%s)", tx, action.timer)
        else:
            logger.info("transport failure in %r", tx)

    def _forget(self, tx: Transaction | None) -> None:
        if isinstance(tx, ClientTransaction):
            handle = self._clients.pop(tx, None)
            self._client_flows.pop(tx, None)
            self._first_sends.discard(tx)
            self._acks_sent.pop(tx, None)
            if handle is not None and handle.done:
                self._attempts.pop(handle, None)
            if handle is not None and handle.transaction is tx and not handle.done:
                # cannot happen (Timeout or TransportFailure come first): a safety net
                handle._on_response(tx.request.reply(408), synthetic=True)
        elif isinstance(tx, ServerTransaction):
            self._servers.pop(tx, None)

    # -- sending --------------------------------------------------------------------------------

    def _send(self, message: Request | Response, tx: Transaction | None,
              waits: list[Coroutine[Any, Any, None]] | None) -> None:
        if isinstance(tx, ClientTransaction):
            client = self._clients.get(tx)
            if client is None:
                return
            flow = self._client_flows.get(tx)
            if flow is None:
                if tx in self._first_sends:
                    return  # the first copy is still on its way (connecting, resolving)
                self._first_sends.add(tx)
                self._later(self._send_first(client, tx, message), waits)
                return
            try:
                if self.transport.send_on_nowait(flow, message):
                    return
            except TransportError as exc:
                self._send_failed(tx, exc)
                return
            self._later(self._send_on(tx, flow, message), waits)
            return
        server = self._servers.get(tx) if isinstance(tx, ServerTransaction) else None
        if server is None or not isinstance(message, Response):
            return
        try:
            if self.transport.send_response_nowait(message, server.flow) is not None:
                return
        except TransportError as exc:
            self._send_failed(server.transaction, exc)
            return
        self._later(self._send_response(server.transaction, message, server.flow), waits)

    async def _send_first(self, handle: ClientTransactionHandle, tx: ClientTransaction,
                          message: Request | Response) -> None:
        assert isinstance(message, Request)
        try:
            flow = await self.transport.send_request(message, handle.target)
        except TransportError as exc:
            self._send_failed(tx, exc)
            return
        finally:
            self._first_sends.discard(tx)
        if tx in self._clients:
            self._client_flows[tx] = flow
        if handle.transaction is tx:
            handle.flow = flow

    async def _send_on(self, tx: Transaction, flow: Flow, message: Message) -> None:
        try:
            await self.transport.send_on(flow, message)
        except TransportError as exc:
            self._send_failed(tx, exc)

    async def _send_response(self, tx: Transaction, response: Response, flow: Flow) -> None:
        try:
            await self.transport.send_response(response, flow)
        except TransportError as exc:
            self._send_failed(tx, exc)

    def _send_failed(self, tx: Transaction, error: TransportError) -> None:
        """§17.1.4, §17.2.4: the transaction hears of it (a client one answers 503)."""
        logger.info("%r: %s", tx, error)
        if self._closed:
            return
        self._perform(tx.transport_error(self._now()), None)
        self._rearm()

    def _later(self, coro: Coroutine[Any, Any, None],
               waits: list[Coroutine[Any, Any, None]] | None) -> None:
        if waits is None:
            self._spawn(coro)
        else:
            waits.append(coro)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    # -- time ----------------------------------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    def _rearm(self) -> None:
        """Keep one ``call_at`` at the transaction layer's earliest deadline.

        A timer armed earlier than needed is left alone: it fires, finds
        nothing due, and re-arms; so most calls cost one comparison.
        """
        if self._closed:
            return
        deadline = self.transactions.next_deadline()
        if deadline is None:
            return
        timer = self._timer
        if timer is not None:
            if deadline >= self._timer_when:
                return
            timer.cancel()
        loop = self._loop
        assert loop is not None
        self._timer_when = deadline
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        # The loop runs a callback up to one clock tick early (uvloop: 1 ms); it is due.
        now = max(loop.time(), self._timer_when)
        self._perform(self.transactions.handle_timer(now), None)
        self._rearm()

    # -- UAC core -------------------------------------------------------------------------------

    def _client_handle(self, request: Request, target: Target | URI | str | None,
                       credentials: DigestClient | None) -> ClientTransactionHandle:
        self._check_open()
        if request.method == "ACK":
            raise ValueError("an ACK has no transaction (RFC 3261 §17.1): use ack() or "
                             "send_direct()")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return ClientTransactionHandle(
            self, request, self._target(request, target),
            credentials=credentials if credentials is not None else self.credentials)

    @staticmethod
    def _target(request: Request, target: Target | URI | str | None) -> Target:
        if target is None:
            return request_target(request)
        if isinstance(target, URI):
            return uri_target(target)
        return Target.parse(target) if isinstance(target, str) else target

    # -- RFC 3263 ------------------------------------------------------------------------------

    def _dns_uri(self, request: Request, target: Target | URI | str | None) -> URI | None:
        """The URI to resolve by RFC 3263, when there is a resolver and the next
        hop is a name rather than an IP address: the top Route's or Request-URI's,
        the ``URI`` given, or for a ``Target`` given by name, its transport (and
        port, which leaves only A/AAAA to look up, §4.2)."""
        if self.resolver is None:
            return None
        if isinstance(target, str):
            target = Target.parse(target)
        if isinstance(target, Target):
            if is_ip(target.host) or isinstance(target, DnsTarget):
                return None
            return URI("sip", None, target.host, target.port,
                       {"transport": target.transport.value.lower()})
        if target is None:
            routes = request.route
            target = routes[0].uri if routes else request.uri
        return target if needs_dns(target) else None

    async def _start_resolved(self, handle: ClientTransactionHandle, uri: URI) -> None:
        """RFC 3263: the targets of ``uri``, then the first of them."""
        assert self.resolver is not None
        try:
            targets = await self.resolver.resolve(
                uri, families=address_families(self.listening_points))
        except asyncio.CancelledError:
            handle._on_response(handle.request.reply(503), synthetic=True)
            raise
        if not targets:
            handle._on_response(handle.request.reply(503), synthetic=True)
            return
        attempts = TargetList(targets)
        self._attempts[handle] = attempts
        await self._attempt(handle, attempts)

    async def _attempt(self, handle: ClientTransactionHandle, attempts: TargetList) -> None:
        """Send to the current target; one we cannot even send to (no socket of
        its address family) is skipped at once."""
        while attempts.remaining:
            try:
                await self.transport.choose_transport(handle.request, attempts.current)
                break
            except TransportError as exc:
                logger.info("cannot send %r to %s: %s; trying the next target",
                            handle.request, attempts.current, exc)
                attempts.advance()
        handle.target = attempts.current
        await handle._start()

    def _fail_over(self, handle: ClientTransactionHandle, response: Response, *,
                   synthetic: bool) -> bool:
        """RFC 3263 §4.3: after a failure of the current target, the same
        request with a new branch to the next one; True when it went."""
        attempts = self._attempts.get(handle)
        if attempts is None:
            return False
        if response.status < 200:
            attempts.heard = True
            return False
        if response.status in (401, 407) or self._closed:
            return False  # a challenge is answered to the same server
        if not is_failure(response, synthetic=synthetic, heard=attempts.heard):
            del self._attempts[handle]
            return False
        failed = attempts.current
        assert self.resolver is not None
        self.resolver.failed(failed, retry_after=None if synthetic else retry_after(response))
        following = attempts.advance()
        if following is None:
            del self._attempts[handle]
            return False
        logger.info("%s %s from %s: trying %s (RFC 3263 §4.3)", response.status,
                    response.reason, failed, following)
        retry: Request = handle.request.copy()
        via = retry.top_via
        retry.headers.pop("Via")
        retry.headers.add("Via", Via(via.transport, via.host, via.port, branch=new_branch()),
                          top=True)
        handle.request = retry
        handle.transaction = None
        handle.flow = None
        handle._start_task = self._spawn(self._attempt(handle, attempts))
        return True

    async def _start_client(self, handle: ClientTransactionHandle,
                            tx: ClientTransaction) -> None:
        self._clients[tx] = handle
        if handle.flow is not None:  # a CANCEL goes where its INVITE went (§9.1)
            self._client_flows[tx] = handle.flow
        waits: list[Coroutine[Any, Any, None]] = []
        self._perform(tx.start(self._now()), waits)
        self._rearm()
        for wait in waits:
            await wait

    def _another_2xx(self, tx: ClientTransaction, handle: ClientTransactionHandle,
                     response: Response) -> None:
        """A 2xx after the first (§13.2.2.4): a retransmission gets our ACK again;
        a 2xx of another fork, a dialog nobody asked for, is acknowledged and ended."""
        tag = response.to.tag
        final = handle.final_response
        assert final is not None
        if tag is not None and tag == final.to.tag:
            sent = self._acks_sent.get(tx, {}).get(tag)
            if sent is not None:
                ack, flow = sent
                self._spawn(self._send_on(tx, flow, ack))
            return
        logger.info("a 2xx from another fork of %r: acknowledging it and sending BYE",
                    tx.request)
        self._end_unwanted_call(tx.request, response)

    def _end_unwanted_call(self, invite: Request, response: Response) -> None:
        """ACK a 2xx, then BYE its dialog (§13.2.2.4, §15)."""
        self._spawn(self._ack_and_bye(invite, response))

    async def _ack_and_bye(self, invite: Request, response: Response) -> None:
        try:
            await self.ack(invite, response)
            bye = build_in_dialog_request("BYE", invite, response, invite.cseq.seq + 1)
            await self.request(bye)
        except (TransportError, ValueError) as exc:
            logger.info("could not end the dialog of %r: %s", response, exc)

    # -- UAS core -------------------------------------------------------------------------------

    def _new_request(self, request: Request, tx: ServerTransaction, flow: Flow) -> None:
        handle = ServerTransactionHandle(self, request, tx, flow)
        self._servers[tx] = handle
        method = request.method
        if method == "CANCEL" and (self.config.auto_cancel or "CANCEL" not in self._handlers):
            self._answer_cancel(handle)
            return
        rejection = self._check_request(handle)
        if rejection is not None:
            handle.respond_nowait(rejection)
            return
        handler = None
        router = self.dialog_router
        if router is not None and request.to.tag is not None:
            handler = router(request)
        if handler is None:
            handler = self._handlers.get(method, self._fallback)
        if handler is None:
            handle.respond_nowait(self._default_response(handle))
            return
        handle._task = self._spawn(self._run_handler(handler, handle))

    def _check_request(self, handle: ServerTransactionHandle) -> Response | None:
        """§8.2.2.1 (416 for a Request-URI scheme we do not serve) and §8.2.2.3
        (420 listing in Unsupported the Require option tags we lack)."""
        request = handle.request
        if request.uri.scheme not in self.config.schemes:
            return handle.reply(416)
        if request.method != "CANCEL":
            required = request.headers.getall("Require")
            if required:
                missing = [tag for tag in required if tag not in self._supported]
                if missing:
                    return handle.reply(420, headers=[("Unsupported", ", ".join(missing))])
        return None

    def _default_response(self, handle: ServerTransactionHandle) -> Response:
        """No handler: OPTIONS 200 (§11.2), a known method 405 with Allow (§8.2.1),
        anything else 501 (§21.5.2)."""
        method = handle.request.method
        if method == "OPTIONS":
            return self.options_response(handle)
        if method in KNOWN_METHODS:
            return handle.reply(405, headers=[("Allow", ", ".join(self.allowed_methods))])
        return handle.reply(501)

    def _answer_cancel(self, handle: ServerTransactionHandle) -> None:
        """§9.2: 200 to the CANCEL when it matches a transaction (481 otherwise),
        and 487 to the INVITE if it has no final response yet."""
        cancelled = self.transactions.find_cancelled(handle.request)
        if cancelled is None:
            handle.respond_nowait(481)
            return
        invite = self._servers.get(cancelled)
        if invite is not None:
            handle._to_tag = invite.to_tag  # §9.2: the same To tag SHOULD be used
        handle.respond_nowait(200)
        if invite is None or invite.final_response is not None or \
                cancelled.method != "INVITE":
            return
        invite.cancelled = True
        invite.respond_nowait(487)
        task = invite._task
        if task is not None and not task.done():
            task.cancel()

    async def _run_handler(self, handler: RequestHandler,
                           handle: ServerTransactionHandle) -> None:
        try:
            response = await handler(handle.request, handle)
        except asyncio.CancelledError:
            if handle.cancelled and not self._closed:
                return  # a CANCEL ended the INVITE, which was answered 487
            raise
        except Exception:
            logger.exception("the handler of %r failed", handle.request)
            response = None
        if handle.final_response is not None:
            if response is not None and response is not handle.final_response:
                logger.warning("ignoring %r: %r already has a final response", response, handle)
            return
        if response is not None:
            await handle.respond(response)
            if handle.final_response is not None:
                return
        logger.warning("no final response to %r from its handler: 500", handle.request)
        await handle.respond(handle.reply(500))

    def _respond(self, handle: ServerTransactionHandle, response: Response, *,
                 background: bool) -> list[Coroutine[Any, Any, None]]:
        self._check_open()
        waits: list[Coroutine[Any, Any, None]] | None = None if background else []
        self._perform(handle.transaction.send(response, self._now()), waits)
        self._rearm()
        if handle.request.method == "INVITE" and response.status >= 200:
            if response.status < 300:
                self._expect_ack(handle, response)
            else:
                handle._acknowledged(None)  # its ACK stays in the transaction (§17.2.1)
        return waits or []

    def _expect_ack(self, handle: ServerTransactionHandle, response: Response) -> None:
        """§13.3.1.4: pass the 2xx to the transport again at T1, 2*T1 ... T2, until
        the ACK arrives, for 64*T1 at most (over any transport)."""
        loop = self._loop
        assert loop is not None
        timers = self.config.timers
        now = loop.time()
        key = (handle.request.call_id, response.cseq.seq, response.to.tag or "")
        entry = _Awaiting2xx(handle, response, now + 64 * timers.t1, timers.t1)
        previous = self._awaiting_ack.get(key)
        if previous is not None and previous.timer is not None:
            previous.timer.cancel()
        self._awaiting_ack[key] = entry
        entry.timer = loop.call_at(min(now + entry.interval, entry.deadline),
                                   self._retransmit_2xx, key)

    def _retransmit_2xx(self, key: _DialogKey) -> None:
        entry = self._awaiting_ack.get(key)
        if entry is None:
            return
        loop = self._loop
        assert loop is not None
        now = loop.time()
        if now >= entry.deadline:
            del self._awaiting_ack[key]
            logger.warning("no ACK for %r to %r in 64*T1 (RFC 3261 §13.3.1.4)",
                           entry.response, entry.handle.request)
            entry.handle._acknowledged(None)
            return
        # In RFC 6026's Accepted state the transaction sends each 2xx the TU passes it.
        self._perform(entry.handle.transaction.send(entry.response, now), None)
        self._rearm()
        entry.interval = min(2 * entry.interval, self.config.timers.t2)
        entry.timer = loop.call_at(min(now + entry.interval, entry.deadline),
                                   self._retransmit_2xx, key)

    def _on_ack(self, ack: Request, flow: Flow | None) -> None:
        entry = self._awaiting_ack.pop((ack.call_id, ack.cseq.seq, ack.to.tag or ""), None)
        if entry is not None:
            if entry.timer is not None:
                entry.timer.cancel()
            entry.handle._acknowledged(ack)
            return
        if self.on_ack is not None and flow is not None:
            self.on_ack(ack, flow)
        else:
            logger.debug("an ACK for no 2xx of ours: %r", ack)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the endpoint is closed")
