"""Classic pcap files of SIP traffic: written from the capture hook, read
from ours or from tcpdump, tshark and Wireshark (pcap and pcapng).

The writer puts each message in an Ethernet frame (zero MAC addresses, as a
Linux loopback capture has) with an IPv4 or IPv6 header and a UDP or TCP
header whose lengths and checksums are right, so that tshark, Wireshark and
sngrep read the file as they read a capture of the wire:

- UDP messages go in UDP datagrams, as they went;
- TCP and TLS messages go in TCP segments of a synthetic connection per real
  one (a three-way handshake first, then sequence and acknowledgment numbers
  that follow the bytes of each direction), TLS as the plaintext SIP it
  carried: the decrypted view;
- WS and WSS messages go in UDP datagrams, one per WebSocket message, since
  they carry no Content-Length framing a TCP reader could split them by.

Addresses and ports are the real ones.  tshark decodes SIP on 5060 and finds
it elsewhere by its heuristics; TLS on 5061 needs ``-d tcp.port==5061,sip``.
"""

from __future__ import annotations

import itertools
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..transport.base import Address, Transport, normalize_ip
from .packets import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_PSH,
    TCP_SYN,
    Defragmenter,
    addresses,
    ip_packet,
    parse_ip,
    tcp_header,
    udp_header,
)
from .record import TraceRecord

__all__ = ["LINKTYPE_ETHERNET", "PcapError", "PcapWriter", "read_capture"]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_MAGIC_USEC = 0xA1B2C3D4
_MAGIC_NSEC = 0xA1B23C4D
_PCAPNG_SHB = 0x0A0D0D0A
SNAPLEN = 262144
#: the largest UDP payload of an IPv4 packet; a longer WS message is left out
_MAX_DATAGRAM = 65507
#: TCP payload bytes per synthetic segment (the IP total length is 16 bits)
_MAX_SEGMENT = 32768


#: a SIP start line (RFC 3261 §7.1, §7.2): what tells SIP from other traffic
_START_LINE = re.compile(rb"(?:SIP/2\.0 [1-6][0-9][0-9] |[A-Za-z!%*_+`'~.-]+ \S+ SIP/2\.0\r\n)")


def looks_like_sip(data: bytes) -> bool:
    """Whether ``data`` starts with a SIP request or status line."""
    return _START_LINE.match(data) is not None


class PcapError(ValueError):
    """A file that is not a pcap or pcapng capture, or is cut short."""


class _TcpStream:
    """The next sequence number of each end of one synthetic connection."""

    __slots__ = ("next_seq",)

    def __init__(self) -> None:
        self.next_seq: dict[Address, int] = {}


