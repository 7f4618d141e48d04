"""SIP over UDP between layers and against raw sockets (RFC 3261 §18, RFC 3581)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable

import pytest

from sipwire import Message, Request, Response, parse
from sipwire.transport import (
    Address,
    Flow,
    ListeningPoint,
    Target,
    Transport,
    TransportConfig,
    TransportError,
)
from sipwire.transport.stun import (
    BINDING,
    XOR_MAPPED_ADDRESS,
    StunClass,
    StunMessage,
    read_xor_address,
)
from sipwire.transport.udp import UdpListener

from .conftest import MakePeer, Peer, RawUdp, listen_udp_and_tcp, needs_ipv6, options

MakeRaw = Callable[..., Awaitable[RawUdp]]


def raw_request(via: str, *, method: str = "OPTIONS",
                bad_max_forwards: bool = False) -> bytes:
    lines = [
        f"{method} sip:bob@127.0.0.1 SIP/2.0",
        f"Via: {via}",
        f"Max-Forwards: {'many' if bad_max_forwards else 70}",
        "From: <sip:alice@example.com>;tag=a1",
        "To: <sip:bob@example.com>",
        "Call-ID: raw-1",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reply_to_everything(peer: Peer) -> None:
    """Make ``peer`` answer every request 200 on the flow it came on."""
    def answer(message: Message, flow: Flow) -> None:
        peer.inbox(message, flow)
        if isinstance(message, Request):
            asyncio.get_running_loop().create_task(
                peer.layer.send_response(message.reply(200), flow))

    peer.layer.on_message = answer


async def test_request_carries_received_and_rport_and_the_response_comes_back(
        make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0")
    b = await make_peer("udp:127.0.0.1:0")
    request = options()
    sent = await a.layer.send_request(request, Target(Transport.UDP, "127.0.0.1", b.port("udp")))
    assert sent == Flow(Transport.UDP, Address("127.0.0.1", b.port("udp")),
                        Address("127.0.0.1", a.port("udp")))
    # §18.1.1: the top Via names the transport and our sent-by, with rport (RFC 3581 §3)
    assert str(request.via[0]).startswith(f"SIP/2.0/UDP 127.0.0.1:{a.port('udp')};branch=")
    assert request.via[0].rport is True

    received, flow = await b.inbox.get()
    assert isinstance(received, Request)
    via = received.via[0]
    # RFC 3581 §4: rport gets the source port, and received is added although equal
    assert via.rport == a.port("udp") and via.received == "127.0.0.1"
    assert flow.transport is Transport.UDP and flow.connection is None
    assert flow.remote == Address("127.0.0.1", a.port("udp"))
    assert flow.local == Address("127.0.0.1", b.port("udp"))

    back = await b.layer.send_response(received.reply(200), flow)
    assert back.remote == flow.remote and back.local == flow.local
    response, aflow = await a.inbox.get()
    assert isinstance(response, Response) and response.status == 200
    assert aflow.remote == Address("127.0.0.1", b.port("udp"))


async def test_response_goes_to_rport_not_to_sent_by(make_peer: MakePeer,
                                                     raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    reply_to_everything(b)
    client = await raw_udp()
    # sent-by names port 9, where nobody listens: only rport can bring it back (RFC 3581 §4)
    client.send(raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr1;rport"), b.port("udp"))
    response = parse(await client.get())
    assert isinstance(response, Response) and response.status == 200
    assert response.via[0].rport == client.port
    assert response.via[0].received == "127.0.0.1"


async def test_without_rport_response_goes_to_received_and_sent_by_port(
        make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    reply_to_everything(b)
    sender, listener = await raw_udp(), await raw_udp()
    via = f"SIP/2.0/UDP client.invalid:{listener.port};branch=z9hG4bKr2"
    sender.send(raw_request(via), b.port("udp"))
    response = parse(await listener.get())
    assert isinstance(response, Response)
    # §18.2.1: a host name in sent-by always gets received
    assert response.via[0].received == "127.0.0.1"
    assert sender.queue.empty()


async def test_malformed_request_datagram_gets_400(make_peer: MakePeer,
                                                  raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    client = await raw_udp()
    client.send(raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm1;rport",
                            bad_max_forwards=True), b.port("udp"))
    response = parse(await client.get())
    assert isinstance(response, Response)
    assert response.status == 400 and "Max-Forwards" in response.reason
    assert response.to.tag is not None and response.call_id == "raw-1"
    assert response.via[0].rport == client.port
    await b.inbox.nothing(0.05)


async def test_unsupported_version_gets_505(make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    client = await raw_udp()
    data = raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm2;rport")
    client.send(data.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), b.port("udp"))
    response = parse(await client.get())
    assert isinstance(response, Response) and response.status == 505


async def test_malformed_response_and_garbage_are_dropped(make_peer: MakePeer,
                                                          raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:127.0.0.1:0")
    client = await raw_udp()
    port = b.port("udp")
    via = f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKd1"
    bad_response = raw_request(via).replace(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0",
                                            b"SIP/2.0 2000 OK")
    client.send(bad_response, port)
    client.send(b"\x16\x03\x01garbage\r\n\r\n", port)
    client.send(raw_request(via, method="ACK", bad_max_forwards=True), port)  # never answered
    client.send(b"\r\n\r\n", port)  # a CRLF keep-alive
    client.send(b"\x00\x11\x00\x00!\x12\xa4B" + bytes(12), port)  # a STUN indication
    client.send(b"\x00\x01\x00\x00" + bytes(16), port)  # STUN of RFC 3489 (no cookie)
    client.send(b"", port)
    # a well-formed request afterwards is still served
    client.send(raw_request(via), port)
    message, _ = await b.inbox.get()
    assert isinstance(message, Request) and message.method == "OPTIONS"
    assert client.queue.empty()
    await b.inbox.nothing(0.05)


def binding_request(tid: bytes) -> bytes:
    return StunMessage(BINDING, StunClass.REQUEST, tid).encode()


async def mapped_address(client: RawUdp, tid: bytes) -> tuple[str, int]:
    """The XOR-MAPPED-ADDRESS of the Binding success response ``client`` got."""
    message = StunMessage.decode(await client.get())
    assert (message.method, message.message_class) == (BINDING, StunClass.SUCCESS)
    assert message.transaction_id == tid  # RFC 5389 §6
    value = message.get(XOR_MAPPED_ADDRESS)
    assert value is not None
    return read_xor_address(value, tid)


async def test_stun_binding_request_on_the_sip_port_is_answered(make_peer: MakePeer,
                                                                raw_udp: MakeRaw) -> None:
    """RFC 5626 §8: the SIP UDP port answers STUN keep-alives with the source
    address (RFC 5389 §7.3.1.1); SIP on the same port goes on as before."""
    b = await make_peer("udp:127.0.0.1:0")
    client = await raw_udp()
    client.send(binding_request(b"keep-alive-1"), b.port("udp"))
    assert await mapped_address(client, b"keep-alive-1") == ("127.0.0.1", client.port)
    client.send(raw_request(f"SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bKs1"),
                b.port("udp"))
    message, _ = await b.inbox.request()
    assert message.method == "OPTIONS"
    await b.inbox.nothing(0.02)  # the STUN request never reached the layer above


@needs_ipv6
async def test_stun_binding_over_ipv6(make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    b = await make_peer("udp:[::1]:0")
    client = await raw_udp("::1")
    client.send(binding_request(b"keep-alive-6"), b.port("udp"), "::1")
    assert await mapped_address(client, b"keep-alive-6") == ("::1", client.port)


@needs_ipv6
async def test_stun_binding_on_a_dual_stack_socket_maps_the_ipv4_address(
        make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    """A socket bound to ``::`` sees an IPv4 client as ::ffff:127.0.0.1; the
    client is told its IPv4 address (RFC 5389 §15.2: family IPv4)."""
    b = await make_peer("udp:[::]:0")
    client = await raw_udp()
    client.send(binding_request(b"keep-alive-4"), b.port("udp"))
    assert await mapped_address(client, b"keep-alive-4") == ("127.0.0.1", client.port)


async def test_response_not_sent_by_us_is_dropped(make_peer: MakePeer,
                                                  raw_udp: MakeRaw) -> None:
    a = await make_peer("udp:127.0.0.1:0")
    lax = await make_peer("udp:127.0.0.1:0", config=TransportConfig(check_sent_by=False))
    client = await raw_udp()
    response = raw_request("SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKf1").replace(
        b"OPTIONS sip:bob@127.0.0.1 SIP/2.0", b"SIP/2.0 200 OK")
    client.send(response, a.port("udp"))
    client.send(response, lax.port("udp"))
    message, _ = await lax.inbox.get()  # §18.1.2 check turned off
    assert isinstance(message, Response)
    await a.inbox.nothing(0.05)  # §18.1.2: silently discarded


async def test_large_request_goes_by_tcp(make_peer: MakePeer) -> None:
    a = await make_peer()
    await listen_udp_and_tcp(a)
    b = await make_peer()
    port = await listen_udp_and_tcp(b)
    reply_to_everything(b)
    target = Target(Transport.UDP, "127.0.0.1", port)

    small = options(body=b"x" * 100, content_type="text/plain")
    assert (await a.layer.send_request(small, target)).transport is Transport.UDP
    assert (await b.inbox.get())[1].transport is Transport.UDP
    await a.inbox.get()

    assert await a.layer.choose_transport(options(), target) is Transport.UDP
    large = options(body=b"x" * 1300, content_type="text/plain")
    assert await a.layer.choose_transport(large, target) is Transport.TCP
    flow = await a.layer.send_request(large, target)
    # §18.1.1: over 1300 bytes, TCP to the same port, and the top Via says so
    assert flow.transport is Transport.TCP and flow.remote.port == port
    assert large.via[0].transport == "TCP" and large.via[0].port == a.port("tcp")
    message, bflow = await b.inbox.get()
    assert bflow.transport is Transport.TCP and message.via[0].transport == "TCP"
    response, aflow = await a.inbox.get()
    assert isinstance(response, Response) and aflow.connection is flow.connection


async def test_large_request_falls_back_to_udp_when_tcp_is_refused(
        make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
    b = await make_peer("udp:127.0.0.1:0")  # no TCP: the connection is refused
    large = options(body=b"x" * 1400, content_type="text/plain")
    flow = await a.layer.send_request(large, Target(Transport.UDP, "127.0.0.1",
                                                    b.port("udp")))
    # §18.1.1: SHOULD retry by UDP for RFC 2543 peers; the Via says UDP again
    assert flow.transport is Transport.UDP and large.via[0].transport == "UDP"
    assert large.via[0].port == a.port("udp")
    message, bflow = await b.inbox.request()
    assert bflow.transport is Transport.UDP and len(message.body) == 1400


async def test_large_request_stays_on_udp_when_switch_is_off(make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0",
                        config=TransportConfig(udp_max_request_size=None, rport=False))
    b = await make_peer("udp:127.0.0.1:0")
    large = options(body=b"x" * 3000, content_type="text/plain")
    flow = await a.layer.send_request(large, Target(Transport.UDP, "127.0.0.1",
                                                    b.port("udp")))
    assert flow.transport is Transport.UDP and large.via[0].rport is None
    message, _ = await b.inbox.get()
    assert message.body == b"x" * 3000


async def test_target_by_host_name(make_peer: MakePeer) -> None:
    a = await make_peer("udp:127.0.0.1:0")
    b = await make_peer("udp:127.0.0.1:0")
    await a.layer.send_request(options(), Target(Transport.UDP, "localhost", b.port("udp")))
    _, flow = await b.inbox.get()
    assert flow.remote.host == "127.0.0.1"


@needs_ipv6
async def test_udp_over_ipv6(make_peer: MakePeer) -> None:
    a = await make_peer("udp:[::1]:0")
    b = await make_peer("udp:[::1]:0")
    request = options("sip:bob@[::1]")
    await a.layer.send_request(request, Target.parse(f"udp:[::1]:{b.port('udp')}"))
    assert request.via[0].host == "[::1]"
    message, flow = await b.inbox.request()
    assert flow.remote == Address("::1", a.port("udp"))
    assert message.via[0].received == "::1" and message.via[0].rport == a.port("udp")
    await b.layer.send_response(message.reply(180), flow)
    response, _ = await a.inbox.get()
    assert isinstance(response, Response) and response.status == 180


class _FullSocket(asyncio.DatagramTransport):
    """A datagram transport whose sendto fails as a socket would."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def sendto(self, data: bytes, addr: object = None) -> None:
        raise self.error

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.mark.parametrize("error", [
    BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"),
    OSError(errno.ENOBUFS, "No buffer space available"),
])
async def test_full_send_buffer_drops_the_datagram_without_a_transport_error(
        error: OSError) -> None:
    # §18.4: UDP may lose a datagram; the transaction's retransmissions cover it,
    # so a full buffer must not fail the transaction (a 503 for the request)
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"), lambda *a: None, 1 << 20)
    listener._io = _FullSocket(error)
    listener.sendto(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("127.0.0.1", 5070))
    assert listener.dropped == 1


