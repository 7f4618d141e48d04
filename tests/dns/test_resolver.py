"""``DnsResolver`` against a real DNS server on 127.0.0.1 (UDP, and TCP for a
truncated answer): NAPTR, SRV priority and weights, the TTL cache with a
driven clock, the blacklist."""

from __future__ import annotations

import random
from collections import Counter

from sipwire.dns import DnsResolver, RecordType
from sipwire.message.uri import URI
from sipwire.transport.base import Transport

from .zone_server import ZoneServer
from .zones import zone


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resolver(server: ZoneServer, **kwargs: object) -> DnsResolver:
    return DnsResolver([("127.0.0.1", server.port)], timeout=2.0, **kwargs)  # type: ignore[arg-type]


async def test_naptr_chooses_the_transports(dns_server: ZoneServer) -> None:
    dns_server.replace(zone(tcp_port=5070, udp_port=5080))
    targets = await resolver(dns_server).resolve(URI.parse("sip:alice@transports.test"))
    # order 5 is SIP+D2S (SCTP, not ours), then TCP (10), then UDP (20)
    assert [str(t) for t in targets] == ["tcp:127.0.0.1:5070", "udp:127.0.0.1:5080"]
    assert targets[0].server_name == "transports.test"
    assert dns_server.count("transports.test", "NAPTR") == 1
    assert dns_server.count("_sip._sctp.transports.test") == 0


async def test_srv_priority_then_addresses(dns_server: ZoneServer) -> None:
    targets = await resolver(dns_server).resolve(URI.parse("sip:priority.test;transport=udp"))
    assert [str(t) for t in targets] == ["udp:127.0.0.1:5060", "udp:127.0.0.2:5061",
                                         "udp:127.0.0.3:5062", "udp:[::1]:5062"]
    assert dns_server.count("priority.test", "NAPTR") == 0  # the transport was given


async def test_srv_weights_with_a_seeded_random_source(dns_server: ZoneServer) -> None:
    dns = resolver(dns_server, rng=random.Random(2782))
    uri = URI.parse("sip:weights.test;transport=udp")
    firsts: Counter[str] = Counter()
    for _ in range(2000):
        firsts[(await dns.resolve(uri))[0].host] += 1
    # weights 1 and 3: the heavy one first about 3 times in 4
    assert 0.70 < firsts["127.0.0.2"] / 2000 < 0.80
    assert firsts["127.0.0.1"] + firsts["127.0.0.2"] == 2000
    # the answers came from the cache: one SRV question, not 2000
    assert dns_server.count("_sip._udp.weights.test", "SRV") == 1
    assert dns.queries_sent == 5  # the SRV, then A and AAAA of each of its two targets


async def test_ttl_expiry_with_a_driven_clock(dns_server: ZoneServer) -> None:
    clock = Clock()
    dns = resolver(dns_server, clock=clock)
    uri = URI.parse("sip:short.test:5060")  # a port: A and AAAA only (§4.2)
    assert [str(t) for t in await dns.resolve(uri)] == ["udp:127.0.0.1:5060"]
    assert dns_server.count("short.test", "A") == 1
    assert dns_server.count("short.test", "AAAA") == 1  # NODATA, negative TTL 120
    clock.now += 59
    await dns.resolve(uri)
    assert dns_server.count("short.test", "A") == 1  # TTL 60 holds
    clock.now += 1
    await dns.resolve(uri)
    assert dns_server.count("short.test", "A") == 2  # expired: asked again
    assert dns_server.count("short.test", "AAAA") == 1  # RFC 2308: min(SOA TTL, MINIMUM)
    clock.now += 60
    await dns.resolve(uri)
    assert dns_server.count("short.test", "AAAA") == 2


async def test_nxdomain_is_cached_and_gives_no_target(dns_server: ZoneServer) -> None:
    clock = Clock()
    dns = resolver(dns_server, clock=clock)
    uri = URI.parse("sip:bob@nowhere.test")
    assert await dns.resolve(uri) == []
    asked = len(dns_server.asked)
    assert dns_server.count("nowhere.test", "NAPTR") == 1
    assert await dns.resolve(uri) == []
    assert len(dns_server.asked) == asked  # every negative answer came from the cache
    clock.now += 120
    await dns.resolve(uri)
    assert dns_server.count("nowhere.test", "NAPTR") == 2


async def test_a_truncated_answer_is_asked_again_over_tcp(dns_server: ZoneServer) -> None:
    targets = await resolver(dns_server).resolve(URI.parse("sip:big.test;transport=udp"))
    assert len(targets) == 24
    assert sorted(t.effective_port for t in targets) == list(range(5000, 5024))
    assert ("_sip._udp.big.test", "SRV", "tcp") in dns_server.asked


async def test_blacklisted_targets_go_last(dns_server: ZoneServer) -> None:
    clock = Clock()
    dns = resolver(dns_server, clock=clock, blacklist_for=30.0)
    uri = URI.parse("sip:priority.test;transport=udp")
    first = (await dns.resolve(uri))[0]
    dns.failed(first)
    again = await dns.resolve(uri)
    assert again[0] != first and again[-1] == first  # still there, last
    clock.now += 30
    assert (await dns.resolve(uri))[0] == first
    dns.failed(first, retry_after=120)  # a 503's Retry-After
    clock.now += 100
    assert (await dns.resolve(uri))[-1] == first


async def test_localhost_and_invalid_ask_nobody(dns_server: ZoneServer) -> None:
    dns = resolver(dns_server)
    targets = await dns.resolve(URI.parse("sip:localhost:5099;transport=tcp"))
    assert [str(t) for t in targets] == ["tcp:127.0.0.1:5099", "tcp:[::1]:5099"]
    assert await dns.resolve(URI.parse("sip:x@ws-client.invalid;transport=ws")) == []
    assert dns_server.asked == []


async def test_families_limit_the_addresses(dns_server: ZoneServer) -> None:
    dns = resolver(dns_server)
    targets = await dns.resolve(URI.parse("sip:priority.test;transport=udp"),
                                families=(RecordType.AAAA,))
    assert [str(t) for t in targets] == ["udp:[::1]:5062"]
    assert all(t.transport is Transport.UDP for t in targets)


async def test_a_dead_nameserver_is_no_target_not_a_hang() -> None:
    from tests.server.processes import free_port

    dns = DnsResolver([("127.0.0.1", free_port())], timeout=0.5)
    assert await dns.resolve(URI.parse("sip:bob@example.test")) == []
