"""SIP over WebSocket and secure WebSocket (RFC 7118)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from sipwire import Request, Response, parse
from sipwire.transport import Target, Transport, TransportConfig, TransportError
from sipwire.transport.ws import WsConnection

from .conftest import TIMEOUT, Certificate, MakePeer, eventually, options

REQUEST = (b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKw1\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
           b"To: <sip:bob@example.com>\r\nCall-ID: ws-1\r\nCSeq: 1 OPTIONS\r\n\r\n")


@asynccontextmanager
async def raw_client(port: int, *, subprotocols: list[str] | None = None
                     ) -> AsyncIterator[ClientConnection]:
    ws = await asyncio.wait_for(connect(
        f"ws://127.0.0.1:{port}/", proxy=None,
        subprotocols=[Subprotocol(p) for p in subprotocols or ["sip"]]), TIMEOUT)
    try:
        yield ws
    finally:
        await ws.close()


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_request_and_response_over_the_same_connection(
        make_peer: MakePeer, transport: str, request: pytest.FixtureRequest) -> None:
    config = request.getfixturevalue("tls_config") if transport == "wss" else None
    a = await make_peer(config=config)  # a browser-like client: no listening point
    b = await make_peer(f"{transport}:127.0.0.1:0", config=config)
    outgoing = options()
    sent = await a.layer.send_request(
        outgoing, Target(Transport.parse(transport), "127.0.0.1", b.port(transport)))
    conn = sent.connection
    assert isinstance(conn, WsConnection) and conn.subprotocol == "sip"  # RFC 7118 §4.1
    assert outgoing.via[0].transport == transport.upper()  # §5.1

    message, flow = await b.inbox.get()
    assert isinstance(message, Request) and flow.transport == transport.upper()
    assert isinstance(flow.connection, WsConnection) and flow.connection.subprotocol == "sip"
    assert flow.remote == sent.local
    await b.layer.send_response(message.reply(200), flow)
    response, aflow = await a.inbox.get()
    assert isinstance(response, Response) and aflow.connection is conn

    again = await a.layer.send_request(options(), Target(
        Transport.parse(transport), "127.0.0.1", b.port(transport)))
    assert again.connection is conn  # pooled


async def test_client_without_the_sip_subprotocol_is_refused(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0")
    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(connect(f"ws://127.0.0.1:{b.port('ws')}/", proxy=None),
                               TIMEOUT)
    assert info.value.response.status_code == 400
    with pytest.raises(InvalidStatus):
        async with raw_client(b.port("ws"), subprotocols=["chat"]):
            pass
    assert b.layer.connections == ()


async def test_server_without_the_sip_subprotocol_is_refused(make_peer: MakePeer) -> None:
    a = await make_peer()

    async def echo(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(echo, "127.0.0.1", 0) as server:  # selects no subprotocol
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TransportError, match="sip subprotocol"):
            await a.layer.send_request(options(), Target(Transport.WS, "127.0.0.1", port))
    assert a.layer.connections == ()


async def test_text_and_binary_frames_and_crlf_keepalive(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0")
    async with raw_client(b.port("ws")) as ws:
        await ws.send("\r\n\r\n")  # RFC 7118 §6 allows the RFC 5626 CRLF keep-alive
        assert await recv(ws) == "\r\n"
        await ws.send(REQUEST)  # binary frame, no Content-Length needed (§5)
        message, flow = await b.inbox.get()
        assert isinstance(message, Request) and message.call_id == "ws-1"
        # §18.2.1: sent-by is a name, so received is added
        assert message.via[0].received == "127.0.0.1"
        await b.layer.send_response(message.reply(200), flow)
        frame = await recv(ws)
        assert isinstance(frame, str)  # UTF-8 goes in a text frame (§4.2)
        response = parse(frame.encode())
        assert isinstance(response, Response) and response.status == 200

        await ws.send(REQUEST.decode().replace("ws-1", "ws-2"))  # text frame
        message, _ = await b.inbox.get()
        assert message.call_id == "ws-2"


async def test_websocket_ping_gets_a_pong(make_peer: MakePeer) -> None:
    """RFC 7118 §6: WebSocket Ping frames keep the connection open; a Pong
    answers each (RFC 6455 §5.5.2)."""
    b = await make_peer("ws:127.0.0.1:0")
    async with raw_client(b.port("ws")) as ws:
        pong = await ws.ping(b"keep-alive")
        await asyncio.wait_for(pong, TIMEOUT)  # the Pong carried the same data
        await ws.send(REQUEST)  # and SIP goes on
        message, _ = await b.inbox.get()
        assert isinstance(message, Request)


async def test_websocket_pings_keep_an_idle_connection_open(make_peer: MakePeer) -> None:
    """A client sending only Ping frames (RFC 7118 §6) is not idle."""
    b = await make_peer("ws:127.0.0.1:0", config=TransportConfig(idle_timeout=0.3))
    async with raw_client(b.port("ws")) as ws:
        for _ in range(8):
            await asyncio.wait_for(await ws.ping(), TIMEOUT)
            await asyncio.sleep(0.1)
        assert len(b.layer.connections) == 1  # 0.8 s, and still open
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)  # once the pings stop, it closes
    await eventually(lambda: b.layer.connections == ())


async def test_unparsable_message_over_ws_gets_400(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0")
    async with raw_client(b.port("ws")) as ws:
        await ws.send(REQUEST.replace(b"Max-Forwards: 70", b"Max-Forwards: many"))
        frame = await recv(ws)
        response = parse(frame.encode() if isinstance(frame, str) else frame)
        assert isinstance(response, Response) and response.status == 400
        await ws.send(b"SIP/2.0 200 OK\r\n\r\n")  # a bad response: dropped
        await ws.send(REQUEST)  # and the connection goes on
        message, _ = await b.inbox.get()
        assert isinstance(message, Request)


async def test_response_after_the_ws_connection_closed_is_a_transport_error(
        make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0")
    async with raw_client(b.port("ws")) as ws:
        await ws.send(REQUEST)
        message, flow = await b.inbox.request()
    await eventually(lambda: b.layer.connections == ())
    with pytest.raises(TransportError):  # RFC 7118 §5.3: no way back to a WS client
        await b.layer.send_response(message.reply(200), flow)


async def test_ws_connection_limit(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0", config=TransportConfig(max_connections=1))
    async with raw_client(b.port("ws")):
        await eventually(lambda: len(b.layer.connections) == 1)
        with pytest.raises(InvalidStatus) as info:
            async with raw_client(b.port("ws")):
                pass
        assert info.value.response.status_code == 503


async def test_oversized_ws_message_closes_the_connection(make_peer: MakePeer) -> None:
    from sipwire import Limits

    b = await make_peer("ws:127.0.0.1:0",
                        config=TransportConfig(limits=Limits(max_message_size=2048)))
    async with raw_client(b.port("ws")) as ws:
        await eventually(lambda: len(b.layer.connections) == 1)
        await ws.send(b"x" * 4096)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.close_code == 1009  # message too big
    await eventually(lambda: b.layer.connections == ())


async def test_idle_ws_connection_is_closed(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0", config=TransportConfig(idle_timeout=0.1))
    async with raw_client(b.port("ws")) as ws:
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    await eventually(lambda: b.layer.connections == ())


async def test_wss_handshake_with_a_plain_client(make_peer: MakePeer,
                                                 certificate: Certificate) -> None:
    b = await make_peer("wss:127.0.0.1:0", config=TransportConfig(
        tls_server_context=certificate.server_context()))
    ws = await asyncio.wait_for(connect(
        f"wss://localhost:{b.port('wss')}/", proxy=None, ssl=certificate.client_context(),
        subprotocols=[Subprotocol("sip")], host="127.0.0.1"), TIMEOUT)
    try:
        assert ws.subprotocol == "sip"
        await ws.send("\r\n\r\n")
        assert await recv(ws) == "\r\n"
    finally:
        await ws.close()
