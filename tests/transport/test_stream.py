"""SIP over TCP and TLS: framing, connection reuse, keep-alives, limits (RFC 3261 §18)."""

from __future__ import annotations

import asyncio
import ssl
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

from sipwire import Limits, Request, Response, parse
from sipwire.transport import Target, Transport, TransportConfig, TransportError, TransportLayer

from .conftest import TIMEOUT, Certificate, MakePeer, eventually, needs_ipv6, options

RawTcp = Callable[..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

REQUEST = (b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKs1;rport\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
           b"To: <sip:bob@example.com>\r\nCall-ID: stream-1\r\nCSeq: 1 OPTIONS\r\n"
           b"Content-Length: 0\r\n\r\n")


async def read_message(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(65536), TIMEOUT) == b"" or \
            await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_request_and_response_over_the_same_connection(
        make_peer: MakePeer, transport: str, request: pytest.FixtureRequest) -> None:
    config = request.getfixturevalue("tls_config") if transport == "tls" else None
    a = await make_peer(f"{transport}:127.0.0.1:0", config=config)
    b = await make_peer(f"{transport}:127.0.0.1:0", config=config)
    outgoing = options()
    sent = await a.layer.send_request(outgoing, Target(Transport.parse(transport), "127.0.0.1",
                                                       b.port(transport)))
    assert sent.transport == transport.upper() and sent.connection is not None
    # §18.1.1: sent-by is where we listen, not the connection's ephemeral port
    assert outgoing.via[0].transport == transport.upper()
    assert outgoing.via[0].port == a.port(transport)

    message, flow = await b.inbox.get()
    assert isinstance(message, Request) and flow.connection is not None
    assert flow.remote == sent.local and flow.local == sent.remote
    # RFC 3581 §4 applies to every transport: rport is the connection's source port
    assert message.via[0].rport == sent.local.port
    assert message.via[0].received == "127.0.0.1"

    await b.layer.send_response(message.reply(200), flow)
    response, aflow = await a.inbox.get()
    assert isinstance(response, Response) and aflow.connection is sent.connection
    assert len(a.layer.connections) == 1 and len(b.layer.connections) == 1


async def test_tls_by_host_name(make_peer: MakePeer, tls_config: TransportConfig) -> None:
    a = await make_peer(config=tls_config)  # a client without listening points
    b = await make_peer("tls:127.0.0.1:0", config=tls_config)
    await a.layer.send_request(options(), Target(Transport.TLS, "localhost", b.port("tls")))
    message, flow = await b.inbox.request()
    await b.layer.send_response(message.reply(200), flow)
    response, _ = await a.inbox.get()  # sent-by was the connection's own address
    assert isinstance(response, Response) and response.via[0].transport == "TLS"


async def test_tls_untrusted_certificate_is_a_transport_error(
        make_peer: MakePeer, tls_config: TransportConfig) -> None:
    a = await make_peer(config=TransportConfig(
        tls_client_context=ssl.create_default_context()))  # does not trust our certificate
    b = await make_peer("tls:127.0.0.1:0", config=tls_config)
    with pytest.raises(TransportError) as info:
        await a.layer.send_request(options(), Target(Transport.TLS, "127.0.0.1",
                                                     b.port("tls")))
    assert info.value.status_code == 503
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert a.layer.connections == ()


async def test_tls_handshake_with_a_plain_client(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate) -> None:
    b = await make_peer("tls:127.0.0.1:0", config=TransportConfig(
        tls_server_context=certificate.server_context()))
    ctx = certificate.client_context()
    reader, writer = await raw_tcp(b.port("tls"), ssl=ctx, server_hostname="127.0.0.1")
    assert writer.get_extra_info("peercert")["subject"][0][0] == ("commonName", "localhost")
    writer.write(b"\r\n\r\n")
    assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"


async def test_listening_on_tls_needs_a_server_context() -> None:
    async with TransportLayer() as layer:
        with pytest.raises(ValueError):
            await layer.listen("tls:127.0.0.1:0")


async def test_connections_are_reused(make_peer: MakePeer) -> None:
    a = await make_peer("tcp:127.0.0.1:0")
    b = await make_peer("tcp:127.0.0.1:0")
    target = Target(Transport.TCP, "127.0.0.1", b.port("tcp"))
    # concurrent sends share one connection attempt
    flows = await asyncio.gather(*(a.layer.send_request(options(), target) for _ in range(5)))
    assert len({flow.connection for flow in flows}) == 1
    later = await a.layer.send_request(options(), target)
    assert later.connection is flows[0].connection
    seen = {(await b.inbox.get())[1].connection for _ in range(6)}
    assert len(seen) == 1
    assert len(a.layer.connections) == 1 and len(b.layer.connections) == 1


async def test_idle_connections_are_closed(make_peer: MakePeer) -> None:
    a = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(idle_timeout=0.1))
    b = await make_peer("tcp:127.0.0.1:0")
    flow = await a.layer.send_request(options(), Target(Transport.TCP, "127.0.0.1",
                                                        b.port("tcp")))
    await b.inbox.get()
    assert flow.connection is not None
    await asyncio.wait_for(flow.connection.wait_closed(), TIMEOUT)
    assert a.layer.connections == ()
    await eventually(lambda: b.layer.connections == ())  # the peer saw it close


