"""SIP over UDP: one datagram, one message (RFC 3261 §18.3); STUN Binding
requests on the same port are answered here (RFC 5626 §8)."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

from .base import Address, Flow, ListeningPoint, Transport, TransportError, logger, source_key
from .config import Capture
from .loglimit import LogLimiter
from .stun import answer_binding

__all__ = ["UdpListener", "open_udp"]

#: the largest UDP payload over IPv4: 65,535 less the IP and UDP headers (§18.1.1)
_MAX_PAYLOAD = 65507

#: getsockopt(SOL_SOCKET, SO_MEMINFO) of Linux: 9 u32, the first the bytes the
#: receive queue holds, the second its limit
_SO_MEMINFO = 55

#: errno of a send buffer that is full for now (sendto would block)
_FULL = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK})

#: sources counted in one second of the request rate limit; past it the count
#: starts again (UDP sources can be forged: memory stays bounded)
_MAX_RATE_SOURCES = 65536

#: (listener, datagram, its flow: the packet source and this listener's address)
DatagramHandler = Callable[["UdpListener", bytes, Flow], None]
#: told of a datagram that ``send_soon`` could not send after all (§18.4)
SendErrorHandler = Callable[[TransportError], None]


class UdpListener(asyncio.DatagramProtocol):
    """A bound UDP socket: receives datagrams and sends from the same address,
    as RFC 3581 §4 asks of responses.

    ``coalesce``: ``send_soon`` holds datagrams until the event loop has run
    the callbacks it has ready (every datagram read in this round, for one)
    and sends them together.  A busy server then wakes a peer that sleeps
    between packets once per round instead of once per datagram: on Linux,
    a ``sendto`` that wakes the receiving process costs two to three times
    one that finds it running.  The datagrams wait no longer than the round.

    ``max_requests_per_source``: past that many datagrams in a second from one
    source (``source_key``), the rest of that second's are dropped unread, as
    Kamailio's pike module does; responses (``SIP/`` first) are not counted.
    0 counts nothing.
    """

    def __init__(self, point: ListeningPoint, on_datagram: DatagramHandler,
                 send_buffer_limit: int, *, coalesce: bool = False,
                 max_requests_per_source: int = 0, log: LogLimiter | None = None) -> None:
        self.point = point
        self.local = point.address
        self._on_datagram = on_datagram
        self._send_buffer_limit = send_buffer_limit
        #: datagrams dropped because the socket's send buffer was full
        self.dropped = 0
        self.max_requests_per_source = max_requests_per_source
        #: datagrams dropped because their source was over its request rate
        self.over_rate = 0
        #: datagrams of each source this second
        self._rate_counts: dict[str, int] = {}
        self._log = log or LogLimiter(logger, 0, 1.0)
        self.coalesce = coalesce
        self._io: asyncio.DatagramTransport | None = None
        #: the transport's write buffer size, asked before each send
        self._buffered: Callable[[], int] | None = None
        #: an IPv6 socket, which sends to IPv4 peers as IPv4-mapped addresses
        self._ipv6 = self.local.family == socket.AF_INET6
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        #: inside sendto, and what error_received said meanwhile
        self._sending = False
        self._send_error: Exception | None = None
        #: the flow of each recent packet source, by its socket address
        self._flows: dict[tuple[str | int, ...], Flow] = {}
        #: what send_soon holds until the end of the loop's round
        self._held: list[tuple[bytes, Address, SendErrorHandler | None]] = []
        #: told of each SIP datagram received and sent (``TransportConfig.capture``)
        self.capture: Capture | None = None
        #: the socket of this process's own beside a shared listening socket
        #: (``TransportConfig.udp_private_send``), and whether this is one
        self.private: UdpListener | None = None
        self.is_private = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._io = cast(asyncio.DatagramTransport, transport)
        # Not in the DatagramTransport ABC, but asyncio's and uvloop's have it.
        self._buffered = getattr(transport, "get_write_buffer_size", None)
        self.local = Address.from_sockname(transport.get_extra_info("sockname"))
        self._ipv6 = self.local.family == socket.AF_INET6
        self.point = ListeningPoint(Transport.UDP, self.local.host, self.local.port,
                                    self.point.sent_by)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            if self.max_requests_per_source and not data.startswith(b"SIP/"):
                # Kamailio's pike: a source over its rate is dropped before any
                # parsing, since any answer (a 503 among them) would be work
                # done for the flood.  A response is not counted.
                host = addr[0]
                key = host if ":" not in host else source_key(host)
                counts = self._rate_counts
                n = counts.get(key, 0) + 1
                if n == 1:
                    self._new_source()
                counts[key] = n
                if n > self.max_requests_per_source:
                    self._over_rate(key, n)
                    return
            if not data or data[0] < 2:
                # a STUN Binding message starts with 0 or 1, and a SIP message
                # never does (RFC 5626 §8): one byte tells them apart
                self._answer_stun(data, addr)
                return
            flow = self._flows.get(addr)
            if flow is None:
                flow = Flow(Transport.UDP, Address.from_sockname(addr), self.local)
                if len(self._flows) >= 4096:  # peers come and go: start again
                    self._flows.clear()
                self._flows[addr] = flow
            if self.capture is not None:
                self.capture.received(flow, data)
            self._on_datagram(self, data, flow)
        except Exception:
            # A bug above must not stop the socket from reading.
            logger.exception("error handling a datagram from %s", addr)

    def flow_to(self, remote: Address) -> Flow:
        """The flow from this socket to ``remote``: the one its datagrams came
        on when it has sent some lately (a flow is a value: one object serves
        every message of a callee), else a new one."""
        if not self._ipv6:  # an IPv4 socket's source is (host, port), as ``remote``
            flow = self._flows.get((remote.host, remote.port))
            if flow is not None:
                return flow
        return Flow(Transport.UDP, remote, self.local)

    def _new_source(self) -> None:
        """The first datagram of a source in this second of the request rate."""
        counts = self._rate_counts
        if not counts:
            # The counts start again a second after the first of them: a timer,
            # not a clock read per datagram.
            self._loop.call_later(1.0, counts.clear)
        elif len(counts) >= _MAX_RATE_SOURCES:
            counts.clear()

    def _over_rate(self, source: str, n: int) -> None:
        """``source`` sent its ``n``th datagram this second, over the rate."""
        self.over_rate += 1
        if n == self.max_requests_per_source + 1:
            self._log.log(logging.WARNING, "rate",
                          "UDP %s: %s sent over %d requests in a second: dropping the "
                          "rest of this second's unread (%d dropped so far)", self.local,
                          source, self.max_requests_per_source, self.over_rate)

    def _answer_stun(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """RFC 5626 §8: the SIP UDP port is also a limited STUN server; what
        is not a STUN request it answers is dropped without a word (RFC 5389 §7.3)."""
        source = Address.from_sockname(addr)
        answer = answer_binding(data, source.host, source.port)
        if answer is None:
            return
        try:
            self.sendto(answer, source)
        except TransportError as exc:
            logger.debug("UDP %s: STUN answer to %s: %s", self.local, source, exc)

    def error_received(self, exc: Exception) -> None:
        if self._sending:
            # asyncio's transport reports a failed sendto here, not by raising
            self._send_error = exc
            return
        # §18.4: an ICMP error cannot be tied to the send that caused it on an
        # unconnected socket; the transaction's timers cover the loss.
        logger.debug("UDP %s: %s", self.local, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def sendto(self, data: bytes, address: Address) -> None:
        """Send one datagram now; ``TransportError`` if the socket cannot.

        A full send buffer is no such error: the datagram is dropped (counted
        in ``dropped``), as the network could have dropped it (§18.4)."""
        io = self._io
        if io is None or io.is_closing() or len(data) > _MAX_PAYLOAD:
            io = self._check(data, address)  # raises, saying why
        buffered = self._buffered
        if buffered is not None and buffered() > self._send_buffer_limit:
            # UDP may lose a datagram; the transaction retransmits (§17.1.2.2).
            self._drop()
            return
        host = address.host
        if self._ipv6 and ":" not in host:
            host = "::ffff:" + host  # a dual-stack socket reaches IPv4 peers this way
        self._sending = True
        try:
            io.sendto(data, (host, address.port))
            failed = self._send_error
            if failed is not None:
                self._send_error = None
                raise failed
            if self.capture is not None and data[0] >= 2:  # not a STUN answer
                self.capture.sent(Flow(Transport.UDP, address, self.local), data)
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
        finally:
            self._sending = False

    def send_soon(self, data: bytes, address: Address,
                  on_error: SendErrorHandler | None = None) -> None:
        """``sendto``, or with ``coalesce`` the datagram held until the end of
        the event loop's round and sent with the others held.

        What fails at once (a closed socket, a datagram too large; without
        ``coalesce``, any failure) raises ``TransportError``.  A held datagram
        whose send fails goes to ``on_error`` (when it is None, to the log):
        the caller's transaction hears of it then (§17.1.4, §17.2.4).
        """
        if not self.coalesce:
            self.sendto(data, address)
            return
        io = self._io
        if io is None or io.is_closing() or len(data) > _MAX_PAYLOAD:
            self._check(data, address)  # raises, saying why
        held = self._held
        if not held:
            self._loop.call_soon(self._flush)
        held.append((data, address, on_error))

    def _flush(self) -> None:
        held, self._held = self._held, []
        for data, address, on_error in held:
            try:
                self.sendto(data, address)
            except TransportError as exc:
                if on_error is not None:
                    on_error(exc)
                else:
                    logger.info("UDP %s: %s", self.local, exc)

    def _check(self, data: bytes, address: Address) -> asyncio.DatagramTransport:
        io = self._io
        if io is None or io.is_closing():
            raise TransportError("UDP socket is closed", target=self.local)
        if len(data) > _MAX_PAYLOAD:
            raise TransportError(f"{len(data)} bytes do not fit in a UDP datagram",
                                 target=address)
        return io

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped % 1000 == 1:  # under overload, not a line per datagram
            logger.warning("UDP %s: send buffer full, dropping datagrams (%d so far)",
                           self.local, self.dropped)

    def receive_queue_fill(self) -> float:
        """How full the socket's receive queue is, 0 to 1: the datagrams the
        kernel holds that are not read yet, against its limit (``SO_RCVBUF``;
        at 1 it drops them).  0 where the kernel does not say (Linux 4.6 does)."""
        if self._io is None:
            return 0.0
        try:
            info = self._io.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, _SO_MEMINFO,
                                                                 36)
        except (OSError, AttributeError):
            return 0.0
        held, limit = struct.unpack_from("=2I", info)
        return held / limit if limit else 0.0

    def close(self) -> None:
        if self._held:
            self._flush()  # what was answered before closing still goes out
        if self._io is not None:
            self._io.close()
        elif not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)


async def open_udp(point: ListeningPoint, on_datagram: DatagramHandler,
                   send_buffer_limit: int, receive_buffer: int | None = None, *,
                   coalesce: bool = False, max_requests_per_source: int = 0,
                   log: LogLimiter | None = None, reuse_port: bool = False) -> UdpListener:
    """Bind a UDP listening point (port 0 picks one; ``listener.point`` has it).
    ``reuse_port`` sets SO_REUSEPORT: Linux then hands each datagram to one of
    the sockets bound to the address by a hash of its source and destination,
    so the datagrams of one source always reach the same socket."""
    loop = asyncio.get_running_loop()
    io, protocol = await loop.create_datagram_endpoint(
        lambda: UdpListener(point, on_datagram, send_buffer_limit, coalesce=coalesce,
                            max_requests_per_source=max_requests_per_source, log=log),
        local_addr=(point.host, point.port), reuse_port=reuse_port or None,
    )
    if receive_buffer is not None:
        sock = io.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        except OSError as exc:
            logger.info("UDP %s: cannot set the receive buffer: %s", protocol.local, exc)
    return protocol
