"""``sipwire serve`` forwarding to a TLS target (RFC 3261 §26.2.1, RFC 5922
§7.3): the CAs of ``tls_ca`` are trusted, ``tls_verify = "none"`` trusts
anything, and a branch whose handshake fails is a 503 whose 399 Warning says
why (§16.9, §20.43), which reaches the caller on the 500 of §16.7 step 6.

The far end is a sipwire endpoint listening on TLS with a certificate of a CA
made here; bob's binding (a third-party REGISTER over UDP) points at it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from sipwire import Request, Response
from sipwire.message.fields.text import WarningValue
from sipwire.server import Server
from sipwire.transport import TransportConfig
from sipwire.ua import Endpoint, EndpointConfig, ServerTransactionHandle

from ..transport.conftest import Certificate
from ..transport.pki import Authority, make_ca, server_context
from .conftest import OpenPhone, Serve
from .phone import status


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def localhost(ca: Authority) -> Certificate:
    return ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"])


@dataclass
class FarEnd:
    """A UAS on TLS 127.0.0.1: what reached it, and the SNI name of each handshake."""

    endpoint: Endpoint
    received: list[Request] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.endpoint.listening_points[0].port


@pytest_asyncio.fixture
async def far_end(localhost: Certificate) -> AsyncIterator[FarEnd]:
    names: list[str | None] = []
    config = EndpointConfig(transport=TransportConfig(
        tls_server_context=server_context(localhost, names)))
    async with Endpoint(["tls:127.0.0.1:0"], config=config) as endpoint:
        far = FarEnd(endpoint, names=names)

        @endpoint.handles("MESSAGE")
        async def take(request: Request, tx: ServerTransactionHandle) -> Response:
            far.received.append(request)
            return tx.reply(200)

        yield far


async def message_to_bob(server: Server, phone: OpenPhone, far: FarEnd, host: str
                         ) -> Response:
    """Bind bob to the far end at ``host``, then send him a MESSAGE from alice."""
    alice = await phone("alice", server)
    bob = f"sip:bob@{host}:{far.port};transport=tls"
    assert status(await alice.request(
        alice.build("REGISTER", "sip:example.com", to="<sip:bob@example.com>",
                    contact=f"<{bob}>", headers=[("Expires", "60")]))) == 200
    got = await alice.request(alice.build("MESSAGE", "sip:bob@example.com",
                                          body=b"over TLS", headers=[]))
    assert isinstance(got.message, Response)
    return got.message


def warnings(response: Response) -> list[WarningValue]:
    values = response.headers.typed("Warning")
    return [v for v in values if isinstance(v, WarningValue)]


async def test_a_target_certified_by_tls_ca_is_reached_with_its_name_as_sni(
        serve: Serve, phone: OpenPhone, far_end: FarEnd, ca: Authority) -> None:
    server = await serve(tls_ca=(str(ca.cert),))
    response = await message_to_bob(server, phone, far_end, "localhost")
    assert response.status == 200
    [arrived] = far_end.received
    assert arrived.method == "MESSAGE" and arrived.body == b"over TLS"
    assert str(arrived.uri) == f"sip:bob@localhost:{far_end.port};transport=tls"
    assert arrived.via[0].transport == "TLS"
    assert far_end.names == ["localhost"]  # RFC 5922 §7.8


async def test_an_ip_address_target_is_checked_against_the_certificate_without_sni(
        serve: Serve, phone: OpenPhone, far_end: FarEnd, ca: Authority) -> None:
    server = await serve(tls_ca=(str(ca.cert),))
    response = await message_to_bob(server, phone, far_end, "127.0.0.1")
    assert response.status == 200
    assert [r.body for r in far_end.received] == [b"over TLS"]
    assert far_end.names == [None]


async def test_an_untrusted_target_fails_with_the_reason_in_a_warning(
        serve: Serve, phone: OpenPhone, far_end: FarEnd) -> None:
    server = await serve()  # the system's CAs only
    response = await message_to_bob(server, phone, far_end, "localhost")
    assert response.status == 500  # the branch's lone 503, as §16.7 step 6 asks
    [warning] = warnings(response)
    assert warning.code == 399
    assert warning.agent == server.engine.proxy_config.agent
    assert warning.text == ("TLS: certificate verify failed: "
                            "unable to get local issuer certificate")
    assert far_end.received == []


async def test_a_name_the_certificate_does_not_hold_fails(
        serve: Serve, phone: OpenPhone, ca: Authority) -> None:
    other = ca.issue("other", dns=["sip.example.com"])
    config = EndpointConfig(transport=TransportConfig(tls_server_context=server_context(other)))
    async with Endpoint(["tls:127.0.0.1:0"], config=config) as endpoint:
        server = await serve(tls_ca=(str(ca.cert),))
        response = await message_to_bob(server, phone, FarEnd(endpoint), "localhost")
    [warning] = warnings(response)
    assert re.fullmatch(r"TLS: certificate verify failed: Hostname mismatch, certificate "
                        r"is not valid for 'localhost'\.", warning.text)


async def test_verify_none_reaches_an_untrusted_target(
        serve: Serve, phone: OpenPhone, far_end: FarEnd,
        caplog: pytest.LogCaptureFixture) -> None:
    server = await serve(tls_verify="none")
    assert "tls_verify is none" in caplog.text
    response = await message_to_bob(server, phone, far_end, "localhost")
    assert response.status == 200
    assert [r.body for r in far_end.received] == [b"over TLS"]


async def test_a_refused_connection_keeps_its_reason_too(
        serve: Serve, phone: OpenPhone, ca: Authority) -> None:
    server = await serve(tls_ca=(str(ca.cert),))
    alice = await phone("alice", server)
    with socket.socket() as probe:  # a port nothing listens on, once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert status(await alice.request(
        alice.build("REGISTER", "sip:example.com", to="<sip:bob@example.com>",
                    contact=f"<sip:bob@127.0.0.1:{port};transport=tls>",
                    headers=[("Expires", "60")]))) == 200
    got = await alice.request(alice.build("MESSAGE", "sip:bob@example.com", body=b"x"))
    assert isinstance(got.message, Response) and got.message.status == 500
    [warning] = warnings(got.message)
    assert warning.text.startswith("TLS connection failed: ")