class PcapWriter:
    """Writes records to a classic pcap file (LINKTYPE_ETHERNET, microseconds).

    Each packet is flushed as it is written, so that a file being written can
    be read (``tail -c +1 -f FILE | tshark -r -``) and a killed process leaves
    every packet it had.
    """

    def __init__(self, stream: BinaryIO, *, name: str = "") -> None:
        self.stream = stream
        self.name = name or str(getattr(stream, "name", "pcap"))
        self._ident = itertools.count(1)
        self._isn = itertools.count(1)
        self._streams: dict[tuple[object, ...], _TcpStream] = {}
        #: WS messages too large for a UDP datagram, left out
        self.skipped = 0
        stream.write(struct.pack("<IHHiIII", _MAGIC_USEC, 2, 4, 0, 0, SNAPLEN,
                                 LINKTYPE_ETHERNET))
        stream.flush()

    @classmethod
    def open(cls, path: str | Path) -> PcapWriter:
        """A new file at ``path`` (replacing one that is there)."""
        return cls(Path(path).open("wb"), name=str(path))

    def write(self, record: TraceRecord) -> None:
        if record.transport is Transport.TCP or record.transport is Transport.TLS:
            self._write_tcp(record)
        elif len(record.data) > _MAX_DATAGRAM:
            self.skipped += 1
        else:
            src, dst = addresses(record.source.host, record.destination.host)
            segment = udp_header(src, dst, record.source.port, record.destination.port,
                                 record.data) + record.data
            self._packet(record.time, src, dst, PROTO_UDP, segment)
        self.stream.flush()

    def _write_tcp(self, record: TraceRecord) -> None:
        source, destination = record.source, record.destination
        src, dst = addresses(source.host, destination.host)
        ends = tuple(sorted((str(source), str(destination))))
        key = (record.transport, record.stream, *ends)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self._handshake(record, src, dst)
        seqs = stream.next_seq
        data = record.data
        for start in range(0, len(data), _MAX_SEGMENT):
            chunk = data[start:start + _MAX_SEGMENT]
            seq, ack = seqs[source], seqs[destination]
            header = tcp_header(src, dst, source.port, destination.port, seq, ack,
                                TCP_PSH | TCP_ACK, chunk)
            self._packet(record.time, src, dst, PROTO_TCP, header + chunk)
            seqs[source] = seq + len(chunk)

    def _handshake(self, record: TraceRecord, src: bytes, dst: bytes) -> _TcpStream:
        """SYN, SYN-ACK, ACK from the end that opened the connection: the
        peer when it was ``inbound``, else us."""
        stream = _TcpStream()
        opener_is_source = record.inbound is None or record.inbound != record.sent
        a, b = (record.source, record.destination) if opener_is_source else (
            record.destination, record.source)
        pa, pb = (src, dst) if opener_is_source else (dst, src)
        isn_a, isn_b = next(self._isn) * 1_000_000, next(self._isn) * 1_000_000
        when = record.time
        self._packet(when, pa, pb, PROTO_TCP,
                     tcp_header(pa, pb, a.port, b.port, isn_a, 0, TCP_SYN, b""))
        self._packet(when, pb, pa, PROTO_TCP,
                     tcp_header(pb, pa, b.port, a.port, isn_b, isn_a + 1,
                                TCP_SYN | TCP_ACK, b""))
        self._packet(when, pa, pb, PROTO_TCP,
                     tcp_header(pa, pb, a.port, b.port, isn_a + 1, isn_b + 1, TCP_ACK, b""))
        stream.next_seq[a] = isn_a + 1
        stream.next_seq[b] = isn_b + 1
        return stream

    def _packet(self, when: float, src: bytes, dst: bytes, proto: int,
                segment: bytes) -> None:
        packet = ip_packet(src, dst, proto, segment, next(self._ident))
        ethertype = ETHERTYPE_IPV4 if len(src) == 4 else ETHERTYPE_IPV6
        frame = b"\0" * 12 + struct.pack("!H", ethertype) + packet
        seconds = int(when)
        micros = min(round((when - seconds) * 1e6), 999_999)
        self.stream.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame))
                          + frame)

    def close(self) -> None:
        self.stream.close()

    def __repr__(self) -> str:
        return f"<pcap writer {self.name}>"


# -- reading ------------------------------------------------------------------------------


def read_capture(data: bytes) -> Iterator[TraceRecord]:
    """The SIP messages of a pcap or pcapng capture, in file order.

    UDP datagrams are one message each (IP fragments put together first).
    TCP segments are put back in order per connection and direction (a
    segment seen twice counts once) and split into messages by Content-Length
    (RFC 3261 §18.3).  Every transport read is UDP or TCP: a pcap cannot tell
    TLS that was written decrypted, or WS.  What is not SIP is left out.
    """
    if len(data) < 4:
        raise PcapError("too short for a capture file")
    magic = struct.unpack_from("<I", data)[0]
    if magic == _PCAPNG_SHB:
        packets = _pcapng_packets(data)
    else:
        packets = _pcap_packets(data)
    streams: dict[tuple[Address, Address], _Reassembly] = {}
    fragments = Defragmenter()
    for when, linktype, frame in packets:
        packet = _ip_of(linktype, frame)
        if packet is not None:
            packet = fragments.feed(packet)
        segment = parse_ip(packet) if packet is not None else None
        if segment is None:
            continue
        source = Address(normalize_ip(segment.source), segment.sport)
        destination = Address(normalize_ip(segment.destination), segment.dport)
        if segment.proto == PROTO_UDP:
            if looks_like_sip(segment.payload):
                yield TraceRecord(when, Transport.UDP, source, destination, segment.payload)
            continue
        key = (source, destination)
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = _Reassembly()
        for message in stream.feed(segment.seq, segment.flags, segment.payload):
            yield TraceRecord(when, Transport.TCP, source, destination, message)


