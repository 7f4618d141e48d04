"""A bare SIP phone for driving ``sipwire serve`` over real sockets in tests.

One UDP (or TCP) socket on 127.0.0.1, no transactions: a test sends exactly
the requests and responses it wants (``sipwire.Request.build`` and
``request.reply``) and reads what arrives, each with the address it came
from.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import sipwire
from sipwire import Request, Response, StreamParser
from sipwire.message.fields.base import Field

WAIT = 3.0
Address = tuple[str, int]
_calls = itertools.count(1)


@dataclass
class Received:
    message: Request | Response
    source: Address


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[Received]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(Received(sipwire.parse(data), (addr[0], addr[1])))


@dataclass
class Phone:
    """A UA at ``sip:user@127.0.0.1:port``, registered to ``domain``."""

    user: str
    domain: str
    server: Address
    transport: str = "udp"
    #: the phone's own address (``::1`` for IPv6)
    host: str = "127.0.0.1"
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    port: int = 0
    cseq: int = field(default_factory=lambda: 100)
    _udp: asyncio.DatagramTransport | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, user: str, server: Address, *, domain: str = "example.com",
                   transport: str = "udp", tls: ssl.SSLContext | None = None,
                   host: str = "127.0.0.1") -> Phone:
        phone = cls(user, domain, server, transport, host)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(phone.queue), local_addr=(host, 0),
                family=socket.AF_INET6 if ":" in host else socket.AF_INET)
            phone._udp = udp
            phone.port = udp.get_extra_info("sockname")[1]
        else:
            reader, writer = await asyncio.open_connection(
                *server, ssl=tls, server_hostname="localhost" if tls is not None else None)
            phone._writer = writer
            phone.port = writer.get_extra_info("sockname")[1]
            phone._reader_task = loop.create_task(phone._read(reader))
        return phone

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = StreamParser()
        while data := await reader.read(65536):
            for event in parser.feed(data):
                if isinstance(event, Request | Response):
                    self.queue.put_nowait(Received(event, self.server))

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    # -- identities -------------------------------------------------------------------------

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    @property
    def contact(self) -> str:
        suffix = f";transport={self.transport}" if self.transport != "udp" else ""
        return f"sip:{self.user}@{self.uri_host}:{self.port}{suffix}"

    @property
    def uri_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # -- building ---------------------------------------------------------------------------

    def build(self, method: str, uri: str, *, to: str | None = None, call_id: str | None = None,
              cseq: int | None = None, from_: str | None = None, contact: str | None = None,
              headers: Iterable[tuple[str, str | Field]] = (), body: bytes = b"",
              max_forwards: int = 70) -> Request:
        """A request from this phone, its Via naming our socket (§8.1.1)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        return Request.build(
            method, uri, from_=from_ or f"<{self.aor}>", to=to,
            call_id=call_id or f"call{next(_calls)}-{self.user}@test", cseq=cseq,
            transport=self.transport.upper(), sent_by=(self.uri_host, self.port),
            contact=contact, headers=headers, body=body, max_forwards=max_forwards,
            content_type="application/sdp" if body else None)

    def register(self, *, expires: int | None = 60, contact: str | None = "",
                 call_id: str = "", headers: Iterable[tuple[str, str | Field]] = (),
                 uri: str | None = None, to: str | None = None) -> Request:
        """A REGISTER of our contact (``contact=None``: a query, no Contact)."""
        extra = list(headers)
        if expires is not None:
            extra.append(("Expires", str(expires)))
        return self.build("REGISTER", uri or f"sip:{self.domain}", to=to or f"<{self.aor}>",
                          call_id=call_id or f"reg-{self.user}-{self.port}@test",
                          contact=f"<{self.contact}>" if contact == "" else contact,
                          headers=extra)

    # -- the wire ---------------------------------------------------------------------------

    def send(self, message: Request | Response | bytes, to: Address | None = None) -> None:
        data = message if isinstance(message, bytes) else bytes(message)
        if self._udp is not None:
            self._udp.sendto(data, to or self.server)
        else:
            assert self._writer is not None
            self._writer.write(data)

    def answer(self, received: Received, status: int, *, to_tag: str = "callee",
               headers: Iterable[tuple[str, str | Field]] = (), body: bytes = b"") -> Response:
        """Reply to a request that reached us, to where it came from."""
        request = received.message
        assert isinstance(request, Request)
        ok_invite = request.method == "INVITE" and 200 <= status < 300
        contact = f"<{self.contact}>" if ok_invite else None
        response = request.reply(status, to_tag=to_tag, headers=headers, contact=contact,
                                 body=body, content_type="application/sdp" if body else None)
        self.send(response, received.source)
        return response

    async def receive(self, timeout: float = WAIT) -> Received:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def request(self, request: Request, timeout: float = WAIT) -> Received:
        """Send ``request``; the next response that is not a provisional one."""
        self.send(request)
        while True:
            got = await self.receive(timeout)
            if isinstance(got.message, Response) and got.message.status >= 200:
                return got

    async def expect(self, what: str | int, timeout: float = WAIT) -> Received:
        """The next message that is a request with method ``what`` or a
        response with status ``what``, skipping 100 Trying and retransmissions
        of other messages."""
        while True:
            got = await self.receive(timeout)
            message = got.message
            if isinstance(message, Request) and message.method == what:
                return got
            if isinstance(message, Response) and message.status == what:
                return got
            if isinstance(message, Response) and message.status == 100:
                continue
            if isinstance(message, Request) and message.method in ("INVITE", "MESSAGE") \
                    and what not in ("INVITE", "MESSAGE"):
                continue  # a retransmission
            raise AssertionError(f"expected {what}, got {message!r}:\n{message}")

    async def silence(self, period: float = 0.3) -> list[Received]:
        """What arrives within ``period`` (often: nothing)."""
        got: list[Received] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(period):
                while True:
                    got.append(await self.queue.get())
        return got


def status(received: Received) -> int:
    assert isinstance(received.message, Response), received.message
    return received.message.status


def request_of(received: Received) -> Request:
    assert isinstance(received.message, Request), received.message
    return received.message


def response_of(received: Received) -> Response:
    assert isinstance(received.message, Response), received.message
    return received.message
