"""Outgoing TLS and WSS: whom the client trusts, the name it checks and sends
as SNI, and the "TLS: " reason of a failed handshake (RFC 3261 §26.2.1,
RFC 5922 §7.3 and §7.8)."""

from __future__ import annotations

import asyncio
import re
import ssl
from pathlib import Path

import pytest

from sipwire.transport import Target, Transport, TransportConfig, TransportError
from sipwire.transport.tls import client_context, failure_reason

from .conftest import Certificate, MakePeer, options
from .pki import Authority, make_ca, server_context


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def localhost(ca: Authority) -> Certificate:
    """For the name localhost and the address 127.0.0.1."""
    return ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"])


def trusting(ca: Authority | None = None, *, verify: bool = True) -> TransportConfig:
    return TransportConfig(tls_client_context=client_context(
        [ca.cert] if ca is not None else [], verify=verify))


async def send_and_receive(make_peer: MakePeer, client: TransportConfig,
                           certificate: Certificate, host: str, transport: str = "tls"
                           ) -> list[str | None]:
    """Send an OPTIONS to ``host`` over TLS (or WSS); the SNI names the far end saw."""
    names: list[str | None] = []
    a = await make_peer(config=client)
    b = await make_peer(f"{transport}:127.0.0.1:0", config=TransportConfig(
        tls_server_context=server_context(certificate, names)))
    sent = options(f"sip:bob@{host}")
    await a.layer.send_request(sent, Target(Transport.parse(transport), host,
                                            b.port(transport)))
    received, flow = await b.inbox.request()
    assert received.call_id == sent.call_id and flow.transport == transport.upper()
    return names


@pytest.mark.parametrize("transport", ["tls", "wss"])
async def test_a_server_of_a_trusted_ca_is_reached_by_name_with_that_sni(
        make_peer: MakePeer, ca: Authority, localhost: Certificate, transport: str) -> None:
    names = await send_and_receive(make_peer, trusting(ca), localhost, "localhost", transport)
    assert names == ["localhost"]


async def test_an_ip_address_target_sends_no_sni_and_is_checked_against_the_ip_entry(
        make_peer: MakePeer, ca: Authority, localhost: Certificate) -> None:
    names = await send_and_receive(make_peer, trusting(ca), localhost, "127.0.0.1")
    assert names == [None]  # RFC 6066 §3: no IP address in server_name


async def test_an_ip_address_not_in_the_certificate_fails(
        make_peer: MakePeer, ca: Authority) -> None:
    by_name_only = ca.issue("name-only", dns=["localhost"])
    with pytest.raises(TransportError) as info:
        await send_and_receive(make_peer, trusting(ca), by_name_only, "127.0.0.1")
    assert info.value.reason.startswith("TLS: certificate verify failed: IP address mismatch")
    assert "'127.0.0.1'" in info.value.reason and info.value.nothing_sent


async def test_a_name_not_in_the_certificate_fails(
        make_peer: MakePeer, ca: Authority) -> None:
    other = ca.issue("other", dns=["sip.example.com"], ips=["127.0.0.1"])
    with pytest.raises(TransportError) as info:
        await send_and_receive(make_peer, trusting(ca), other, "localhost")
    assert info.value.reason.startswith("TLS: certificate verify failed: Hostname mismatch")


async def test_a_ca_not_trusted_fails_with_the_reason(
        make_peer: MakePeer, localhost: Certificate) -> None:
    with pytest.raises(TransportError) as info:
        await send_and_receive(make_peer, trusting(None), localhost, "localhost")
    assert info.value.reason == ("TLS: certificate verify failed: "
                                 "unable to get local issuer certificate")
    assert str(info.value).startswith("TLS: ") and info.value.nothing_sent
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("transport", ["tls", "wss"])
async def test_a_self_signed_peer_fails_unless_verification_is_off(
        make_peer: MakePeer, certificate: Certificate, transport: str) -> None:
    with pytest.raises(TransportError) as info:
        await send_and_receive(make_peer, trusting(None), certificate, "localhost", transport)
    assert re.fullmatch(r"TLS: certificate verify failed: self[- ]signed certificate",
                        info.value.reason)
    names = await send_and_receive(make_peer, trusting(verify=False), certificate,
                                   "localhost", transport)
    assert names == ["localhost"]  # still named: the server may pick its certificate by it


async def test_a_server_answering_in_plain_text_is_a_tls_error(make_peer: MakePeer) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello
        writer.write(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    a = await make_peer(config=trusting(verify=False))
    try:
        with pytest.raises(TransportError) as info:
            await a.layer.send_request(options(), Target(Transport.TLS, "127.0.0.1", port))
    finally:
        server.close()
    assert info.value.reason.startswith("TLS: ")
    assert "[SSL" not in info.value.reason and "_ssl.c" not in info.value.reason
    assert a.layer.connections == ()


# -- the context --------------------------------------------------------------------------


def test_a_directory_stands_for_its_pem_and_crt_files(tmp_path: Path, ca: Authority,
                                                      localhost: Certificate) -> None:
    (tmp_path / "ours.crt").write_bytes(ca.cert.read_bytes())
    (tmp_path / "README").write_text("not a certificate")
    context = client_context([tmp_path])
    subjects = [str(c["subject"]) for c in context.get_ca_certs()]
    assert any("'sipwire test CA'" in subject for subject in subjects), subjects
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_bad_bundles_name_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("no certificate here\n")
    with pytest.raises(ValueError, match=r"junk\.pem: no CA certificate in PEM form"):
        client_context([junk])
    with pytest.raises(ValueError, match=r"missing\.pem: No such file"):
        client_context([tmp_path / "missing.pem"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty: no \.pem or \.crt file"):
        client_context([empty])


def test_verify_off_checks_nothing() -> None:
    context = client_context(verify=False)
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname


def test_failure_reason_is_one_plain_line() -> None:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    assert failure_reason(error) == "wrong version number"
