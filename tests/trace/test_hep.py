"""HEPv3 packets: decoded here, chunk by chunk, from ``encode_hep3`` and from
what ``serve --hep`` sends a collector's UDP socket during a call."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from pathlib import Path

import pytest

import sipwire
from sipwire.trace import HepSender, TraceRecord, encode_hep3
from sipwire.transport import Address, Transport

from ..transport.conftest import Certificate, certificate  # noqa: F401
from .calls import run_call

MESSAGE = (b"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;"
           b"branch=z9hG4bK1\r\ni:  hep-1@x\r\nCSeq: 1 MESSAGE\r\nl: 0\r\n\r\n")


def decode(packet: bytes) -> dict[int, bytes]:
    """The chunks of a HEPv3 packet by type (generic vendor 0 only); every
    length checked."""
    assert packet[:4] == b"HEP3"
    assert struct.unpack_from("!H", packet, 4)[0] == len(packet)
    chunks: dict[int, bytes] = {}
    pos = 6
    while pos < len(packet):
        vendor, kind, length = struct.unpack_from("!HHH", packet, pos)
        assert vendor == 0 and length >= 6 and pos + length <= len(packet)
        assert kind not in chunks
        chunks[kind] = packet[pos + 6:pos + length]
        pos += length
    assert pos == len(packet)
    return chunks


def u8(value: bytes) -> int:
    assert len(value) == 1
    return value[0]


def u16(value: bytes) -> int:
    assert len(value) == 2
    return int(struct.unpack("!H", value)[0])


def u32(value: bytes) -> int:
    assert len(value) == 4
    return int(struct.unpack("!I", value)[0])


def test_every_chunk_of_an_ipv4_udp_message() -> None:
    record = TraceRecord(1_700_000_000.123456, Transport.UDP, Address("192.0.2.1", 5062),
                         Address("192.0.2.2", 5060), MESSAGE, sent=False)
    chunks = decode(encode_hep3(record, 2001))
    assert u8(chunks[1]) == 2 and u8(chunks[2]) == 17
    assert chunks[3] == ipaddress.IPv4Address("192.0.2.1").packed
    assert chunks[4] == ipaddress.IPv4Address("192.0.2.2").packed
    assert u16(chunks[7]) == 5062 and u16(chunks[8]) == 5060
    assert u32(chunks[9]) == 1_700_000_000 and u32(chunks[10]) == 123456
    assert u8(chunks[11]) == 1 and u32(chunks[12]) == 2001
    assert chunks[15] == MESSAGE and chunks[17] == b"hep-1@x"  # compact i: read
    assert set(chunks) == {1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 15, 17}


def test_ipv6_over_a_connection_is_tcp() -> None:
    record = TraceRecord(5.5, Transport.WSS, Address("::1", 443), Address("2001:db8::2", 40000),
                         b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", sent=True)
    chunks = decode(encode_hep3(record, 0))
    assert u8(chunks[1]) == 10 and u8(chunks[2]) == 6
    assert chunks[5] == ipaddress.IPv6Address("::1").packed
    assert chunks[6] == ipaddress.IPv6Address("2001:db8::2").packed
    assert 3 not in chunks and 17 not in chunks  # no Call-ID, no correlation id
    assert u32(chunks[10]) == 500000


def test_the_sender_drops_rather_than_fails_when_nobody_listens() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = HepSender.parse(f"127.0.0.1:{port}", agent_id=3)
    record = TraceRecord(1.0, Transport.UDP, Address("127.0.0.1", 1),
                         Address("127.0.0.1", 2), MESSAGE)
    for _ in range(3):
        sender.write(record)  # ICMP port unreachable comes back as ECONNREFUSED
    sender.close()
    with pytest.raises(ValueError, match="HOST:PORT"):
        HepSender.parse("127.0.0.1")


async def test_serve_sends_every_message_of_a_call_to_the_collector(
        tmp_path: Path, certificate: Certificate) -> None:  # noqa: F811
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.setblocking(False)
    port = collector.getsockname()[1]
    try:
        run = await run_call(tmp_path, certificate, hep=f"127.0.0.1:{port}", hep_id=42)
        packets = []
        loop = asyncio.get_running_loop()
        while True:
            try:
                packets.append(await asyncio.wait_for(loop.sock_recv(collector, 65535), 1.0))
            except TimeoutError:
                break
    finally:
        collector.close()
    decoded = [decode(p) for p in packets]
    assert len(decoded) >= 20
    protocols = {}
    for chunks in decoded:
        message = sipwire.parse(chunks[15])  # the payload is a whole SIP message
        assert chunks[17] == message.call_id.encode()
        assert u8(chunks[1]) == 2 and u8(chunks[11]) == 1 and u32(chunks[12]) == 42
        assert chunks[3] == chunks[4] == bytes([127, 0, 0, 1])
        assert u32(chunks[9]) > 1_600_000_000 and u32(chunks[10]) < 1_000_000
        server_port = u16(chunks[8]) if u16(chunks[8]) in run.ports.values() \
            else u16(chunks[7])
        protocols[server_port] = u8(chunks[2])
    # UDP is 17; TCP, TLS and WS ride on TCP (6)
    assert protocols == {run.ports["udp"]: 17, run.ports["tcp"]: 6, run.ports["tls"]: 6,
                         run.ports["ws"]: 6}
    invite = [c for c in decoded if c[15].startswith(b"INVITE ")]
    assert {u16(c[7]) for c in invite} >= {run.alice}  # alice's INVITE, and its copy
    assert any(u16(c[8]) == run.bob for c in invite)  # the one forwarded to bob