class _BackedUp(_FullSocket):
    """A transport whose write buffer holds more than the listener allows."""

    def get_write_buffer_size(self) -> int:
        return 4 << 20

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 5060) if name == "sockname" else default


async def test_a_backed_up_write_buffer_drops_the_datagram_before_sending() -> None:
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"), lambda *a: None, 1 << 20)
    # its sendto would raise a transport error: the datagram must not get there
    listener.connection_made(_BackedUp(OSError(errno.EHOSTUNREACH, "No route to host")))
    listener.sendto(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("127.0.0.1", 5070))
    assert listener.dropped == 1


async def test_other_send_errors_are_transport_errors() -> None:
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"), lambda *a: None, 1 << 20)
    listener._io = _FullSocket(OSError(errno.EHOSTUNREACH, "No route to host"))
    with pytest.raises(TransportError):
        listener.sendto(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("127.0.0.1", 5070))
    assert listener.dropped == 0


# -- coalesced sends (TransportConfig.udp_coalesce_sends) -----------------------------------


async def coalescing_peer(make_peer: MakePeer, raw_udp: MakeRaw) -> tuple[Peer, RawUdp, Flow]:
    """A layer with coalesced UDP sends, a bare socket, and the flow between them."""
    peer = await make_peer("udp:127.0.0.1:0", config=TransportConfig(udp_coalesce_sends=True))
    raw = await raw_udp()
    assert raw.transport is not None
    here = raw.transport.get_extra_info("sockname")
    flow = Flow(Transport.UDP, Address("127.0.0.1", here[1]),
                Address("127.0.0.1", peer.port("udp")))
    return peer, raw, flow


