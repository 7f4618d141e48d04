"""``sipwire serve`` and UAs behind NAT, over real sockets: keep-alives are
answered on every transport (RFC 5626 §5.4 and §8), responses follow
``rport`` (RFC 3581), and with ``--nat`` a request for a contact that is not
where its REGISTER came from goes to that source."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import pytest

from sipwire.server import Server
from sipwire.server.config import add_arguments, load_config
from sipwire.transport.stun import (
    BINDING,
    XOR_MAPPED_ADDRESS,
    StunClass,
    StunMessage,
    read_xor_address,
)

from ..transport.conftest import Certificate, certificate, needs_ipv6  # noqa: F401
from .conftest import OpenPhone, Serve
from .phone import WAIT, Phone, request_of, response_of, status

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


# -- keep-alives ---------------------------------------------------------------------------


async def test_crlf_ping_gets_a_pong_over_tcp_and_tls(
        serve: Serve, certificate: Certificate) -> None:  # noqa: F811
    """RFC 5626 §5.4: a double CRLF between messages is answered at once with
    a single CRLF on the same connection, inside TLS for TLS (§4.4.1)."""
    server = await serve(listen=("udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"),
                         tls_cert=str(certificate.cert), tls_key=str(certificate.key))
    for transport, tls in (("tcp", None), ("tls", certificate.client_context())):
        reader, writer = await asyncio.open_connection(
            *server.address(transport), ssl=tls,
            server_hostname="localhost" if tls is not None else None)
        try:
            for _ in range(2):
                writer.write(b"\r\n\r\n")
                assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
            with pytest.raises(TimeoutError):  # a pong per ping, nothing more
                await asyncio.wait_for(reader.read(1), 0.05)
        finally:
            writer.close()


class _Stun(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait(data)


async def stun_binding(server_address: tuple[str, int], host: str) -> tuple[
        tuple[str, int], tuple[str, int]]:
    """Send a Binding request from ``host`` to the server's SIP UDP port:
    (the XOR-MAPPED-ADDRESS in the answer, the address we sent from)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    io, stun = await loop.create_datagram_endpoint(_Stun, local_addr=(host, 0), family=family)
    try:
        tid = b"sipwire-nat1"
        io.sendto(StunMessage(BINDING, StunClass.REQUEST, tid).encode(fingerprint=True),
                  server_address)
        answer = StunMessage.decode(await asyncio.wait_for(stun.received.get(), WAIT))
        assert (answer.method, answer.message_class, answer.transaction_id) == (
            BINDING, StunClass.SUCCESS, tid)
        value = answer.get(XOR_MAPPED_ADDRESS)
        assert value is not None
        sockname = io.get_extra_info("sockname")
        return read_xor_address(value, tid), (sockname[0], sockname[1])
    finally:
        io.close()


async def test_stun_binding_request_on_the_sip_udp_port(serve: Serve,
                                                        phone: OpenPhone) -> None:
    """RFC 5626 §8: a limited STUN server on the SIP UDP port, without --nat."""
    server = await serve()
    mapped, sent_from = await stun_binding(server.address("udp"), "127.0.0.1")
    assert mapped == sent_from
    alice = await phone("alice", server)  # SIP on the same port is untouched
    assert status(await alice.request(alice.register())) == 200


@needs_ipv6
async def test_stun_binding_request_over_ipv6(serve: Serve) -> None:
    server = await serve(listen=("udp:[::1]:0",))
    mapped, sent_from = await stun_binding(server.address("udp"), "::1")
    assert mapped == sent_from and mapped[0] == "::1"


# -- rport (RFC 3581) ------------------------------------------------------------------------


