"""In-dialog routing of ``sipwire serve`` over real sockets: Record-Route per
interface (RFC 5658), the signed token, flows (RFC 5626 §5.3), "is this URI
me?" by host and port, and the open-relay attack that a forged Route was.

Each call asserts what arrived at the far end: the ACK, the BYE, and their
Request-URI and Route as the callee got them.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

import sipwire
from sipwire import URI, Request
from sipwire.auth import DigestClient, MemoryUserStore

from .conftest import OpenPhone, Serve
from .phone import Phone, request_of, response_of, status
from .test_proxy_sip import SDP, registered

LOCAL = ("localhost", "127.0.0.1")


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def answered_call(alice: Phone, bob: Phone, *, callee: str | None = None
                        ) -> tuple[Request, Request, list[str]]:
    """alice calls bob (or ``callee``), bob answers: the INVITE sent, the one
    bob got and alice's route set (§12.1.2: the Record-Route reversed)."""
    invite = alice.build("INVITE", callee or bob.aor, body=SDP, contact=f"<{alice.contact}>")
    alice.send(invite)
    got = await bob.expect("INVITE")
    bob.answer(got, 200, body=SDP)
    ok = response_of(await alice.expect(200))
    return invite, request_of(got), [str(rr.uri) for rr in reversed(ok.record_route)]


def in_dialog(alice: Phone, method: str, invite: Request, routes: list[str], target: str,
              *, cseq: int) -> Request:
    request = alice.build(method, target, call_id=invite.call_id, cseq=cseq,
                          to=f"{invite.headers['To']};tag=callee",
                          headers=[("Route", f"<{r}>") for r in routes])
    request.headers.set("From", invite.headers["From"])
    return request


async def ack_and_bye_arrive(alice: Phone, bob: Phone, invite: Request, routes: list[str]
                             ) -> None:
    """alice's ACK and BYE reach bob at his Contact, with our Routes gone."""
    alice.send(in_dialog(alice, "ACK", invite, routes, bob.contact, cseq=invite.cseq.seq))
    ack = request_of(await bob.expect("ACK"))
    assert str(ack.uri) == bob.contact and ack.route == []
    alice.send(in_dialog(alice, "BYE", invite, routes, bob.contact, cseq=invite.cseq.seq + 1))
    got = await bob.expect("BYE")
    assert request_of(got).route == []
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_default_domains_a_contact_on_a_served_host_is_not_looked_up(
        serve: Serve, phone: OpenPhone) -> None:
    # domains localhost and 127.0.0.1, bob at sip:bob@127.0.0.1:<his port>: the
    # ACK and BYE name his contact, which is no AOR though 127.0.0.1 is served
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob)
    invite, _, routes = await answered_call(alice, bob)
    assert len(routes) == 1 and URI.parse(routes[0]).user  # signed
    await ack_and_bye_arrive(alice, bob, invite, routes)


async def test_callee_without_user_part_in_its_contact(serve: Serve, phone: OpenPhone) -> None:
    # SIPp's uas answers with Contact <sip:127.0.0.1:PORT>: a served host with
    # another port is that UA, not this server (it was a 404 "no user here")
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob, contact=f"<sip:127.0.0.1:{bob.port}>")
    invite, _, routes = await answered_call(alice, bob)
    target = f"sip:127.0.0.1:{bob.port}"
    alice.send(in_dialog(alice, "ACK", invite, routes, target, cseq=invite.cseq.seq))
    assert str(request_of(await bob.expect("ACK")).uri) == target
    alice.send(in_dialog(alice, "BYE", invite, routes, target, cseq=invite.cseq.seq + 1))
    got = await bob.expect("BYE")
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_callee_hangs_up_back_through_the_proxy(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob)
    invite, reached, _ = await answered_call(alice, bob)
    # bob's route set is the Record-Route as he got it (§12.1.1); his BYE goes
    # to alice's Contact with From and To swapped
    routes = [str(rr.uri) for rr in reached.record_route]
    bye = bob.build("BYE", alice.contact, call_id=invite.call_id, cseq=1,
                    to=invite.headers["From"], from_=f"{invite.headers['To']};tag=callee",
                    headers=[("Route", f"<{r}>") for r in routes])
    bob.send(bye)
    got = await alice.expect("BYE")
    assert str(request_of(got).uri) == alice.contact
    alice.answer(got, 200, to_tag="ignored")
    assert status(await bob.expect(200)) == 200


