"""A small authoritative DNS server for the tests: one zone, UDP and TCP on
127.0.0.1, the DNS wire protocol by dnspython.

It answers from a zone file's records (NOERROR with the records; NODATA and
NXDOMAIN with the zone's SOA in the authority section, RFC 2308 §3), sets
TC on a UDP answer over 512 bytes (RFC 1035 §4.2.1) so that clients retry
over TCP, and counts the questions it was asked (``asked``), so that a test
can tell a cached answer from a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

__all__ = ["ZoneServer", "running_zone"]


class ZoneServer:
    """Serves ``zone_text`` (origin ``origin``) once ``start()`` bound a port."""

    def __init__(self, zone_text: str, origin: str = "test.") -> None:
        self.origin = dns.name.from_text(origin)
        self.zone = dns.zone.from_text(zone_text, origin=self.origin, relativize=False)
        #: (name, type, "udp" | "tcp") of every question, in order
        self.asked: list[tuple[str, str, str]] = []
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def replace(self, zone_text: str) -> None:
        """Serve other records from now on (a TTL test changes the zone)."""
        self.zone = dns.zone.from_text(zone_text, origin=self.origin, relativize=False)

    def count(self, name: str, rdtype: str | None = None) -> int:
        name = name.lower().rstrip(".")
        return sum(1 for n, t, _ in self.asked if n == name and (rdtype is None or t == rdtype))

    async def start(self, port: int = 0) -> ZoneServer:
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
        self.port = self._tcp.sockets[0].getsockname()[1]
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=("127.0.0.1", self.port))
        return self

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- answering ---------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        self.asked.append((question.name.to_text(omit_final_dot=True).lower(),
                           dns.rdatatype.to_text(question.rdtype), transport))
        node = self.zone.get_node(question.name)
        rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype) \
            if node is not None else None
        if rdataset is not None:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, question.rdtype)
            rrset.update(rdataset)  # type: ignore[no-untyped-call]
            response.answer.append(rrset)
        else:
            if node is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            soa = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
            if soa is not None:
                rrset = dns.rrset.RRset(self.origin, dns.rdataclass.IN, dns.rdatatype.SOA)
                rrset.update(soa)  # type: ignore[no-untyped-call]
                response.authority.append(rrset)
        wire_out = response.to_wire()
        if transport == "udp" and len(wire_out) > 512:
            response.answer.clear()
            response.authority.clear()
            response.flags |= dns.flags.TC
            wire_out = response.to_wire()
        return wire_out

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.answer(await reader.readexactly(length), "tcp")
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: ZoneServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def running_zone(zone_text: str) -> AsyncIterator[ZoneServer]:
    server = await ZoneServer(zone_text).start()
    try:
        yield server
    finally:
        await server.close()
