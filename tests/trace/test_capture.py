"""The capture hook sees the exact bytes on the wire: what a raw socket sent
arrives in the trace byte for byte (odd spacing, compact headers, nothing
rewritten), and what the trace says we sent is what a raw socket receives."""

from __future__ import annotations

import asyncio
import io
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from sipwire import Request
from sipwire.trace import CaptureHub, TextTraceWriter, TraceRecord, read_trace
from sipwire.transport import Flow, TransportLayer
from sipwire.transport.config import TransportConfig

from ..transport.conftest import Certificate, certificate  # noqa: F401

#: compact forms, odd spacing, a folded-free but unusual layout: kept as is
ODD = (b"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
       b"v:SIP/2.0/{T}   127.0.0.1:9;branch=z9hG4bK-odd-{N};rport\r\n"
       b"f:   <sip:a@x>;tag=1\r\nt:<sip:b@x>\r\ni:  odd-{N}@x \r\n"
       b"CSeq:    7   OPTIONS\r\nX-Spacing :  a  b\r\nl:0\r\n\r\n")


def odd(transport: str, n: int) -> bytes:
    return ODD.replace(b"{T}", transport.encode()).replace(b"{N}", str(n).encode())


class Layer:
    """A transport layer whose capture writes a text trace to memory, and
    which answers every request 200."""

    def __init__(self, cert: Certificate) -> None:
        self.trace = io.BytesIO()
        self.capture = CaptureHub([TextTraceWriter(self.trace)])
        self.layer = TransportLayer(TransportConfig(
            tls_server_context=cert.server_context(), capture=self.capture,
            check_sent_by=False), on_message=self._answer)

    def _answer(self, message: Request | object, flow: Flow) -> None:
        if isinstance(message, Request):
            response = message.reply(200, to_tag="tagged")
            asyncio.get_running_loop().create_task(self.layer.send_response(response, flow))

    def records(self) -> list[TraceRecord]:
        return list(read_trace(self.trace.getvalue()))

    async def wait_records(self, count: int) -> list[TraceRecord]:
        async with asyncio.timeout(5):
            while len(records := self.records()) < count:
                await asyncio.sleep(0.01)
        return records


@pytest.fixture
async def layer(certificate: Certificate) -> Layer:  # noqa: F811
    return Layer(certificate)


async def test_udp_bytes_in_and_out_are_exact(layer: Layer) -> None:
    async with layer.layer:
        point = await layer.layer.listen("udp:127.0.0.1:0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.setblocking(False)
            data = odd("UDP", 1)
            peer.sendto(data, ("127.0.0.1", point.port))
            loop = asyncio.get_running_loop()
            answer = await asyncio.wait_for(loop.sock_recv(peer, 65535), 5)
            received, sent = await layer.wait_records(2)
            assert received.data == data and received.sent is False
            assert str(received.source) == f"127.0.0.1:{peer.getsockname()[1]}"
            assert str(received.destination) == f"127.0.0.1:{point.port}"
            assert sent.sent is True and sent.data == answer
            assert answer.startswith(b"SIP/2.0 200 OK\r\n")
            assert sent.source == received.destination and sent.destination == received.source
            # the layer marked the Via (received=, rport=) above, not in the capture
            assert b"rport=" in answer and b"rport=" not in received.data


async def test_tcp_messages_are_captured_framed(layer: Layer) -> None:
    async with layer.layer:
        point = await layer.layer.listen("tcp:127.0.0.1:0")
        reader, writer = await asyncio.open_connection("127.0.0.1", point.port)
        first, second = odd("TCP", 2), odd("TCP", 3)
        writer.write(b"\r\n\r\n" + first + second[:20])  # a keep-alive, then split
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(second[20:])
        got = b""
        records = await layer.wait_records(4)
        async with asyncio.timeout(5):
            while len(got) < sum(len(r.data) for r in records if r.sent):
                got += await reader.read(65535)
        writer.close()
        received = [r.data for r in records if not r.sent]
        assert received == [first, second]  # each framed message, keep-alive left out
        # the pong (RFC 5626 §3.5.1) is no message and is not captured either
        assert got == b"\r\n" + b"".join(r.data for r in records if r.sent)
        assert got.count(b"SIP/2.0 200 OK\r\n") == 2
        assert {r.transport for r in records} == {"TCP"}


async def test_tls_messages_are_captured_in_plaintext(layer: Layer,
                                                      certificate: Certificate) -> None:  # noqa: F811
    async with layer.layer:
        point = await layer.layer.listen("tls:127.0.0.1:0")
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", point.port, ssl=certificate.client_context(),
            server_hostname="localhost")
        data = odd("TLS", 4)
        writer.write(data)
        records = await layer.wait_records(2)
        answer = await asyncio.wait_for(reader.read(65535), 5)
        writer.close()
        assert records[0].data == data and records[0].transport == "TLS"
        assert records[1].data == answer


