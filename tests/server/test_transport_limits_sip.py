"""What one source can spend at ``sipwire serve``'s transport, on the wire:
the defaults (a ``Server`` as started by default) and the flags (the command).

Other sources are other loopback addresses (all of 127/8 is loopback on Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipwire.server import Server, ServerConfig

from .conftest import OpenPhone, Serve
from .phone import Phone, Received
from .processes import Serving, free_port, start_serve

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def other_phones() -> AsyncIterator[list[Phone]]:
    opened: list[Phone] = []
    yield opened
    for phone in opened:
        phone.close()


@pytest.fixture
async def streams() -> AsyncIterator[list[Streams]]:
    opened: list[Streams] = []
    yield opened
    for _, writer in opened:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2)


async def connect(opened: list[Streams], address: tuple[str, int], source: str) -> Streams:
    pair = await asyncio.wait_for(asyncio.open_connection(
        *address, local_addr=(source, 0)), 2)
    opened.append(pair)
    return pair


async def refused(reader: asyncio.StreamReader) -> bool:
    """Closed by the server (at once: a refused connection) rather than open."""
    try:
        return await asyncio.wait_for(reader.read(1), 2) == b""
    except ConnectionResetError:
        return True


async def answers(phone: Phone, period: float = 0.5) -> list[Received]:
    return [got for got in await phone.silence(period)
            if getattr(got.message, "status", 0) >= 200]


async def flood(phone: Phone, count: int) -> None:
    for n in range(count):
        phone.send(phone.build("OPTIONS", "sip:example.com"))
        if n % 50 == 49:
            await asyncio.sleep(0.005)  # within the second, without overrunning buffers


def test_the_defaults_bound_every_source() -> None:
    config = ServerConfig()
    assert (config.max_connections_per_source, config.message_timeout,
            config.max_requests_per_source) == (64, 10.0, 200)
    transport = Server(config)._transport_config()
    assert transport.max_connections_per_source == 64
    assert transport.message_timeout == 10.0 and transport.max_requests_per_source == 200


async def test_by_default_a_flood_from_one_source_is_cut_at_200_a_second(
        serve: Serve, phone: OpenPhone, other_phones: list[Phone]) -> None:
    server = await serve()
    flooder = await phone("flood", server)
    other = await Phone.open("other", server.address("udp"), host="127.0.0.2")
    other_phones.append(other)
    await flood(flooder, 230)
    other.send(other.build("OPTIONS", "sip:example.com"))
    assert len(await answers(other)) == 1
    assert len(await answers(flooder)) == 200
    assert server.engine.transport.over_rate == 30


async def test_by_default_one_source_opens_at_most_64_connections(
        serve: Serve, streams: list[Streams]) -> None:
    server = await serve()
    address = server.address("tcp")
    for _ in range(64):
        await connect(streams, address, "127.0.0.1")
    reader, _ = await connect(streams, address, "127.0.0.1")
    assert await refused(reader)
    other, writer = await connect(streams, address, "127.0.0.2")
    writer.write(b"\r\n\r\n")  # a keep-alive ping, answered (RFC 5626 §3.5.1)
    assert await asyncio.wait_for(other.readexactly(2), 2) == b"\r\n"


# -- the flags of `sipwire serve` ----------------------------------------------------------


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[Serving, int]]:
    port = free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--listen", f"tcp:127.0.0.1:{port}",
        "--domain", "example.com", "--store", "memory:", "--auth", "off",
        "--max-connections-per-source", "2", "--message-timeout", "0.5",
        "--max-requests-per-source", "5", cwd=tmp_path)
    try:
        yield serving, port
    finally:
        await serving.kill()


async def test_serve_drops_requests_over_max_requests_per_source(
        limited: tuple[Serving, int], other_phones: list[Phone]) -> None:
    serving, port = limited
    flooder = await Phone.open("flood", ("127.0.0.1", port))
    other = await Phone.open("other", ("127.0.0.1", port), host="127.0.0.2")
    other_phones.extend((flooder, other))
    await flood(flooder, 20)
    other.send(other.build("OPTIONS", "sip:example.com"))
    assert len(await answers(other)) == 1
    assert len(await answers(flooder)) == 5
    await serving.wait_for("sent over 5 requests in a second", timeout=2)


async def test_serve_refuses_connections_over_max_connections_per_source(
        limited: tuple[Serving, int], streams: list[Streams]) -> None:
    serving, port = limited
    address = ("127.0.0.1", port)
    await connect(streams, address, "127.0.0.1")
    await connect(streams, address, "127.0.0.1")
    third, _ = await connect(streams, address, "127.0.0.1")
    assert await refused(third)
    other, writer = await connect(streams, address, "127.0.0.2")
    writer.write(b"\r\n\r\n")
    assert await asyncio.wait_for(other.readexactly(2), 2) == b"\r\n"
    await serving.wait_for("has 2 connections open, its limit", timeout=2)


async def test_serve_closes_a_trickling_connection_after_message_timeout(
        limited: tuple[Serving, int], streams: list[Streams]) -> None:
    serving, port = limited
    reader, writer = await connect(streams, ("127.0.0.1", port), "127.0.0.1")
    loop = asyncio.get_running_loop()
    start = loop.time()
    with contextlib.suppress(OSError):
        for byte in b"OPTIONS sip:example.com SIP/2.0\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
            if reader.at_eof():
                break
            await asyncio.sleep(0.1)
    assert await refused(reader)
    assert 0.5 <= loop.time() - start < 3
    await serving.wait_for("no whole message within 0.5 s", timeout=2)