async def test_coalesced_sends_leave_together_at_the_end_of_the_round(
        make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    peer, raw, flow = await coalescing_peer(make_peer, raw_udp)
    listener = peer.layer._udp[0]
    sent: list[bytes] = []
    real = listener.sendto

    def counting(data: bytes, address: Address) -> None:
        sent.append(data)
        real(data, address)

    listener.sendto = counting  # type: ignore[method-assign]
    assert peer.layer.send_on_nowait(flow, b"first")
    assert peer.layer.send_on_nowait(flow, b"second")
    assert sent == []  # held: nothing is sent inside the callback that asked
    await asyncio.sleep(0)
    assert sent == [b"first", b"second"]  # one round later, together, in order
    received = [await asyncio.wait_for(raw.queue.get(), 2) for _ in range(2)]
    assert [data for data, _ in received] == [b"first", b"second"]


async def test_a_held_datagram_that_fails_is_reported_to_on_error() -> None:
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"), lambda *a: None,
                           1 << 20, coalesce=True)
    listener._io = _FullSocket(OSError(errno.EHOSTUNREACH, "No route to host"))
    errors: list[TransportError] = []
    listener.send_soon(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("127.0.0.1", 5070),
                       errors.append)
    listener.send_soon(b"OPTIONS sip:b SIP/2.0\r\n\r\n", Address("127.0.0.1", 5071))
    assert errors == []  # not sent yet, so not failed yet
    await asyncio.sleep(0)
    # §18.4: the first caller hears of it; the second gave no handler (logged)
    assert [e.reason for e in errors] == ["UDP send failed: [Errno 113] No route to host"]
    # a full buffer is still no error, held or not
    listener._io = _FullSocket(OSError(errno.ENOBUFS, "No buffer space available"))
    listener.send_soon(b"OPTIONS sip:c SIP/2.0\r\n\r\n", Address("127.0.0.1", 5070),
                       errors.append)
    await asyncio.sleep(0)
    assert len(errors) == 1 and listener.dropped == 1


