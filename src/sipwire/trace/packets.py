"""IPv4, IPv6, UDP and TCP headers around a payload, and back (RFC 791,
RFC 8200, RFC 768, RFC 9293): what a pcap file holds below SIP."""

from __future__ import annotations

import ipaddress
import struct
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ETHERTYPE_IPV4", "ETHERTYPE_IPV6", "PROTO_TCP", "PROTO_UDP", "TCP_ACK",
           "TCP_FIN", "TCP_PSH", "TCP_SYN", "Defragmenter", "Segment", "checksum",
           "ip_packet", "parse_ip", "tcp_header", "udp_header"]

PROTO_TCP = 6
PROTO_UDP = 17
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10


def checksum(data: bytes) -> int:
    """The Internet checksum of RFC 1071: the one's complement of the one's
    complement sum of the 16-bit words (a trailing odd byte padded with 0)."""
    if len(data) % 2:
        data += b"\0"
    words = array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packed(host: str, v6: bool) -> bytes:
    ip = ipaddress.ip_address(host)
    if v6 and isinstance(ip, ipaddress.IPv4Address):
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")  # a dual-stack socket's view of IPv4
    return ip.packed


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The pseudo-header the UDP and TCP checksums cover (RFC 768, RFC 8200 §8.1)."""
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def addresses(source: str, destination: str) -> tuple[bytes, bytes]:
    """Both addresses packed, in one family (IPv6 when either is)."""
    v6 = ":" in source or ":" in destination
    return _packed(source, v6), _packed(destination, v6)


def udp_header(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    value = checksum(_pseudo(src, dst, PROTO_UDP, length) + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", value)


def tcp_header(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int,
               flags: int, payload: bytes) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         5 << 4, flags, 65535, 0, 0)
    value = checksum(_pseudo(src, dst, PROTO_TCP, len(header) + len(payload))
                     + header + payload)
    return header[:16] + struct.pack("!H", value) + header[18:]


def ip_packet(src: bytes, dst: bytes, proto: int, segment: bytes, ident: int) -> bytes:
    """An IPv4 (don't fragment, TTL 64) or IPv6 (hop limit 64) packet."""
    if len(src) == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), ident & 0xFFFF,
                             0x4000, 64, proto, 0, src, dst)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + segment
    return struct.pack("!IHBB16s16s", 6 << 28, len(segment), proto, 64, src, dst) + segment


@dataclass(frozen=True, slots=True)
class Segment:
    """A UDP datagram or TCP segment read from a packet."""

    proto: int
    source: str
    sport: int
    destination: str
    dport: int
    payload: bytes
    seq: int = 0
    flags: int = 0


_IPV6_EXTENSIONS = {0, 43, 60}  # hop-by-hop, routing, destination options


class Defragmenter:
    """Puts fragmented IPv4 packets (RFC 791 §3.2) and IPv6 packets whose
    first extension header is a Fragment header (RFC 8200 §4.5) back
    together: a SIP request over UDP larger than the path MTU arrives so.
    At most ``limit`` packets are pending; past it the oldest is dropped."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        #: (src, dst, id, proto) -> (header of the first fragment, {offset: data}, total)
        self._pending: dict[tuple[bytes, bytes, int, int],
                            tuple[bytes, dict[int, bytes], list[int]]] = {}

    def feed(self, packet: bytes) -> bytes | None:
        """The packet itself when it is whole, the reassembled packet when
        this fragment completes one, else None."""
        if not packet:
            return None
        version = packet[0] >> 4
        if version == 4 and len(packet) >= 20:
            frag = struct.unpack_from("!H", packet, 6)[0]
            if not frag & 0x3FFF:
                return packet
            ihl = (packet[0] & 0x0F) * 4
            total = struct.unpack_from("!H", packet, 2)[0] or len(packet)
            key = (packet[12:16], packet[16:20], struct.unpack_from("!H", packet, 4)[0],
                   packet[9])
            header = packet[:ihl] if frag & 0x1FFF == 0 else b""
            return self._add(key, header, (frag & 0x1FFF) * 8, not frag & 0x2000,
                             packet[ihl:total], self._ipv4)
        if version == 6 and len(packet) >= 48 and packet[6] == 44:
            length = struct.unpack_from("!H", packet, 4)[0]
            proto = packet[40]
            offset_flags, ident = struct.unpack_from("!HI", packet, 42)
            key = (packet[8:24], packet[24:40], ident, proto)
            header = packet[:6] + bytes([proto]) + packet[7:40] if offset_flags >> 3 == 0 \
                else b""
            return self._add(key, header, (offset_flags >> 3) * 8, not offset_flags & 1,
                             packet[48:40 + length], self._ipv6)
        return packet

    def _add(self, key: tuple[bytes, bytes, int, int], header: bytes, offset: int,
             last: bool, data: bytes, build: Callable[[bytes, bytes], bytes]) -> bytes | None:
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= self.limit:
                del self._pending[next(iter(self._pending))]
            entry = self._pending[key] = (b"", {}, [-1])
        first, parts, total = entry
        parts.setdefault(offset, data)
        if header:
            first = header
            self._pending[key] = (first, parts, total)
        if last:
            total[0] = offset + len(data)
        if not first or total[0] < 0:
            return None
        body, position = b"", 0
        while position < total[0]:
            part = parts.get(position)
            if part is None or not part:
                return None
            body += part
            position += len(part)
        del self._pending[key]
        return build(first, body[:total[0]])

    @staticmethod
    def _ipv4(header: bytes, body: bytes) -> bytes:
        whole = header[:2] + struct.pack("!H", len(header) + len(body)) + header[4:6] + \
            b"\0\0" + header[8:10] + b"\0\0" + header[12:]
        return whole[:10] + struct.pack("!H", checksum(whole)) + whole[12:] + body

    @staticmethod
    def _ipv6(header: bytes, body: bytes) -> bytes:
        return header[:4] + struct.pack("!H", len(body)) + header[6:] + body


def parse_ip(packet: bytes) -> Segment | None:
    """The UDP or TCP segment in an IP packet; None for anything else (a
    fragment among them: ``Defragmenter`` puts them together first)."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", packet, 2)[0]
        frag = struct.unpack_from("!H", packet, 6)[0]
        if frag & 0x3FFF:
            return None
        proto = packet[9]
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        body = packet[ihl:total or len(packet)]
    elif version == 6 and len(packet) >= 40:
        length = struct.unpack_from("!H", packet, 4)[0]
        proto = packet[6]
        src = str(ipaddress.IPv6Address(packet[8:24]))
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        body = packet[40:40 + length]
        while proto in _IPV6_EXTENSIONS and len(body) >= 8:
            proto, size = body[0], (body[1] + 1) * 8
            body = body[size:]
    else:
        return None
    if proto == PROTO_UDP and len(body) >= 8:
        sport, dport, length = struct.unpack_from("!HHH", body)
        return Segment(proto, src, sport, dst, dport, body[8:length or len(body)])
    if proto == PROTO_TCP and len(body) >= 20:
        sport, dport, seq, _, offset, flags = struct.unpack_from("!HHIIBB", body)
        return Segment(proto, src, sport, dst, dport, body[(offset >> 4) * 4:], seq, flags)
    return None
