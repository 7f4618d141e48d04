"""The proxy of ``sipwire serve`` (in process) relaying to a domain name: a
call whose first RFC 3263 target never answers (Timer B fails it over) or
refuses the connection, and what the dialog's requests do afterwards: the
Record-Route token pins the server that answered, so the ACK and BYE reach
it without a new lookup."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from sipwire import Request, Response
from sipwire.server import Server, ServerConfig
from sipwire.transaction import TimerConfig
from sipwire.ua import Endpoint, EndpointConfig
from sipwire.ua.server import ServerTransactionHandle
from sipwire.ua.uac import build_in_dialog_request
from tests.server.processes import free_port

from .test_failover import BlackHole, Timeline, timeline
from .zone_server import ZoneServer
from .zones import zone

__all__ = ["timeline"]

TIMEOUT = 10.0


class Callee:
    """carol at the second target: answers INVITE 200, records what arrives."""

    def __init__(self, endpoint: Endpoint, timeline: Timeline) -> None:
        self.endpoint = endpoint
        self.got: list[str] = []
        self.acked = asyncio.Event()
        self.bye = asyncio.Event()

        async def invite(request: Request, tx: ServerTransactionHandle) -> None:
            self.got.append("INVITE")
            timeline.add(f"second got INVITE, branch {request.top_via.branch}: answers 200")
            await tx.respond(tx.reply(200, contact=endpoint.contact(
                endpoint.listening_points[0].transport)))
            ack = await tx.wait_ack()
            if ack is not None:
                self.got.append("ACK")
                timeline.add("second got the ACK")
                self.acked.set()

        async def bye(request: Request, tx: ServerTransactionHandle) -> Response:
            self.got.append("BYE")
            timeline.add("second got the BYE")
            self.bye.set()
            return tx.reply(200)

        endpoint.on_request(invite, "INVITE")
        endpoint.on_request(bye, "BYE")


@pytest_asyncio.fixture
async def proxy(dns_server: ZoneServer, tmp_path: Path) -> AsyncIterator[Server]:
    config = ServerConfig(
        listen=("udp:127.0.0.1:0", "tcp:127.0.0.1:0"), domains=("example.com",),
        store="memory:", users=str(tmp_path / "users.db"), auth="off", uvloop=False,
        relay=True, t1=0.01, t2=0.08, dns_server=dns_server.address)
    server = Server(config, grace=0.2)
    await server.start()
    yield server
    await server.stop(grace=0.2)


@pytest_asyncio.fixture
async def endpoints() -> AsyncIterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for ep in made:
        await asyncio.wait_for(ep.close(), TIMEOUT)


async def start(endpoints: list[Endpoint], spec: str, **kwargs: object) -> Endpoint:
    ep = Endpoint([spec], **kwargs)  # type: ignore[arg-type]
    endpoints.append(ep)
    return await ep.start()


async def call(alice: Endpoint, proxy: Server, uri: str, timeline: Timeline,
               transport: str = "udp") -> tuple[Request, Response]:
    host, port = proxy.address(transport)
    invite = Request.build("INVITE", uri, from_="sip:alice@example.com",
                           contact=alice.contact(transport))
    timeline.add(f"alice sends INVITE {uri} to the proxy")
    handle = alice.send(invite, f"{transport}:{host}:{port}")
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    timeline.add(f"alice got {response.status} {response.reason}")
    return handle.request, response


async def test_a_call_fails_over_on_timer_b_and_its_dialog_stays_with_the_server(
        dns_server: ZoneServer, proxy: Server, endpoints: list[Endpoint],
        timeline: Timeline) -> None:
    loop = asyncio.get_running_loop()
    hole = BlackHole(timeline, "first")
    transport, _ = await loop.create_datagram_endpoint(
        lambda: hole, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
    try:
        carol = Callee(await start(endpoints, "udp:127.0.0.1:0"), timeline)
        second_port = carol.endpoint.listening_points[0].port
        dns_server.replace(zone(first_port=transport.get_extra_info("sockname")[1],
                                second_port=second_port))
        alice = await start(endpoints, "udp:127.0.0.1:0",
                            config=EndpointConfig(timers=TimerConfig(t1=0.01, t2=0.08)))

        invite, response = await call(alice, proxy, "sip:carol@failover.test", timeline)
        assert response.status == 200 and hole.received >= 1
        assert carol.got == ["INVITE"]
        await alice.ack(invite, response)
        await asyncio.wait_for(carol.acked.wait(), TIMEOUT)
        # the dialog's BYE goes by the route set to the proxy, and on to the
        # server the token pinned (no new lookup of failover.test)
        asked = len(dns_server.asked)
        bye = build_in_dialog_request("BYE", invite, response, invite.cseq.seq + 1)
        timeline.add("alice sends BYE")
        assert (await asyncio.wait_for(alice.request(bye), TIMEOUT)).status == 200
        assert carol.got == ["INVITE", "ACK", "BYE"]
        assert len(dns_server.asked) == asked
        timeline.add(f"(first got {hole.received} copies of the INVITE over Timer B)")
        timeline.show("proxy: INVITE to failover.test, first target silent (Timer B)")
    finally:
        transport.close()


async def test_a_refused_connection_fails_over_to_the_next_target(
        dns_server: ZoneServer, proxy: Server, endpoints: list[Endpoint],
        timeline: Timeline) -> None:
    carol = Callee(await start(endpoints, "tcp:127.0.0.1:0"), timeline)
    dns_server.replace(zone(first_port=free_port(),
                            second_port=carol.endpoint.listening_points[0].port))
    alice = await start(endpoints, "udp:127.0.0.1:0")
    invite, response = await call(alice, proxy, "sip:carol@failover.test;transport=tcp",
                                  timeline)
    assert response.status == 200 and carol.got == ["INVITE"]
    await alice.ack(invite, response)
    await asyncio.wait_for(carol.acked.wait(), TIMEOUT)
    timeline.show("proxy: INVITE to failover.test over TCP, first target refuses")


async def test_every_target_failing_is_the_best_failure(
        dns_server: ZoneServer, proxy: Server, endpoints: list[Endpoint],
        timeline: Timeline) -> None:
    dns_server.replace(zone(first_port=free_port(), second_port=free_port()))
    alice = await start(endpoints, "udp:127.0.0.1:0")
    # both refuse TCP: the proxy's answer is a 5xx (it never forwards a 503, §16.7)
    _, response = await call(alice, proxy, "sip:carol@failover.test;transport=tcp", timeline)
    assert 500 <= response.status < 600
    _, response = await call(alice, proxy, "sip:carol@nowhere.test", timeline)
    assert 500 <= response.status < 600


async def test_a_route_to_a_proxy_by_name(
        dns_server: ZoneServer, proxy: Server, endpoints: list[Endpoint],
        timeline: Timeline) -> None:
    # the next proxy is named by a Route (a loose router): the Route's URI is
    # resolved, not the Request-URI, which stays as it was (§16.6 step 7, RFC 3263 §4)
    got: list[Request] = []
    next_proxy = await start(endpoints, "udp:127.0.0.1:0")

    async def take(request: Request, tx: ServerTransactionHandle) -> Response:
        got.append(request)
        return tx.reply(202)

    next_proxy.on_request(take, "MESSAGE")
    dns_server.replace(zone(first_port=next_proxy.listening_points[0].port,
                            second_port=free_port()))
    alice = await start(endpoints, "udp:127.0.0.1:0")
    host, port = proxy.address("udp")
    message = Request.build("MESSAGE", "sip:carol@192.0.2.77", from_="sip:alice@example.com",
                            headers=[("Route", "<sip:failover.test;lr>")])
    response = await asyncio.wait_for(alice.request(message, f"udp:{host}:{port}"), TIMEOUT)
    assert response.status == 202
    [arrived] = got
    assert str(arrived.uri) == "sip:carol@192.0.2.77"
    assert [str(r.uri) for r in arrived.route] == ["sip:failover.test;lr"]
    assert dns_server.count("failover.test", "NAPTR") == 1