async def test_a_request_to_a_served_host_at_another_port_is_not_an_aor(
        serve: Serve, phone: OpenPhone, caplog: pytest.LogCaptureFixture) -> None:
    # out of dialog, sip:bob@127.0.0.1:<other port> is relaying, not a lookup
    # of sip:bob@127.0.0.1: refused with relaying off (it was a 404), and the
    # refusal logged with its reason and source
    caplog.set_level(logging.INFO, logger="sipwire.server")
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob)
    answer = await alice.request(alice.build("MESSAGE", f"sip:bob@127.0.0.1:{bob.port}",
                                             body=b"hi"))
    assert status(answer) == 403
    assert await bob.silence(0.2) == []
    assert any("refused status=403" in r.getMessage() and "relaying" in r.getMessage()
               and "source=127.0.0.1" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
async def test_ipv6_call_record_route_in_brackets(serve: Serve) -> None:
    server = await serve(listen=("udp:[::1]:0",), domains=LOCAL)
    address = server.address("udp")
    alice = await Phone.open("alice", address, domain="localhost", host="::1")
    bob = await Phone.open("bob", address, domain="localhost", host="::1")
    try:
        # a REGISTER to sip:[::1]:P (our address in brackets) is ours (was 404)
        ok = await bob.request(bob.register(uri=f"sip:[::1]:{address[1]}"))
        assert status(ok) == 200
        invite, reached, routes = await answered_call(alice, bob)
        [rr] = reached.record_route
        assert rr.uri.host == "[::1]" and rr.uri.port == address[1] and rr.uri.lr
        assert f"@[::1]:{address[1]};lr" in str(reached.headers["Record-Route"])
        await ack_and_bye_arrive(alice, bob, invite, routes)
    finally:
        alice.close()
        bob.close()


async def test_register_to_a_trailing_dot_domain_is_ours(serve: Serve, phone: OpenPhone
                                                         ) -> None:
    server = await serve(domains=LOCAL)
    bob = await phone("bob", server, domain="localhost")
    assert status(await bob.request(bob.register(uri="sip:localhost."))) == 200
    [binding] = await server.store.lookup("sip:bob@localhost", server.clock())
    assert binding.contact == bob.contact


async def test_tcp_caller_is_reached_over_its_connection(serve: Serve, phone: OpenPhone
                                                         ) -> None:
    # in on TCP, out on UDP: two Record-Route values, each with its transport
    # (RFC 5658); bob's BYE reaches alice over the connection she called on
    # (the flow in the token, RFC 5626 §5.3), though her Contact names a port
    # where nothing listens
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, transport="tcp", domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob)
    invite, reached, _ = await answered_call(alice, bob)
    host, port = server.address("udp")
    assert [str(rr.uri.copy(user=None)) for rr in reached.record_route] == [
        f"sip:{host}:{port};lr", f"sip:{host}:{server.address('tcp')[1]};transport=tcp;lr"]
    routes = [str(rr.uri) for rr in reached.record_route]
    nowhere = "sip:alice@127.0.0.1:9;transport=tcp"
    bye = bob.build("BYE", nowhere, call_id=invite.call_id, cseq=1,
                    to=invite.headers["From"], from_=f"{invite.headers['To']};tag=callee",
                    headers=[("Route", f"<{r}>") for r in routes])
    bob.send(bye)
    got = await alice.expect("BYE")
    assert str(request_of(got).uri) == nowhere


