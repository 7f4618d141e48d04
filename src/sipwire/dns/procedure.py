"""RFC 3263 §4 as a sans-I/O procedure: a SIP or SIPS URI and DNS answers in,
an ordered list of (transport, address, port) targets out.

``Resolution`` asks its questions in stages and never touches the network::

    resolution = Resolution(URI.parse("sip:alice@example.test"))
    while not resolution.done:
        for query in resolution.pending():
            resolution.feed(query, answer_from_somewhere(query))
    targets = resolution.targets(random.Random())

The stages follow the RFC:

- §4.1, §4.2 shortcuts: a numeric TARGET (the ``maddr``, else the host) is
  used as it is, at the URI's port or the transport's default; a name with
  an explicit port is looked up with A/AAAA only (UDP for ``sip:``, TLS for
  ``sips:`` unless a ``transport`` parameter says otherwise); a name with a
  ``transport`` parameter but no port skips NAPTR and asks SRV for that
  transport.
- §4.1 NAPTR: records with flag "s" and a service we support (``SIP+D2U``
  UDP, ``SIP+D2T`` TCP, ``SIPS+D2T`` TLS, and RFC 7118 §5.5's ``SIP+D2W`` /
  ``SIPS+D2W`` for WebSocket), ordered by order then preference; a SIPS URI
  keeps only ``SIPS+`` services.  Each gives an SRV name.  No usable NAPTR:
  SRV queries for ``_sip._udp``, ``_sip._tcp`` and ``_sips._tcp`` (only
  ``_sips._tcp`` for a SIPS URI), in that order of preference.
- §4.2 SRV: RFC 2782's order (priority, then weighted random, with the random
  source given to ``targets``); a lone "." target means the service is not
  offered.  No SRV at all: A/AAAA of the domain at the default port of the
  transport chosen so far (TLS for SIPS, else UDP).
- A/AAAA of every SRV target, each address a target in turn (§4.2: "the next
  SHOULD be tried").

The list keeps the NAPTR (or fallback) order across transports: when every
server of the preferred transport fails, the next transport's servers are
tried (§4.3 failover goes down the whole list).  ``server_name`` of each
target is the URI's domain, which a TLS server must prove it is (RFC 5922
§4), not the SRV target.
"""

from __future__ import annotations

import enum
import random
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..message.uri import URI
from ..transport.base import (
    ListeningPoint,
    Target,
    Transport,
    TransportError,
    is_ip,
    normalize_ip,
)
from .records import Answer, Naptr, Query, RecordType, Srv

__all__ = [
    "NAPTR_SERVICES",
    "SUPPORTED_TRANSPORTS",
    "DnsTarget",
    "Resolution",
    "address_families",
    "needs_dns",
    "srv_order",
]

#: RFC 3263 §4.1 and the IANA registry (RFC 3263 §10.1), RFC 7118 §5.5:
#: the NAPTR services we can use, and the transport each names
NAPTR_SERVICES: dict[str, Transport] = {
    "SIP+D2U": Transport.UDP,
    "SIP+D2T": Transport.TCP,
    "SIPS+D2T": Transport.TLS,
    "SIP+D2W": Transport.WS,
    "SIPS+D2W": Transport.WSS,
}

SUPPORTED_TRANSPORTS = frozenset(Transport)

#: §4.1 without NAPTR: the SRV services asked for, in our order of preference
_FALLBACK_SIP = ((Transport.UDP, "_sip._udp"), (Transport.TCP, "_sip._tcp"),
                 (Transport.TLS, "_sips._tcp"))
_FALLBACK_SIPS = ((Transport.TLS, "_sips._tcp"),)

#: §4.2: the SRV service of a transport given by the URI (no name is
#: registered for WebSocket: RFC 7118 §5.5 goes straight to the default port)
_SRV_PREFIX = {Transport.UDP: "_sip._udp", Transport.TCP: "_sip._tcp",
               Transport.TLS: "_sips._tcp"}


