"""``Registration`` over real sockets: a sipwire endpoint as the registrar."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from sipwire import Request, Response
from sipwire.transport.stun import BINDING, StunClass, StunMessage
from sipwire.ua import Endpoint, ServerTransactionHandle
from sipwire.ua.registration import (
    IntervalTooBrief,
    Outbound,
    Registered,
    Registration,
    RegistrationError,
    RegistrationEvent,
    RegistrationFailed,
    RegistrationPolicy,
    RegistrationState,
    Unregistered,
)

from .conftest import FAST, TIMEOUT, MakeEndpoint, port

Answer = Callable[[Request, ServerTransactionHandle], Response]


def registrar(ep: Endpoint, *answers: Answer) -> list[Request]:
    """REGISTERs answered by ``answers`` in turn (the last one repeats)."""
    seen: list[Request] = []

    @ep.handles("REGISTER")
    async def register(request: Request, tx: ServerTransactionHandle) -> Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1](request, tx)

    return seen


def granted(request: Request, tx: ServerTransactionHandle) -> Response:
    expires = request.headers.get("Expires") or "3600"
    contacts = [("Contact", f"{c};expires={expires}") for c in request.headers.getall("Contact")]
    return tx.reply(200, headers=contacts if expires != "0" else [])


def too_brief(request: Request, tx: ServerTransactionHandle) -> Response:
    return tx.reply(423, headers=[("Min-Expires", "1800")])


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


async def test_registers_refreshes_and_unregisters(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    seen = registrar(server, granted)
    client = await make_endpoint("udp:127.0.0.1:0")
    events: list[RegistrationEvent] = []
    reg = Registration(client, "sip:alice@example.com",
                       proxy=f"sip:127.0.0.1:{port(server)}", on_event=events.append)
    first = await reg.start()
    assert isinstance(first, Registered) and first.expires == 3600
    assert reg.state is RegistrationState.REGISTERED
    assert [str(c.uri) for c in reg.contacts] == [f"sip:alice@127.0.0.1:{port(client)}"]
    loop = asyncio.get_running_loop()
    # 3600 and a little: loop.time() + 3600 minus loop.time() is a float sum
    assert reg.expires_at is not None and 3590 < reg.expires_at - loop.time() <= 3600.001
    reg.refresh()
    await wait_for(lambda: len(events) == 2)
    response = await reg.close()
    assert response is not None and response.status == 200
    assert isinstance(events[-1], Unregistered) and reg.state is RegistrationState.UNREGISTERED
    # what the registrar got: one Call-ID, CSeq going up (§10.2.4), Route to the proxy,
    # the Request-URI the AOR's domain, and Expires: 0 last
    assert len({r.call_id for r in seen}) == 1
    assert [r.cseq.seq for r in seen] == [1, 2, 3]
    assert [r.headers.get("Expires") for r in seen] == ["3600", "3600", "0"]
    assert all(str(r.uri) == "sip:example.com" for r in seen)
    assert all(str(r.route[0].uri) == f"sip:127.0.0.1:{port(server)};lr" for r in seen)


async def test_423_then_200_with_min_expires(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    seen = registrar(server, too_brief, granted)
    client = await make_endpoint("udp:127.0.0.1:0")
    events: list[RegistrationEvent] = []
    reg = Registration(client, "sip:alice@example.com", registrar=f"sip:127.0.0.1:{port(server)}",
                       policy=RegistrationPolicy(expires=60), on_event=events.append)
    first = await reg.start(check=True)
    assert isinstance(first, Registered) and first.expires == 1800
    assert [type(e) for e in events] == [IntervalTooBrief, Registered]
    assert [(r.cseq.seq, r.headers.get("Expires")) for r in seen] == [(1, "60"), (2, "1800")]
    await reg.close()


async def test_a_refusal_is_reported_and_raised(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    registrar(server, lambda request, tx: tx.reply(403))
    client = await make_endpoint("udp:127.0.0.1:0")
    target = f"sip:127.0.0.1:{port(server)}"
    reg = Registration(client, "sip:alice@example.com", registrar=target)
    event = await reg.start()
    assert isinstance(event, RegistrationFailed) and event.status == 403
    assert reg.state is RegistrationState.FAILED
    assert await reg.close() is None  # nothing to unregister
    other = Registration(client, "sip:alice@example.com", registrar=target)
    try:
        await other.start(check=True)
    except RegistrationError as exc:
        assert exc.event.status == 403 and "403 Forbidden" in str(exc)
    else:
        raise AssertionError("no RegistrationError")


async def test_a_registrar_that_does_not_answer_is_a_408_and_a_retry(
        make_endpoint: MakeEndpoint) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
        reg = Registration(client, "sip:alice@example.com",
                           registrar=f"sip:127.0.0.1:{silent.getsockname()[1]}")
        event = await asyncio.wait_for(reg.start(), TIMEOUT)
        assert isinstance(event, RegistrationFailed) and event.status == 408
        assert event.retry_at is not None and reg.state is RegistrationState.RETRYING
        assert await reg.close() is None


async def test_two_registrars_at_once(make_endpoint: MakeEndpoint) -> None:
    """RFC 5626 §4.2.1: one REGISTER per registrar, each with its own Call-ID."""
    one = await make_endpoint("udp:127.0.0.1:0")
    two = await make_endpoint("udp:127.0.0.1:0")
    seen_one, seen_two = registrar(one, granted), registrar(two, granted)
    client = await make_endpoint("udp:127.0.0.1:0")
    outbound = Outbound.new()
    regs = [Registration(client, "sip:alice@example.com", proxy=f"sip:127.0.0.1:{port(ep)}",
                         outbound=Outbound(outbound.instance, reg_id=n))
            for n, ep in ((1, one), (2, two))]
    events = await asyncio.gather(*(r.start(check=True) for r in regs))
    assert all(isinstance(e, Registered) for e in events)
    assert seen_one[0].call_id != seen_two[0].call_id
    assert [s[0].contact[0].params["reg-id"] for s in (seen_one, seen_two)] == ["1", "2"]
    await asyncio.gather(*(r.close() for r in regs))
    assert [s[-1].headers.get("Expires") for s in (seen_one, seen_two)] == ["0", "0"]


async def test_outbound_over_tcp_pings_with_crlf_and_hears_the_pong(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("tcp:127.0.0.1:0")
    seen = registrar(server, lambda r, tx: tx.reply(200, headers=[("Require", "outbound"),
                                                                  ("Flow-Timer", "100")]))
    client = await make_endpoint("tcp:127.0.0.1:0")
    reg = Registration(client, "sip:alice@example.com",
                       proxy=f"sip:127.0.0.1:{port(server, 'tcp')};transport=tcp",
                       outbound=Outbound.new())
    event = await reg.start(check=True)
    assert isinstance(event, Registered) and event.outbound and event.flow_timer == 100
    assert seen[0].headers.getall("Supported") == ["path", "outbound"]
    assert reg.flow is not None and reg.flow.reliable
    # the server's connection answers the double CRLF with a CRLF (RFC 5626 §3.5.1)
    assert await asyncio.wait_for(reg.ping(reg.flow), TIMEOUT) is True
    await reg.close()


async def test_a_ping_unanswered_means_the_flow_failed(make_endpoint: MakeEndpoint) -> None:
    """A listener that never writes: no pong within the timeout (§4.4.1)."""
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        client = await make_endpoint("tcp:127.0.0.1:0")
        reg = Registration(client, "sip:alice@example.com", outbound=Outbound.new())
        tcp_port = listener.sockets[0].getsockname()[1]
        flow = await client.send_direct(
            Request.build("OPTIONS", f"sip:127.0.0.1:{tcp_port};transport=tcp",
                          from_="sip:alice@example.com", transport="TCP"))
        assert await reg.ping(flow, timeout=0.2) is False
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_outbound_over_udp_sends_a_stun_binding_request(
        make_endpoint: MakeEndpoint) -> None:
    """RFC 5626 §4.4.2: the keep-alive on UDP is a STUN Binding request."""
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            received.put_nowait(data)

    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    try:
        client = await make_endpoint("udp:127.0.0.1:0")
        reg = Registration(client, "sip:alice@example.com", outbound=Outbound.new())
        sink_port = sink.get_extra_info("sockname")[1]
        flow = await client.send_direct(
            Request.build("OPTIONS", f"sip:127.0.0.1:{sink_port}", from_="sip:a@example.com"))
        await asyncio.wait_for(received.get(), TIMEOUT)  # the OPTIONS
        assert await reg.ping(flow) is True
        data = await asyncio.wait_for(received.get(), TIMEOUT)
        stun = StunMessage.decode(data)
        assert (stun.method, stun.message_class) == (BINDING, StunClass.REQUEST)
    finally:
        sink.close()


async def test_a_dead_flow_is_registered_again_at_once(make_endpoint: MakeEndpoint) -> None:
    """RFC 5626 §4.4.1: the registrar's Flow-Timer (1 s) sets the keep-alive; when the
    connection is gone at the next ping, the REGISTER goes again (a new flow)."""
    server = await make_endpoint("tcp:127.0.0.1:0")
    seen = registrar(server, lambda r, tx: tx.reply(200, headers=[
        ("Require", "outbound"), ("Flow-Timer", "1"), ("Expires", "600")]))
    client = await make_endpoint("tcp:127.0.0.1:0")
    events: list[RegistrationEvent] = []
    reg = Registration(client, "sip:alice@example.com",
                       proxy=f"sip:127.0.0.1:{port(server, 'tcp')};transport=tcp",
                       outbound=Outbound.new(), on_event=events.append)
    await reg.start(check=True)
    first_flow = reg.flow
    assert first_flow is not None and first_flow.connection is not None
    first_flow.connection.abort()  # the NAT dropped it, say
    await wait_for(lambda: len(seen) == 2)
    await wait_for(lambda: len(events) == 2)
    assert isinstance(events[1], Registered)
    assert reg.flow is not None and reg.flow.connection is not first_flow.connection
    assert seen[1].call_id == seen[0].call_id and seen[1].cseq.seq == 2
    await reg.close()
