"""What a proxy knows about itself: its addresses, its domains and its policy.

RFC 3261 §16 leaves much to "local policy"; this is where that policy lives,
configured once, with no I/O.  The same object answers the questions the
proxy keeps asking: is this URI one of mine (§16.4), is this Via sent-by one
I inserted (§16.3 step 4), is this a domain I am responsible for (§16.5)?
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..message.fields.via import Via
from ..message.uri import URI

__all__ = ["DEFAULT_PORTS", "TIMER_C_MIN", "ProxyAddress", "ProxyConfig", "default_port",
           "normalize_host", "uri_transport"]

#: §16.6 step 11: "The timer MUST be larger than 3 minutes."
TIMER_C_MIN = 180.0

#: §18.1.1 (5060 for UDP, TCP and SCTP, 5061 for TLS), RFC 7118 §5.5 (80 / 443)
DEFAULT_PORTS: dict[str, int] = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061,
                                 "WS": 80, "WSS": 443}

_SPEC_RE = re.compile(r"(?i)(udp|tcp|tls|sctp|wss|ws):(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)"
                      r"(?::([0-9]{1,5}))?")


def default_port(transport: str) -> int:
    """The port a transport uses when a URI or Via names none."""
    return DEFAULT_PORTS.get(transport.upper(), 5060)


# Runs several times per proxied request (own URI, own Via, Route) on the same
# few hosts, and ipaddress parsing is slow; bounded, so made-up hosts only evict.
@functools.lru_cache(maxsize=4096)
def normalize_host(host: str) -> str:
    """A host as compared: lower-cased, IPv6 without brackets and in canonical
    form, IPv4-mapped IPv6 shown as IPv4."""
    bare = host.strip("[]")
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower().rstrip(".")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    """One place the proxy listens: transport (``UDP``, ``TCP``, ``TLS``,
    ``WS``, ``WSS``), host (an address or a name that resolves to it) and port.
    """

    transport: str
    host: str
    port: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport", self.transport.upper())

    @classmethod
    def parse(cls, spec: str) -> ProxyAddress:
        """``udp:192.0.2.1:5060``, ``tls:proxy.example.com`` (default port), ``tcp:[::1]``."""
        m = _SPEC_RE.fullmatch(spec.strip())
        if m is None:
            raise ValueError(f"expected transport:host[:port], not {spec!r}")
        transport, host, port = m.groups()
        return cls(transport, host, int(port) if port else default_port(transport))

    @property
    def uri_host(self) -> str:
        """The host as a URI or Via writes it (IPv6 in brackets)."""
        bare = self.host.strip("[]")
        return f"[{bare}]" if ":" in bare else bare

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.uri_host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The policy of a stateful proxy (RFC 3261 §16).

    ``addresses``
        where the proxy listens; the Via it inserts and the Record-Route it
        adds name one of them, and a URI or Via sent-by naming any of them
        (at one of their ports) is the proxy's own.
    ``hostnames``
        further names that reach the proxy (``proxy.example.com``): a URI with
        one of these hosts and one of the proxy's ports is its own too.  The
        first is the host of the Record-Route value when given.
    ``domains``
        the domains the proxy is responsible for (§16.5): a Request-URI in
        one of them is looked up in the location service.
    ``relay``
        whether to forward requests for other domains to their Request-URI
        (§16.5); requests routed here by a Route value of ours (in-dialog
        requests after record-routing, a preloaded outbound-proxy route) are
        forwarded either way.
    ``record_route``
        insert a Record-Route value (with ``lr``) to stay on the path of
        dialogs (§16.6 step 4).
    ``supported``
        option tags understood in Proxy-Require (§16.3 step 5).
    ``forking``
        ``"parallel"``: every target at once; ``"sequential"``: groups of
        equal q, highest first, one group after the other (§16.6).
    ``timer_c``
        Timer C for proxied INVITEs, over 3 minutes (§16.6 step 11).
    ``cancel_grace``
        how long a branch cancelled by Timer C may take to answer before the
        proxy gives up on it (§16.8 lets it choose; 64*T1 by default).
    ``group_timeout``
        sequential forking: how long a group may ring before it is cancelled
        and the next group tried (None: until its branches end).
    ``loop_detection``
        the optional check of §16.3 step 4 (482 Loop Detected).
    ``schemes``
        Request-URI schemes served; others get 416 (§16.3 step 2).
    ``answer_options``
        answer an OPTIONS with Max-Forwards 0 as its final recipient (§16.3
        step 3, §11) instead of 483.
    ``route_to_source``
        send requests for any registered contact (not only RFC 5626 flows
        and WebSocket clients) to the address the REGISTER came from, the
        usual fix for UAs behind NAT.
    """

    addresses: tuple[ProxyAddress, ...]
    hostnames: tuple[str, ...] = ()
    domains: frozenset[str] = frozenset()
    relay: bool = False
    record_route: bool = True
    supported: frozenset[str] = frozenset()
    forking: Literal["parallel", "sequential"] = "parallel"
    timer_c: float = 185.0
    cancel_grace: float = 32.0
    group_timeout: float | None = None
    loop_detection: bool = True
    schemes: frozenset[str] = frozenset({"sip", "sips"})
    answer_options: bool = True
    route_to_source: bool = False
    allow: tuple[str, ...] = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER",
                              "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "INFO", "PRACK",
                              "UPDATE")
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _ports: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("a proxy needs at least one address")
        if self.timer_c <= TIMER_C_MIN:
            raise ValueError(f"Timer C must be larger than 3 minutes, not {self.timer_c} s "
                             "(RFC 3261 §16.6 step 11)")
        if self.forking not in ("parallel", "sequential"):
            raise ValueError(f"forking is 'parallel' or 'sequential', not {self.forking!r}")
        set_ = object.__setattr__
        set_(self, "domains", frozenset(d.lower().rstrip(".") for d in self.domains))
        set_(self, "supported", frozenset(t.lower() for t in self.supported))
        set_(self, "schemes", frozenset(s.lower() for s in self.schemes))
        set_(self, "_hosts", frozenset(normalize_host(h) for h in
                                       [a.host for a in self.addresses] + list(self.hostnames)))
        set_(self, "_ports", frozenset(a.port for a in self.addresses))

    @classmethod
    def for_uris(cls, uris: Iterable[URI | str]) -> ProxyConfig:
        """A configuration whose own addresses are those of ``uris`` (what
        ``preprocess_route`` needs when given plain URIs)."""
        addresses = []
        for item in uris:
            uri = URI.parse(item) if isinstance(item, str) else item
            transport = uri_transport(uri)
            addresses.append(ProxyAddress(transport, uri.host,
                                          uri.port or default_port(transport)))
        return cls(tuple(addresses))

    # -- who am I --------------------------------------------------------------------

    def is_own_host(self, host: str) -> bool:
        return normalize_host(host) in self._hosts

    def is_own_uri(self, uri: URI) -> bool:
        """True for a SIP or SIPS URI that resolves to this proxy: one of its
        hosts at one of its ports (the default port of the URI's transport
        when it names none).  The user part is not considered."""
        if not uri.is_sip or not self.is_own_host(uri.host):
            return False
        return (uri.port or default_port(uri_transport(uri))) in self._ports

    def is_own_sent_by(self, via: Via) -> bool:
        """True for a Via whose sent-by is one this proxy inserts (§16.3 step 4)."""
        if not self.is_own_host(via.host):
            return False
        return (via.port or default_port(via.transport)) in self._ports

    def serves(self, host: str) -> bool:
        """True for a domain the proxy is responsible for (§16.5)."""
        return host.lower().rstrip(".") in self.domains

    def listens(self, transport: str, port: int) -> bool:
        transport = transport.upper()
        return any(a.transport == transport and a.port == port for a in self.addresses)

    def address_for(self, transport: str) -> ProxyAddress:
        """The address to name in a Via or Record-Route for ``transport``: the
        first of that transport, else the first of all."""
        transport = transport.upper()
        for address in self.addresses:
            if address.transport == transport:
                return address
        return self.addresses[0]

    @property
    def agent(self) -> str:
        """The warn-agent of the Warning values the proxy writes (§20.43)."""
        if self.hostnames:
            return self.hostnames[0]
        first = self.addresses[0]
        return f"{first.uri_host}:{first.port}"


def uri_transport(uri: URI) -> str:
    """The transport a URI asks for: its ``transport`` parameter, else TLS for
    ``sips`` and UDP for ``sip`` (RFC 3263 §4.1 without DNS)."""
    transport = (uri.transport or "").upper()
    secure = uri.scheme == "sips"
    if not transport:
        return "TLS" if secure else "UDP"
    if secure:
        # RFC 3261 §26.2.2: a SIPS URI is reached over TLS (WSS for WebSocket)
        return "WSS" if transport in ("WS", "WSS") else "TLS"
    return transport