@dataclass(frozen=True, slots=True)
class DnsTarget(Target):
    """A ``transport.Target`` found by RFC 3263: ``host`` is an IP address.

    ``server_name`` is the domain the request was for: the name a TLS server's
    certificate must carry (RFC 5922 §4) and a WebSocket's Host; ``found``
    says how the target was found (``SRV _sip._tcp.example.test -> a.example.test``),
    for logs.
    """

    server_name: str | None = None
    found: str = ""

    @property
    def key(self) -> tuple[Transport, str, int]:
        """What a blacklist remembers: transport, address and port."""
        return (self.transport, self.host, self.effective_port)

    def __str__(self) -> str:
        return Target.__str__(self)


def address_families(points: Iterable[ListeningPoint]) -> tuple[RecordType, ...]:
    """The address records worth asking for an element listening on ``points``:
    A with an IPv4 point, AAAA with an IPv6 one (both, A first, with none or
    both), as the transport would pick an address of a family it sends from."""
    families = {point.family for point in points}
    if families == {socket.AF_INET}:
        return (RecordType.A,)
    if families == {socket.AF_INET6}:
        return (RecordType.AAAA,)
    return (RecordType.A, RecordType.AAAA)


def needs_dns(uri: URI) -> bool:
    """True when sending to ``uri`` asks the DNS: its TARGET (``maddr``, else the
    host) is a name, not an IP address (§4.1)."""
    host = uri.maddr or uri.host_address
    return bool(host) and not is_ip(host)


class _Stage(enum.Enum):
    NAPTR = "NAPTR"
    SRV = "SRV"
    ADDRESS = "A/AAAA"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class _Service:
    """One SRV name to ask, and the transport it stands for."""

    transport: Transport
    name: str
    found: str


@dataclass(frozen=True, slots=True)
class _Host:
    """A name to look up with A/AAAA, and what its addresses become."""

    transport: Transport
    name: str
    port: int
    found: str
    #: the SRV record that named it, and the index of its service
    srv: Srv | None = None
    service: int = 0


def uri_transport(uri: URI) -> Transport | None:
    """The ``transport`` parameter as a transport, upgraded for a SIPS URI
    (§26.2.2: TLS; RFC 7118 §5.2: ws becomes wss); None when absent.
    Raises ``TransportError`` for one sipwire does not have (SCTP)."""
    name = uri.transport
    if name is None:
        return None
    transport = Transport.parse(name)
    if uri.scheme == "sips" and not transport.secure:
        return Transport.WSS if transport is Transport.WS else Transport.TLS
    return transport