async def test_response_opens_a_new_connection_when_the_first_is_gone(
        make_peer: MakePeer) -> None:
    a = await make_peer("tcp:127.0.0.1:0")
    b = await make_peer("tcp:127.0.0.1:0")
    sent = await a.layer.send_request(options(), Target(Transport.TCP, "127.0.0.1",
                                                        b.port("tcp")))
    message, flow = await b.inbox.request()
    assert sent.connection is not None
    sent.connection.close()
    await eventually(lambda: b.layer.connections == ())
    # §18.2.2: to received, at the sent-by port (A's listening point)
    back = await b.layer.send_response(message.reply(200), flow)
    assert back.remote.port == a.port("tcp") and back.connection is not flow.connection
    response, aflow = await a.inbox.get()
    assert isinstance(response, Response)
    assert aflow.connection is not sent.connection


async def test_crlf_ping_gets_a_pong(make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    writer.write(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping
    assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"
    writer.write(b"\r\n")  # a pong (or a bare CRLF, §7.5) is not answered
    writer.write(REQUEST)
    await b.inbox.request()
    with pytest.raises(TimeoutError):  # nothing more came back
        await asyncio.wait_for(reader.read(1), 0.02)


async def test_crlf_ping_split_in_two_still_gets_a_pong(make_peer: MakePeer,
                                                        raw_tcp: RawTcp) -> None:
    """RFC 5626 §5.4: a server MUST answer a double CRLF, even one that the
    network delivers in two reads."""
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    writer.write(b"\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(b"\r\n")
    assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"
    with pytest.raises(TimeoutError):  # one pong, not two
        await asyncio.wait_for(reader.read(1), 0.02)


async def test_crlf_ping_across_the_feed_slices_gets_a_pong(make_peer: MakePeer,
                                                            raw_tcp: RawTcp) -> None:
    """A message of 2046 bytes and a ping in one write: the connection feeds
    the parser 2048 bytes at a time, which cuts the ping in two."""
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    head = REQUEST.replace(b"Content-Length: 0", b"Content-Length: 1234")
    size = 2046 - len(head)  # four digits as well
    request = head.replace(b"1234", b"%d" % size) + b"x" * size
    assert len(request) == 2046
    writer.write(request + b"\r\n\r\n")
    await b.inbox.request()
    assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"


async def test_stream_without_content_length_gets_400_and_is_closed(make_peer: MakePeer,
                                                                    raw_tcp: RawTcp) -> None:
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    writer.write(REQUEST.replace(b"Content-Length: 0\r\n", b""))
    response = parse(await read_message(reader))
    assert isinstance(response, Response) and response.status == 400
    assert response.call_id == "stream-1"
    assert await closed_by_peer(reader)  # §18.3: Content-Length MUST be used on streams
    await eventually(lambda: b.layer.connections == ())
    await b.inbox.nothing(0.01)


async def test_unparsable_message_on_a_stream_gets_400_and_the_stream_goes_on(
        make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    writer.write(REQUEST.replace(b"Max-Forwards: 70", b"Max-Forwards: many"))
    response = parse(await read_message(reader))
    assert isinstance(response, Response) and response.status == 400
    # a response that does not parse is dropped, and the stream still works
    writer.write(b"SIP/2.0 2000 OK\r\nContent-Length: 0\r\n\r\n")
    writer.write(REQUEST)
    message, _ = await b.inbox.get()
    assert isinstance(message, Request)
    assert len(b.layer.connections) == 1


async def test_garbage_flood_is_bounded(make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    limits = Limits(max_message_size=4096)
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(limits=limits))
    chunk = b"x" * 1024
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(4):
            reader, writer = await raw_tcp(b.port("tcp"))
            try:
                for _ in range(256):  # 256 KiB per connection, 1 MiB in all
                    writer.write(chunk)
                    await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                pass
            # closed once the header section is over the limit, nothing delivered
            assert await closed_by_peer(reader)
        # well-framed junk keeps the stream open, each frame dropped as it comes
        reader, writer = await raw_tcp(b.port("tcp"))
        for _ in range(2048):
            writer.write(b"JUNK\r\nl: 200\r\n\r\n" + chunk[:200])
            await writer.drain()
        writer.write(REQUEST)
        message, _ = await b.inbox.get()
        assert isinstance(message, Request)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak} bytes"
    await b.inbox.nothing(0.01)


async def test_connection_limit(make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(max_connections=3))
    readers = [(await raw_tcp(b.port("tcp")))[0] for _ in range(6)]
    await eventually(lambda: sum(r.at_eof() for r in readers) == 3)
    assert len(b.layer.connections) == 3
    # and an outgoing connection is refused too
    with pytest.raises(TransportError):
        await b.layer.send_request(options(), Target(Transport.TCP, "127.0.0.1", 9))


async def test_connect_failure_is_a_transport_error(make_peer: MakePeer) -> None:
    a = await make_peer("tcp:127.0.0.1:0")
    closed = await make_peer("tcp:127.0.0.1:0")
    port = closed.port("tcp")
    await closed.layer.close()
    with pytest.raises(TransportError) as info:
        await a.layer.send_request(options(), Target(Transport.TCP, "127.0.0.1", port))
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


@needs_ipv6
async def test_tcp_over_ipv6(make_peer: MakePeer) -> None:
    a = await make_peer("tcp:[::1]:0")
    b = await make_peer("tcp:[::1]:0")
    request = options("sip:bob@[::1]")
    sent = await a.layer.send_request(request, Target(Transport.TCP, "::1", b.port("tcp")))
    assert request.via[0].host == "[::1]" and sent.local.host == "::1"
    message, flow = await b.inbox.request()
    await b.layer.send_response(message.reply(200), flow)
    response, _ = await a.inbox.get()
    assert isinstance(response, Response)


async def test_close_does_not_wait_for_a_peer_that_does_not_read(
        make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(close_timeout=0.05))
    _, writer = await raw_tcp(b.port("tcp"))
    writer.write(REQUEST)
    _, flow = await b.inbox.request()
    # more than the socket buffers hold: the rest waits for a reader that never comes
    sending = asyncio.create_task(b.layer.send_on(flow, b"x" * (8 << 20)))
    await asyncio.sleep(0)
    await asyncio.wait_for(b.layer.close(), TIMEOUT)
    with pytest.raises(TransportError):
        await asyncio.wait_for(sending, TIMEOUT)
    assert not b.layer.connections
