"""A real call through ``sipwire serve``'s ``Server`` with every transport,
for the tests of what the capture wrote (pcap, HEP) and of ``sipwire ladder``.

alice (UDP) calls bob (TCP): INVITE (sent twice: a retransmission), 100,
180, 200, ACK, BYE, 200.  carol (TLS) sends alice a MESSAGE; alice sends one
to dave, a WebSocket client.  Everyone registers first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

import sipwire
from sipwire import Request, Response
from sipwire.server.app import Server

from ..server.conftest import make_config
from ..server.phone import Phone, Received, status
from ..transport.conftest import Certificate

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


@dataclass
class CallRun:
    """What the run did: the server's listening ports, the phones' ports, the
    INVITE's Call-ID."""

    ports: dict[str, int]
    alice: int
    bob: int
    call_id: str


def _frame(data: str | bytes) -> bytes:
    """A WebSocket message's bytes (RFC 7118 §5: text or binary frames)."""
    return data.encode() if isinstance(data, str) else data


def _request(received: Received) -> Request:
    assert isinstance(received.message, Request)
    return received.message


def _response(received: Received) -> Response:
    assert isinstance(received.message, Response)
    return received.message


async def run_call(tmp_path: Path, certificate: Certificate, **settings: Any) -> CallRun:
    """Serve with ``settings`` (``pcap=...``, ``hep=...``) for one call and stop."""
    config = replace(make_config(
        tmp_path, listen=("udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0",
                          "ws:127.0.0.1:0"),
        tls_cert=str(certificate.cert), tls_key=str(certificate.key)), **settings)
    server = Server(config, grace=0.2)
    await server.start()
    phones: list[Phone] = []
    try:
        ports = {t: server.address(t)[1] for t in ("udp", "tcp", "tls", "ws")}
        alice = await Phone.open("alice", server.address("udp"))
        bob = await Phone.open("bob", server.address("tcp"), transport="tcp")
        carol = await Phone.open("carol", server.address("tls"), transport="tls",
                                 tls=certificate.client_context())
        phones += [alice, bob, carol]
        for phone in phones:
            assert status(await phone.request(phone.register())) == 200
        async with connect(f"ws://127.0.0.1:{ports['ws']}/", subprotocols=[Subprotocol("sip")],
                           open_timeout=5) as ws:
            register = Request.build(
                "REGISTER", "sip:example.com", from_="<sip:dave@example.com>",
                to="<sip:dave@example.com>", transport="WS",
                sent_by=("df7jal23ls0d.invalid", None), call_id="reg-dave@test",
                contact="<sip:dave@df7jal23ls0d.invalid;transport=ws>",
                headers=[("Expires", "60")])
            await ws.send(bytes(register).decode())
            reply = sipwire.parse(_frame(await asyncio.wait_for(ws.recv(), 3)))
            assert getattr(reply, "status", None) == 200
            call_id = await _call(alice, bob)
            carol.send(carol.build("MESSAGE", alice.aor, body=b""))
            got = await alice.expect("MESSAGE")
            alice.answer(got, 200)
            assert status(await carol.expect(200)) == 200
            alice.send(alice.build("MESSAGE", "sip:dave@example.com"))
            message = sipwire.parse(_frame(await asyncio.wait_for(ws.recv(), 3)))
            assert isinstance(message, Request)
            await ws.send(bytes(message.reply(200, to_tag="ws")).decode())
            assert status(await alice.expect(200)) == 200
        return CallRun(ports, alice.port, bob.port, call_id)
    finally:
        for phone in phones:
            phone.close()
        await server.stop(grace=0.2)


async def _call(alice: Phone, bob: Phone) -> str:
    invite = alice.build("INVITE", bob.aor, body=SDP, contact=f"<{alice.contact}>")
    alice.send(invite)
    assert _response(await alice.receive()).status == 100
    got = await bob.expect("INVITE")
    alice.send(invite)  # a retransmission (§17.1.1.2): absorbed, answered 100 again
    assert _response(await alice.receive()).status == 100
    bob.answer(got, 180)
    assert status(await alice.expect(180)) == 180
    bob.answer(got, 200, body=SDP)
    ok = _response(await alice.expect(200))
    routes = [f"<{r.uri}>" for r in ok.record_route]
    for method, cseq in (("ACK", invite.cseq.seq), ("BYE", invite.cseq.seq + 1)):
        request = alice.build(method, bob.contact, call_id=invite.call_id, cseq=cseq,
                              to="<sip:bob@example.com>;tag=callee",
                              headers=[("Route", r) for r in routes])
        request.headers.set("From", invite.headers["From"])
        alice.send(request)
        reached = await bob.expect(method)
        if method == "BYE":
            bob.answer(reached, 200)
            assert status(await alice.expect(200)) == 200
    return invite.call_id
