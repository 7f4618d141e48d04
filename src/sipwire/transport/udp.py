"""SIP over UDP: one datagram, one message (RFC 3261 §18.3)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import cast

from .base import Address, ListeningPoint, Transport, TransportError, logger

__all__ = ["UdpListener", "open_udp"]

#: the largest UDP payload over IPv4: 65,535 less the IP and UDP headers (§18.1.1)
_MAX_PAYLOAD = 65507

#: errno of a send buffer that is full for now (sendto would block)
_FULL = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK})

#: (listener, datagram, packet source)
DatagramHandler = Callable[["UdpListener", bytes, Address], None]


class UdpListener(asyncio.DatagramProtocol):
    """A bound UDP socket: receives datagrams and sends from the same address,
    as RFC 3581 §4 asks of responses."""

    def __init__(self, point: ListeningPoint, on_datagram: DatagramHandler,
                 send_buffer_limit: int) -> None:
        self.point = point
        self.local = point.address
        self._on_datagram = on_datagram
        self._send_buffer_limit = send_buffer_limit
        #: datagrams dropped because the socket's send buffer was full
        self.dropped = 0
        self._io: asyncio.DatagramTransport | None = None
        self._closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._io = cast(asyncio.DatagramTransport, transport)
        self.local = Address.from_sockname(transport.get_extra_info("sockname"))
        self.point = ListeningPoint(Transport.UDP, self.local.host, self.local.port,
                                    self.point.sent_by)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self._on_datagram(self, data, Address.from_sockname(addr))
        except Exception:
            # A bug above must not stop the socket from reading.
            logger.exception("error handling a datagram from %s", addr)

    def error_received(self, exc: Exception) -> None:
        # §18.4: an ICMP error cannot be tied to the send that caused it on an
        # unconnected socket; the transaction's timers cover the loss.
        logger.debug("UDP %s: %s", self.local, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def sendto(self, data: bytes, address: Address) -> None:
        """Send one datagram; ``TransportError`` if the socket cannot.

        A full send buffer is no such error: the datagram is dropped (counted
        in ``dropped``), as the network could have dropped it (§18.4)."""
        io = self._io
        if io is None or io.is_closing():
            raise TransportError("UDP socket is closed", target=self.local)
        if len(data) > _MAX_PAYLOAD:
            raise TransportError(f"{len(data)} bytes do not fit in a UDP datagram",
                                 target=address)
        # Not in the DatagramTransport ABC, but asyncio's and uvloop's have it.
        buffered: Callable[[], int] | None = getattr(io, "get_write_buffer_size", None)
        if buffered is not None and buffered() > self._send_buffer_limit:
            # UDP may lose a datagram; the transaction retransmits (§17.1.2.2).
            self._drop()
            return
        host = address.host
        if self.local.family == socket.AF_INET6 and address.family == socket.AF_INET:
            host = "::ffff:" + host  # a dual-stack socket reaches IPv4 peers this way
        try:
            io.sendto(data, (host, address.port))
        except OSError as exc:
            if isinstance(exc, BlockingIOError) or exc.errno in _FULL:
                # The kernel's send buffer is full: the datagram is lost, as UDP
                # may lose any; retransmissions (§17.1.2.2, §17.2.1) cover it.  Not
                # a transport error (§18.4), which would fail the transaction.
                self._drop()
                return
            raise TransportError(f"UDP send failed: {exc}", target=address) from exc
        except ValueError as exc:
            raise TransportError(f"UDP send failed: {exc}", target=address) from exc

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped % 1000 == 1:  # under overload, not a line per datagram
            logger.warning("UDP %s: send buffer full, dropping datagrams (%d so far)",
                           self.local, self.dropped)

    def close(self) -> None:
        if self._io is not None:
            self._io.close()
        elif not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)


async def open_udp(point: ListeningPoint, on_datagram: DatagramHandler,
                   send_buffer_limit: int, receive_buffer: int | None = None) -> UdpListener:
    """Bind a UDP listening point (port 0 picks one; ``listener.point`` has it)."""
    loop = asyncio.get_running_loop()
    io, protocol = await loop.create_datagram_endpoint(
        lambda: UdpListener(point, on_datagram, send_buffer_limit),
        local_addr=(point.host, point.port),
    )
    if receive_buffer is not None:
        sock = io.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        except OSError as exc:
            logger.info("UDP %s: cannot set the receive buffer: %s", protocol.local, exc)
    return protocol
