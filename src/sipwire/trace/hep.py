"""HEPv3 (the Homer Encapsulation Protocol, version 3): each message sent
over UDP to a collector such as Homer or heplify-server.

A HEPv3 packet is ``HEP3``, its total length (16 bits), then chunks, each a
vendor id (0: generic), a type and a length (16 bits each; the length counts
the 6 header bytes) and a value.  The generic chunks written here:

====  =======================  =========================================
type  value                    written
====  =======================  =========================================
1     IP family (8 bits)       2 (IPv4) or 10 (IPv6)
2     IP protocol (8 bits)     17 UDP, 6 TCP (TCP, TLS, WS and WSS)
3, 4  IPv4 source, dest        4 bytes each
5, 6  IPv6 source, dest        16 bytes each
7, 8  source, dest port        16 bits each
9     timestamp seconds        32 bits
10    timestamp microseconds   32 bits
11    protocol type (8 bits)   1: SIP
12    capture agent id         32 bits
15    payload                  the message, exactly as on the wire
17    correlation id           the Call-ID, when the message has one
====  =======================  =========================================

Integers are in network byte order.
"""

from __future__ import annotations

import re
import socket
import struct

from ..transport.base import Transport
from .packets import PROTO_TCP, PROTO_UDP, addresses
from .record import TraceRecord

__all__ = ["CHUNK", "HepSender", "encode_hep3"]

#: generic chunk types (vendor 0) by name
CHUNK = {"family": 1, "protocol": 2, "ipv4_source": 3, "ipv4_destination": 4,
         "ipv6_source": 5, "ipv6_destination": 6, "source_port": 7,
         "destination_port": 8, "seconds": 9, "microseconds": 10, "protocol_type": 11,
         "agent_id": 12, "payload": 15, "correlation_id": 17}
_FAMILY_IPV4, _FAMILY_IPV6 = 2, 10
_SIP = 1

_CALL_ID_RE = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


def _chunk(kind: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, 6 + len(value)) + value


def call_id_of(data: bytes) -> bytes | None:
    """The Call-ID of a SIP message (long or compact form, §7.3.3), or None."""
    head = data.split(b"\r\n\r\n", 1)[0]
    m = _CALL_ID_RE.search(head)
    return m.group(1) if m is not None and m.group(1) else None


def encode_hep3(record: TraceRecord, agent_id: int) -> bytes:
    """One HEPv3 packet carrying ``record``."""
    src, dst = addresses(record.source.host, record.destination.host)
    v4 = len(src) == 4
    seconds = int(record.time)
    micros = min(round((record.time - seconds) * 1e6), 999_999)
    proto = PROTO_UDP if record.transport is Transport.UDP else PROTO_TCP
    chunks = [
        _chunk(1, bytes([_FAMILY_IPV4 if v4 else _FAMILY_IPV6])),
        _chunk(2, bytes([proto])),
        _chunk(3 if v4 else 5, src),
        _chunk(4 if v4 else 6, dst),
        _chunk(7, struct.pack("!H", record.source.port)),
        _chunk(8, struct.pack("!H", record.destination.port)),
        _chunk(9, struct.pack("!I", seconds)),
        _chunk(10, struct.pack("!I", micros)),
        _chunk(11, bytes([_SIP])),
        _chunk(12, struct.pack("!I", agent_id & 0xFFFFFFFF)),
        _chunk(15, record.data),
    ]
    call_id = call_id_of(record.data)
    if call_id is not None:
        chunks.append(_chunk(17, call_id))
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


class HepSender:
    """Sends each record to a HEP collector over UDP, without waiting.

    The socket is non-blocking: when its buffer is full the packet is dropped
    and counted (``dropped``), as a capture agent does; SIP never waits for
    Homer.  A record too large for a datagram is dropped the same way.
    """

    def __init__(self, host: str, port: int, *, agent_id: int = 0) -> None:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address for HEP collector {host!r}")
        family, _, _, _, address = infos[0]
        self.address = address
        self.collector = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.agent_id = agent_id
        self.dropped = 0
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    @classmethod
    def parse(cls, spec: str, *, agent_id: int = 0) -> HepSender:
        """``HOST:PORT`` (``[::1]:9060`` for IPv6)."""
        host, sep, port = spec.rpartition(":")
        if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
            raise ValueError(f"--hep: expected HOST:PORT with a port 1-65535, not {spec!r}")
        return cls(host.strip("[]"), int(port), agent_id=agent_id)

    def write(self, record: TraceRecord) -> None:
        try:
            self._socket.sendto(encode_hep3(record, self.agent_id), self.address)
        except (BlockingIOError, ConnectionRefusedError):
            self.dropped += 1  # a collector not there yet is no reason to stop
        except OSError as exc:
            if exc.errno != 90:  # EMSGSIZE
                raise
            self.dropped += 1

    def close(self) -> None:
        self._socket.close()

    def __repr__(self) -> str:
        return f"<HEP sender to {self.collector}>"
