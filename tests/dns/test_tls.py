"""A SIPS URI resolved by RFC 3263 goes over TLS to the address found, and the
certificate is checked against the URI's domain, not the SRV target's name or
the address (RFC 5922 §4): the server's certificate names ``secure.test`` only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipwire import Request
from sipwire.dns import DnsResolver
from sipwire.transport import TransportConfig
from sipwire.transport.tls import client_context
from sipwire.ua import Endpoint, EndpointConfig
from tests.transport.pki import make_ca, server_context

from .zone_server import ZoneServer
from .zones import zone

TIMEOUT = 10.0


@pytest.mark.parametrize("domain, status", [("secure.test", 200), ("other.test", 503)])
async def test_tls_checks_the_domain_of_the_uri(dns_server: ZoneServer, tmp_path: Path,
                                                 domain: str, status: int) -> None:
    ca = make_ca(tmp_path)
    certificate = ca.issue("secure", dns=["secure.test"])
    names: list[str | None] = []
    server_config = EndpointConfig(transport=TransportConfig(
        tls_server_context=server_context(certificate, names)))
    client_config = EndpointConfig(transport=TransportConfig(
        tls_client_context=client_context([ca.cert])))
    resolver = DnsResolver([("127.0.0.1", dns_server.port)], timeout=2.0)
    async with Endpoint(["tls:127.0.0.1:0"], config=server_config) as server, \
            Endpoint(config=client_config, resolver=resolver) as client:
        tls_port = server.listening_points[0].port
        # other.test leads to the same server, whose certificate is not for it
        dns_server.replace(zone(tls_port=tls_port) + 'other.test. IN NAPTR 10 50 "s" '
                           '"SIPS+D2T" "" _sips._tcp.secure.test.\n')
        request = Request.build("OPTIONS", f"sips:probe@{domain}", from_="sips:alice@a.test")
        response = await asyncio.wait_for(client.request(request), TIMEOUT)
    assert response.status == status
    assert names == [domain]  # SNI names the domain, whatever the SRV target is