async def test_websocket_payload_is_captured(layer: Layer) -> None:
    async with layer.layer:
        point = await layer.layer.listen("ws:127.0.0.1:0")
        async with connect(f"ws://127.0.0.1:{point.port}/", subprotocols=[Subprotocol("sip")],
                           open_timeout=5) as ws:
            data = odd("WS", 5)
            await ws.send(data.decode())
            answer = await asyncio.wait_for(ws.recv(), 5)
        records = await layer.wait_records(2)
        assert records[0].data == data and records[0].transport == "WS"
        assert records[1].data == (answer.encode() if isinstance(answer, str) else answer)


async def test_a_request_we_send_is_captured_as_the_peer_gets_it(layer: Layer) -> None:
    async with layer.layer:
        await layer.layer.listen("udp:127.0.0.1:0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.setblocking(False)
            port = peer.getsockname()[1]
            request = Request.build("MESSAGE", f"sip:bob@127.0.0.1:{port}",
                                    from_="<sip:alice@x>", call_id="sent-1@x", cseq=1)
            from sipwire.transport import Target

            await layer.layer.send_request(request, Target.parse(f"udp:127.0.0.1:{port}"))
            loop = asyncio.get_running_loop()
            got = await asyncio.wait_for(loop.sock_recv(peer, 65535), 5)
        (record,) = await layer.wait_records(1)
        # the Via stamped by the layer (sent-by, rport) is in what was captured
        assert record.data == got and record.sent is True
        assert b"SIP/2.0/UDP 127.0.0.1:" in got


def test_keep_alives_and_stun_are_not_captured() -> None:
    sink = io.BytesIO()
    hub = CaptureHub([TextTraceWriter(sink)], clock=lambda: 1_700_000_000.25)
    from sipwire.transport import Address

    flow = Flow("UDP", Address("127.0.0.1", 5060), Address("127.0.0.1", 5080))  # type: ignore[arg-type]
    hub.received(flow, b"\r\n\r\n")
    hub.received(flow, b"\x00\x01\x00\x00" + bytes(16))
    hub.sent(flow, b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    assert sink.getvalue() == (
        b"--- 2023-11-14T22:13:20.250000Z sent UDP 127.0.0.1:5080 -> 127.0.0.1:5060 "
        b"(25 bytes)\nOPTIONS sip:x SIP/2.0\r\n\r\n\n")


class _Broken:
    def write(self, record: TraceRecord) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        pass


def test_a_failing_sink_is_dropped_and_the_others_go_on() -> None:
    sink = io.BytesIO()
    hub = CaptureHub([_Broken(), TextTraceWriter(sink)], clock=lambda: 0.0)
    from sipwire.transport import Address

    flow = Flow("UDP", Address("::1", 5060), Address("::1", 5080))  # type: ignore[arg-type]
    hub.received(flow, b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    hub.received(flow, b"OPTIONS sip:y SIP/2.0\r\n\r\n")
    assert len(hub.sinks) == 1
    records = list(read_trace(sink.getvalue()))
    assert [r.data[:13] for r in records] == [b"OPTIONS sip:x", b"OPTIONS sip:y"]
    assert str(records[0].source) == "[::1]:5060"


def test_the_trace_reader_skips_log_lines_and_keeps_bytes_exact() -> None:
    body = b"INVITE sip:b@x SIP/2.0\r\nl: 12\r\n\r\n--- not a hd\n"
    text = (b"2024-01-01 00:00:00,000 INFO sipwire.server: listening=udp:127.0.0.1:5060\n"
            b"--- 2024-01-01T00:00:01.500000Z recv TCP 192.0.2.1:40000 -> 192.0.2.2:5060 "
            + f"({len(body)} bytes)\n".encode() + body + b"\n"
            b"2024-01-01 00:00:02,000 INFO sipwire.server: method=INVITE status=200\n")
    (record,) = read_trace(text)
    assert record.data == body
    assert record.time == 1704067201.5
    assert record.transport == "TCP" and record.sent is False
    assert str(record.source) == "192.0.2.1:40000"


