"""RFC 3263 §4 as a sans-I/O procedure: URIs and DNS answers in, ordered targets out."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import pytest

from sipwire.dns import Answer, DnsTarget, Naptr, Query, RecordType, Resolution, Srv, srv_order
from sipwire.dns.records import Record
from sipwire.message.uri import URI
from sipwire.transport.base import Transport

Zone = Mapping[tuple[str, str], tuple[Record, ...]]


def run(uri: str, zone: Zone, *, seed: int = 1,
        transports: frozenset[Transport] | None = None) -> tuple[list[DnsTarget], list[Query]]:
    """Drive a resolution with answers from ``zone``; the targets and every question."""
    resolution = Resolution(URI.parse(uri), transports=transports or frozenset(Transport))
    asked: list[Query] = []
    while not resolution.done:
        for query in resolution.pending():
            asked.append(query)
            records = zone.get((query.name, str(query.rdtype)), ())
            resolution.feed(query, Answer(records, 300.0))
    return resolution.targets(random.Random(seed)), asked


def where(targets: list[DnsTarget]) -> list[str]:
    return [str(t) for t in targets]


NAPTRS: Zone = {
    ("example.test", "NAPTR"): (
        Naptr(90, 50, "s", "SIP+D2T", "", "_sip._tcp.example.test."),
        Naptr(50, 50, "s", "SIPS+D2T", "", "_sips._tcp.example.test."),
        Naptr(100, 50, "s", "SIP+D2U", "", "_sip._udp.example.test."),
        Naptr(10, 50, "s", "SIP+D2S", "", "_sip._sctp.example.test."),  # SCTP: discarded
        Naptr(20, 50, "u", "E2U+sip", "!^.*$!sip:x@y!", "."),  # not "s": discarded
    ),
    ("_sips._tcp.example.test", "SRV"): (Srv(0, 0, 5061, "tls.example.test."),),
    ("_sip._tcp.example.test", "SRV"): (Srv(0, 0, 5060, "tcp.example.test."),),
    ("_sip._udp.example.test", "SRV"): (Srv(0, 0, 5060, "udp.example.test."),),
    ("tls.example.test", "A"): ("192.0.2.1",),
    ("tcp.example.test", "A"): ("192.0.2.2",),
    ("tcp.example.test", "AAAA"): ("2001:db8::2",),
    ("udp.example.test", "A"): ("192.0.2.3",),
    ("example.test", "A"): ("192.0.2.9",),
}


def test_numeric_ip_asks_nothing() -> None:
    # §4.1/§4.2: UDP for sip:, TLS for sips:, the URI's port or the default
    assert run("sip:bob@192.0.2.7", NAPTRS) == ([DnsTarget(Transport.UDP, "192.0.2.7", 5060,
                                                          found="numeric")], [])
    targets, asked = run("sips:bob@[2001:db8::7]:7000", NAPTRS)
    assert where(targets) == ["tls:[2001:db8::7]:7000"] and asked == []
    targets, asked = run("sip:bob@example.test;maddr=192.0.2.8;transport=tcp", NAPTRS)
    assert where(targets) == ["tcp:192.0.2.8:5060"] and asked == []


def test_explicit_port_is_a_and_aaaa_only() -> None:
    targets, asked = run("sip:bob@tcp.example.test:5080", NAPTRS)
    assert where(targets) == ["udp:192.0.2.2:5080", "udp:[2001:db8::2]:5080"]
    assert {q.rdtype for q in asked} == {RecordType.A, RecordType.AAAA}


def test_explicit_transport_skips_naptr() -> None:
    targets, asked = run("sip:bob@example.test;transport=tcp", NAPTRS)
    assert where(targets) == ["tcp:192.0.2.2:5060", "tcp:[2001:db8::2]:5060"]
    assert asked[0] == Query("_sip._tcp.example.test", RecordType.SRV)
    assert all(q.rdtype is not RecordType.NAPTR for q in asked)


def test_naptr_orders_the_transports_and_discards_the_unusable() -> None:
    # §4.1: order 50 SIPS+D2T first, then 90 TCP, then 100 UDP; SCTP and a
    # non-"s" record are discarded
    targets, asked = run("sip:bob@example.test", NAPTRS)
    assert where(targets) == ["tls:192.0.2.1:5061", "tcp:192.0.2.2:5060",
                              "tcp:[2001:db8::2]:5060", "udp:192.0.2.3:5060"]
    assert asked[0] == Query("example.test", RecordType.NAPTR)
    assert Query("_sip._sctp.example.test", RecordType.SRV) not in asked
    assert targets[0].server_name == "example.test"  # RFC 5922 §4: the domain


def test_naptr_keeps_only_transports_we_support() -> None:
    targets, _ = run("sip:bob@example.test", NAPTRS,
                     transports=frozenset({Transport.UDP, Transport.TCP}))
    assert where(targets)[0] == "tcp:192.0.2.2:5060"
    assert all(t.transport is not Transport.TLS for t in targets)


def test_sips_forces_tls() -> None:
    # §4.1: a SIPS URI discards every service that is not SIPS
    targets, _ = run("sips:bob@example.test", NAPTRS)
    assert where(targets) == ["tls:192.0.2.1:5061"]
    # a transport parameter cannot take a SIPS URI off TLS (§26.2.2)
    targets, _ = run("sips:bob@tcp.example.test:5070;transport=tcp", NAPTRS)
    assert where(targets)[0] == "tls:192.0.2.2:5070"


def test_websocket_naptr_services() -> None:
    zone: Zone = {
        ("ws.test", "NAPTR"): (Naptr(10, 10, "S", "SIPS+D2W", "", "_sips._ws.ws.test"),
                               Naptr(20, 10, "s", "SIP+D2W", "", "_sip._ws.ws.test")),
        ("_sips._ws.ws.test", "SRV"): (Srv(1, 1, 443, "edge.ws.test"),),
        ("_sip._ws.ws.test", "SRV"): (Srv(1, 1, 8080, "edge.ws.test"),),
        ("edge.ws.test", "A"): ("192.0.2.40",),
    }
    targets, _ = run("sip:bob@ws.test", zone)
    assert where(targets) == ["wss:192.0.2.40:443", "ws:192.0.2.40:8080"]
    # RFC 7118 §5.5: no SRV name for ws: the default port
    targets, _ = run("sip:bob@edge.ws.test;transport=ws", zone)
    assert where(targets) == ["ws:192.0.2.40:80"]


def test_no_naptr_falls_back_to_srv_for_each_transport() -> None:
    zone = {k: v for k, v in NAPTRS.items() if k[1] != "NAPTR"}
    targets, asked = run("sip:bob@example.test", zone)
    assert [q.name for q in asked[1:4]] == ["_sip._udp.example.test", "_sip._tcp.example.test",
                                            "_sips._tcp.example.test"]
    assert where(targets)[0] == "udp:192.0.2.3:5060"
    targets, asked = run("sips:bob@example.test", zone)
    assert where(targets) == ["tls:192.0.2.1:5061"]
    assert [q.name for q in asked if q.rdtype is RecordType.SRV] == ["_sips._tcp.example.test"]


def test_no_srv_falls_back_to_a_at_the_default_port() -> None:
    zone: Zone = {("plain.test", "A"): ("192.0.2.50",), ("plain.test", "AAAA"): ("::1",)}
    targets, _ = run("sip:bob@plain.test", zone)
    assert where(targets) == ["udp:192.0.2.50:5060", "udp:[::1]:5060"]
    targets, _ = run("sips:bob@plain.test", zone)
    assert where(targets) == ["tls:192.0.2.50:5061", "tls:[::1]:5061"]
    # a NAPTR whose SRV name has no records: its transport, default port
    zone = {**zone, ("plain.test", "NAPTR"): (Naptr(1, 1, "s", "SIP+D2T", "", "_x.plain.test"),)}
    targets, _ = run("sip:bob@plain.test", zone)
    assert where(targets)[0] == "tcp:192.0.2.50:5060"


def test_a_lone_dot_means_no_service() -> None:
    # RFC 2782: "the service is decidedly not available at this domain"
    zone: Zone = {("_sip._udp.none.test", "SRV"): (Srv(0, 0, 0, "."),),
                  ("none.test", "A"): ("192.0.2.60",)}
    targets, _ = run("sip:bob@none.test;transport=udp", zone)
    assert targets == []


def test_srv_priority_first() -> None:
    zone: Zone = {
        ("_sip._udp.p.test", "SRV"): (Srv(20, 100, 5062, "c.p.test"), Srv(10, 0, 5060, "a.p.test"),
                                      Srv(15, 0, 5061, "b.p.test")),
        ("a.p.test", "A"): ("192.0.2.1",), ("b.p.test", "A"): ("192.0.2.2",),
        ("c.p.test", "A"): ("192.0.2.3",),
    }
    for seed in range(20):
        targets, _ = run("sip:p.test;transport=udp", zone, seed=seed)
        assert where(targets) == ["udp:192.0.2.1:5060", "udp:192.0.2.2:5061",
                                  "udp:192.0.2.3:5062"]


def test_srv_weights_share_the_first_place() -> None:
    # RFC 2782: within a priority, a record is first with probability weight/total
    records = [Srv(0, 10, 5060, "a"), Srv(0, 30, 5060, "b"), Srv(0, 60, 5060, "c")]
    rng = random.Random(3263)
    firsts = Counter(srv_order(records, rng)[0].target for _ in range(6000))
    assert 0.07 < firsts["a"] / 6000 < 0.13
    assert 0.26 < firsts["b"] / 6000 < 0.34
    assert 0.56 < firsts["c"] / 6000 < 0.64
    # every ordering holds each record once
    assert sorted(r.target for r in srv_order(records, rng)) == ["a", "b", "c"]


def test_srv_weight_zero_rarely_first() -> None:
    records = [Srv(0, 0, 5060, "zero"), Srv(0, 100, 5060, "heavy")]
    rng = random.Random(7)
    firsts = Counter(srv_order(records, rng)[0].target for _ in range(2000))
    # the zero-weight record wins only when the draw is exactly 0: 1 in 101
    assert 0 < firsts["zero"] < 60


def test_the_same_seed_gives_the_same_order() -> None:
    records = [Srv(0, 1, 5060, str(i)) for i in range(8)]
    first = srv_order(records, random.Random(42))
    assert srv_order(records, random.Random(42)) == first


def test_feeding_a_question_not_asked_is_an_error() -> None:
    resolution = Resolution(URI.parse("sip:example.test"))
    assert resolution.stage == "NAPTR"
    with pytest.raises(ValueError, match="not asked"):
        resolution.feed(Query("other.test", RecordType.SRV), Answer())
    with pytest.raises(ValueError, match="still in its NAPTR stage"):
        resolution.targets()


def test_not_a_sip_uri() -> None:
    with pytest.raises(ValueError, match="not a SIP or SIPS URI"):
        Resolution(URI.parse("tel:+15551234"))
    with pytest.raises(ValueError, match="sctp"):
        Resolution(URI.parse("sip:example.test;transport=sctp"))


def test_address_families_follow_the_listening_points() -> None:
    from sipwire.dns import address_families
    from sipwire.transport.base import ListeningPoint

    v4, v6 = ListeningPoint.parse("udp:127.0.0.1:5060"), ListeningPoint.parse("tcp:[::1]:5060")
    assert address_families([v4]) == (RecordType.A,)
    assert address_families([v6]) == (RecordType.AAAA,)
    assert address_families([v4, v6]) == address_families([]) == (RecordType.A, RecordType.AAAA)