class _Reassembly:
    """One direction of a TCP connection: bytes in sequence order, cut into
    SIP messages by their Content-Length.  A stream that turns out not to be
    SIP (TLS records, HTTP) is given up."""

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}
        self.buffer = b""
        self.not_sip = False

    def feed(self, seq: int, flags: int, payload: bytes) -> list[bytes]:
        if self.not_sip:
            return []
        if flags & TCP_SYN:
            self.next_seq = (seq + 1) & 0xFFFFFFFF
            return []
        if not payload:
            return []
        if self.next_seq is None:
            self.next_seq = seq  # the capture started mid-connection
        self.pending.setdefault(seq, payload)
        while True:
            expected = self.next_seq
            chunk = self.pending.pop(expected, None)
            if chunk is None:
                overlap = [s for s in self.pending if _before(s, expected)]
                for s in overlap:  # a retransmission of bytes already taken
                    old = self.pending.pop(s)
                    skip = (expected - s) & 0xFFFFFFFF
                    if skip < len(old):
                        self.pending.setdefault(expected, old[skip:])
                if expected not in self.pending:
                    break
                continue
            self.buffer += chunk
            self.next_seq = (expected + len(chunk)) & 0xFFFFFFFF
        return self._messages()

    def _messages(self) -> list[bytes]:
        found: list[bytes] = []
        while True:
            buffer = self.buffer.lstrip(b"\r\n")
            if (b"\r\n" in buffer[:1024] or len(buffer) >= 1024) and not looks_like_sip(buffer):
                self.not_sip, self.buffer, self.pending = True, b"", {}
                return found
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return found
            length = _content_length(buffer[:end + 2])
            total = end + 4 + length
            if len(buffer) < total:
                self.buffer = buffer
                return found
            found.append(buffer[:total])
            self.buffer = buffer[total:]


def _before(a: int, b: int) -> bool:
    """Sequence number ``a`` comes before ``b`` (modulo 2**32)."""
    return 0 < ((b - a) & 0xFFFFFFFF) < 0x80000000


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in (b"content-length", b"l"):
            text = value.strip()
            return int(text) if text.isdigit() else 0
    return 0


def _pcap_packets(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        raise PcapError("not a pcap or pcapng file (unknown magic number)")
    if len(data) < 24:
        raise PcapError("pcap file header cut short")
    nano = struct.unpack_from(order + "I", data)[0] == _MAGIC_NSEC
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        seconds, fraction, caplen, _ = struct.unpack_from(order + "IIII", data, pos)
        pos += 16
        frame = data[pos:pos + caplen]
        pos += caplen
        yield seconds + fraction / (1e9 if nano else 1e6), linktype, frame


def _pcapng_packets(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    order = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per tick)
    pos = 0
    while pos + 12 <= len(data):
        kind = struct.unpack_from(order + "I", data, pos)[0]
        if kind == _PCAPNG_SHB:
            order = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        length = struct.unpack_from(order + "I", data, pos + 4)[0]
        if length < 12 or pos + length > len(data):
            raise PcapError(f"pcapng block at offset {pos} cut short")
        body = data[pos + 8:pos + length - 4]
        if kind == 1:  # Interface Description Block
            interfaces.append((struct.unpack_from(order + "H", body)[0],
                               _tick(body[8:], order)))
        elif kind == 6 and len(body) >= 20:  # Enhanced Packet Block
            iface, high, low, caplen = struct.unpack_from(order + "IIII", body)
            linktype, tick = interfaces[iface] if iface < len(interfaces) else (1, 1e-6)
            yield ((high << 32) | low) * tick, linktype, body[20:20 + caplen]
        elif kind == 3 and interfaces:  # Simple Packet Block
            yield 0.0, interfaces[0][0], body[4:]
        pos += length


def _tick(options: bytes, order: str) -> float:
    """The if_tsresol option of an Interface Description Block (default µs)."""
    pos = 0
    while pos + 4 <= len(options):
        code, size = struct.unpack_from(order + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and size >= 1:
            value = options[pos + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        pos += 4 + (size + 3) // 4 * 4
    return 1e-6


def _ip_of(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet in a link-layer frame of the common capture link types."""
    if linktype == LINKTYPE_ETHERNET:
        pos, ethertype = 12, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= pos + 6:  # VLAN tags
            pos += 4
            ethertype = struct.unpack_from("!H", frame, pos)[0]
        return frame[pos + 2:] if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame
    if linktype == LINKTYPE_LINUX_SLL:
        return frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        return frame[20:]
    if linktype == LINKTYPE_NULL:
        return frame[4:]
    return None