@pytest.mark.parametrize("rport", [True, False])
async def test_response_goes_to_the_source_port_when_the_via_asks_with_rport(
        serve: Serve, phone: OpenPhone, rport: bool) -> None:
    """RFC 3581 §4: with ``rport``, the response goes to the source address
    and port of the request (a NAT's mapping), not to the Via's sent-by port;
    without it, to the sent-by port (RFC 3261 §18.2.2)."""
    server = await serve()
    alice = await phone("alice", server)
    elsewhere = await phone("elsewhere", server)  # what the Via names
    register = alice.register()
    via = register.via[0]
    register.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{elsewhere.port};branch={via.branch}"
                                + (";rport" if rport else ""))
    alice.send(register)
    reached, missed = (alice, elsewhere) if rport else (elsewhere, alice)
    ok = response_of(await reached.expect(200))
    assert await missed.silence(0.2) == []
    if rport:
        assert ok.via[0].rport == alice.port and ok.via[0].received == "127.0.0.1"


# -- --nat --------------------------------------------------------------------------------------


def test_nat_is_off_by_default_and_set_by_flag_or_file(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert load_config(parser.parse_args([])).nat is False
    assert load_config(parser.parse_args(["--nat"])).nat is True
    toml = tmp_path / "serve.toml"
    toml.write_text("nat = true\n")
    assert load_config(parser.parse_args(["--config", str(toml)])).nat is True
    assert load_config(parser.parse_args(["--config", str(toml), "--no-nat"])).nat is False
    assert "--nat" in parser.format_help()


async def call(caller: Phone, callee: Phone) -> None:
    """An INVITE from ``caller`` to ``callee``'s AOR, refused 486 by whoever gets it."""
    caller.send(caller.build("INVITE", callee.aor, body=SDP))


@pytest.mark.parametrize("nat", [True, False])
async def test_invite_for_a_contact_on_another_port_goes_to_the_register_source(
        serve: Serve, phone: OpenPhone, nat: bool) -> None:
    """A UA behind a NAT registers a contact with its private port; the REGISTER
    arrives from the port the NAT mapped.  With --nat the INVITE goes there."""
    server = await serve(nat=nat)
    alice, bob = await phone("alice", server), await phone("bob", server)
    private = await phone("private", server)  # the port written in bob's contact
    contact = f"sip:bob@127.0.0.1:{private.port}"
    assert status(await bob.request(bob.register(contact=f"<{contact}>"))) == 200
    await call(alice, bob)
    reached, missed = (bob, private) if nat else (private, bob)
    got = await reached.expect("INVITE")
    invite = request_of(got)
    assert str(invite.uri) == contact  # the Request-URI is still the registered contact
    assert got.source == server.address("udp")
    assert await missed.silence(0.2) == []
    reached.answer(got, 486)
    assert status(await alice.expect(486)) == 486


async def test_invite_for_a_private_contact_goes_to_the_register_source(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(nat=True)
    alice, bob = await phone("alice", server), await phone("bob", server)
    assert status(await bob.request(bob.register(contact="<sip:bob@10.255.255.9:5060>"))) \
        == 200
    [binding] = await server.store.lookup(bob.aor, server.clock())
    assert binding.source is not None and (binding.source.host, binding.source.port) == (
        "127.0.0.1", bob.port)
    await call(alice, bob)
    got = await bob.expect("INVITE")
    assert str(request_of(got).uri) == "sip:bob@10.255.255.9:5060"
    bob.answer(got, 486)
    assert status(await alice.expect(486)) == 486


async def test_invite_for_a_private_contact_over_tcp_comes_over_the_connection(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(nat=True)
    alice = await phone("alice", server)
    bob = await phone("bob", server, transport="tcp")
    contact = "sip:bob@10.255.255.9:5060;transport=tcp"
    assert status(await bob.request(bob.register(contact=f"<{contact}>"))) == 200
    await call(alice, bob)
    got = await bob.expect("INVITE")
    invite = request_of(got)
    assert str(invite.uri) == contact and invite.via[0].transport == "TCP"
    bob.answer(got, 486)
    assert status(await alice.expect(486)) == 486


async def test_nat_leaves_a_contact_that_is_its_source_alone(serve: Serve,
                                                             phone: OpenPhone) -> None:
    server: Server = await serve(nat=True)
    alice, bob = await phone("alice", server), await phone("bob", server)
    assert status(await bob.request(bob.register())) == 200  # contact == source
    await call(alice, bob)
    got = await bob.expect("INVITE")
    assert str(request_of(got).uri) == bob.contact
    bob.answer(got, 486)
    assert status(await alice.expect(486)) == 486


async def test_a_call_to_a_phone_behind_nat_stays_on_its_flow(serve: Serve,
                                                              phone: OpenPhone) -> None:
    """The phone answers with its private contact as well; the proxy, which
    forwarded the INVITE over the phone's flow, records that flow in its
    Record-Route (RFC 5626 §5.3), so the ACK and the BYE reach the phone too."""
    server = await serve(nat=True)
    alice, bob = await phone("alice", server), await phone("bob", server)
    private = await phone("private", server)
    contact = f"sip:bob@127.0.0.1:{private.port}"
    assert status(await bob.request(bob.register(contact=f"<{contact}>"))) == 200
    invite = alice.build("INVITE", bob.aor, body=SDP, contact=f"<{alice.contact}>")
    alice.send(invite)
    got = await bob.expect("INVITE")
    ok = request_of(got).reply(200, to_tag="callee", contact=f"<{contact}>", body=SDP,
                               content_type="application/sdp")
    bob.send(ok, got.source)
    answered = response_of(await alice.expect(200))
    routes = [f"<{r.uri}>" for r in answered.record_route]
    assert routes
    for method, cseq in (("ACK", invite.cseq.seq), ("BYE", invite.cseq.seq + 1)):
        request = alice.build(method, contact, call_id=invite.call_id, cseq=cseq,
                              to=f"<{bob.aor}>;tag=callee",
                              headers=[("Route", r) for r in routes])
        request.headers.set("From", invite.headers["From"])
        alice.send(request)
        reached = await bob.expect(method)
        assert str(request_of(reached).uri) == contact
    bob.answer(reached, 200)
    assert status(await alice.expect(200)) == 200
    assert await private.silence(0.2) == []


# -- OPTIONS keep-alives (nat_ping_interval) ----------------------------------------------------


async def behind_nat(server: Server, phone: OpenPhone, user: str) -> tuple[Phone, str]:
    """A phone registered with a contact on another port than the one it sent from."""
    ua = await phone(user, server)
    private = await phone(f"{user}-private", server)
    contact = f"sip:{user}@127.0.0.1:{private.port}"
    assert status(await ua.request(ua.register(contact=f"<{contact}>"))) == 200
    return ua, contact


async def test_phone_behind_nat_is_pinged_and_kept_while_it_answers(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(nat=True, nat_ping_interval=0.1)
    bob, contact = await behind_nat(server, phone, "bob")
    carol = await phone("carol", server)
    assert status(await carol.request(carol.register())) == 200  # contact == source
    for _ in range(6):  # twice the misses that would remove it
        got = await bob.expect("OPTIONS")
        ping = request_of(got)
        assert str(ping.uri) == contact and got.source == server.address("udp")
        bob.answer(got, 200)
    assert [b.contact for b in await server.store.lookup(bob.aor, server.clock())] == [contact]
    assert await carol.silence(0.05) == []  # not behind a NAT: never pinged


async def test_phone_behind_nat_that_stops_answering_is_removed(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(nat=True, nat_ping_interval=0.1)
    bob, _ = await behind_nat(server, phone, "bob")
    bob.answer(await bob.expect("OPTIONS"), 405)  # any answer shows the phone is there
    for _ in range(3):
        await bob.expect("OPTIONS")  # unanswered
    async with asyncio.timeout(WAIT):
        while await server.store.lookup(bob.aor, server.clock()):
            await asyncio.sleep(0.02)
    alice = await phone("alice", server)
    assert status(await alice.request(alice.build("MESSAGE", bob.aor))) == 404


async def test_no_pings_without_nat_or_with_interval_zero(serve: Serve,
                                                          phone: OpenPhone) -> None:
    for settings in ({"nat": False, "nat_ping_interval": 0.1},
                     {"nat": True, "nat_ping_interval": 0.0}):
        server = await serve(**settings)
        bob, contact = await behind_nat(server, phone, "bob")
        assert await bob.silence(0.3) == []
        assert [b.contact for b in await server.store.lookup(bob.aor, server.clock())] == [
            contact]
