"""``sipwire serve`` over TLS (RFC 3261 §26) and WebSocket (RFC 7118): phones
register over a connection and are reached back over it (§18.2.2, RFC 7118 §5.3)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

import sipwire
from sipwire import Request

from ..transport.conftest import Certificate, certificate  # noqa: F401
from .conftest import OpenPhone, Serve
from .phone import Phone, request_of, status


async def test_phone_over_tls_registers_and_is_reached(
        serve: Serve, phone: OpenPhone, certificate: Certificate) -> None:  # noqa: F811
    server = await serve(listen=("udp:127.0.0.1:0", "tls:127.0.0.1:0"),
                         tls_cert=str(certificate.cert), tls_key=str(certificate.key))
    alice = await Phone.open("alice", server.address("tls"), transport="tls",
                             tls=certificate.client_context())
    try:
        assert status(await alice.request(alice.register())) == 200
        [binding] = await server.store.lookup(alice.aor, server.clock())
        assert binding.source is not None and binding.source.transport == "TLS"

        bob = await phone("bob", server)
        bob.send(bob.build("MESSAGE", alice.aor))
        got = await alice.expect("MESSAGE")  # over alice's own connection
        assert request_of(got).via[0].transport == "TLS"
        alice.answer(got, 200)
        assert status(await bob.expect(200)) == 200
    finally:
        alice.close()


async def test_tls_needs_a_certificate(serve: Serve) -> None:
    with pytest.raises(ValueError, match="tls-cert"):
        await serve(listen=("tls:127.0.0.1:0",))


async def test_websocket_client_registers_and_is_reached(serve: Serve,
                                                         phone: OpenPhone) -> None:
    server = await serve(listen=("udp:127.0.0.1:0", "ws:127.0.0.1:0"))
    host, port = server.address("ws")
    async with connect(f"ws://{host}:{port}/", subprotocols=[Subprotocol("sip")],
                       open_timeout=5) as ws:
        # RFC 7118 §5.2: the client's Via and Contact name an invalid host
        register = Request.build(
            "REGISTER", "sip:example.com", from_="<sip:alice@example.com>",
            to="<sip:alice@example.com>", transport="WS", sent_by=("df7jal23ls0d.invalid", None),
            contact="<sip:alice@df7jal23ls0d.invalid;transport=ws>",
            headers=[("Expires", "60")])
        await ws.send(bytes(register).decode())
        reply = sipwire.parse((await asyncio.wait_for(ws.recv(), 3)).encode())
        assert getattr(reply, "status", None) == 200

        bob = await phone("bob", server)
        bob.send(bob.build("MESSAGE", "sip:alice@example.com"))
        message = sipwire.parse((await asyncio.wait_for(ws.recv(), 3)).encode())
        assert isinstance(message, Request) and message.method == "MESSAGE"
        assert message.via[0].transport == "WS"
        await ws.send(bytes(message.reply(200, to_tag="ws")).decode())
        assert status(await bob.expect(200)) == 200