async def test_what_fails_at_once_still_raises_when_coalescing() -> None:
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"), lambda *a: None,
                           1 << 20, coalesce=True)
    with pytest.raises(TransportError, match="closed"):  # not connected to a socket yet
        listener.send_soon(b"x", Address("127.0.0.1", 5070))
    listener._io = _FullSocket(OSError(errno.EHOSTUNREACH, "No route to host"))
    with pytest.raises(TransportError, match="do not fit"):
        listener.send_soon(b"x" * 70000, Address("127.0.0.1", 5070))


async def test_closing_sends_what_is_held_first(make_peer: MakePeer, raw_udp: MakeRaw) -> None:
    peer, raw, flow = await coalescing_peer(make_peer, raw_udp)
    assert peer.layer.send_on_nowait(flow, b"last words")
    peer.layer._udp[0].close()  # before the round ends
    data, _ = await asyncio.wait_for(raw.queue.get(), 2)
    assert data == b"last words"


async def test_the_packet_source_cache_stays_bounded() -> None:
    seen: list[Flow] = []
    listener = UdpListener(ListeningPoint.parse("udp:127.0.0.1:5060"),
                           lambda _listener, _data, flow: seen.append(flow), 1 << 20)
    for port in range(1024, 1024 + 5000):
        listener.datagram_received(b"\r\n", ("127.0.0.1", port))
    listener.datagram_received(b"\r\n", ("::ffff:127.0.0.1", 5070, 0, 0))
    assert len(listener._flows) <= 4096
    assert seen[0] == Flow(Transport.UDP, Address("127.0.0.1", 1024), listener.local)
    assert len(seen) == 5001
    assert seen[-1].remote == Address("127.0.0.1", 5070)  # an IPv4-mapped source, as IPv4
    # one Flow object per peer while it is cached
    listener.datagram_received(b"\r\n", ("::ffff:127.0.0.1", 5070, 0, 0))
    assert seen[-1] is seen[-2]


async def test_a_failed_send_is_a_transport_error_on_either_loop(make_peer: MakePeer) -> None:
    # an IPv6 destination from an IPv4 socket: uvloop raises from sendto,
    # asyncio hands the error to error_received instead; both are §18.4 failures
    peer = await make_peer("udp:127.0.0.1:0")
    listener = peer.layer._udp[0]
    with pytest.raises(TransportError, match="UDP send failed"):
        listener.sendto(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("::1", 5060))
    assert listener._send_error is None  # nothing left over for the next send
    # ... and with coalesced sends, the held datagram's failure reaches on_error
    listener.coalesce = True
    errors: list[TransportError] = []
    listener.send_soon(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Address("::1", 5060), errors.append)
    await asyncio.sleep(0)
    assert len(errors) == 1
