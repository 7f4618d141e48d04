"""SIP over WebSocket and secure WebSocket (RFC 7118), with ``websockets``.

Both ends require the ``sip`` subprotocol (§4.1); each WebSocket message
carries one SIP message, text or binary (§4.2, §5), so no Content-Length
framing is needed.  CRLF keep-alives (RFC 5626 §3.5.1) are answered when a
peer sends them (§6).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection as WebSocket
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.protocol import Event, State
from websockets.typing import Subprotocol

from ..message.errors import ParseError
from ..message.parser import BadMessage, KeepAlive, Limits, StreamEvent, parse
from .base import Address, Connection, ConnectionOwner, Transport, TransportError, logger

__all__ = ["SUBPROTOCOL", "WsConnection", "frame_event", "open_ws", "serve_ws"]

#: RFC 7118 §4.1, §10.1: the WebSocket SIP subprotocol
SUBPROTOCOL = Subprotocol("sip")

_ws_logger = logging.getLogger("sipwire.transport.ws")


def frame_event(data: bytes, limits: Limits) -> StreamEvent:
    """What one WebSocket message holds: a SIP message, a CRLF keep-alive, or
    a message that does not parse (RFC 7118 §5: one message per frame)."""
    if data and not data.strip(b"\r\n"):
        return KeepAlive(ping=len(data) >= 4)
    try:
        return parse(data, limits)
    except ParseError as exc:
        return BadMessage(exc.with_traceback(None), data)


class _ReportsReads:
    """Mixed into a ``websockets`` connection: it reports every read, and
    whether it completed a frame that ends a message or is a control frame:
    Ping and Pong frames are RFC 7118 §6 keep-alives, activity though they
    carry no SIP, while the bytes of a frame that never ends are none."""

    on_read: Callable[[bool], None] | None = None
    _completed = False

    def process_event(self, event: Event) -> None:
        super().process_event(event)  # type: ignore[misc]
        if isinstance(event, Frame) and event.fin:
            self._completed = True

    def data_received(self, data: bytes) -> None:
        self._completed = False
        super().data_received(data)  # type: ignore[misc]
        if self.on_read is not None:
            self.on_read(self._completed)


class _ServerConnection(_ReportsReads, ServerConnection):
    """A server connection that reports its reads (``_ReportsReads``)."""


class _ClientConnection(_ReportsReads, ClientConnection):
    """A client connection that reports its reads (``_ReportsReads``)."""


class WsConnection(Connection):
    """One WS or WSS connection, accepted or opened.

    WebSocket Ping frames are answered with Pong frames by ``websockets``
    (RFC 6455 §5.5.2); like a whole message, they keep the connection from
    being closed as idle (RFC 7118 §6).  A read that ends no frame starts
    the ``message_timeout`` of the message it begins.
    """

    def __init__(self, ws: WebSocket, transport: Transport, owner: ConnectionOwner, *,
                 limits: Limits, idle_timeout: float, write_timeout: float,
                 message_timeout: float = 0.0, inbound: bool = False) -> None:
        super().__init__(transport, owner, idle_timeout, message_timeout=message_timeout,
                         inbound=inbound)
        self._ws = ws
        if isinstance(ws, _ServerConnection | _ClientConnection):
            ws.on_read = self._read
        self._limits = limits
        self._write_timeout = write_timeout
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the task reading a connection we opened (the server runs its own)
        self._reader: asyncio.Task[None] | None = None
        self.local = Address.from_sockname(ws.local_address)
        self.remote = Address.from_sockname(ws.remote_address)

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol: always ``sip`` on a connection we keep."""
        return self._ws.subprotocol

    @property
    def is_open(self) -> bool:
        return self._ws.state is State.OPEN

    def _read(self, completed: bool) -> None:
        if completed:
            self._touch()
        self._received(completed, not completed)

    async def run(self) -> None:
        """Read messages until the connection closes."""
        try:
            async for frame in self._ws:
                data = frame.encode("utf-8") if isinstance(frame, str) else frame
                self._dispatch(frame_event(data, self._limits))
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("error reading %s", self)
            self.abort()
        finally:
            self._finished()

    async def send(self, data: bytes) -> None:
        if not self.is_open:
            raise TransportError("connection is closed", target=self.remote)
        message: str | bytes
        try:
            # §4.2: text frames for UTF-8, binary frames for anything else.
            message = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        try:
            async with asyncio.timeout(self._write_timeout):
                await self._ws.send(message)
        except TimeoutError:
            self.abort()
            raise TransportError("peer does not read", target=self.remote) from None
        except (ConnectionClosed, OSError) as exc:
            raise TransportError(f"send failed: {exc}", target=self.remote) from exc
        if self.capture is not None:
            self.capture.sent(self.flow, data)
        self._touch()

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("%s: %s", self, task.exception())

    def _send_pong(self) -> None:
        if self.is_open and len(self._tasks) < 4:
            self._spawn(self._ws.send("\r\n"))

    def close(self) -> None:
        if self._ws.state is State.OPEN or self._ws.state is State.CONNECTING:
            self._spawn(self._ws.close())

    def abort(self) -> None:
        self._ws.transport.abort()


