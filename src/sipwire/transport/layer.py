"""The transport layer of RFC 3261 §18: listening points, a connection pool,
and the rules for sending and receiving requests and responses.

It is the only part of sipwire that touches sockets.  The layer above (the
endpoint tying it to the transaction layer) registers one callback that
receives every message with the ``Flow`` it arrived on, and sends with
``send_request`` / ``send_response`` / ``send_on``, which raise
``TransportError`` when a message cannot go (§18.4; the transaction layer
answers it with 503, §8.1.3.1).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from ..message.errors import ParseError
from ..message.fields.via import Via
from ..message.message import Message, Request, Response
from ..message.parser import BadMessage, StreamEvent, parse
from .base import (
    Address,
    Connection,
    Flow,
    ListeningPoint,
    Target,
    Transport,
    TransportError,
    is_ip,
    logger,
    normalize_ip,
    source_key,
)
from .config import TransportConfig
from .loglimit import LogLimiter
from .malformed import error_response
from .routing import (
    mark_received,
    response_target,
    sent_by_key,
    stamp_via,
    udp_response_address,
)
from .stream import open_stream, serve_stream
from .tls import client_context, failure_reason
from .udp import SendErrorHandler, UdpListener, open_udp

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WsServer

__all__ = ["MessageHandler", "TransportLayer"]

#: the layer above: called with each received message and the flow it came on
MessageHandler = Callable[[Request | Response, Flow], None]

_PoolKey = tuple[Transport, Address]
# How many sent-by values (ours) and routes to remember; both only hold our own addresses.
_MAX_SENT_BY = 4096
#: what a datagram of keep-alives starts with (b"" too): only then is it stripped
_BLANK = frozenset((b"", b"\r", b"\n", b"\0", b" ", b"\t"))
_MAX_ROUTES = 256


# Members read on every message, bound once: the enum metaclass of Python
# 3.11 has a __getattr__, which makes each ``Transport.UDP`` a slow lookup.
_UDP = Transport.UDP
_TCP = Transport.TCP
_TLS = Transport.TLS


def _dual_stack(point: ListeningPoint) -> bool:
    """A UDP socket bound to ``::`` also carries IPv4 (Linux's default,
    ``bindv6only=0``); asyncio's TCP servers set IPV6_V6ONLY and do not."""
    return point.transport is _UDP and point.wildcard and \
        point.family == socket.AF_INET6


