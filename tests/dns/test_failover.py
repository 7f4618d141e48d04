"""RFC 3263 §4.3 failover of an ``Endpoint`` whose requests go to a name,
against a real DNS server and real endpoints on 127.0.0.1.

The first SRV target of ``failover.test`` fails (a UDP port that never
answers, a TCP port nobody listens on, or a server answering 503); the same
request, with a new branch, must arrive at the second, and the next request
must skip the first (blacklisted) without losing it for good.  Each test
prints its timeline (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio

from sipwire import Request, Response
from sipwire.dns import DnsResolver
from sipwire.transaction import TimerConfig
from sipwire.transport.base import Flow
from sipwire.ua import Endpoint, EndpointConfig
from sipwire.ua.server import ServerTransactionHandle
from tests.server.processes import free_port

from .zone_server import ZoneServer
from .zones import zone

#: Timer F = 64*T1 = 0.32 s
FAST = TimerConfig(t1=0.005, t2=0.02, t4=0.02, timer_d=0.05)
TIMEOUT = 10.0


@dataclass
class Timeline:
    """What happened when, relative to the first entry."""

    start: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    events: list[tuple[float, str]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.events.append((asyncio.get_running_loop().time() - self.start, text))

    def show(self, title: str) -> None:
        print(f"\n--- timeline: {title}")
        for when, text in self.events:
            print(f"  t={when * 1000:8.1f} ms  {text}")


class BlackHole(asyncio.DatagramProtocol):
    """A UDP port that takes every datagram and answers none."""

    def __init__(self, timeline: Timeline, name: str) -> None:
        self.timeline = timeline
        self.name = name
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        if self.received == 1:  # the retransmissions that follow (§17.1.2.2) go unlisted
            first = data.split(b"\r\n", 1)[0].decode(errors="replace")
            self.timeline.add(f"{self.name} (udp, never answers) got {first!r}")


@dataclass
class Server:
    """A real endpoint standing for one SRV target; counts what reached it."""

    endpoint: Endpoint
    name: str
    status: int = 200
    got: list[Request] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.endpoint.listening_points[0].port


class _ToTimeline(logging.Handler):
    """The endpoint's and resolver's account of each failover, on the timeline."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(logging.INFO)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "RFC 3263 §4.3" in text or "tried last" in text:
            self.timeline.add(f"[{record.name}] {text}")


