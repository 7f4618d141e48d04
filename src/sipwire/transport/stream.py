"""SIP over TCP and TLS: a byte stream framed by Content-Length (RFC 3261 §18.3)."""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from ..message.errors import ParseError
from ..message.parser import Limits, StreamParser
from .base import Address, Connection, ConnectionOwner, Transport, TransportError

__all__ = ["StreamConnection", "open_stream", "serve_stream"]

#: bytes given to the stream parser at a time
_FEED_SLICE = 2048


class StreamConnection(Connection, asyncio.Protocol):
    """One TCP or TLS connection, accepted or opened.

    Bytes go through a ``StreamParser`` whose buffer is bounded by
    ``Limits.max_message_size``.  After a framing error (no Content-Length or
    a bad one, a header section or message over the limit) the stream cannot
    be re-synchronised (§18.3): the owner's answer to the message (400, 513)
    is written, and the connection closed.
    """

    def __init__(self, transport: Transport, owner: ConnectionOwner, *, limits: Limits,
                 idle_timeout: float, write_timeout: float, write_buffer_limit: int,
                 message_timeout: float = 0.0, inbound: bool = False) -> None:
        super().__init__(transport, owner, idle_timeout, message_timeout=message_timeout,
                         inbound=inbound)
        self._parser = StreamParser(limits)
        self._write_timeout = write_timeout
        self._write_buffer_limit = write_buffer_limit
        self._io: asyncio.Transport | None = None
        self._drain: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        io = self._io = cast(asyncio.Transport, transport)
        self.local = Address.from_sockname(io.get_extra_info("sockname"))
        self.remote = Address.from_sockname(io.get_extra_info("peername"))
        io.set_write_buffer_limits(high=self._write_buffer_limit)
        if not self._register():
            io.abort()

    def data_received(self, data: bytes) -> None:
        # Fed in slices, so that one large read of tiny messages cannot make
        # thousands of events at once (memory stays bounded per connection).
        completed = False
        parser = self._parser
        for start in range(0, len(data), _FEED_SLICE):
            try:
                events = parser.feed(data[start:start + _FEED_SLICE])
            except ParseError as exc:
                self._unframeable(exc)
                return
            for event in events:
                if self._io is None or self._io.is_closing():
                    return
                self._dispatch(event)
            if parser.error is not None:
                # the messages framed before the broken one are delivered first
                self._unframeable(parser.error)
                return
            completed = completed or bool(events)
        self._received(completed, parser.buffered > 0)

    def _unframeable(self, error: ParseError) -> None:
        """§18.3: answer what broke the framing if the owner can, then close."""
        io = self._io
        if io is None or io.is_closing():
            return
        unframed = self._parser.unframed
        if self.capture is not None and unframed:
            self.capture.received(self.flow, unframed)
        answer = self.owner.framing_failed(self, error, unframed)
        if answer is None:
            io.abort()
            return
        io.write(answer)
        if self.capture is not None:
            self.capture.sent(self.flow, answer)
        io.close()  # once the answer is written
        if io.get_write_buffer_size():
            # a peer that does not read does not keep it open
            self._loop.call_later(self._write_timeout, io.abort)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(TransportError("connection closed", target=self.remote))
            drain.exception()  # retrieved here: no waiter may be left to see it
        self._finished()

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- Connection ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._io is not None and not self._io.is_closing()

    async def send(self, data: bytes) -> None:
        io = self._io
        if io is None or io.is_closing():
            raise TransportError("connection is closed", target=self.remote)
        io.write(data)
        if self.capture is not None:
            self.capture.sent(self.flow, data)
        self._touch()
        drain = self._drain
        if drain is not None and not drain.done():
            try:
                await asyncio.wait_for(asyncio.shield(drain), self._write_timeout)
            except TimeoutError:
                self.abort()
                raise TransportError("peer does not read", target=self.remote) from None

    def _send_pong(self) -> None:
        if self._io is not None and not self._io.is_closing():
            self._io.write(b"\r\n")

    def close(self) -> None:
        if self._io is not None:
            self._io.close()
        else:
            self._finished()

    def abort(self) -> None:
        if self._io is not None:
            self._io.abort()
        else:
            self._finished()


async def serve_stream(
    transport: Transport, host: str, port: int, owner: ConnectionOwner, *,
    ssl_context: ssl.SSLContext | None, limits: Limits, idle_timeout: float,
    write_timeout: float, write_buffer_limit: int, handshake_timeout: float,
    message_timeout: float = 0.0, reuse_port: bool = False,
) -> asyncio.Server:
    """Listen for TCP (or TLS with ``ssl_context``) connections (§18.2.1);
    ``reuse_port`` sets SO_REUSEPORT (processes sharing the address)."""
    loop = asyncio.get_running_loop()

    def factory() -> StreamConnection:
        return StreamConnection(transport, owner, limits=limits, idle_timeout=idle_timeout,
                                write_timeout=write_timeout,
                                write_buffer_limit=write_buffer_limit,
                                message_timeout=message_timeout, inbound=True)

    if ssl_context is not None:
        return await loop.create_server(factory, host, port, ssl=ssl_context,
                                        ssl_handshake_timeout=handshake_timeout,
                                        reuse_port=reuse_port or None)
    return await loop.create_server(factory, host, port, reuse_port=reuse_port or None)


async def open_stream(
    transport: Transport, remote: Address, owner: ConnectionOwner, *,
    ssl_context: ssl.SSLContext | None, server_hostname: str | None,
    local_host: str | None, limits: Limits, idle_timeout: float, write_timeout: float,
    write_buffer_limit: int, message_timeout: float = 0.0,
) -> StreamConnection:
    """Open a TCP (or TLS) connection to ``remote``; the caller bounds the time."""
    loop = asyncio.get_running_loop()

    def factory() -> StreamConnection:
        return StreamConnection(transport, owner, limits=limits, idle_timeout=idle_timeout,
                                write_timeout=write_timeout,
                                write_buffer_limit=write_buffer_limit,
                                message_timeout=message_timeout)

    local_addr = (local_host, 0) if local_host is not None else None
    if ssl_context is not None:
        _, conn = await loop.create_connection(
            factory, remote.host, remote.port, ssl=ssl_context,
            server_hostname=server_hostname, local_addr=local_addr)
    else:
        _, conn = await loop.create_connection(factory, remote.host, remote.port,
                                               local_addr=local_addr)
    if not conn.is_open:
        raise TransportError("connection refused locally (too many connections)",
                             target=remote)
    return conn
