"""The zone the DNS tests serve: NAPTR, SRV, A and AAAA records under ``test.``.

``{…}`` fields are filled with the ports of the servers a test runs.
"""

from __future__ import annotations

SOA = """\
$TTL 300
test.              IN SOA  ns.test. hostmaster.test. 1 3600 600 86400 {negative_ttl}
test.              IN NS   ns.test.
ns.test.           IN A    127.0.0.1
"""

#: NAPTR choosing transports: TCP preferred, UDP after it; SCTP ignored
NAPTR = """\
transports.test.   IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.transports.test.
transports.test.   IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp.transports.test.
transports.test.   IN NAPTR 5  50 "s" "SIP+D2S" "" _sip._sctp.transports.test.
_sip._tcp.transports.test. IN SRV 0 0 {tcp_port} host.transports.test.
_sip._udp.transports.test. IN SRV 0 0 {udp_port} host.transports.test.
host.transports.test.      IN A 127.0.0.1
"""

#: SRV priority: the lowest first whatever the weights
PRIORITY = """\
_sip._udp.priority.test. IN SRV 20 90 5062 third.priority.test.
_sip._udp.priority.test. IN SRV 10 10 5061 second.priority.test.
_sip._udp.priority.test. IN SRV 5  0  5060 first.priority.test.
first.priority.test.     IN A 127.0.0.1
second.priority.test.    IN A 127.0.0.2
third.priority.test.     IN A 127.0.0.3
third.priority.test.     IN AAAA ::1
"""

#: weights 1:3 at the same priority
WEIGHTS = """\
_sip._udp.weights.test. IN SRV 0 1 5060 light.weights.test.
_sip._udp.weights.test. IN SRV 0 3 5060 heavy.weights.test.
light.weights.test.     IN A 127.0.0.1
heavy.weights.test.     IN A 127.0.0.2
"""

#: failover: the first server (priority 0) is dead or answers 503
FAILOVER = """\
failover.test.     IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.failover.test.
failover.test.     IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.failover.test.
_sip._udp.failover.test. IN SRV 0 0 {first_port} first.failover.test.
_sip._udp.failover.test. IN SRV 1 0 {second_port} second.failover.test.
_sip._tcp.failover.test. IN SRV 0 0 {first_port} first.failover.test.
_sip._tcp.failover.test. IN SRV 1 0 {second_port} second.failover.test.
first.failover.test.  IN A 127.0.0.1
second.failover.test. IN A 127.0.0.1
"""

#: a SIPS domain served by a host of another name: TLS checks the domain (RFC 5922 §4)
SECURE = """\
secure.test.        IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.secure.test.
_sips._tcp.secure.test. IN SRV 0 0 {tls_port} box17.hosting.test.
box17.hosting.test. IN A 127.0.0.1
"""

#: a short TTL, for the cache
SHORT = """\
short.test.        60 IN A 127.0.0.1
"""


#: more SRV records than fit in 512 bytes: the answer comes over TCP
BIG = "".join(f"_sip._udp.big.test. IN SRV 0 1 {5000 + i} host{i:02d}.with.a.long.name.big.test.\n"
              for i in range(24)) + "".join(
    f"host{i:02d}.with.a.long.name.big.test. IN A 127.0.0.{i + 1}\n" for i in range(24))


def zone(negative_ttl: int = 120, **ports: int) -> str:
    """The whole zone, with ``ports`` (tcp_port, udp_port, first_port, second_port,
    tls_port)."""
    values = {"tcp_port": 5060, "udp_port": 5060, "first_port": 5060, "second_port": 5060,
              "tls_port": 5061}
    values.update(ports)
    return (SOA.format(negative_ttl=negative_ttl) + NAPTR.format(**values) + PRIORITY
            + WEIGHTS + FAILOVER.format(**values) + SECURE.format(**values) + SHORT + BIG)
