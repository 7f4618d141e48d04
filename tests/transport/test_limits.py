"""What a stranger can make the transport layer spend: connections per source
and fair admission, time to send one message (slowloris), answers to
unframeable streams (§18.3), log lines, and UDP requests per second.

Other sources are other loopback addresses: all of 127/8 is loopback on
Linux, so a client socket bound to 127.0.0.2 is another source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from sipwire import Limits, Request, Response, parse
from sipwire.transport import TransportConfig
from sipwire.transport.base import source_key
from sipwire.transport.loglimit import LogLimiter

from .conftest import TIMEOUT, Certificate, MakePeer, RawUdp, eventually
from .test_stream import REQUEST, closed_by_peer
from .test_udp import raw_request

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
RawTcp = Callable[..., Awaitable[Streams]]
MakeRaw = Callable[..., Awaitable[RawUdp]]

#: uvloop's clock counts milliseconds: a 0.3 s timer may read 0.2999...
CLOCK_TICK = 0.002


def request(n: int, source: str = "127.0.0.1") -> bytes:
    """REQUEST with its own Call-ID and branch."""
    return REQUEST.replace(b"stream-1", b"stream-%d" % n).replace(
        b"z9hG4bKs1", b"z9hG4bKs1n%d" % n).replace(b"127.0.0.1:9", source.encode() + b":9")


def stream_config(transport: str, certificate: Certificate, **settings: Any
                  ) -> TransportConfig:
    if transport == "tls":
        settings["tls_server_context"] = certificate.server_context()
    return TransportConfig(**settings)


def connect_kwargs(transport: str, certificate: Certificate, source: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"local_addr": (source, 0)}
    if transport == "tls":
        kwargs["ssl"] = certificate.client_context()
    return kwargs


async def read_response(reader: asyncio.StreamReader) -> Response:
    """The next message on ``reader``, which must be a response."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    length = re.search(rb"\r\nContent-Length: *(\d+)", head, re.IGNORECASE)
    assert length is not None, head
    response = parse(head + await reader.readexactly(int(length.group(1))))
    assert isinstance(response, Response)
    return response


async def still_open(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), 0.05)
    except TimeoutError:
        return True
    return False


# -- connections per source, and fair admission -------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_source_over_its_cap_is_refused_while_another_connects(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate,
        transport: str) -> None:
    b = await make_peer(f"{transport}:127.0.0.1:0", config=stream_config(
        transport, certificate, max_connections_per_source=3))
    port = b.port(transport)
    own = connect_kwargs(transport, certificate, "127.0.0.1")
    readers = [(await raw_tcp(port, **own))[0] for _ in range(5)]
    await eventually(lambda: sum(r.at_eof() for r in readers) == 2)
    assert [r.at_eof() for r in readers] == [False, False, False, True, True]
    assert len(b.layer.connections) == 3

    _, writer = await raw_tcp(port, **connect_kwargs(transport, certificate, "127.0.0.2"))
    writer.write(request(1, "127.0.0.2"))
    message, flow = await b.inbox.request()
    assert flow.remote.host == "127.0.0.2" and message.call_id == "stream-1"
    assert len(b.layer.connections) == 4


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_with_every_connection_taken_a_newcomer_from_another_source_gets_in(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate,
        transport: str) -> None:
    b = await make_peer(f"{transport}:127.0.0.1:0", config=stream_config(
        transport, certificate, max_connections=4, max_connections_per_source=0))
    port = b.port(transport)
    hog = [await raw_tcp(port, **connect_kwargs(transport, certificate, "127.0.0.1"))
           for _ in range(4)]
    await eventually(lambda: len(b.layer.connections) == 4)
    hog[0][1].write(request(1))  # the first is in use: the second is the least active
    await b.inbox.request()

    _, writer = await raw_tcp(port, **connect_kwargs(transport, certificate, "127.0.0.2"))
    writer.write(request(2, "127.0.0.2"))
    message, flow = await b.inbox.request()
    assert flow.remote.host == "127.0.0.2" and message.call_id == "stream-2"
    assert await closed_by_peer(hog[1][0])
    assert len(b.layer.connections) == 4
    hog[0][1].write(request(3))  # the one in use was kept
    message, _ = await b.inbox.request()
    assert message.call_id == "stream-3"
    assert all([await still_open(r) for r, _ in (hog[2], hog[3])])


