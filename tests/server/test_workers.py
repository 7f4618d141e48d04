"""``sipwire.server.workers`` without processes: how many workers, what each
one's configuration is, and the Relay between two workers in one event loop."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from sipwire.message.parser import DEFAULT_LIMITS
from sipwire.server.config import ConfigError, ServerConfig, add_arguments, load_config
from sipwire.server.workers import Relay, RemoteConnection, WorkerContext, worker_count
from sipwire.transaction.layer import TransactionLayer
from sipwire.transport.base import Address, Transport
from sipwire.transport.layer import TransportLayer
from sipwire.transport.stream import open_stream


def test_memory_store_is_one_worker_and_refuses_more() -> None:
    assert worker_count(ServerConfig(store="memory:")) == 1
    with pytest.raises(ConfigError, match="--workers 2 needs a shared store"):
        ServerConfig(store="memory:", workers=2).check()


def test_worker_count_explicit_environment_and_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = "sqlite:///loc.db"
    monkeypatch.setenv("SIPWIRE_WORKERS", "3")
    assert worker_count(ServerConfig(store=shared, workers=2)) == 2
    assert worker_count(ServerConfig(store=shared)) == 3
    monkeypatch.delenv("SIPWIRE_WORKERS")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert worker_count(ServerConfig(store=shared)) == 4
    assert worker_count(ServerConfig(store="redis://127.0.0.1:6379/0")) == 4


def test_workers_flag_and_toml_key(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert load_config(parser.parse_args(["--workers", "3"])).workers == 3
    file = tmp_path / "serve.toml"
    file.write_text('workers = 2\nstore = "sqlite:///x.db"\n')
    assert load_config(parser.parse_args(["--config", str(file)])).workers == 2
    with pytest.raises(ConfigError, match="needs a shared store"):
        load_config(parser.parse_args(["--workers", "2", "--store", "memory:"]))


def test_context_round_trips_the_environment(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    context = WorkerContext(1, 2, 4321, tmp_path, ("udp:127.0.0.1:5070", "tcp:[::1]:5071"))
    for name, value in context.environment().items():
        monkeypatch.setenv(name, value)
    assert WorkerContext.from_environment() == context
    monkeypatch.delenv("SIPWIRE_WORKER")
    assert WorkerContext.from_environment() is None


def test_only_worker_zero_serves_http_and_the_control_socket(tmp_path: Path) -> None:
    config = ServerConfig(store="sqlite:///x.db", workers=2, http="127.0.0.1:9090",
                          control=str(tmp_path / "c.sock"), listen=("udp:127.0.0.1:0",))
    listen = ("udp:127.0.0.1:5070",)
    first = WorkerContext(0, 2, 1, tmp_path, listen).configure(config)
    other = WorkerContext(1, 2, 1, tmp_path, listen).configure(config)
    assert first.http == "127.0.0.1:9090" and first.control == str(tmp_path / "c.sock")
    assert other.http == "" and other.control == ""
    assert first.listen == other.listen == listen
    assert first.workers == other.workers == 1  # each is one process


async def test_relay_pools_the_connections_of_the_other_worker(tmp_path: Path) -> None:
    """Worker 1 learns of worker 0's connection, sends on it through worker 0,
    and forgets it when worker 0 restarts (hello) or closes it."""
    layers = [TransportLayer(), TransportLayer()]
    relays = [Relay(WorkerContext(i, 2, 1, tmp_path, ()), layers[i], TransactionLayer())
              for i in (0, 1)]
    for relay in relays:
        relay.open()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.put_nowait(await reader.read(100))
        writer.close()

    phone = await asyncio.start_server(accepted, "127.0.0.1", 0)
    try:
        port = phone.sockets[0].getsockname()[1]
        # worker 0 opens a connection (as it would accept one) ...
        conn = await open_stream(Transport.TCP, Address("127.0.0.1", port), layers[0],
                                 ssl_context=None, server_hostname=None, local_host=None,
                                 limits=DEFAULT_LIMITS, idle_timeout=30, write_timeout=5,
                                 write_buffer_limit=65536)
        async with asyncio.timeout(5):
            while not layers[1].has_connection("TCP", "127.0.0.1", port):
                await asyncio.sleep(0.01)
        # ... which worker 1 now reaches as a flow of its own
        stand_in = layers[1]._pool[(Transport.TCP, Address("127.0.0.1", port))]
        assert isinstance(stand_in, RemoteConnection) and stand_in.worker == 0
        await stand_in.send(b"OPTIONS sip:x SIP/2.0\r\n")
        assert await asyncio.wait_for(received.get(), 5) == b"OPTIONS sip:x SIP/2.0\r\n"
        # worker 0 closes it: worker 1 forgets it
        conn.close()
        async with asyncio.timeout(5):
            while layers[1].has_connection("TCP", "127.0.0.1", port):
                await asyncio.sleep(0.01)
        assert not stand_in.is_open
        # a worker that stops takes its connections with it
        await open_stream(Transport.TCP, Address("127.0.0.1", port), layers[0],
                          ssl_context=None, server_hostname=None, local_host=None,
                          limits=DEFAULT_LIMITS, idle_timeout=30, write_timeout=5,
                          write_buffer_limit=65536)
        async with asyncio.timeout(5):
            while not layers[1].has_connection("TCP", "127.0.0.1", port):
                await asyncio.sleep(0.01)
        relays[0].close()
        async with asyncio.timeout(5):
            while layers[1].has_connection("TCP", "127.0.0.1", port):
                await asyncio.sleep(0.01)
    finally:
        for relay in relays:
            relay.close()
        for layer in layers:
            await layer.close()
        phone.close()
