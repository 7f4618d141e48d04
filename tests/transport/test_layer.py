"""The transport layer as a whole: listening points, sent-by, closing, robustness."""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

from sipwire import Message, Request, Response, parse
from sipwire.transport import (
    Flow,
    Target,
    Transport,
    TransportConfig,
    TransportError,
    TransportLayer,
)

from .conftest import TIMEOUT, MakePeer, RawUdp, eventually, needs_ipv6, options
from .test_udp import raw_request

MakeRaw = Callable[..., Awaitable[RawUdp]]


async def test_listening_points_report_their_ports(make_peer: MakePeer,
                                                   tls_config: TransportConfig) -> None:
    specs = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0", "ws:127.0.0.1:0",
             "wss:127.0.0.1:0"]
    peer = await make_peer(*specs, config=tls_config)
    points = peer.layer.listening_points
    assert [p.transport for p in points] == list(Transport)
    assert all(p.port != 0 and p.host == "127.0.0.1" for p in points)
    for point in points[1:]:  # something really listens there
        _, writer = await asyncio.open_connection("127.0.0.1", point.port)
        writer.close()
        await writer.wait_closed()


async def test_close_releases_everything(make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0", "tcp:127.0.0.1:0", "ws:127.0.0.1:0")
    b = await make_peer("tcp:127.0.0.1:0", "ws:127.0.0.1:0")
    await b.layer.send_request(options(), Target(Transport.TCP, "127.0.0.1", a.port("tcp")))
    await b.layer.send_request(options(), Target(Transport.WS, "127.0.0.1", a.port("ws")))
    await a.inbox.get()
    await a.inbox.get()
    assert len(a.layer.connections) == 2
    ports = {t: a.port(t) for t in ("udp", "tcp", "ws")}
    await asyncio.wait_for(a.layer.close(), TIMEOUT)
    await a.layer.close()  # twice is fine
    assert not a.layer.connections
    await eventually(lambda: b.layer.connections == ())  # the peer saw them close
    with pytest.raises(TransportError):
        await a.layer.send_request(options(), Target(Transport.UDP, "127.0.0.1", 5060))
    # every port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", ports["udp"]))
    for transport in ("tcp", "ws"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", ports[transport]))


async def test_advertised_sent_by(make_peer: MakePeer) -> None:
    a = await make_peer()
    point = await a.layer.listen("udp:127.0.0.1:0", sent_by="sip.example.com")
    b = await make_peer("udp:127.0.0.1:0")
    request = options()
    await a.layer.send_request(request, Target(Transport.UDP, "127.0.0.1", b.port("udp")))
    assert request.via[0].sent_by == ("sip.example.com", point.port)
    message, flow = await b.inbox.request()
    assert message.via[0].received == "127.0.0.1"  # a name: received added (§18.2.1)
    await b.layer.send_response(message.reply(200), flow)
    response, _ = await a.inbox.get()  # its sent-by is one of ours (§18.1.2)
    assert isinstance(response, Response)


@pytest.mark.parametrize(("host", "peer"), [
    ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"),
    pytest.param("[::1]", "::1", marks=needs_ipv6),
    pytest.param("[::]", "127.0.0.1", marks=needs_ipv6),  # dual stack, IPv4 peer
])
async def test_private_udp_send_names_its_own_port(make_peer: MakePeer, host: str,
                                                   peer: str) -> None:
    """``udp_private_send``: a request sent with ``private=True`` leaves from
    this process's own socket, whose port the Via names (§18.1.1), and its
    response comes back there; one sent without it, and every response, leave
    from the listening socket (RFC 3581 §4)."""
    a = await make_peer(config=TransportConfig(udp_private_send=True))
    listening = (await a.layer.listen(f"udp:{host}:0")).port
    b = await make_peer(f"udp:{'[::1]' if peer == '::1' else peer}:0")
    target = Target(Transport.UDP, peer, b.port("udp"))
    sent_by_host = "[::1]" if peer == "::1" else peer
    assert a.layer.listening_points[0].port == listening  # the private one is not listed
    ports = []
    for private in (True, False):
        request = options()
        if private:
            flow = a.layer.send_request_nowait(request, target, private=True)
            assert flow is not None
        else:
            flow = await a.layer.send_request(request, target)
        message, bflow = await b.inbox.request()
        assert message.via[0].sent_by == (sent_by_host, bflow.remote.port)  # as sent
        assert flow.local.port == bflow.remote.port
        ports.append(bflow.remote.port)
        # §18.2.2: to the Via, which is the private port for the first
        await b.layer.send_response(message.reply(200), bflow)
        response, aflow = await a.inbox.get()
        assert isinstance(response, Response) and aflow.local.port == bflow.remote.port
        again = await a.layer.send_on(flow, bytes(request))  # a retransmission: same socket
        assert again.local == flow.local
        assert (await b.inbox.get())[1].remote.port == bflow.remote.port
    assert ports[0] != listening and ports[1] == listening
    # choose_transport then send_request stamp the same Via
    request = options()
    assert await a.layer.choose_transport(request, target, private=True) is Transport.UDP
    stamped = request.via[0].sent_by
    await a.layer.send_request(request, target, private=True)
    assert request.via[0].sent_by == stamped == (sent_by_host, ports[0])


async def test_private_udp_send_needs_the_config_and_no_advertised_host(
        make_peer: MakePeer) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    target = Target(Transport.UDP, "127.0.0.1", b.port("udp"))
    plain = await make_peer("udp:127.0.0.1:0")
    advertised = await make_peer(config=TransportConfig(udp_private_send=True))
    point = await advertised.layer.listen("udp:127.0.0.1:0", sent_by="sip.example.com")
    for peer, port in ((plain, plain.port("udp")), (advertised, point.port)):
        request = options()
        await peer.layer.send_request(request, target, private=True)
        # a port a NAT or a firewall in front was opened for: the listening one
        assert request.via[0].port == port
        assert (await b.inbox.request())[1].remote.port == port


async def test_wildcard_listening_points(make_peer: MakePeer) -> None:
    a = await make_peer("udp:0.0.0.0:0", "tcp:0.0.0.0:0")
    b = await make_peer("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
    for transport in (Transport.UDP, Transport.TCP):
        request = options()
        await a.layer.send_request(request, Target(transport, "127.0.0.1",
                                                   b.port(transport)))
        # never 0.0.0.0 in Via: the address the route (or connection) uses
        assert request.via[0].sent_by == ("127.0.0.1", a.port(transport))
        message, flow = await b.inbox.request()
        await b.layer.send_response(message.reply(200), flow)
        response, _ = await a.inbox.get()
        assert isinstance(response, Response)


async def test_udp_needs_a_listening_point_of_the_family(make_peer: MakePeer) -> None:
    a = await make_peer("tcp:127.0.0.1:0")
    with pytest.raises(TransportError, match="IPv4 UDP"):
        await a.layer.send_request(options(), Target(Transport.UDP, "127.0.0.1", 5060))
    a2 = await make_peer("udp:127.0.0.1:0")
    with pytest.raises(TransportError, match="IPv6 UDP"):
        await a2.layer.send_request(options(), Target(Transport.UDP, "::1", 5060))


async def test_a_failing_handler_does_not_stop_the_layer(make_peer: MakePeer,
                                                        raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    seen: list[Message] = []

    def handler(message: Message, flow: Flow) -> None:
        seen.append(message)
        raise RuntimeError("a bug above")

    b.layer.on_message = handler
    client = await raw_udp()
    for branch in ("z9hG4bKh1", "z9hG4bKh2"):
        client.send(raw_request(f"SIP/2.0/UDP 127.0.0.1:9;branch={branch}"), b.port("udp"))
    await eventually(lambda: len(seen) == 2)


async def test_send_on_a_flow_retransmits_unchanged(make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
    b = await make_peer("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
    for transport in (Transport.UDP, Transport.TCP):
        request = options()
        flow = await a.layer.send_request(request, Target(transport, "127.0.0.1",
                                                          b.port(transport)))
        first, _ = await b.inbox.get()
        again = await a.layer.send_on(flow, bytes(request))  # Timer A / E (§17.1)
        second, bflow = await b.inbox.get()
        assert again == flow and bytes(first) == bytes(second)
        assert bflow.transport is transport


async def test_a_udp_flow_is_one_object_per_peer_both_ways(make_peer: MakePeer) -> None:
    # a flow is a value (RFC 5626 §3): the flow a peer's datagrams came on is
    # the one a request to it, or a response to its Via, goes on, not a new
    # object per message
    a = await make_peer("udp:127.0.0.1:0")
    b = await make_peer("udp:127.0.0.1:0")
    await b.layer.send_request(options(), Target(Transport.UDP, "127.0.0.1", a.port("udp")))
    from_b, received = await a.inbox.request()
    sent = a.layer.send_request_nowait(options(), Target(Transport.UDP, "127.0.0.1",
                                                         b.port("udp")))
    assert sent is received
    await b.inbox.request()
    # a peer that sent nothing yet gets a flow of its own, equal in value
    c = await make_peer("udp:127.0.0.1:0")
    new = a.layer.send_request_nowait(options(), Target(Transport.UDP, "127.0.0.1",
                                                        c.port("udp")))
    assert new is not None and new is not received
    assert new == Flow(Transport.UDP, new.remote, received.local)
    assert new.remote.port == c.port("udp")
    await c.inbox.request()
    # a response whose Via (received, rport: b) is not where the given flow
    # goes (§18.2.2, RFC 3581 §4) leaves on b's flow
    assert a.layer.send_response_nowait(from_b.reply(200), new) is received
    response, _ = await b.inbox.get()
    assert isinstance(response, Response) and response.status == 200


async def test_malformed_datagram_flood_is_bounded(make_peer: MakePeer,
                                                   raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0", config=TransportConfig(max_pending_sends=16))
    client = await raw_udp()
    bad = raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKf;rport", bad_max_forwards=True)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            for _i in range(100):
                client.send(bad, b.port("udp"))
                client.send(b"\xff" * 1400, b.port("udp"))
            await asyncio.sleep(0)  # let the layer read
            while not client.queue.empty():
                client.queue.get_nowait()
        await asyncio.sleep(0.01)
        while not client.queue.empty():
            answer = parse(client.queue.get_nowait()[0])
            assert isinstance(answer, Response) and answer.status == 400
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes"
    # still serving, once it has read what the kernel queued (UDP loses
    # datagrams under a flood: retransmit as Timer E would, §17.1.2.2)
    ok = raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKok")
    async with asyncio.timeout(TIMEOUT):
        while b.inbox.queue.empty():
            client.send(ok, b.port("udp"))
            await asyncio.sleep(0.02)
    message, _ = await b.inbox.get()
    assert isinstance(message, Request)


async def test_layer_as_context_manager() -> None:
    inbox: list[Message] = []
    async with TransportLayer(on_message=lambda m, f: inbox.append(m)) as a, \
            TransportLayer(on_message=lambda m, f: inbox.append(m)) as b:
        await a.listen("udp:127.0.0.1:0")
        point = await b.listen("udp:127.0.0.1:0")
        await a.send_request(options(), Target(Transport.UDP, "127.0.0.1", point.port))
        await eventually(lambda: len(inbox) == 1)
    assert a.listening_points and b.connections == ()


@needs_ipv6
async def test_dual_stack_udp_listening_point(make_peer: MakePeer) -> None:
    a = await make_peer("udp:[::]:0")  # on Linux it carries IPv4 as well
    b = await make_peer("udp:127.0.0.1:0")
    request = options()
    await a.layer.send_request(request, Target(Transport.UDP, "127.0.0.1", b.port("udp")))
    assert request.via[0].sent_by == ("127.0.0.1", a.port("udp"))
    message, flow = await b.inbox.request()
    await b.layer.send_response(message.reply(200), flow)
    await a.inbox.response()
    # and the other way: an IPv4 request answered from the IPv6 socket
    await b.layer.send_request(options(), Target(Transport.UDP, "127.0.0.1", a.port("udp")))
    message, flow = await a.inbox.request()
    assert flow.remote.host == "127.0.0.1" and flow.local.host == "::"
    await a.layer.send_response(message.reply(200), flow)
    await b.inbox.response()
