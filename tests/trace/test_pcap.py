"""pcap files: written from records and read back, and the one ``serve``
writes during a call over UDP, TCP, TLS and WS opened by tshark."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sipwire.trace import PcapError, PcapWriter, TraceRecord, read_capture
from sipwire.trace.packets import checksum
from sipwire.transport import Address, Transport

from ..transport.conftest import Certificate, certificate  # noqa: F401
from .calls import run_call

INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:40000;branch="
          b"z9hG4bK1\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nabcd")
OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bK1\r\n"
      b"Call-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def record(data: bytes, transport: str = "UDP", *, back: bool = False, host: str = "192.0.2.1",
           peer: str = "192.0.2.2", when: float = 1_700_000_000.5,
           inbound: bool | None = None) -> TraceRecord:
    a, b = Address(host, 40000), Address(peer, 5060)
    return TraceRecord(when, Transport(transport), b if back else a, a if back else b, data,
                       sent=back, stream=7 if transport != "UDP" else None, inbound=inbound)


def written(*records: TraceRecord) -> bytes:
    out = io.BytesIO()
    writer = PcapWriter(out)
    for r in records:
        writer.write(r)
    return out.getvalue()


def frames(data: bytes) -> list[bytes]:
    """The Ethernet frames of a classic pcap file."""
    pos, out = 24, []
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        out.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return out


def test_udp_round_trip_with_valid_checksums() -> None:
    data = written(record(INVITE), record(OK, back=True))
    assert struct.unpack_from("<IHHiIII", data) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for frame in frames(data):
        ip = frame[14:]
        assert checksum(ip[:20]) == 0  # the IPv4 header checksum verifies
        udp = ip[20:]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
        assert checksum(pseudo + udp) == 0
        assert struct.unpack_from("!H", ip, 2)[0] == len(ip)
    back = list(read_capture(data))
    assert [r.data for r in back] == [INVITE, OK]
    assert back[0].time == 1_700_000_000.5
    assert str(back[0].source) == "192.0.2.1:40000" and str(back[1].source) == "192.0.2.2:5060"


def test_tcp_stream_has_a_handshake_and_consecutive_sequence_numbers() -> None:
    data = written(record(INVITE, "TLS", inbound=True), record(OK, "TLS", back=True,
                                                               inbound=True))
    tcp = [f[14 + 20:] for f in frames(data)]
    flags = [t[13] for t in tcp]
    assert flags == [0x02, 0x12, 0x10, 0x18, 0x18]  # SYN, SYN-ACK, ACK, PSH-ACK x2
    # the peer opened it (inbound): the SYN comes from 192.0.2.1:40000
    assert struct.unpack_from("!H", tcp[0])[0] == 40000
    seq = [struct.unpack_from("!II", t, 4) for t in tcp]
    assert seq[3] == (seq[0][0] + 1, seq[1][0] + 1)
    assert seq[4] == (seq[1][0] + 1, seq[0][0] + 1 + len(INVITE))
    for frame in frames(data):
        ip = frame[14:]
        segment = ip[20:]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(segment))
        assert checksum(pseudo + segment) == 0
    back = list(read_capture(data))
    assert [(r.transport, r.data) for r in back] == [("TCP", INVITE), ("TCP", OK)]


def test_ipv6_and_ipv4_mapped_peers() -> None:
    data = written(record(INVITE, host="::1", peer="::1"),
                   record(OK, host="2001:db8::1", peer="192.0.2.9"))
    back = list(read_capture(data))
    assert str(back[0].source) == "[::1]:40000"
    # a dual-stack socket's IPv4 peer is written as IPv4-mapped and read back as IPv4
    assert str(back[1].destination) == "192.0.2.9:5060"
    ip = frames(data)[0][14:]
    assert ip[0] >> 4 == 6 and ip[6] == 17


def test_segments_out_of_order_and_repeated_are_reassembled() -> None:
    data = written(record(INVITE + OK.replace(b"SIP/2.0 200", b"SIP/2.0 180"), "TCP"))
    parts = frames(data)
    syn, synack, ack, segment = parts
    ip = segment[14:]
    head, payload = ip[:40], ip[40:]

    def piece(start: int, end: int) -> bytes:
        seq = struct.unpack_from("!I", head, 24)[0] + start
        tcp = head[20:24] + struct.pack("!I", seq) + head[28:40]
        body = head[:20] + tcp + payload[start:end]
        return b"\0" * 12 + b"\x08\x00" + body

    shuffled = [syn, synack, ack, piece(50, 120), piece(0, 60), piece(50, 120),
                piece(120, len(payload))]
    out = data[:24] + b"".join(struct.pack("<IIII", 1, 0, len(f), len(f)) + f
                               for f in shuffled)
    assert [r.data[:11] for r in read_capture(out)] == [b"INVITE sip:", b"SIP/2.0 180"]


def test_pcapng_and_linux_cooked_captures_are_read() -> None:
    packet = frames(written(record(INVITE)))[0][14:]
    sll = b"\0\0\0\x01\0\x06" + b"\0" * 8 + b"\x08\x00" + packet
    idb_body = struct.pack("<HHI", 113, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + \
        b"\0\0\0\0"
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + \
        struct.pack("<I", 12 + len(idb_body))
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb = struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + \
        struct.pack("<I", 12 + len(shb_body))
    ticks = 1_700_000_000_250_000_000  # nanoseconds (if_tsresol 9)
    pad = (4 - len(sll) % 4) % 4
    epb_body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(sll),
                           len(sll)) + sll + b"\0" * pad
    epb = struct.pack("<II", 6, 12 + len(epb_body)) + epb_body + \
        struct.pack("<I", 12 + len(epb_body))
    (back,) = read_capture(shb + idb + epb)
    assert back.data == INVITE and abs(back.time - 1_700_000_000.25) < 1e-6


def test_not_a_capture() -> None:
    with pytest.raises(PcapError, match="magic"):
        list(read_capture(b"hello, world: not a pcap"))


def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_TSHARK") == "1" or os.environ.get("CI") == "true":
            pytest.fail("tshark is not installed; CI requires it")
        pytest.skip("tshark is not installed (apt-get install tshark)")
    return path


async def test_tshark_decodes_every_packet_serve_wrote_as_sip(
        tmp_path: Path, certificate: Certificate) -> None:  # noqa: F811
    program = tshark()
    pcap = tmp_path / "serve.pcap"
    run = await run_call(tmp_path, certificate, pcap=str(pcap))
    # tshark finds SIP by its heuristics, tried before the dissectors of
    # registered ports, which random ports may hit (37008 is TZSP's): the
    # options docs/traces.md gives
    decode = ["-o", "udp.try_heuristic_first:TRUE", "-o", "tcp.try_heuristic_first:TRUE"]
    result = subprocess.run(
        [program, "-r", str(pcap), *decode, "-T", "fields", "-E", "separator=|",
         "-e", "frame.number", "-e", "frame.protocols",
         "-e", "_ws.malformed", "-e", "_ws.expert.severity", "-e", "tcp.len",
         "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "udp.srcport", "-e", "tcp.srcport"],
        capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines()]
    carrying = [row for row in rows if row[4] != "0"]  # not the synthetic handshakes
    assert len(carrying) >= 20
    for number, protocols, malformed, _, _, method, code, *_ in carrying:
        assert protocols.endswith(":sip") or ":sip:" in protocols, (number, protocols)
        assert not malformed, (number, protocols)
        assert method or code
    methods = {row[5] for row in carrying} - {""}
    assert methods >= {"REGISTER", "INVITE", "ACK", "BYE", "MESSAGE"}
    # every transport the server listens on is in the file
    ports = {row[7] or row[8] for row in carrying}
    assert {str(p) for p in run.ports.values()} <= ports
    # tshark's own check of the whole file: no malformed packet, no TCP error
    problems = "_ws.malformed || tcp.analysis.flags || _ws.expert.severity >= 8388608"
    stats = subprocess.run([program, "-r", str(pcap), *decode, "-Y", problems],
                           capture_output=True, text=True, timeout=60, check=True)
    assert stats.stdout.strip() == ""


def test_the_writer_skips_what_no_datagram_holds() -> None:
    out = io.BytesIO()
    writer = PcapWriter(out)
    writer.write(record(b"MESSAGE sip:x SIP/2.0\r\n" + b"x" * 70000, "WS"))
    assert writer.skipped == 1 and len(out.getvalue()) == 24


def test_open_writes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    writer = PcapWriter.open(path)
    writer.write(record(INVITE))
    writer.close()
    assert [r.data for r in read_capture(path.read_bytes())] == [INVITE]


def sngrep() -> str:
    path = shutil.which("sngrep")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_SNGREP") == "1" or os.environ.get("CI") == "true":
            pytest.fail("sngrep is not installed; CI requires it")
        pytest.skip("sngrep is not installed (apt-get install sngrep)")
    return path


async def test_sngrep_reads_every_message_serve_wrote(
        tmp_path: Path, certificate: Certificate) -> None:  # noqa: F811
    program = sngrep()
    pcap, kept = tmp_path / "serve.pcap", tmp_path / "sngrep.pcap"
    await run_call(tmp_path, certificate, pcap=str(pcap))
    # -N: no interface; -O: the packets of the SIP messages it parsed, saved
    subprocess.run([program, "-I", str(pcap), "-N", "-q", "-O", str(kept)],
                   capture_output=True, timeout=60, check=True, env={**os.environ,
                                                                     "TERM": "dumb"})
    ours = [r.data for r in read_capture(pcap.read_bytes())]
    assert [r.data for r in read_capture(kept.read_bytes())] == ours
    assert len(ours) == 31


def test_traffic_that_is_not_sip_is_left_out() -> None:
    dns = record(b"\x12\x34\x01\x00\x00\x01" + b"\0" * 20)
    tls = record(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\r\n\r\n" + b"x" * 40,
                 "TCP")
    http = TraceRecord(2.0, Transport.TCP, Address("192.0.2.3", 40001),
                       Address("192.0.2.2", 80), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                       stream=8)
    data = written(dns, tls, http, record(INVITE))
    assert [r.data for r in read_capture(data)] == [INVITE]


def _fragments(packet: bytes, size: int) -> list[bytes]:
    """An IPv4 packet cut into fragments of ``size`` payload bytes (a multiple of 8)."""
    header, body = packet[:20], packet[20:]
    out = []
    for offset in range(0, len(body), size):
        chunk = body[offset:offset + size]
        more = 0x2000 if offset + size < len(body) else 0
        h = header[:2] + struct.pack("!H", 20 + len(chunk)) + header[4:6] + \
            struct.pack("!H", more | offset // 8) + header[8:10] + b"\0\0" + header[12:]
        h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
        out.append(b"\0" * 12 + b"\x08\x00" + h + chunk)
    return out


def test_ipv4_fragments_are_put_together_in_any_order() -> None:
    big = INVITE.replace(b"l: 4\r\n\r\nabcd", b"l: 3000\r\n\r\n" + b"s" * 3000)
    data = written(record(big), record(OK, back=True))
    first, second = frames(data)
    pieces = _fragments(first[14:], 1480)
    assert len(pieces) == 3
    shuffled = [pieces[2], pieces[0], second, pieces[1]]
    out = data[:24] + b"".join(struct.pack("<IIII", 1, 0, len(f), len(f)) + f
                               for f in shuffled)
    assert [r.data for r in read_capture(out)] == [OK, big]
    # a fragment whose others never came gives nothing
    out = data[:24] + b"".join(struct.pack("<IIII", 1, 0, len(f), len(f)) + f
                               for f in pieces[:2])
    assert list(read_capture(out)) == []


def test_ipv6_fragments_are_put_together() -> None:
    big = INVITE.replace(b"l: 4\r\n\r\nabcd", b"l: 2000\r\n\r\n" + b"s" * 2000)
    data = written(record(big, host="2001:db8::1", peer="2001:db8::2"))
    (frame,) = frames(data)
    header, body = frame[14:54], frame[54:]
    pieces = []
    for offset in range(0, len(body), 1232):
        chunk = body[offset:offset + 1232]
        more = 1 if offset + 1232 < len(body) else 0
        fragment = struct.pack("!BxHI", 17, (offset // 8) << 3 | more, 0xABCD)
        ip = header[:4] + struct.pack("!H", 8 + len(chunk)) + b"\x2c" + header[7:]
        pieces.append(b"\0" * 12 + b"\x86\xdd" + ip + fragment + chunk)
    out = data[:24] + b"".join(struct.pack("<IIII", 1, 0, len(f), len(f)) + f
                               for f in reversed(pieces))
    (back,) = read_capture(out)
    assert back.data == big and str(back.source) == "[2001:db8::1]:40000"