@pytest_asyncio.fixture
async def timeline() -> AsyncIterator[Timeline]:
    line = Timeline()
    handler = _ToTimeline(line)
    loggers = [logging.getLogger(name) for name in ("sipwire.ua", "sipwire.dns",
                                                    "sipwire.server")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield line
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest_asyncio.fixture
async def endpoints() -> AsyncIterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for ep in made:
        await asyncio.wait_for(ep.close(), TIMEOUT)


async def server(endpoints: list[Endpoint], timeline: Timeline, name: str, spec: str, *,
                 status: int = 200, retry_after: int | None = None) -> Server:
    ep = Endpoint([spec])
    endpoints.append(ep)
    await ep.start()
    record = Server(ep, name, status)

    async def answer(request: Request, tx: ServerTransactionHandle) -> Response:
        record.got.append(request)
        timeline.add(f"{name} ({spec.split(':')[0]}) got {request.method}, "
                     f"branch {request.top_via.branch}: answers {status}")
        headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
        if status == 200:
            return ep.options_response(tx)
        return tx.reply(status, headers=headers)

    ep.on_request(answer, "OPTIONS")
    return record


async def client(endpoints: list[Endpoint], dns_server: ZoneServer, timeline: Timeline,
                 *specs: str) -> tuple[Endpoint, DnsResolver]:
    resolver = DnsResolver([("127.0.0.1", dns_server.port)], timeout=2.0, blacklist_for=30.0)
    ep = Endpoint(specs, config=EndpointConfig(timers=FAST), resolver=resolver)
    endpoints.append(ep)
    await ep.start()

    def sent_from(message: Request | Response, flow: Flow) -> bool:
        if isinstance(message, Response):
            timeline.add(f"client got {message.status} {message.reason} from "
                         f"{flow.transport.lower()}:{flow.remote}")
        return True

    ep.receive_filter = sent_from
    return ep, resolver


def options(uri: str) -> Request:
    return Request.build("OPTIONS", uri, from_="sip:alice@example.test")


async def ask(ep: Endpoint, timeline: Timeline, uri: str) -> Response:
    timeline.add(f"client sends OPTIONS {uri}")
    handle = ep.send(options(uri))
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    timeline.add(f"client's final response: {response.status} {response.reason}"
                 f"{' (synthetic)' if handle.synthetic else ''}")
    return response


async def test_udp_timeout_fails_over_to_the_second_target(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    # the first target takes datagrams and never answers: Timer F fires (§4.3)
    loop = asyncio.get_running_loop()
    hole = BlackHole(timeline, "first")
    transport, _ = await loop.create_datagram_endpoint(
        lambda: hole, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
    try:
        first_port = transport.get_extra_info("sockname")[1]
        second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0")
        dns_server.replace(zone(first_port=first_port, second_port=second.port))
        ep, _ = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")

        response = await ask(ep, timeline, "sip:probe@failover.test")
        assert response.status == 200
        assert hole.received >= 1  # it was tried first (retransmitted until Timer F)
        assert len(second.got) == 1  # the same request arrived at the second
        copies = hole.received
        # the next request skips the blacklisted first target
        response = await ask(ep, timeline, "sip:probe@failover.test")
        assert response.status == 200 and len(second.got) == 2
        assert hole.received == copies
        timeline.add(f"(first got {copies} copies of the first request over Timer F)")
        timeline.show("UDP: first target silent (Timer F), second answers")
    finally:
        transport.close()


async def test_tcp_refused_fails_over_with_a_new_branch(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    dead = free_port()  # nothing listens there: the connection is refused
    second = await server(endpoints, timeline, "second", "tcp:127.0.0.1:0")
    dns_server.replace(zone(first_port=dead, second_port=second.port))
    ep, _ = await client(endpoints, dns_server, timeline)

    request = options("sip:probe@failover.test;transport=tcp")
    first_branch = request.top_via.branch
    timeline.add("client sends OPTIONS sip:probe@failover.test;transport=tcp "
                 f"(first target tcp:127.0.0.1:{dead}, nobody listens)")
    handle = ep.send(request)
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    timeline.add(f"client's final response: {response.status}")
    assert response.status == 200 and not handle.synthetic
    assert len(second.got) == 1
    # §4.3: a new transaction, so a new branch; the rest of the request the same
    arrived = second.got[0]
    assert arrived.top_via.branch != first_branch
    assert arrived.call_id == request.call_id and arrived.cseq.seq == request.cseq.seq
    assert handle.flow is not None and handle.flow.remote.port == second.port
    timeline.show("TCP: first target refuses the connection")


async def test_503_fails_over_and_blacklists_for_retry_after(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    first = await server(endpoints, timeline, "first", "udp:127.0.0.1:0", status=503,
                         retry_after=60)
    second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0")
    dns_server.replace(zone(first_port=first.port, second_port=second.port))
    ep, resolver = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")

    assert (await ask(ep, timeline, "sip:probe@failover.test")).status == 200
    assert len(first.got) == 1 and len(second.got) == 1
    assert first.got[0].top_via.branch != second.got[0].top_via.branch
    # blacklisted (for Retry-After: 60 s): the next requests go to the second only
    for _ in range(3):
        assert (await ask(ep, timeline, "sip:probe@failover.test")).status == 200
    assert len(first.got) == 1 and len(second.got) == 4
    key = ("UDP", "127.0.0.1", first.port)
    assert resolver.blacklist.blocked(key, resolver.clock() + 55)  # 60 s, not 30
    timeline.show("503 Service Unavailable (Retry-After: 60) from the first target")


async def test_a_blacklisted_target_is_still_used_when_it_is_the_last(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    first = await server(endpoints, timeline, "first", "udp:127.0.0.1:0", status=503)
    second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0", status=503)
    dns_server.replace(zone(first_port=first.port, second_port=second.port))
    ep, _ = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")

    # both fail: the 503 of the last one is the answer
    assert (await ask(ep, timeline, "sip:probe@failover.test")).status == 503
    assert len(first.got) == 1 and len(second.got) == 1
    # both blacklisted: they are tried all the same, in their order
    assert (await ask(ep, timeline, "sip:probe@failover.test")).status == 503
    assert len(first.got) == 2 and len(second.got) == 2


async def test_a_final_response_other_than_503_is_no_failover(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    first = await server(endpoints, timeline, "first", "udp:127.0.0.1:0", status=486)
    second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0")
    dns_server.replace(zone(first_port=first.port, second_port=second.port))
    ep, resolver = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")
    assert (await ask(ep, timeline, "sip:probe@failover.test")).status == 486
    assert len(first.got) == 1 and second.got == []
    assert len(resolver.blacklist) == 0


async def test_an_ip_address_or_explicit_target_never_asks_the_dns(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0")
    ep, resolver = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")
    response = await ask(ep, timeline, f"sip:probe@127.0.0.1:{second.port}")
    assert response.status == 200
    response = await asyncio.wait_for(
        ep.request(options("sip:probe@failover.test"), f"udp:127.0.0.1:{second.port}"),
        TIMEOUT)
    assert response.status == 200
    assert dns_server.asked == [] and resolver.queries_sent == 0


async def test_no_server_in_the_dns_is_a_503(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    ep, _ = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")
    handle = ep.send(options("sip:probe@nowhere.test"))
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    assert response.status == 503 and handle.synthetic
    assert dns_server.count("nowhere.test", "NAPTR") == 1


async def test_a_target_given_by_name_asks_only_its_addresses(
        dns_server: ZoneServer, endpoints: list[Endpoint], timeline: Timeline) -> None:
    second = await server(endpoints, timeline, "second", "udp:127.0.0.1:0")
    ep, _ = await client(endpoints, dns_server, timeline, "udp:127.0.0.1:0")
    # transport and port given: A/AAAA only (RFC 3263 §4.2), no NAPTR or SRV
    response = await asyncio.wait_for(
        ep.request(options("sip:probe@example.test"),
                   f"udp:second.failover.test:{second.port}"), TIMEOUT)
    assert response.status == 200 and len(second.got) == 1
    # and only A: the endpoint has no IPv6 socket to send from
    assert {t for _, t, _ in dns_server.asked} == {"A"}