async def test_sources_with_a_fair_share_are_not_evicted(
        make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    """A newcomer closes another's connection only when that leaves the other
    no fewer than its own source holds: two sources never take turns."""
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(max_connections=2))
    port = b.port("tcp")
    first, _ = await raw_tcp(port, local_addr=("127.0.0.1", 0))
    second, _ = await raw_tcp(port, local_addr=("127.0.0.2", 0))
    await eventually(lambda: len(b.layer.connections) == 2)
    third, _ = await raw_tcp(port, local_addr=("127.0.0.3", 0))
    assert await closed_by_peer(third)
    assert await still_open(first) and await still_open(second)
    assert {c.remote.host for c in b.layer.connections} == {"127.0.0.1", "127.0.0.2"}


async def test_a_websocket_source_over_its_cap_gets_503(make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0", config=TransportConfig(max_connections_per_source=1))
    uri = f"ws://127.0.0.1:{b.port('ws')}/"
    sip = [Subprotocol("sip")]
    first = await asyncio.wait_for(connect(uri, proxy=None, subprotocols=sip), TIMEOUT)
    try:
        await eventually(lambda: len(b.layer.connections) == 1)
        with pytest.raises(InvalidStatus) as info:
            await asyncio.wait_for(connect(uri, proxy=None, subprotocols=sip), TIMEOUT)
        assert info.value.response.status_code == 503
        other = await asyncio.wait_for(connect(
            uri, proxy=None, subprotocols=sip, local_addr=("127.0.0.2", 0)), TIMEOUT)
        await other.close()
    finally:
        await first.close()


# -- a deadline for a whole message (slowloris) ---------------------------------------------


@contextlib.asynccontextmanager
async def trickling(writer: asyncio.StreamWriter, data: bytes, every: float
                    ) -> AsyncIterator[None]:
    """Write ``data`` a byte at a time, ``every`` seconds apart, meanwhile."""
    async def trickle() -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    task = asyncio.get_running_loop().create_task(trickle())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, ssl.SSLError):
            await task


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_trickling_connection_is_closed_after_message_timeout(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate,
        transport: str) -> None:
    b = await make_peer(f"{transport}:127.0.0.1:0", config=stream_config(
        transport, certificate, message_timeout=0.3, idle_timeout=60))
    reader, writer = await raw_tcp(b.port(transport),
                                   **connect_kwargs(transport, certificate, "127.0.0.1"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with trickling(writer, REQUEST, 0.05):  # 12 s for the whole request
        assert await closed_by_peer(reader)
    assert 0.3 - CLOCK_TICK <= loop.time() - start < TIMEOUT
    await eventually(lambda: b.layer.connections == ())
    await b.inbox.nothing(0.01)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_idle_time_counts_from_the_last_whole_message_not_any_byte(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate,
        transport: str) -> None:
    b = await make_peer(f"{transport}:127.0.0.1:0", config=stream_config(
        transport, certificate, message_timeout=0, idle_timeout=0.3))
    reader, writer = await raw_tcp(b.port(transport),
                                   **connect_kwargs(transport, certificate, "127.0.0.1"))
    # timed from before the last whole message is sent: the peer's idle time
    # starts when it has it, which on a loaded host can be milliseconds before
    # this task sees it delivered
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(request(1))
    await b.inbox.request()
    async with trickling(writer, request(2), 0.05):
        assert await closed_by_peer(reader)
    assert 0.3 - CLOCK_TICK <= loop.time() - start < TIMEOUT
    await b.inbox.nothing(0.01)


async def test_the_deadline_is_per_message(make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    """Messages that each arrive within the deadline keep the connection,
    however long it lives; keep-alives too keep it from being idle."""
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(
        message_timeout=0.3, idle_timeout=0.4))
    reader, writer = await raw_tcp(b.port("tcp"))
    for n in range(3):
        data = request(n)
        writer.write(data[:40])
        await asyncio.sleep(0.2)
        writer.write(data[40:])
        message, _ = await b.inbox.request()
        assert message.call_id == f"stream-{n}"
        writer.write(b"\r\n\r\n")  # RFC 5626 §3.5.1 ping
        assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"
        await asyncio.sleep(0.25)
    assert len(b.layer.connections) == 1


async def test_a_websocket_message_in_fragments_too_slow_is_closed(
        make_peer: MakePeer) -> None:
    b = await make_peer("ws:127.0.0.1:0", config=TransportConfig(
        message_timeout=0.3, idle_timeout=60))
    ws = await asyncio.wait_for(connect(f"ws://127.0.0.1:{b.port('ws')}/", proxy=None,
                                        subprotocols=[Subprotocol("sip")]), TIMEOUT)
    text = REQUEST.decode()

    async def fragments() -> AsyncIterator[str]:
        for start in range(0, len(text), 4):  # a frame each 0.05 s: 3 s in all
            yield text[start:start + 4]
            await asyncio.sleep(0.05)

    loop = asyncio.get_running_loop()
    start = loop.time()
    await eventually(lambda: len(b.layer.connections) == 1)
    sending = loop.create_task(ws.send(fragments()))
    try:
        await eventually(lambda: b.layer.connections == ())
        assert 0.3 - CLOCK_TICK <= loop.time() - start < TIMEOUT
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await sending
        ws.transport.abort()
    await b.inbox.nothing(0.01)


# -- unframeable streams are answered before they close (§18.3) ----------------------------


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_bad_content_length_gets_400_then_the_connection_closes(
        make_peer: MakePeer, raw_tcp: RawTcp, certificate: Certificate,
        transport: str) -> None:
    b = await make_peer(f"{transport}:127.0.0.1:0", config=stream_config(transport, certificate))
    reader, writer = await raw_tcp(b.port(transport),
                                   **connect_kwargs(transport, certificate, "127.0.0.1"))
    writer.write(REQUEST.replace(b"Content-Length: 0", b"Content-Length: zero") + REQUEST)
    response = await read_response(reader)
    assert response.status == 400
    assert "Content-Length" in response.reason
    assert response.call_id == "stream-1" and response.via[0].branch == "z9hG4bKs1"
    assert response.via[0].received == "127.0.0.1"
    assert await closed_by_peer(reader)  # the stream cannot be re-synchronised
    await eventually(lambda: b.layer.connections == ())
    await b.inbox.nothing(0.01)


async def test_messages_framed_before_the_broken_one_are_delivered_first(
        make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    # a good request and an unframeable one in the same read: the good one is
    # delivered, then the broken one answered 400 and the stream closed
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    broken = REQUEST.replace(b"stream-1", b"stream-2").replace(b"Content-Length: 0",
                                                                b"Content-Length: zero")
    writer.write(REQUEST + broken)
    response = await read_response(reader)
    assert response.status == 400 and response.call_id == "stream-2"
    assert await closed_by_peer(reader)
    delivered, _ = await b.inbox.request()
    assert delivered.call_id == "stream-1"


@pytest.mark.parametrize("oversize", ["body", "header"])
async def test_an_oversize_message_gets_513_then_the_connection_closes(
        make_peer: MakePeer, raw_tcp: RawTcp, oversize: str) -> None:
    b = await make_peer("tcp:127.0.0.1:0", config=TransportConfig(
        limits=Limits(max_message_size=1024)))
    reader, writer = await raw_tcp(b.port("tcp"))
    if oversize == "body":  # announced by Content-Length, not sent
        writer.write(REQUEST.replace(b"Content-Length: 0", b"Content-Length: 5000"))
    else:  # a header section that does not end within the limit
        writer.write(REQUEST[:-4] + b"\r\nSubject: " + b"a" * 1200)
    response = await read_response(reader)
    assert response.status == 513
    assert response.call_id == "stream-1"
    assert await closed_by_peer(reader)
    await b.inbox.nothing(0.01)


async def test_an_unframeable_message_without_a_via_is_closed_unanswered(
        make_peer: MakePeer, raw_tcp: RawTcp) -> None:
    """No Via to copy (§8.2.6.2): no response its client could match."""
    b = await make_peer("tcp:127.0.0.1:0")
    reader, writer = await raw_tcp(b.port("tcp"))
    bad = re.sub(rb"Via: [^\r]*\r\n", b"", REQUEST).replace(b"Content-Length: 0",
                                                          b"Content-Length: -1")
    writer.write(bad)
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""


# -- log lines from untrusted input ---------------------------------------------------------


async def test_a_flood_of_junk_datagrams_writes_a_bounded_log(
        make_peer: MakePeer, raw_udp: MakeRaw, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.transport")
    b = await make_peer("udp:127.0.0.1:0", config=TransportConfig(log_limit=5,
                                                                  log_interval=0.3))
    client = await raw_udp()
    for _ in range(10):
        for _ in range(30):
            client.send(b"\xff junk \xff" * 20, b.port("udp"))
        await asyncio.sleep(0.01)  # let the layer read: the socket's buffer is bounded
    async with asyncio.timeout(TIMEOUT):  # until read after the junk (UDP may lose it)
        while b.inbox.queue.empty():
            client.send(raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKj1"), b.port("udp"))
            await asyncio.sleep(0.02)

    def unparsable() -> list[str]:
        return [r.getMessage() for r in caplog.records if "unparsable" in r.getMessage()]

    assert len(unparsable()) == 5
    await asyncio.sleep(0.3)
    client.send(b"\xff junk", b.port("udp"))
    await eventually(lambda: len(unparsable()) == 6)
    held = re.search(r"\((\d+) more like this suppressed\)", unparsable()[-1])
    assert held is not None and 1 <= int(held.group(1)) <= 295


def test_the_log_limiter_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("sipwire.test"), 2, 10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="sipwire.test")
    written = [limiter.log(logging.INFO, "a", "line %d", n) for n in range(5)]
    assert written == [True, True, False, False, False]
    assert limiter.log(logging.INFO, "b", "other kind")  # kinds are counted apart
    assert limiter.suppressed("a") == 3
    now[0] = 10.0
    assert limiter.log(logging.INFO, "a", "line %d", 5)
    assert [r.getMessage() for r in caplog.records] == [
        "line 0", "line 1", "other kind", "line 5 (3 more like this suppressed)"]


def test_an_ipv6_source_is_its_slash_64() -> None:
    assert source_key("192.0.2.1") == "192.0.2.1"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("[2001:db8:1:2:bbbb::2]") \
        == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"


# -- requests per source and second (pike) ---------------------------------------------------


async def test_a_source_over_the_request_rate_is_dropped_while_another_is_served(
        make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0", config=TransportConfig(max_requests_per_source=20))
    port = b.port("udp")
    flood, other = await raw_udp("127.0.0.1"), await raw_udp("127.0.0.2")

    def options(n: int, host: str) -> bytes:
        return raw_request(f"SIP/2.0/UDP {host}:9;branch=z9hG4bKr{n}")

    for n in range(100):
        flood.send(options(n, "127.0.0.1"), port)
        if n % 20 == 0:
            other.send(options(n, "127.0.0.2"), port)
    # responses are not requests: they are not counted
    for _ in range(10):
        flood.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", port)
    other.send(options(999, "127.0.0.2"), port)
    sources: list[str] = []
    while len(sources) < 26:
        message, flow = await b.inbox.get()
        assert isinstance(message, Request)
        sources.append(flow.remote.host)
    await b.inbox.nothing(0.1)
    assert sources.count("127.0.0.1") == 20 and sources.count("127.0.0.2") == 6
    assert b.layer.over_rate == 80
    # the next second, the source is served again: dropped, not banned
    await asyncio.sleep(1.0)
    flood.send(options(1000, "127.0.0.1"), port)
    _, flow = await b.inbox.get()
    assert flow.remote.host == "127.0.0.1" and b.layer.over_rate == 80