class TransportLayer:
    """Sends and receives SIP messages over UDP, TCP, TLS, WS and WSS (§18).

    ``on_message(message, flow)`` is called for every request and every
    response that passes the §18.1.2 / §18.2.1 checks; it must not block (it
    runs in the event loop's reading path) and its exceptions are logged.
    Use ``async with TransportLayer(...) as layer`` or ``await layer.close()``.

    What a peer can make it hold is bounded by ``config``: connections in all
    and per source (with fair admission when all are taken, see
    ``connection_opened``), the time to receive one message on a stream,
    UDP requests per source and second, and the log lines about them.
    """

    def __init__(self, config: TransportConfig | None = None, *,
                 on_message: MessageHandler | None = None) -> None:
        self.config = config or TransportConfig()
        self.on_message = on_message
        #: told of each connection admitted (True) and gone (False): worker
        #: processes tell each other which flows they hold (``server.workers``)
        self.on_connection: Callable[[Connection, bool], None] | None = None
        self._points: list[ListeningPoint] = []
        self._udp: list[UdpListener] = []
        self._stream_servers: list[asyncio.Server] = []
        self._ws_servers: list[WsServer] = []  # websockets is imported only for ws/wss
        self._connections: set[Connection] = set()
        #: the open connections of each source (``source_key`` of the far end)
        self._sources: dict[str, dict[Connection, None]] = {}
        self._pool: dict[_PoolKey, Connection] = {}
        self._connecting: dict[_PoolKey, asyncio.Task[Connection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sent_by: dict[tuple[str, int], None] = {}
        #: ``_sent_by_for``'s answers by (transport, local host, local port), with
        #: the key of ``_sent_by`` they give: found again on every request sent
        self._sent_by_of: dict[tuple[Transport, str, int],
                               tuple[str, int, tuple[str, int]]] = {}
        self._routes: dict[str, str] = {}
        self._client_tls = self.config.tls_client_context
        self._log = LogLimiter(logger, self.config.log_limit, self.config.log_interval)
        self._closed = False
        self._closing: asyncio.Task[None] | None = None

    # -- listening ------------------------------------------------------------------

    @property
    def listening_points(self) -> tuple[ListeningPoint, ...]:
        """Every bound listening point, with its actual port."""
        return tuple(self._points)

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every open connection, accepted or opened."""
        return tuple(self._connections)

    @property
    def over_rate(self) -> int:
        """UDP datagrams dropped unread because their source sent more than
        ``max_requests_per_source`` in a second."""
        return sum(listener.over_rate for listener in self._udp)

    def receive_queue_fill(self) -> float:
        """How full the fullest UDP receive queue is, 0 to 1 (at 1 the kernel
        drops datagrams unread): the overload control's queue (server.overload)."""
        return max((listener.receive_queue_fill() for listener in self._udp), default=0.0)

    async def listen(self, spec: str | ListeningPoint, *, sent_by: str | None = None,
                     ) -> ListeningPoint:
        """Bind ``udp:127.0.0.1:5060``, ``tcp:[::1]:0``, ``tls:…``, ``ws:…``, ``wss:…``.

        Port 0 picks a free port; the returned listening point has the real
        one.  ``sent_by`` is the host to advertise in Via (§18.1.1) instead of
        the bound address.  TLS and WSS need ``config.tls_server_context``.
        Raises ``OSError`` when the address cannot be bound.
        """
        self._check_open()
        cfg = self.config
        point = spec if isinstance(spec, ListeningPoint) else ListeningPoint.parse(
            spec, sent_by=sent_by)
        transport = point.transport
        ssl_context = None
        if transport.secure:
            ssl_context = cfg.tls_server_context
            if ssl_context is None:
                raise ValueError(f"{point}: TransportConfig.tls_server_context is not set")
        port: int
        if transport is _UDP:
            listener = await open_udp(point, self._datagram_received,
                                      cfg.udp_send_buffer_limit, cfg.udp_receive_buffer,
                                      coalesce=cfg.udp_coalesce_sends,
                                      max_requests_per_source=cfg.max_requests_per_source,
                                      log=self._log, reuse_port=cfg.reuse_port)
            listener.capture = cfg.capture
            self._udp.append(listener)
            port = listener.local.port
            if cfg.udp_private_send and point.sent_by is None:
                own = await open_udp(
                    ListeningPoint(_UDP, point.host, 0), self._datagram_received,
                    cfg.udp_send_buffer_limit, cfg.udp_receive_buffer,
                    coalesce=cfg.udp_coalesce_sends,
                    max_requests_per_source=cfg.max_requests_per_source, log=self._log)
                own.capture = cfg.capture
                own.is_private = True
                listener.private = own
                self._udp.append(own)
        elif transport is _TCP or transport is _TLS:
            server = await serve_stream(
                transport, point.host, point.port, self, ssl_context=ssl_context,
                limits=cfg.limits, idle_timeout=cfg.idle_timeout,
                write_timeout=cfg.write_timeout, write_buffer_limit=cfg.write_buffer_limit,
                handshake_timeout=cfg.connect_timeout, message_timeout=cfg.message_timeout,
                reuse_port=cfg.reuse_port)
            self._stream_servers.append(server)
            port = server.sockets[0].getsockname()[1]
        else:
            serve_ws = _ws_module(point).serve_ws
            ws_server = await serve_ws(
                transport, point.host, point.port, self, ssl_context=ssl_context,
                limits=cfg.limits, idle_timeout=cfg.idle_timeout,
                write_timeout=cfg.write_timeout, open_timeout=cfg.connect_timeout,
                close_timeout=cfg.close_timeout, ping_interval=cfg.ws_ping_interval,
                max_queue=cfg.ws_max_queue, refuses=self._refuses,
                message_timeout=cfg.message_timeout, reuse_port=cfg.reuse_port)
            self._ws_servers.append(ws_server)
            port = ws_server.sockets[0].getsockname()[1]
        bound = ListeningPoint(transport, point.host, port, point.sent_by)
        self._points.append(bound)
        self._sent_by_of.clear()  # a new point may give some local address its sent-by
        if bound.sent_by or not bound.wildcard:
            self._remember_sent_by(bound.sent_by or bound.address.uri_host, port)
        return bound

    # -- sending --------------------------------------------------------------------

    async def send_request(self, request: Request, target: Target, *,
                           private: bool = False) -> Flow:
        """Send a request to ``target`` and return the flow it went on (§18.1.1).

        The top Via gets the transport actually used and our sent-by (and an
        ``rport`` flag when configured, RFC 3581 §3); the request is changed in
        place, so the caller holds what went on the wire.  A request over
        ``udp_max_request_size`` bytes bound for UDP goes by TCP to the same
        address and port instead (and back to UDP if TCP is refused).  An
        open connection to the same transport and address is reused.

        ``private``: over UDP, from this process's own socket when the layer
        has one (``TransportConfig.udp_private_send``), for a peer that sends
        its responses to the Via rather than to the listening port.
        """
        self._check_open()
        if not request.via:
            raise ValueError("a request needs a Via header to send (RFC 3261 §8.1.1.7)")
        remote = await self._resolve(target.host, target.effective_port)
        # an RFC 3263 target (sipwire.dns.DnsTarget) is an address found for a
        # domain: TLS authenticates the domain (RFC 5922 §4), WebSocket's Host names it
        server_name = getattr(target, "server_name", None) or target.host
        if target.transport is not _UDP:
            return await self._send_reliable(request, target.transport, remote, server_name)
        listener = self._udp_listener(remote, private=private)
        data = self._stamp_udp(request, listener, remote)
        if self._too_large_for_udp(data):
            try:
                return await self._send_reliable(request, _TCP, remote, server_name)
            except TransportError as exc:
                if not isinstance(exc.__cause__, ConnectionRefusedError):
                    raise
                logger.info("TCP refused by %s: sending %d bytes by UDP (RFC 3261 §18.1.1)",
                            remote, len(data))
                data = self._stamp_udp(request, listener, remote)
        listener.sendto(data, remote)
        return Flow(_UDP, remote, listener.local)

    def send_request_nowait(self, request: Request, target: Target,
                            on_error: SendErrorHandler | None = None, *,
                            private: bool = False) -> Flow | None:
        """``send_request`` when it can complete at once: over UDP to an IP
        address, the request within ``udp_max_request_size`` (§18.1.1).

        Returns None, having sent nothing, when it would have to wait (a
        connection, a name to resolve, a request large enough for TCP): then
        await ``send_request``.  The top Via may have been stamped meanwhile,
        as ``send_request`` stamps it again.  Raises ``TransportError`` as it
        does; with ``udp_coalesce_sends`` a failure of the held datagram goes
        to ``on_error`` later.
        """
        if self._closed:  # _check_open(), its frame only when it raises
            self._check_open()
        if target.transport is not _UDP or not is_ip(target.host):
            return None
        via = request.headers.first("Via")  # the top one only: the others are not ours
        if via is None:
            raise ValueError("a request needs a Via header to send (RFC 3261 §8.1.1.7)")
        assert isinstance(via, Via)
        remote = Address(normalize_ip(target.host), target.effective_port)
        listener = self._udp_listener(remote, private=private)
        data = self._stamp_udp(request, listener, remote, via)
        if self._too_large_for_udp(data):
            return None
        listener.send_soon(data, remote, on_error)
        return listener.flow_to(remote)

    async def choose_transport(self, request: Request, target: Target, *,
                               private: bool = False) -> Transport:
        """The transport ``send_request(request, target)`` will use (§18.1.1).

        The target's, except TCP for a request bound for UDP that is over
        ``udp_max_request_size`` once its Via is stamped.  A client transaction
        is reliable or not from its creation (§17.1.1.2 Timer A), so the layer
        above asks this before creating one.  For UDP it stamps the top Via as
        ``send_request`` would (which does it again, to the same result).
        """
        self._check_open()
        if target.transport is not _UDP:
            return target.transport
        if not request.via:
            raise ValueError("a request needs a Via header to send (RFC 3261 §8.1.1.7)")
        remote = await self._resolve(target.host, target.effective_port)
        data = self._stamp_udp(request, self._udp_listener(remote, private=private), remote)
        return _TCP if self._too_large_for_udp(data) else _UDP

    async def send_response(self, response: Response, flow: Flow | None = None) -> Flow:
        """Send a response where §18.2.2 and RFC 3581 §4 say; return the flow used.

        ``flow`` is the one its request arrived on: over a reliable transport
        the response goes back on that connection while it is open, else on a
        new connection to ``received`` (or the sent-by host) at the sent-by
        port (WebSocket clients cannot be reached that way: ``TransportError``).
        Over UDP it goes to ``maddr``, or to ``received`` at ``rport`` or the
        sent-by port, sent from the socket the request arrived on.
        """
        self._check_open()
        data = bytes(response)
        conn = flow.connection if flow is not None else None
        if conn is not None and conn.is_open:
            await conn.send(data)
            return conn.flow
        vias = response.via
        if not vias:
            raise ValueError("a response needs a Via header to be routed (RFC 3261 §18.2.2)")
        target = response_target(vias[0])
        if target.transport.reliable:
            if flow is not None and flow.reliable:
                pooled = self._pool.get((flow.transport, flow.remote))
                if pooled is not None and pooled.is_open:
                    await pooled.send(data)
                    return pooled.flow
            if target.transport is Transport.WS or target.transport is Transport.WSS:
                raise TransportError("the WebSocket connection of the request is closed "
                                     "(RFC 7118 §5.3)", target=target)
            remote = await self._resolve(target.host, target.effective_port)
            conn = await self._connection(target.transport, remote, target.host)
            await conn.send(data)
            return conn.flow
        remote = await self._resolve(target.host, target.effective_port)
        local = flow.local if flow is not None and flow.transport is _UDP else None
        listener = self._udp_listener(remote, local)
        listener.sendto(data, remote)
        return Flow(_UDP, remote, listener.local)

    def send_response_nowait(self, response: Response, flow: Flow | None = None,
                             on_error: SendErrorHandler | None = None) -> Flow | None:
        """``send_response`` when it can complete at once: over UDP to an IP
        address (§18.2.2, RFC 3581 §4).  Returns None, having sent nothing,
        when it would have to wait (a connection, a name to resolve): then
        await ``send_response``.  Raises ``TransportError`` as it does; with
        ``udp_coalesce_sends`` a failure of the held datagram goes to
        ``on_error`` later.
        """
        if self._closed:  # _check_open(), its frame only when it raises
            self._check_open()
        if flow is not None and flow.transport is not _UDP:
            return None
        via = response.headers.first("Via")
        if via is None:
            raise ValueError("a response needs a Via header to be routed (RFC 3261 §18.2.2)")
        assert isinstance(via, Via)
        address = udp_response_address(via)
        if address is None:
            response_target(via)  # TransportError for a transport we do not know
            return None
        host, port = address
        if flow is not None and port == flow.remote.port and host == flow.remote.host:
            # back where the request came from (RFC 3581 §4), the usual case
            listener = self._udp_listener(flow.remote, flow.local)
            listener.send_soon(bytes(response), flow.remote, on_error)
            return flow if listener.local is flow.local else Flow(
                _UDP, flow.remote, listener.local)
        if not is_ip(host):
            return None
        remote = Address(normalize_ip(host), port)
        listener = self._udp_listener(remote, flow.local if flow is not None else None)
        listener.send_soon(bytes(response), remote, on_error)
        return listener.flow_to(remote)

    def send_on_nowait(self, flow: Flow, message: Message | bytes,
                       on_error: SendErrorHandler | None = None) -> bool:
        """``send_on`` for a UDP flow, at once: True once sent (held, with
        ``udp_coalesce_sends``: a failure then goes to ``on_error``).  False,
        having sent nothing, for a connection (await ``send_on``).
        Retransmissions take this path, with no task per datagram."""
        if self._closed:  # _check_open(), its frame only when it raises
            self._check_open()
        if flow.transport is not _UDP:
            return False
        data = message if isinstance(message, bytes) else bytes(message)
        self._udp_listener(flow.remote, flow.local).send_soon(data, flow.remote, on_error)
        return True

    async def send_on(self, flow: Flow, message: Message | bytes) -> Flow:
        """Send over a known flow: retransmissions (§17.1.1.2, §17.2.1) and the
        ACK of a non-2xx final response (§17.1.1.3) go where the original went.

        Nothing in the message is changed.  A closed connection is replaced by
        a new one to the same address (or the pooled one, if any).
        """
        self._check_open()
        data = message if isinstance(message, bytes) else bytes(message)
        if flow.transport is _UDP:
            listener = self._udp_listener(flow.remote, flow.local)
            listener.sendto(data, flow.remote)
            return flow
        conn = flow.connection
        if conn is None or not conn.is_open:
            conn = await self._connection(flow.transport, flow.remote, flow.remote.host)
        await conn.send(data)
        return conn.flow

    # -- closing --------------------------------------------------------------------

    def has_connection(self, transport: str, host: str, port: int) -> bool:
        """Whether a connection of ``transport`` to ``host:port`` is open: a
        flow requests can still be sent over (RFC 5626 §5.3)."""
        try:
            kind = Transport.parse(transport)
        except TransportError:
            return False
        conn = self._pool.get((kind, Address(normalize_ip(host), port)))
        return conn is not None and conn.is_open

    async def close(self) -> None:
        """Close every listening point and connection (§18); safe to call again."""
        if self._closing is None:
            self._closed = True
            self._closing = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        for task in [*self._connecting.values(), *self._tasks]:
            task.cancel()
        for listener in self._udp:
            listener.close()
        for server in self._stream_servers:
            server.close()
        for ws_server in self._ws_servers:
            ws_server.close()
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        waits: list[Coroutine[Any, Any, None]] = [
            *(listener.wait_closed() for listener in self._udp),
            *(conn.wait_closed() for conn in connections),
            *(ws_server.wait_closed() for ws_server in self._ws_servers),
        ]
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await asyncio.gather(*waits, *self._connecting.values(), *self._tasks,
                                     return_exceptions=True)
        except TimeoutError:
            for conn in connections:
                conn.abort()
            if connections:
                await asyncio.wait([asyncio.ensure_future(conn.wait_closed())
                                    for conn in connections],
                                   timeout=self.config.close_timeout)
        for server in self._stream_servers:
            await server.wait_closed()
        self._pool.clear()

    async def __aenter__(self) -> TransportLayer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- receiving (ConnectionOwner and the UDP listeners call these) --------------------

    def connection_opened(self, connection: Connection) -> bool:
        """Admit a connection, or refuse it (False: it is closed at once).

        One a peer opened is refused when its source already holds
        ``max_connections_per_source``.  When ``max_connections`` are open,
        the least recently active connection of the source holding the most
        is closed to make room, if that leaves it holding no fewer than the
        newcomer's source then will; otherwise the newcomer is refused.  So a
        source that takes every connection cannot keep others out.
        """
        refusal = self._refusal(connection.remote, inbound=connection.inbound, evict=True)
        if refusal is not None:
            self._log.log(logging.WARNING, "refused", "refusing %s: %s", connection, refusal)
            return False
        connection.capture = self.config.capture
        self._connections.add(connection)
        # §18: connections are indexed by the far end's transport, address and port.
        self._pool[(connection.transport, connection.remote)] = connection
        self._sources.setdefault(source_key(connection.remote.host), {})[connection] = None
        if self.on_connection is not None:
            self.on_connection(connection, True)
        return True

    def event_received(self, connection: Connection, event: StreamEvent) -> None:
        if isinstance(event, BadMessage):
            self._answer_malformed(event.data, event.error, connection.flow)
        elif isinstance(event, Message):
            self._deliver(event, connection.flow)

    def framing_failed(self, connection: Connection, error: ParseError,
                       data: bytes) -> bytes | None:
        """§18.3: a stream that cannot be framed any more is closed, after the
        response its request gets (``error.status_code``: 400, or 513 for one
        over the size limit, §21.4.1).  Without a Via, From, To, Call-ID and
        CSeq to copy (§8.2.6.2) no response could be matched to the request
        by its client, and the connection closes without one."""
        response = None
        if self.config.answer_malformed:
            response = error_response(data, error, self.config.limits)
        if response is None:
            self._log.log(logging.INFO, "framing", "closing %s: %s", connection, error)
            return None
        mark_received(response.top_via, connection.remote)
        self._log.log(logging.INFO, "framing", "closing %s after answering %d: %s",
                      connection, response.status, error)
        return bytes(response)

    def message_timed_out(self, connection: Connection) -> None:
        self._log.log(logging.INFO, "slow", "closing %s: no whole message within %g s of "
                      "its first byte", connection, connection.message_timeout)

    def connection_closed(self, connection: Connection) -> None:
        self._forget(connection)

    def adopt(self, connection: Connection) -> None:
        """Pool ``connection`` under its far end without holding it: one that
        stands for a connection of another process (``server.workers``), used
        as the flow to that address until ``release``; a connection of ours
        to the same address is preferred."""
        key = (connection.transport, connection.remote)
        held = self._pool.get(key)
        if held is None or not held.is_open:
            self._pool[key] = connection

    def release(self, connection: Connection) -> None:
        """Unpool a connection given to ``adopt``."""
        key = (connection.transport, connection.remote)
        if self._pool.get(key) is connection:
            del self._pool[key]

    def _forget(self, connection: Connection) -> None:
        if self.on_connection is not None and connection in self._connections:
            self.on_connection(connection, False)
        self._connections.discard(connection)
        key = (connection.transport, connection.remote)
        if self._pool.get(key) is connection:
            del self._pool[key]
        source = source_key(connection.remote.host)
        held = self._sources.get(source)
        if held is not None:
            held.pop(connection, None)
            if not held:
                del self._sources[source]

    def _refuses(self, remote: Address) -> bool:
        """Whether a connection a peer at ``remote`` opens would be refused."""
        return self._refusal(remote, inbound=True, evict=False) is not None

    def _refusal(self, remote: Address, *, inbound: bool, evict: bool,
                 pending: int = 0) -> str | None:
        """Why a new connection with ``remote`` cannot be admitted, or None
        (having closed another to make room, with ``evict``)."""
        if self._closed:
            return "the transport layer is closed"
        cfg = self.config
        source = source_key(remote.host)
        held = len(self._sources.get(source, ()))
        cap = cfg.max_connections_per_source
        if inbound and 0 < cap <= held:
            return f"{source} has {held} connections open, its limit"
        if len(self._connections) + pending < cfg.max_connections:
            return None
        victim = self._eviction_victim(held)
        if victim is None:
            return (f"{len(self._connections)} connections open, none from a source "
                    f"with two more than {source}'s {held}")
        if evict:
            self._log.log(logging.WARNING, "evicted", "closing %s, the least recently "
                          "active of the source with the most connections, for one from %s "
                          "(%d connections open)", victim, source, len(self._connections))
            self._forget(victim)
            victim.abort()
        return None

    def _eviction_victim(self, held: int) -> Connection | None:
        """The least recently active connection of the source holding the most,
        if that is at least two more than ``held`` (so that the two are no
        further apart after the swap, and no two sources take turns)."""
        most: dict[Connection, None] | None = None
        count = held + 1
        for connections in self._sources.values():
            if len(connections) > count:
                most, count = connections, len(connections)
        if most is None:
            return None
        return min(most, key=lambda conn: conn.activity)

    def _datagram_received(self, listener: UdpListener, data: bytes, flow: Flow) -> None:
        if data[:1] in _BLANK and not data.strip(b"\r\n\0 \t"):
            return  # CRLF keep-alives (STUN never gets here: UdpListener answers it)
        try:
            message = parse(data, self.config.limits)
        except ParseError as exc:
            self._answer_malformed(data, exc, flow)
            return
        self._deliver(message, flow)

    def _deliver(self, message: Message, flow: Flow) -> None:
        via = message.top_via
        if isinstance(message, Request):
            mark_received(via, flow.remote)
        elif not isinstance(message, Response):
            return
        elif self.config.check_sent_by and sent_by_key(via) not in self._sent_by:
            self._log.log(logging.INFO, "not-ours", "dropping a response from %s whose top "
                          "Via %s is not ours (RFC 3261 §18.1.2)", flow.remote, via)
            return
        handler = self.on_message
        if handler is None:
            logger.debug("no handler: dropping %r from %s", message, flow.remote)
            return
        try:
            handler(message, flow)
        except Exception:
            logger.exception("the message handler failed on %r", message)

    def _answer_malformed(self, data: bytes, error: ParseError, flow: Flow) -> None:
        """§18.3 / §8.2.2: answer a bad request when possible, drop anything else."""
        self._log.log(logging.INFO, "malformed", "unparsable message from %s: %s",
                      flow.remote, error)
        if not self.config.answer_malformed:
            return
        response = error_response(data, error, self.config.limits)
        if response is None:
            return
        mark_received(response.top_via, flow.remote)
        self._spawn(self.send_response(response, flow))

    # -- helpers --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the transport layer is closed")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._closed or len(self._tasks) >= self.config.max_pending_sends:
            coro.close()
            self._log.log(logging.WARNING, "pending", "too many pending sends: dropping one")
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.log(logging.INFO, "send-failed", "background send failed: %s",
                          task.exception())

    def _remember_sent_by(self, host: str, port: int) -> None:
        key = (normalize_ip(host), port)
        if key in self._sent_by:
            return
        if len(self._sent_by) >= _MAX_SENT_BY:
            del self._sent_by[next(iter(self._sent_by))]
        self._sent_by[key] = None

    def _sent_by_for(self, transport: Transport, local: Address,
                     private: bool = False) -> tuple[str, int]:
        """Our sent-by for a request leaving from ``local`` (§18.1.1).

        The listening point of that transport and address family gives it (so
        responses and new connections come back to where we listen); without
        one, the local address of the connection does.  ``private``: ``local``
        is a private UDP socket (``udp_private_send``), whose own port it is.
        """
        key = (transport, local.host, local.port)
        found = self._sent_by_of.get(key)
        if found is None:
            point = self._point_for(transport, local)
            if point is None:
                host, port = local.uri_host, local.port
            else:
                host = point.sent_by or (local.uri_host if point.wildcard
                                         else point.address.uri_host)
                port = local.port if private else point.port
            if len(self._sent_by_of) >= _MAX_SENT_BY:
                self._sent_by_of.clear()
            found = self._sent_by_of[key] = (host, port, (normalize_ip(host), port))
        if found[2] not in self._sent_by:  # remembered, unless evicted since
            self._remember_sent_by(found[0], found[1])
        return found[0], found[1]

    def _point_for(self, transport: Transport, local: Address) -> ListeningPoint | None:
        fallback = None
        for point in self._points:
            if point.transport is not transport:
                continue
            if point.family != local.family and not _dual_stack(point):
                continue
            if point.host == local.host:
                return point
            if fallback is None and point.wildcard:
                fallback = point
        return fallback

    def _too_large_for_udp(self, data: bytes) -> bool:
        limit = self.config.udp_max_request_size
        return limit is not None and len(data) > limit

    def _stamp_udp(self, request: Request, listener: UdpListener, remote: Address,
                   via: Via | None = None) -> bytes:
        local = listener.local
        if listener.point.wildcard:
            local = Address(self._route_source(remote), local.port)
        host, port = self._sent_by_for(_UDP, local, listener.is_private)
        stamp_via(request.top_via if via is None else via, _UDP, host, port,
                  rport=self.config.rport)
        return bytes(request)

    def _route_source(self, remote: Address) -> str:
        """The local address the kernel picks to reach ``remote`` (no packet is sent)."""
        source = self._routes.get(remote.host)
        if source is None:
            with socket.socket(remote.family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect((remote.host, remote.port or 9))
                    source = normalize_ip(probe.getsockname()[0])
                except OSError as exc:
                    raise TransportError(f"no route: {exc}", target=remote) from exc
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[remote.host] = source
        return source

    def _udp_listener(self, remote: Address, local: Address | None = None,
                      private: bool = False) -> UdpListener:
        """The UDP socket to send from: the one at ``local`` (RFC 3581 §4: a
        response leaves from where its request arrived), else a listening
        point's of the family, or with ``private`` its private twin if it has
        one (``TransportConfig.udp_private_send``)."""
        fallback = dual_stack = None
        for listener in self._udp:
            if local is not None and (listener.local is local or listener.local == local):
                return listener
            if listener.is_private:
                continue
            if listener.local.family == remote.family:
                if local is None:
                    return listener.private or listener if private else listener
                fallback = fallback or listener
            elif _dual_stack(listener.point):
                dual_stack = dual_stack or listener
        fallback = fallback or dual_stack
        if fallback is None:
            family = "IPv6" if remote.family == socket.AF_INET6 else "IPv4"
            raise TransportError(f"no {family} UDP listening point", target=remote)
        return fallback.private or fallback if private else fallback

    async def _resolve(self, host: str, port: int) -> Address:
        """An IP address for ``host``: a plain lookup, not RFC 3263."""
        if is_ip(host):
            return Address(normalize_ip(host), port)
        if host.lower().rstrip(".").endswith(".invalid") or host.lower() == "invalid":
            # RFC 6761 §6.4: never looked up; a WebSocket client's Contact
            # (RFC 7118 §5.2) is reached over its flow or not at all
            raise TransportError(f"{host!r} is not resolvable (RFC 6761 §6.4): "
                                 "only the client's own flow reaches it", target=host,
                                 nothing_sent=True)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TransportError(f"cannot resolve {host!r}: {exc}", target=host,
                                 nothing_sent=True) from exc
        if not infos:
            raise TransportError(f"no address for {host!r}", target=host, nothing_sent=True)
        families = {point.family for point in self._points}
        for info in infos:
            if info[0] in families:
                return Address.from_sockname(info[4])
        return Address.from_sockname(infos[0][4])

    async def _send_reliable(self, request: Request, transport: Transport, remote: Address,
                             server_name: str) -> Flow:
        conn = await self._connection(transport, remote, server_name)
        host, port = self._sent_by_for(transport, conn.local)
        stamp_via(request.top_via, transport, host, port, rport=self.config.rport)
        await conn.send(bytes(request))
        return conn.flow

    async def _connection(self, transport: Transport, remote: Address,
                          server_name: str) -> Connection:
        """The pooled connection to ``remote``, or a new one (§18.1.1: reuse)."""
        key = (transport, remote)
        conn = self._pool.get(key)
        if conn is not None and conn.is_open:
            return conn
        task = self._connecting.get(key)
        if task is None:
            refusal = self._refusal(remote, inbound=False, evict=True,
                                    pending=len(self._connecting))
            if refusal is not None:
                raise TransportError(f"too many connections: {refusal}", target=remote,
                                     nothing_sent=True)
            task = asyncio.get_running_loop().create_task(
                self._open(transport, remote, server_name))
            self._connecting[key] = task
            task.add_done_callback(functools.partial(self._connect_done, key))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # close() stopped the attempt; the caller was not cancelled itself
                raise TransportError("the transport layer is closed", target=remote) from None
            raise

    def _connect_done(self, key: _PoolKey, task: asyncio.Task[Connection]) -> None:
        if self._connecting.get(key) is task:
            del self._connecting[key]
        if not task.cancelled():
            task.exception()  # retrieved: a waiter may have been cancelled

    async def _open(self, transport: Transport, remote: Address,
                    server_name: str) -> Connection:
        cfg = self.config
        local_host = self._bind_host(transport, remote)
        ssl_context = await self._client_context() if transport.secure else None
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                if transport is _TCP or transport is _TLS:
                    return await open_stream(
                        transport, remote, self, ssl_context=ssl_context,
                        server_hostname=server_name if ssl_context is not None else None,
                        local_host=local_host, limits=cfg.limits,
                        idle_timeout=cfg.idle_timeout, write_timeout=cfg.write_timeout,
                        write_buffer_limit=cfg.write_buffer_limit,
                        message_timeout=cfg.message_timeout)
                open_ws = _ws_module(transport).open_ws
                connection: Connection = await open_ws(
                    transport, remote, server_name, self, ssl_context=ssl_context,
                    path=cfg.ws_path, local_host=local_host, limits=cfg.limits,
                    idle_timeout=cfg.idle_timeout, write_timeout=cfg.write_timeout,
                    close_timeout=cfg.close_timeout, ping_interval=cfg.ws_ping_interval,
                    max_queue=cfg.ws_max_queue, message_timeout=cfg.message_timeout)
                return connection
        except TransportError as exc:
            exc.nothing_sent = True
            raise
        except TimeoutError as exc:
            raise TransportError(f"{transport} connection timed out", target=remote,
                                 nothing_sent=True) from exc
        except ssl.SSLError as exc:
            # the server was not authenticated (RFC 5922 §7.3), or the handshake broke
            raise TransportError(f"TLS: {failure_reason(exc)}", target=remote,
                                 nothing_sent=True) from exc
        except Exception as exc:
            raise TransportError(f"{transport} connection failed: {exc}",
                                 target=remote, nothing_sent=True) from exc

    def _bind_host(self, transport: Transport, remote: Address) -> str | None:
        """Connect from the address we listen on for this transport, if one is
        bound, so that the packet source matches our sent-by (§18.2.1)."""
        for point in self._points:
            if point.transport is transport and point.family == remote.family \
                    and not point.wildcard:
                return point.host
        return None

    async def _client_context(self) -> ssl.SSLContext:
        if self._client_tls is None:
            # Loading the system CA store reads files: keep it out of the loop.
            self._client_tls = await asyncio.to_thread(client_context)
        return self._client_tls


def _ws_module(what: object) -> ModuleType:
    """``transport.ws``, or one line naming the missing package: websockets
    comes with the default install, but a pared-down one may lack it."""
    try:
        from . import ws
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("websockets"):
            raise
        raise ValueError(f"{what}: WebSocket (RFC 7118) needs the websockets package, "
                         "which `pip install sipwire` installs") from None
    return ws
