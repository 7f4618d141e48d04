""""Is this URI me?" and "is this domain mine?", answered once for the server.

Every part of the server that asks either question (route preprocessing
§16.4, the Via loop check §16.3 step 4, the registrar's §10.3 step 1, the
proxy's target determination §16.5, the auth policy) asks this object, so
they cannot disagree.

- **Me**: a SIP or SIPS URI whose host is one of the addresses the server
  listens on or one of its aliases, **and** whose port (the default port of
  the URI's transport when it names none, §19.1.2) is one it listens on.  An
  alias given with a port (``proxy.example.com:5080``) names only that port.
  (Kamailio's ``check_self(host, port, proto)`` asks the same question.)
- **Local domain**: one of the domains whose users this server registers
  (§10.3 "the set of domain(s) for which it maintains bindings").  A served
  domain is also a name the server is reached by, so ``sip:example.com;lr``
  in a Route is "me" when the default port is one of ours.

Hosts are compared as ``normalize_host`` writes them: lower case, no
trailing dot, IPv6 without brackets and in canonical form (so
``[0:0::1]`` is ``::1``), IPv4-mapped IPv6 as IPv4.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..message.fields.via import Via
from ..message.uri import URI, three_colon_ipv6

__all__ = ["DEFAULT_PORTS", "Myself", "default_port", "local_aor", "normalize_host",
           "parse_alias", "uri_transport"]

#: §18.1.1 (5060 for UDP, TCP and SCTP, 5061 for TLS), RFC 7118 §5.5 (80 / 443)
DEFAULT_PORTS: dict[str, int] = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061,
                                 "WS": 80, "WSS": 443}


#: what ``Myself._hosts`` gives for a host that is none of ours
_NOT_MINE: frozenset[int] = frozenset()


def default_port(transport: str) -> int:
    """The port a transport uses when a URI or Via names none."""
    return DEFAULT_PORTS.get(transport.upper(), 5060)


# Runs several times per proxied request (own URI, own Via, Route) on the same
# few hosts, and ipaddress parsing is slow; bounded, so made-up hosts only evict.
@functools.lru_cache(maxsize=4096)
def normalize_host(host: str) -> str:
    """A host as compared: lower-cased without a trailing dot, IPv6 without
    brackets and in canonical form, IPv4-mapped IPv6 shown as IPv4."""
    if ":" not in host and not host[-1:].isdigit():
        # a domain name: an IPv4 address ends with a digit, an IPv6 one has
        # colons, so ip_address() could only raise (which costs a lot)
        return host.lower().rstrip(".")
    bare = host.strip("[]")
    if ":::" in bare and three_colon_ipv6(bare):  # tolerated by parse(), RFC 5954 §4.1
        bare = bare.replace(":::", "::", 1)
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower().rstrip(".")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


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


def local_aor(uri: URI) -> str:
    """The address-of-record of a URI of a served domain (§10.3 step 5,
    ``URI.aor``) with its host as compared here and no port: the one key
    the registrar stores under and the proxy looks up
    (``sip:bob@LOCALHOST.:5060`` is ``sip:bob@localhost``)."""
    host = normalize_host(uri.host)
    if ":" in host:
        host = f"[{host}]"
    if host == uri.host and uri.port is None:
        return uri.aor
    return uri.copy(host=host, port=None).aor


def parse_alias(spec: str) -> tuple[str, int | None]:
    """``host`` or ``host:port`` (``[v6]:port`` for IPv6) as (normalized host, port)."""
    text = spec.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"an alias is host or host:port, not {spec!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"an alias port is 1 to 65535, not {port!r} in {spec!r}")
    return normalize_host(host), int(port) if port else None


@dataclass(frozen=True, slots=True)
class Myself:
    """The server's own addresses, aliases and domains.

    ``listening`` is (transport, host, port) for each listening point;
    ``aliases`` names that reach the server (``host`` for any of its ports,
    ``host:port`` for one); ``domains`` the domains it serves.
    """

    listening: tuple[tuple[str, str, int], ...]
    aliases: tuple[str, ...] = ()
    domains: frozenset[str] = frozenset()
    _hosts: dict[str, frozenset[int] | None] = field(init=False, repr=False, compare=False)
    _ports: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "domains", frozenset(normalize_host(d) for d in self.domains))
        ports = frozenset(port for _, _, port in self.listening)
        hosts: dict[str, frozenset[int] | None] = {}
        for _, host, _ in self.listening:
            hosts[normalize_host(host)] = None
        for domain in self.domains:
            hosts.setdefault(domain, None)
        for spec in self.aliases:
            host, port = parse_alias(spec)
            if port is None:
                hosts[host] = None
            elif host not in hosts or hosts[host] is not None:
                hosts[host] = (hosts.get(host) or frozenset()) | {port}
        set_(self, "_hosts", hosts)
        set_(self, "_ports", ports)

    def is_my_host(self, host: str) -> bool:
        """True for one of our addresses, aliases or domains (any port)."""
        return normalize_host(host) in self._hosts

    def is_me(self, host: str, port: int | None, transport: str = "UDP") -> bool:
        """True when ``host:port`` reaches this server; ``port`` None is the
        default port of ``transport``."""
        ports = self._hosts.get(normalize_host(host), _NOT_MINE)
        if ports is _NOT_MINE:
            return False
        wanted = port if port is not None else default_port(transport)
        return wanted in (self._ports if ports is None else ports)

    def is_my_uri(self, uri: URI) -> bool:
        """A SIP or SIPS URI that resolves to this server (the user part is
        not considered)."""
        if not uri.is_sip:
            return False
        # ``is_me``, with the URI's transport found only when its port is needed
        ports = self._hosts.get(normalize_host(uri.host), _NOT_MINE)
        if ports is _NOT_MINE:
            return False
        port = uri.port
        wanted = port if port is not None else default_port(uri_transport(uri))
        return wanted in (self._ports if ports is None else ports)

    def is_my_sent_by(self, via: Via) -> bool:
        """A Via sent-by this server inserts (§16.3 step 4)."""
        return self.is_me(via.host, via.port, via.transport)

    def is_local_domain(self, host: str) -> bool:
        """A domain whose users register here (§10.3, §16.5)."""
        return normalize_host(host) in self.domains

    def is_local_uri(self, uri: URI) -> bool:
        """A SIP or SIPS URI in a served domain whose port is absent or ours:
        the only Request-URIs the location service is asked about (§16.5).
        ``sip:bob@127.0.0.1:5490`` is not, though 127.0.0.1 is served: it
        names a UA listening there, not this server."""
        if not uri.is_sip or normalize_host(uri.host) not in self.domains:
            return False
        return uri.port is None or uri.port in self._ports

    def aor(self, uri: URI) -> str:
        """The address-of-record a local URI names (``local_aor``)."""
        return local_aor(uri)

    def listens(self, transport: str, port: int) -> bool:
        transport = transport.upper()
        return any(t == transport and p == port for t, _, p in self.listening)

    @classmethod
    def of(cls, listening: Iterable[tuple[str, str, int]], *, aliases: Iterable[str] = (),
           domains: Iterable[str] = ()) -> Myself:
        return cls(tuple((t.upper(), h, p) for t, h, p in listening), tuple(aliases),
                   frozenset(domains))
