"""What a proxy knows about itself: its addresses, its domains and its policy.

RFC 3261 §16 leaves much to "local policy"; this is where that policy lives,
configured once, with no I/O.  The same object answers the questions the
proxy keeps asking: is this URI one of mine (§16.4), is this Via sent-by one
I inserted (§16.3 step 4), is this a domain I am responsible for (§16.5)?
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..message.fields.via import Via
from ..message.uri import URI
from ..routing.myself import DEFAULT_PORTS, Myself, default_port, normalize_host, uri_transport
from ..routing.token import RouteToken
from .breadth import DEFAULT_MAX_BREADTH

__all__ = ["DEFAULT_PORTS", "TIMER_C_MIN", "ProxyAddress", "ProxyConfig", "default_port",
           "normalize_host", "uri_transport"]

#: §16.6 step 11: "The timer MUST be larger than 3 minutes."
TIMER_C_MIN = 180.0

_SPEC_RE = re.compile(r"(?i)(udp|tcp|tls|sctp|wss|ws):(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)"
                      r"(?::([0-9]{1,5}))?")


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
        further names that reach the proxy (``proxy.example.com``) at any of
        its ports: a URI with one of these hosts and one of the proxy's ports
        is its own too.
    ``aliases``
        the same, as ``host`` or ``host:port`` (an alias with a port names
        only that port): ``serve --alias``.
    ``domains``
        the domains the proxy is responsible for (§16.5): an out-of-dialog
        Request-URI in one of them, with no port or one of ours, is looked up
        in the location service.  A served domain is a name of the proxy too.
    ``secret``
        the key of the token signed into Record-Route (``RouteToken``): an
        in-dialog request is relayed as "routed here" only with a valid one.
        Random per configuration unless given; nodes sharing dialogs share it.
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
        and WebSocket clients) to the address the REGISTER came from.
    ``nat``
        send requests for a contact that is not where its REGISTER came from
        (``targets.behind_nat``: a UA behind a NAT) to that source, and the
        others to their contact, as Kamailio's ``fix_nated_register`` does
        (``serve --nat``).
    ``max_breadth``
        the Max-Breadth added to a request without one, and the most
        accepted in one (RFC 5393 §5.3.3: "RECOMMENDED to be 60"): a request
        is forked to at most that many targets at once, else 440
        (``proxy.breadth``).
    """

    addresses: tuple[ProxyAddress, ...]
    hostnames: tuple[str, ...] = ()
    domains: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()
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
    nat: bool = False
    max_breadth: int = DEFAULT_MAX_BREADTH
    allow: tuple[str, ...] = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER",
                              "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "INFO", "PRACK",
                              "UPDATE")
    secret: bytes = field(default_factory=lambda: os.urandom(32), repr=False, compare=False)
    #: who the proxy is (``Myself``): every "is this me?" goes through it
    myself: Myself = field(init=False, repr=False, compare=False)
    #: signs and checks the Record-Route token
    token: RouteToken = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("a proxy needs at least one address")
        if self.timer_c <= TIMER_C_MIN:
            raise ValueError(f"Timer C must be larger than 3 minutes, not {self.timer_c} s "
                             "(RFC 3261 §16.6 step 11)")
        if self.forking not in ("parallel", "sequential"):
            raise ValueError(f"forking is 'parallel' or 'sequential', not {self.forking!r}")
        if self.max_breadth < 1:
            raise ValueError(f"max_breadth must be 1 or more, not {self.max_breadth} "
                             "(RFC 5393 §5.3.3)")
        set_ = object.__setattr__
        set_(self, "domains", frozenset(normalize_host(d) for d in self.domains))
        set_(self, "supported", frozenset(t.lower() for t in self.supported))
        set_(self, "schemes", frozenset(s.lower() for s in self.schemes))
        set_(self, "myself", Myself.of(
            ((a.transport, a.host, a.port) for a in self.addresses),
            aliases=(*self.hostnames, *self.aliases), domains=self.domains))
        set_(self, "token", RouteToken(self.secret))

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

    # -- who am I (all of it in ``Myself``) ------------------------------------------

    def is_own_host(self, host: str) -> bool:
        """One of our addresses, names or domains, whatever the port."""
        return self.myself.is_my_host(host)

    def is_own_uri(self, uri: URI) -> bool:
        """True for a SIP or SIPS URI that resolves to this proxy: one of its
        hosts at one of its ports (the default port of the URI's transport
        when it names none).  The user part is not considered."""
        return self.myself.is_my_uri(uri)

    def is_own_sent_by(self, via: Via) -> bool:
        """True for a Via whose sent-by is one this proxy inserts (§16.3 step 4)."""
        return self.myself.is_my_sent_by(via)

    def serves(self, host: str) -> bool:
        """True for a domain the proxy is responsible for (§16.5)."""
        return self.myself.is_local_domain(host)

    def is_local_uri(self, uri: URI) -> bool:
        """A Request-URI to look up: a served domain, no port or one of ours."""
        return self.myself.is_local_uri(uri)

    def listens(self, transport: str, port: int) -> bool:
        return self.myself.listens(transport, port)

    def address_for(self, transport: str, host: str | None = None) -> ProxyAddress:
        """The address to name in a Via or Record-Route for ``transport``
        towards ``host``: the first of that transport and of ``host``'s
        address family, else the first of that transport, else the first."""
        transport = transport.upper()
        v6 = host is not None and ":" in host
        fallback: ProxyAddress | None = None
        for address in self.addresses:
            if address.transport == transport:
                if host is None or (":" in address.host) == v6:
                    return address
                fallback = fallback or address
        return fallback or self.addresses[0]

    @property
    def agent(self) -> str:
        """The warn-agent of the Warning values the proxy writes (§20.43)."""
        if self.hostnames:
            return self.hostnames[0]
        first = self.addresses[0]
        return f"{first.uri_host}:{first.port}"