class Resolution:
    """RFC 3263 §4 for one URI, fed with DNS answers (see the module docs).

    ``transports`` are those the client supports (§4.1 discards the others);
    ``families`` the address records asked for each name, in the order their
    addresses are tried (``A`` then ``AAAA`` by default).  Raises
    ``ValueError`` for a URI that is not SIP or SIPS or has no host.
    """

    def __init__(self, uri: URI, *, transports: Iterable[Transport] = SUPPORTED_TRANSPORTS,
                 families: Sequence[RecordType] = (RecordType.A, RecordType.AAAA)) -> None:
        if not uri.is_sip:
            raise ValueError(f"cannot resolve {uri}: not a SIP or SIPS URI (RFC 3263 §4)")
        host = uri.maddr or uri.host_address
        if not host:
            raise ValueError(f"cannot resolve {uri}: no host")
        try:
            explicit = uri_transport(uri)
        except TransportError as exc:
            raise ValueError(f"cannot resolve {uri}: {exc}") from None
        self.uri = uri
        self.secure = uri.scheme == "sips"
        self.domain = host.strip("[]").lower().rstrip(".")
        self.transports = frozenset(transports)
        self.families = tuple(families)
        #: one line per conclusion, for logs: what was asked and what it gave
        self.trace: list[str] = []
        self._answers: dict[Query, Answer] = {}
        self._services: list[_Service] = []
        self._hosts: list[_Host] = []
        self._srv_used = False
        self._default = explicit or (Transport.TLS if self.secure else Transport.UDP)
        self._stage = _Stage.DONE
        self._numeric: DnsTarget | None = None
        if is_ip(host):
            # §4.1, §4.2: a numeric TARGET is used as it is
            self._numeric = DnsTarget(self._default, normalize_ip(host),
                                      uri.port or self._default.default_port,
                                      server_name=None, found="numeric")
            return
        if uri.port is not None:
            # §4.2: a name with a port: A/AAAA only, at that port
            self._address_stage([_Host(self._default, self.domain, uri.port,
                                       f"{self.domain}:{uri.port}")])
        elif explicit is not None:
            # §4.2: the transport is known: SRV for it alone (WebSocket has none)
            prefix = _SRV_PREFIX.get(explicit)
            if prefix is None:
                self._address_stage([_Host(explicit, self.domain, explicit.default_port,
                                           self.domain)])
            else:
                name = f"{prefix}.{self.domain}"
                self._srv_stage([_Service(explicit, name, f"SRV {name}")])
        else:
            self._stage = _Stage.NAPTR

    # -- the driver's side ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._stage is _Stage.DONE

    @property
    def transport(self) -> Transport:
        """The transport chosen so far: the URI's, the first usable NAPTR
        service's, else TLS for SIPS and UDP for SIP (§4.1)."""
        return self._default

    @property
    def stage(self) -> str:
        """``NAPTR``, ``SRV``, ``A/AAAA`` or ``done``."""
        return self._stage.value

    def pending(self) -> list[Query]:
        """The questions of the current stage still unanswered (ask them in
        parallel); empty once ``done``."""
        return [q for q in self._questions() if q not in self._answers]

    def feed(self, query: Query, answer: Answer) -> None:
        """The answer to ``query``; the last answer of a stage moves on to the next."""
        if query not in self._questions():
            raise ValueError(f"{query} was not asked in the {self._stage.value} stage")
        self._answers[query] = answer
        if not self.pending():
            self._advance()

    def targets(self, rng: random.Random | None = None) -> list[DnsTarget]:
        """The ordered targets (§4.2, RFC 2782 for equal priorities, using
        ``rng``); empty when the DNS knows no server."""
        if not self.done:
            raise ValueError(f"the resolution of {self.uri} is still in its "
                             f"{self._stage.value} stage")
        if self._numeric is not None:
            return [self._numeric]
        rng = rng if rng is not None else random.Random()
        out: list[DnsTarget] = []
        seen: set[tuple[Transport, str, int]] = set()
        for host in self._ordered_hosts(rng):
            for family in self.families:
                answer = self._answers.get(Query.of(host.name, family))
                for address in answer.addresses() if answer is not None else ():
                    target = DnsTarget(host.transport, normalize_ip(address), host.port,
                                       server_name=self.domain,
                                       found=f"{host.found} -> {family} {address}")
                    if target.key not in seen:
                        seen.add(target.key)
                        out.append(target)
        return out

    # -- the stages ----------------------------------------------------------------------

    def _questions(self) -> list[Query]:
        stage = self._stage
        if stage is _Stage.NAPTR:
            return [Query.of(self.domain, RecordType.NAPTR)]
        if stage is _Stage.SRV:
            return list(dict.fromkeys(Query.of(s.name, RecordType.SRV) for s in self._services))
        if stage is _Stage.ADDRESS:
            return list(dict.fromkeys(Query.of(h.name, family) for h in self._hosts
                                      for family in self.families))
        return []

    def _advance(self) -> None:
        stage = self._stage
        if stage is _Stage.NAPTR:
            self._after_naptr(self._answers[Query.of(self.domain, RecordType.NAPTR)])
        elif stage is _Stage.SRV:
            self._after_srv()
        else:
            self._stage = _Stage.DONE

    def _after_naptr(self, answer: Answer) -> None:
        """§4.1: the services of the NAPTR records we can use, else SRV for each
        transport we support."""
        services: list[_Service] = []
        for record in sorted(answer.naptrs(), key=lambda r: (r.order, r.preference)):
            transport = self._naptr_transport(record)
            if transport is not None:
                name = record.replacement.lower().rstrip(".")
                services.append(_Service(transport, name,
                                         f"NAPTR {record.service} -> SRV {name}"))
        if services:
            self._default = services[0].transport
            self.trace.append(f"NAPTR {self.domain}: " + ", ".join(
                f"{s.transport} {s.name}" for s in services))
        else:
            self.trace.append(f"NAPTR {self.domain}: none usable; SRV for each transport")
            fallback = _FALLBACK_SIPS if self.secure else _FALLBACK_SIP
            services = [_Service(t, f"{prefix}.{self.domain}", f"SRV {prefix}.{self.domain}")
                        for t, prefix in fallback if t in self.transports]
        self._srv_stage(services)

    def _naptr_transport(self, record: Naptr) -> Transport | None:
        """§4.1: flag "s" (an SRV name follows), a service of the table, only
        SIPS services for a SIPS URI, and a transport we have."""
        if record.flags.lower() != "s" or record.regexp or not record.replacement.strip("."):
            return None
        service = record.service.upper()
        transport = NAPTR_SERVICES.get(service)
        if transport is None or transport not in self.transports:
            return None
        if self.secure and not service.startswith("SIPS+"):
            return None
        return transport

    def _srv_stage(self, services: list[_Service]) -> None:
        self._services = services
        if not services:
            self._fallback_to_address()
            return
        self._stage = _Stage.SRV

    def _after_srv(self) -> None:
        """§4.2 and RFC 2782: each service's servers; none at all: A/AAAA of the
        domain at the default port; a lone "." says there is no such service."""
        hosts: list[_Host] = []
        refused = False
        for index, service in enumerate(self._services):
            records = self._answers[Query.of(service.name, RecordType.SRV)].srvs()
            if len(records) == 1 and records[0].target.strip(".") == "":
                refused = True  # RFC 2782: "the service is decidedly not available"
                continue
            for srv in records:
                name = srv.target.lower().rstrip(".")
                hosts.append(_Host(service.transport, name, srv.port,
                                   f"{service.found} -> {srv.priority} {srv.weight} "
                                   f"{srv.port} {name}", srv, index))
        if hosts:
            self._srv_used = True
            self._address_stage(hosts)
            return
        if refused:
            self.trace.append(f"SRV for {self.domain}: the service is not offered")
            self._stage = _Stage.DONE
            return
        self._fallback_to_address()

    def _fallback_to_address(self) -> None:
        transport = self._default
        self.trace.append(f"no SRV for {self.domain}: A/AAAA, {transport} port "
                          f"{transport.default_port}")
        self._address_stage([_Host(transport, self.domain, transport.default_port,
                                   self.domain)])

    def _address_stage(self, hosts: list[_Host]) -> None:
        self._hosts = hosts
        self._stage = _Stage.ADDRESS

    def _ordered_hosts(self, rng: random.Random) -> list[_Host]:
        """The hosts in service order and, within a service, in RFC 2782 order."""
        if not self._srv_used:
            return self._hosts
        out: list[_Host] = []
        for index in range(len(self._services)):
            mine = {h.srv: h for h in self._hosts if h.service == index and h.srv is not None}
            out.extend(mine[record] for record in srv_order(list(mine), rng))
        return out


def srv_order(records: Sequence[Srv], rng: random.Random) -> list[Srv]:
    """RFC 2782 "Usage rules": the lowest priority first; within a priority,
    repeatedly a weighted random pick, the records of weight 0 put first so that
    they have a small chance.

    The RFC draws the number from 0 to the sum, inclusive, so a draw of 0
    picks the first record; that is the small chance of the zero weights.
    When the records left have no zero weight, the draw starts at 1, or the
    first record would win one draw more than its weight says (1 and 3 would
    share the first place 40:60, not 25:75)."""
    out: list[Srv] = []
    for priority in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == priority),
                       key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            pick = rng.randint(0 if group[0].weight == 0 else min(1, total), total)
            running = 0
            chosen = len(group) - 1
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    chosen = index
                    break
            out.append(group.pop(chosen))
    return out