async def test_websocket_callee_gets_ack_and_bye_over_its_connection(serve: Serve,
                                                                    phone: OpenPhone) -> None:
    # the callee's Contact host is *.invalid (RFC 7118 §5.2): nothing but its
    # flow reaches it, and the token in Record-Route names that flow
    server = await serve(listen=("udp:127.0.0.1:0", "ws:127.0.0.1:0"), domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    host, port = server.address("ws")
    contact = "sip:bob@df7jal23ls0d.invalid;transport=ws"
    async with connect(f"ws://{host}:{port}",
                       subprotocols=[Subprotocol("sip")]) as ws:
        sent_by = ("df7jal23ls0d.invalid", None)
        register = Request.build("REGISTER", "sip:127.0.0.1", from_="<sip:bob@127.0.0.1>",
                                 to="<sip:bob@127.0.0.1>", transport="WS", sent_by=sent_by,
                                 contact=f"<{contact}>", headers=[("Expires", "60")])
        await ws.send(bytes(register).decode())
        assert sipwire.parse(str(await ws.recv()).encode()).status == 200  # type: ignore[union-attr]

        invite = alice.build("INVITE", "sip:bob@127.0.0.1", body=SDP,
                             contact=f"<{alice.contact}>")
        alice.send(invite)

        async def next_request(method: str) -> Request:
            async with asyncio.timeout(3):
                while True:
                    message = sipwire.parse(str(await ws.recv()).encode())
                    if isinstance(message, Request) and message.method == method:
                        return message

        got = await next_request("INVITE")
        ok = got.reply(200, to_tag="callee", contact=f"<{contact}>", body=SDP,
                       content_type="application/sdp")
        await ws.send(bytes(ok).decode())
        answer = response_of(await alice.expect(200))
        routes = [str(rr.uri) for rr in reversed(answer.record_route)]
        assert [rr.uri.transport for rr in got.record_route] == ["ws", None]

        alice.send(in_dialog(alice, "ACK", invite, routes, contact, cseq=invite.cseq.seq))
        ack = await next_request("ACK")
        assert str(ack.uri) == contact
        alice.send(in_dialog(alice, "BYE", invite, routes, contact, cseq=invite.cseq.seq + 1))
        bye = await next_request("BYE")
        await ws.send(bytes(bye.reply(200)).decode())
        assert status(await alice.expect(200)) == 200


async def test_forged_route_does_not_make_an_open_relay(serve: Serve, phone: OpenPhone) -> None:
    # The attack: a To tag and Route: <sip:proxy;lr> from a stranger, aimed at
    # a host of the attacker's choosing.  Without a valid token it is a request
    # from outside any dialog: relaying it is refused, and nothing arrives.
    users = MemoryUserStore()
    users.add("alice", "127.0.0.1", "secret")
    server = await serve(domains=LOCAL, auth="on", user_store=users)
    host, port = server.address("udp")
    mallory = await phone("mallory", server, domain="evil.example")
    victim = await phone("victim", server, domain="elsewhere.example")
    for route in (f"<sip:{host}:{port};lr>", f"<sip:forged@{host}:{port};lr>"):
        for method in ("MESSAGE", "INVITE"):
            forged = mallory.build(method, victim.contact, to="<sip:victim@elsewhere>;tag=x",
                                   headers=[("Route", route)], body=b"spam")
            assert status(await mallory.request(forged)) == 403
    # a user of ours claiming a dialog is challenged like any other request
    forged = mallory.build("MESSAGE", victim.contact, from_="<sip:alice@127.0.0.1>;tag=m",
                           to="<sip:victim@elsewhere>;tag=x",
                           headers=[("Route", f"<sip:{host}:{port};lr>")], body=b"spam")
    assert status(await mallory.request(forged)) == 407
    assert await victim.silence(0.2) == []


async def test_ack_to_the_callees_aor_without_route_is_looked_up(serve: Serve,
                                                                 phone: OpenPhone) -> None:
    # SIPp's built-in uac ignores Record-Route: its ACK and BYE go to the AOR
    # it called, with a To tag and no Route.  Both reach the callee (§16.5).
    server = await serve(domains=LOCAL)
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="127.0.0.1")
    await registered(bob)
    invite, _, _ = await answered_call(alice, bob)
    alice.send(in_dialog(alice, "ACK", invite, [], bob.aor, cseq=invite.cseq.seq))
    assert str(request_of(await bob.expect("ACK")).uri) == bob.contact
    alice.send(in_dialog(alice, "BYE", invite, [], bob.aor, cseq=invite.cseq.seq + 1))
    got = await bob.expect("BYE")
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_a_dialog_of_ones_own_is_no_relay_ticket(serve: Serve, phone: OpenPhone) -> None:
    # A stranger calls a user of ours, which anybody may, and so learns a
    # valid token for that dialog.  Claiming to be the callee (its own tag in
    # To) or the caller, it asks the proxy to carry a MESSAGE to a victim: the
    # token pins each side's hop, so it goes back to the stranger or on to
    # bob, never to the victim, whatever the Request-URI and Route say.
    users = MemoryUserStore()
    users.add("bob", "127.0.0.1", "secret")
    server = await serve(domains=LOCAL, auth="on", user_store=users)
    mallory = await phone("mallory", server, domain="evil.example")
    bob = await phone("bob", server, domain="127.0.0.1")
    victim = await phone("victim", server, domain="elsewhere.example")
    challenge = response_of(await bob.request(bob.register()))  # bob registers with digest
    retry = DigestClient("bob", "secret").answer(challenge, bob.register())
    assert retry is not None and status(await bob.request(retry)) == 200
    invite, _, routes = await answered_call(mallory, bob)
    mallory_tag = invite.from_.tag
    route_headers = [("Route", f"<{r}>") for r in routes]
    as_callee = mallory.build("MESSAGE", victim.contact, call_id=invite.call_id, cseq=1,
                              from_="<sip:bob@127.0.0.1>;tag=callee",
                              to=f"<sip:mallory@evil.example>;tag={mallory_tag}",
                              headers=[*route_headers, ("Route", f"<{victim.contact};lr>")],
                              body=b"spam")
    mallory.send(as_callee)
    back = await mallory.expect("MESSAGE")  # to the caller's own hop: itself
    assert request_of(back).body == b"spam"
    as_caller = in_dialog(mallory, "MESSAGE", invite, routes, victim.contact, cseq=9)
    mallory.send(as_caller)
    got = await bob.expect("MESSAGE")  # to the callee's hop: bob, not the victim
    assert str(request_of(got).uri) == victim.contact
    assert await victim.silence(0.3) == []
