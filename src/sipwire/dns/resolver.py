"""The asyncio driver of RFC 3263: ``Resolution`` fed by dnspython's asyncio
resolver, through a TTL cache, with a blacklist of failed targets.

``DnsResolver.resolve(uri)`` runs the stages of ``procedure.Resolution``,
asking each stage's questions in parallel, and returns the ordered targets
with those blacklisted (RFC 3263 §4.3 failures of earlier requests) moved to
the end: they are still tried when nothing else is left, and a failure of
one request never takes a server away from the others.  ``failed(target)``
blacklists a target.  The clock is an argument (``time.monotonic`` by
default) and so is the random source of RFC 2782's weights.

Nameservers: those given (``--dns-server host:port``), else the system's
(``/etc/resolv.conf``).  With the system's configuration a name the DNS does
not know is also looked up with ``getaddrinfo`` (``/etc/hosts``); ``localhost``
is the loopback addresses and ``.invalid`` is nothing (RFC 6761 §6.3, §6.4),
without asking anyone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable, Iterable, Sequence

import dns.asyncresolver
import dns.exception
import dns.message
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV
import dns.resolver

from ..message.uri import URI
from ..transport.base import Transport, is_ip, normalize_ip
from .cache import Blacklist, DnsCache
from .procedure import SUPPORTED_TRANSPORTS, DnsTarget, Resolution
from .records import Answer, Naptr, Query, Record, RecordType, Srv

__all__ = ["DnsResolver", "Nameserver"]

logger = logging.getLogger("sipwire.dns")

#: an IP address and a port
Nameserver = tuple[str, int]

_FAMILIES = (RecordType.A, RecordType.AAAA)
_LOOPBACK = {RecordType.A: "127.0.0.1", RecordType.AAAA: "::1"}


class DnsResolver:
    """RFC 3263 over asyncio; one per endpoint or server, shared by its requests.

    ``nameservers`` (IP, port) pairs, or None for the system's configuration;
    ``timeout`` bounds each query (all servers and retries); ``blacklist_for``
    is how long a failed target is tried last (a 503's Retry-After, when
    given, instead).
    """

    def __init__(self, nameservers: Sequence[Nameserver] | None = None, *,
                 timeout: float = 3.0, cache: DnsCache | None = None,
                 blacklist_for: float = 30.0, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 transports: Iterable[Transport] = SUPPORTED_TRANSPORTS) -> None:
        self.nameservers = tuple(nameservers) if nameservers is not None else None
        self.timeout = timeout
        self.cache = cache if cache is not None else DnsCache()
        self.blacklist = Blacklist(blacklist_for)
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.transports = frozenset(transports)
        #: questions sent to a nameserver (not answered from the cache)
        self.queries_sent = 0
        self._resolver: dns.asyncresolver.Resolver | None = None

    def __repr__(self) -> str:
        where = ", ".join(f"{h}:{p}" for h, p in self.nameservers) \
            if self.nameservers is not None else "system"
        return f"<DnsResolver {where}>"

    def __str__(self) -> str:
        """What a command prints: ``RFC 3263 (DNS at 127.0.0.1:5353)``."""
        where = "the system's resolver" if self.nameservers is None else \
            "DNS at " + ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
                                  for h, p in self.nameservers)
        return f"RFC 3263 ({where})"

    # -- RFC 3263 -------------------------------------------------------------------------

    async def resolve(self, uri: URI, *,
                      families: Sequence[RecordType] = _FAMILIES) -> list[DnsTarget]:
        """The targets of ``uri`` in the order to try them (blacklisted ones
        last); empty when there is none.  Raises ``ValueError`` for a URI
        that is not SIP or SIPS."""
        resolution = Resolution(uri, transports=self.transports, families=families)
        domain = resolution.domain
        if domain == "invalid" or domain.endswith(".invalid"):
            return []
        local = domain == "localhost" or domain.endswith(".localhost")
        while not resolution.done:
            queries = resolution.pending()
            if local:
                answers = [self._loopback(query) for query in queries]
            else:
                answers = list(await asyncio.gather(*(self.query(q) for q in queries)))
            for query, answer in zip(queries, answers, strict=True):
                resolution.feed(query, answer)
        targets = resolution.targets(self.rng)
        if not targets and self.nameservers is None and not local:
            targets = await self._from_hosts(resolution)
        for line in resolution.trace:
            logger.debug("%s: %s", uri, line)
        if not targets:
            logger.info("no server for %s in the DNS (RFC 3263)", uri)
        return self.order(targets)

    def order(self, targets: Sequence[DnsTarget]) -> list[DnsTarget]:
        """``targets`` with the blacklisted ones moved to the end, in their order."""
        now = self.clock()
        blocked = [t for t in targets if self.blacklist.blocked(t.key, now)]
        if not blocked:
            return list(targets)
        return [t for t in targets if t not in blocked] + blocked

    def failed(self, target: DnsTarget, *, retry_after: float | None = None) -> float:
        """``target`` failed (RFC 3263 §4.3): try it last for a while; until when."""
        until = self.blacklist.add(target.key, self.clock(), retry_after)
        logger.info("%s failed: tried last for %.0f s", target, until - self.clock())
        return until

    # -- one question ---------------------------------------------------------------------

    async def query(self, query: Query) -> Answer:
        """The answer to ``query``, from the cache while its TTL lasts."""
        now = self.clock()
        cached = self.cache.get(query, now)
        if cached is not None:
            return cached
        self.queries_sent += 1
        answer = await self._ask(query)
        self.cache.put(query, answer, self.clock())
        return answer

    async def _ask(self, query: Query) -> Answer:
        resolver = self._dns()
        try:
            result = await resolver.resolve(
                query.name + ".", query.rdtype.value, search=False,
                raise_on_no_answer=False, lifetime=self.timeout)
        except dns.resolver.NXDOMAIN as exc:
            responses = exc.kwargs.get("responses") or {}
            return Answer((), _negative_ttl(next(iter(responses.values()), None)))
        except (dns.exception.DNSException, OSError) as exc:
            logger.info("DNS query %s failed: %s", query, exc)
            return Answer(failed=True)
        response = result.response
        if result.rrset is None:
            return Answer((), _negative_ttl(response))
        records = tuple(_record(rdata) for rdata in result.rrset)
        ttl = min((rrset.ttl for rrset in response.answer), default=result.rrset.ttl)
        return Answer(tuple(r for r in records if r is not None), float(ttl))

    def _dns(self) -> dns.asyncresolver.Resolver:
        resolver = self._resolver
        if resolver is None:
            if self.nameservers is None:
                resolver = dns.asyncresolver.Resolver()
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)
                                        for host, port in self.nameservers]
            resolver.cache = None  # ours honours negative TTLs and is bounded
            self._resolver = resolver
        return resolver

    @staticmethod
    def _loopback(query: Query) -> Answer:
        """RFC 6761 §6.3: localhost is the loopback address, and has no NAPTR or SRV."""
        address = _LOOPBACK.get(query.rdtype)
        return Answer((address,), 0.0) if address is not None else Answer()

    async def _from_hosts(self, resolution: Resolution) -> list[DnsTarget]:
        """The system's own lookup (``/etc/hosts``) when the DNS knows nothing."""
        uri = resolution.uri
        transport = resolution.transport
        port = uri.port or transport.default_port
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                resolution.domain, port, type=socket.SOCK_DGRAM)
        except OSError:
            return []
        out: list[DnsTarget] = []
        for info in infos:
            address = normalize_ip(str(info[4][0]))
            if is_ip(address):
                target = DnsTarget(transport, address, port, server_name=resolution.domain,
                                   found=f"getaddrinfo {resolution.domain}")
                if target not in out:
                    out.append(target)
        return out


def _record(rdata: dns.rdata.Rdata) -> Record | None:
    if isinstance(rdata, dns.rdtypes.IN.NAPTR.NAPTR):
        return Naptr(int(rdata.order), int(rdata.preference), _text(rdata.flags),
                     _text(rdata.service), _text(rdata.regexp), str(rdata.replacement))
    if isinstance(rdata, dns.rdtypes.IN.SRV.SRV):
        return Srv(int(rdata.priority), int(rdata.weight), int(rdata.port), str(rdata.target))
    if isinstance(rdata, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA):
        return str(rdata.address)
    return None


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308 §5: the SOA of the authority section, its TTL bounded by its
    MINIMUM field; 0 (not cached) without one."""
    if response is None:
        return 0.0
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            for soa in rrset:
                assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
                return float(min(rrset.ttl, soa.minimum))
    return 0.0
