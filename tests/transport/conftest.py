"""Fixtures for the transport tests: event loops, certificates, layers, inboxes.

Every async test here runs twice, on asyncio's own loop and on uvloop (when
installed), through pytest-asyncio's loop-factory hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.util
import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from sipwire import Message, Request, Response
from sipwire.transport import Flow, TransportConfig, TransportLayer

TIMEOUT = 2.0


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    factories: dict[str, Callable[[], Any]] = {"asyncio": asyncio.new_event_loop}
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    return factories


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _has_ipv6()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no ::1 on this host")


# -- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.cert)
        return ctx


def _make_with_cryptography(directory: Path) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return paths


def _make_with_openssl(directory: Path) -> Certificate:
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(paths.key), "-out", str(paths.cert), "-days", "1",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"],
        check=True, capture_output=True, timeout=30,
    )
    return paths


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1, made now."""
    directory = tmp_path_factory.mktemp("tls")
    if importlib.util.find_spec("cryptography") is not None:
        return _make_with_cryptography(directory)
    if shutil.which("openssl") is not None:
        return _make_with_openssl(directory)
    pytest.skip("neither the cryptography package nor the openssl command is available")


@pytest.fixture
def tls_config(certificate: Certificate) -> TransportConfig:
    return TransportConfig(tls_server_context=certificate.server_context(),
                           tls_client_context=certificate.client_context())


# -- layers and what they receive ------------------------------------------------------------


class Inbox:
    """Collects what a layer delivers; ``get()`` waits for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Message, Flow]] = asyncio.Queue()

    def __call__(self, message: Message, flow: Flow) -> None:
        self.queue.put_nowait((message, flow))

    async def get(self, timeout: float = TIMEOUT) -> tuple[Message, Flow]:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def request(self, timeout: float = TIMEOUT) -> tuple[Request, Flow]:
        message, flow = await self.get(timeout)
        assert isinstance(message, Request), message
        return message, flow

    async def response(self, timeout: float = TIMEOUT) -> tuple[Response, Flow]:
        message, flow = await self.get(timeout)
        assert isinstance(message, Response), message
        return message, flow

    async def nothing(self, wait: float = 0.1) -> None:
        """Assert that nothing arrives within ``wait`` seconds."""
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.queue.get(), wait)


@dataclass
class Peer:
    layer: TransportLayer
    inbox: Inbox

    def port(self, transport: str) -> int:
        return next(p.port for p in self.layer.listening_points
                    if p.transport == transport.upper())


MakePeer = Callable[..., Awaitable[Peer]]


@pytest_asyncio.fixture
async def make_peer() -> AsyncIterator[MakePeer]:
    """``await make_peer("udp:127.0.0.1:0", ..., config=...)``: a layer listening
    on those points, with an inbox; closed when the test ends."""
    layers: list[TransportLayer] = []

    async def make(*specs: str, config: TransportConfig | None = None) -> Peer:
        inbox = Inbox()
        layer = TransportLayer(config, on_message=inbox)
        layers.append(layer)
        for spec in specs:
            await layer.listen(spec)
        return Peer(layer, inbox)

    yield make
    for layer in layers:
        await layer.close()


async def listen_udp_and_tcp(peer: Peer, host: str = "127.0.0.1") -> int:
    """UDP and TCP on one port, as §18.2.1 asks of a server (retried if taken)."""
    for _ in range(20):
        point = await peer.layer.listen(f"udp:{host}:0")
        try:
            await peer.layer.listen(f"tcp:{host}:{point.port}")
        except OSError:
            continue
        return point.port
    raise RuntimeError("no port free for both UDP and TCP")


def options(uri: str = "sip:bob@127.0.0.1", **kwargs: Any) -> Request:
    return Request.build("OPTIONS", uri, from_="sip:alice@example.com", **kwargs)


# -- raw sockets for playing a misbehaving peer ------------------------------------------


class RawUdp(asyncio.DatagramProtocol):
    """A bare UDP socket: what arrives goes in a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport does not subclass asyncio.DatagramTransport
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def send(self, data: bytes, port: int, host: str = "127.0.0.1") -> None:
        assert self.transport is not None
        self.transport.sendto(data, (host, port))

    async def get(self, timeout: float = TIMEOUT) -> bytes:
        data, _ = await asyncio.wait_for(self.queue.get(), timeout)
        return data


@pytest_asyncio.fixture
async def raw_udp() -> AsyncIterator[Callable[[], Awaitable[RawUdp]]]:
    sockets: list[RawUdp] = []

    async def make(host: str = "127.0.0.1") -> RawUdp:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(RawUdp, local_addr=(host, 0))
        sockets.append(proto)
        return proto

    yield make
    for proto in sockets:
        if proto.transport is not None:
            proto.transport.close()


@pytest_asyncio.fixture
async def raw_tcp() -> AsyncIterator[
        Callable[..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]]:
    writers: list[asyncio.StreamWriter] = []

    async def connect(port: int, host: str = "127.0.0.1", **kwargs: Any
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, **kwargs), TIMEOUT)
        writers.append(writer)
        return reader, writer

    yield connect
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until ``predicate()`` holds, polling the loop (not sleeping long)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)