async def serve_ws(
    transport: Transport, host: str, port: int, owner: ConnectionOwner, *,
    ssl_context: ssl.SSLContext | None, limits: Limits, idle_timeout: float,
    write_timeout: float, open_timeout: float, close_timeout: float,
    ping_interval: float | None, max_queue: int, refuses: Callable[[Address], bool],
    message_timeout: float = 0.0, reuse_port: bool = False,
) -> Server:
    """Listen for WS (or WSS with ``ssl_context``) connections (``reuse_port``:
    SO_REUSEPORT, for processes sharing the address).

    A client that does not offer the ``sip`` subprotocol is refused with an
    HTTP 400 (RFC 7118 §4.1); one that the layer would refuse (its source at
    its connection cap, or every connection taken by sources that hold no
    more than it) gets an HTTP 503.
    """

    async def handler(ws: ServerConnection) -> None:
        conn = WsConnection(ws, transport, owner, limits=limits, idle_timeout=idle_timeout,
                            write_timeout=write_timeout, message_timeout=message_timeout,
                            inbound=True)
        if not conn._register():
            await ws.close(1013, "too many connections")
            return
        await conn.run()

    def process_request(ws: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        if refuses(Address.from_sockname(ws.remote_address)):
            return ws.respond(503, "Too many connections\n")
        return None

    return await serve(
        handler, host, port, ssl=ssl_context, subprotocols=[SUBPROTOCOL],
        compression=None, process_request=process_request, server_header=None,
        open_timeout=open_timeout, close_timeout=close_timeout,
        ping_interval=ping_interval, ping_timeout=ping_interval,
        max_size=limits.max_message_size, max_queue=max_queue, logger=_ws_logger,
        create_connection=_ServerConnection, reuse_port=reuse_port or None,
    )


async def open_ws(
    transport: Transport, remote: Address, host_name: str, owner: ConnectionOwner, *,
    ssl_context: ssl.SSLContext | None, path: str, local_host: str | None, limits: Limits,
    idle_timeout: float, write_timeout: float, close_timeout: float,
    ping_interval: float | None, max_queue: int, message_timeout: float = 0.0,
) -> WsConnection:
    """Open a WS (or WSS) connection to ``remote``; the caller bounds the time.

    ``host_name`` goes into the URI (and so the Host header and TLS SNI).
    The handshake must select ``sip`` (RFC 7118 §4.1) or ``TransportError``
    is raised.
    """
    secure = transport is Transport.WSS
    host_text = f"[{host_name}]" if ":" in host_name else host_name
    uri = f"{'wss' if secure else 'ws'}://{host_text}:{remote.port}{path}"
    kwargs: dict[str, Any] = {"host": remote.host, "port": remote.port}
    if secure:
        kwargs["ssl"] = ssl_context
        kwargs["server_hostname"] = host_name
    if local_host is not None:
        kwargs["local_addr"] = (local_host, 0)
    ws: ClientConnection = await connect(
        uri, subprotocols=[SUBPROTOCOL], compression=None, proxy=None, open_timeout=None,
        close_timeout=close_timeout, ping_interval=ping_interval, ping_timeout=ping_interval,
        max_size=limits.max_message_size, max_queue=max_queue, logger=_ws_logger,
        create_connection=_ClientConnection, **kwargs,
    )
    if ws.subprotocol != SUBPROTOCOL:
        ws.transport.abort()
        raise TransportError("the server did not select the sip subprotocol (RFC 7118 §4.1)",
                             target=uri)
    conn = WsConnection(ws, transport, owner, limits=limits, idle_timeout=idle_timeout,
                        write_timeout=write_timeout, message_timeout=message_timeout)
    if not conn._register():
        ws.transport.abort()
        raise TransportError("too many connections", target=uri)
    conn._reader = asyncio.get_running_loop().create_task(conn.run())
    return conn
