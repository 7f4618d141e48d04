"""Route processing of a proxy: §16.4 on the way in, §16.6 steps 6 and 7 on
the way out, and the next hop of RFC 3263 without DNS.

§16.12 sums it up: a Request-URI of ours is retargeted (by the location
service), a top Route of ours is removed, and the request goes to the top
Route left, else to the Request-URI.  In-dialog requests and the ACK for a
2xx reach a record-routing proxy this way: with its Route value on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .._frozen import quick_init
from ..location.binding import Source
from ..message.fields.nameaddr import NameAddr, RouteAddr
from ..message.message import Request
from ..message.uri import URI
from .config import ProxyAddress, ProxyConfig, default_port, uri_transport

__all__ = [
    "NextHop",
    "is_for_me",
    "is_strict",
    "leading_own",
    "next_hop_for_uri",
    "own_route_tokens",
    "preprocess",
    "preprocess_route",
    "route_tokens",
    "routed_to_me",
    "strict_route",
]

Own = ProxyConfig | Iterable[URI | str]


def _config(own: Own) -> ProxyConfig:
    return own if isinstance(own, ProxyConfig) else ProxyConfig.for_uris(own)


# -- §16.4 ------------------------------------------------------------------------------


def preprocess_route(request: Request, own: Own, *,
                     received: ProxyAddress | None = None) -> Request:
    """Route information preprocessing (§16.4): a changed copy of ``request``,
    or ``request`` itself when no step changes it (so a caller that changes
    the result when it is ``request`` copies it first; ``forward`` copies).

    ``own`` is the proxy's configuration or the URIs it answers to.

    1. Strict routing: a Request-URI of ours that is a value this proxy put
       in Record-Route (no user part, or ``lr``) while Route values remain
       means the sender is a strict router; the last Route value becomes the
       Request-URI.
    2. maddr: a Request-URI ``maddr`` naming this proxy (or a domain it
       serves), received on the port and transport the URI names, is
       stripped with any non-default port and transport.  ``received`` is
       the address the request arrived on; None means "any of ours".
    3. The top Route values of ours are removed: one, or the two a double
       Record-Route left (RFC 5658 §5 lets a proxy remove both at once
       rather than spiral through itself).
    """
    config = _config(own)
    routes = request.route
    return preprocess(request, config, received, _strict(request, config), routes,
                      leading_own(config, routes))


def preprocess(request: Request, config: ProxyConfig, received: ProxyAddress | None,
               strict: bool, routes: list[NameAddr], own: int, *, copy: bool = True) -> Request:
    """``preprocess_route`` given what the caller found already: whether the
    sender is a strict router (``is_strict``), the request's Route values and
    how many of them, from the top, are ours (``leading_own``).  ``copy=False``
    changes ``request`` itself: for a caller that keeps nothing of it as
    received (a stateless ACK whose branch was taken before)."""
    if not strict and request.uri.maddr is None:
        # steps 1 and 2 do nothing: only step 3 may change the request
        if own:
            out: Request = request.copy() if copy else request
            headers = out.headers
            for _ in range(own):
                headers.pop("Route")
            return out
        return request
    out = request.copy() if copy else request
    if strict:
        out.uri = routes[-1].uri.copy()
        _set_routes(out, routes[:-1])
    _strip_own_maddr(out, config, received)
    _pop_own_routes(out, config, out.route)
    return out


def leading_own(config: ProxyConfig, routes: list[NameAddr]) -> int:
    """How many of ``routes``, from the first, are ours (§16.4 removes those)."""
    n = 0
    for route in routes:
        if not config.is_own_uri(route.uri):
            break
        n += 1
    return n


def is_strict(request: Request, config: ProxyConfig,
              routes: list[NameAddr] | None = None) -> bool:
    """§16.4 step 1: a Request-URI that is a value this proxy put in
    Record-Route (ours, no user part or ``lr``) while Route values remain:
    the previous hop is a strict router.  ``routes``: ``request.route``, when
    the caller has it (the Route header is then not read again)."""
    return _strict(request, config, routes)


def _strict(request: Request, config: ProxyConfig,
            routes: list[NameAddr] | None = None) -> bool:
    if not (request.headers.get("Route") if routes is None else routes):
        return False
    uri = request.uri
    return (uri.user is None or uri.lr) and config.is_own_uri(uri)


def _pop_own_routes(request: Request, config: ProxyConfig, routes: list[NameAddr]) -> None:
    for route in routes:
        if not config.is_own_uri(route.uri):
            break
        request.headers.pop("Route")


def own_route_tokens(request: Request, own: Own) -> list[str]:
    """The user parts of the first two Route values of ours that
    ``preprocess_route`` removes (and of a Request-URI a strict router put our
    Record-Route value in): where this proxy's Record-Route token comes back
    (``RouteToken``).  No more than two: that is what a double Record-Route
    leaves, and a stranger's list of forged ones costs no more MACs."""
    config = _config(own)
    routes = request.route
    return route_tokens(request, _strict(request, config), routes, leading_own(config, routes))


def route_tokens(request: Request, strict: bool, routes: list[NameAddr], own: int
                 ) -> list[str]:
    """``own_route_tokens`` given whether the sender is a strict router, the
    request's Route values and how many of them, from the top, are ours."""
    tokens: list[str] = []
    if strict:
        user = request.uri.user
        if user:
            tokens.append(user)
    for route in routes[:min(own, 2)]:  # a double Record-Route is two (RFC 5658 §5)
        user = route.uri.user
        if user:
            tokens.append(user)
    return tokens


def _strip_own_maddr(request: Request, config: ProxyConfig,
                     received: ProxyAddress | None) -> None:
    uri = request.uri
    maddr = uri.maddr
    if maddr is None or not (config.is_own_host(maddr) or config.serves(maddr)):
        return
    transport = uri_transport(uri)
    port = uri.port or default_port(transport)
    if received is not None:
        arrived = received.transport == transport and received.port == port
    else:
        arrived = config.listens(transport, port)
    if not arrived:
        # §16.4: it must reach us on the port and transport the URI names
        return
    # They only addressed this proxy: go on as if they had not been there.
    params = {k: v for k, v in uri.params.items() if k not in ("maddr", "transport")}
    request.uri = uri.copy(params=params, port=None)


def _set_routes(request: Request, routes: list[NameAddr]) -> None:
    if routes:
        request.headers.set("Route", routes)
    else:
        request.headers.remove("Route")


def routed_to_me(request: Request, own: Own) -> bool:
    """True when ``request`` (as received) was sent here by a Route value of
    ours, or by a strict router with our Record-Route in the Request-URI.

    Anybody can write such a Route: this says nothing about whether the
    request belongs to a dialog the proxy record-routed.  ``ProxyCore``
    decides that from the token in the Route (``own_route_tokens``,
    ``routing.RouteToken``)."""
    config = _config(own)
    routes = request.route
    if not routes:
        return False
    if config.is_own_uri(routes[0].uri):
        return True
    uri = request.uri
    return uri.user is None and config.is_own_uri(uri)


def is_for_me(request: Request, config: ProxyConfig) -> bool:
    """True when a preprocessed request is addressed to the proxy itself, not
    to anything it should forward to: no Route left and a SIP Request-URI
    without a user part naming the proxy, or a domain it serves with no port
    or one of ours (a REGISTER to ``sip:example.com``, an OPTIONS to
    ``sip:proxy.example.com``; not ``sip:127.0.0.1:5070``, a UA listening
    on a served host).  The caller answers it as a UAS (or hands a REGISTER
    to the registrar)."""
    if request.headers.get("Route") is not None:
        return False
    uri = request.uri
    if not uri.is_sip or uri.user is not None or uri.maddr is not None:
        return False
    return config.is_own_uri(uri) or config.is_local_uri(uri)


# -- §16.6 step 6 -----------------------------------------------------------------------


def strict_route(request: Request) -> bool:
    """§16.6 step 6: when the first Route value has no ``lr`` (a strict
    router), put the Request-URI at the end of Route and the first Route
    value into the Request-URI.  Returns whether it did; the request then
    goes to its Request-URI (§16.6 step 7)."""
    routes = request.route
    if not routes or routes[0].uri.lr:
        return False
    request.headers.add("Route", RouteAddr(request.uri.copy()))
    request.headers.pop("Route")
    request.uri = _request_uri(routes[0].uri)
    return True


def _request_uri(uri: URI) -> URI:
    """``uri`` without what a Request-URI may not carry (§19.1.1 Table 1):
    the ``method`` parameter and headers."""
    if "method" not in uri.params and not uri.headers:
        return uri.copy()
    params = {k: v for k, v in uri.params.items() if k != "method"}
    return uri.copy(params=params, headers={})


# -- §16.6 step 7 -----------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class NextHop:
    """Where a forwarded request goes: transport (``UDP``, ``TCP``, ``TLS``,
    ``WS``, ``WSS``), host (a name or an IP address, no brackets) and port.

    ``flow`` is set when the request must go over the flow a registration
    came in on (RFC 5626 §7: a connection of the UA, or from our socket to
    its address for UDP); ``flow.local`` names the socket or connection.
    ``str(hop)`` is ``udp:host:port``, what ``transport.Target.parse`` reads.
    """

    transport: str
    host: str
    port: int
    flow: Source | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


def next_hop_for_uri(uri: URI, *, secure: bool = False) -> NextHop:
    """RFC 3263 for a SIP or SIPS URI, without NAPTR and SRV lookups.

    The host is ``maddr`` if present, else the URI's host (a name is left to
    the transport to resolve); the transport is the ``transport`` parameter,
    else TLS for SIPS and UDP for SIP (§4.1); the port is the URI's, else the
    transport's default (5060, 5061 for TLS).  ``secure`` treats the URI as
    SIPS (§16.6 step 7: when the Request-URI is a SIPS URI).
    """
    if not uri.is_sip:
        raise ValueError(f"cannot route to a {uri.scheme}: URI ({uri})")
    if secure and uri.scheme != "sips":
        uri = uri.copy(scheme="sips")
    transport = uri_transport(uri)
    host = (uri.maddr or uri.host).strip("[]")
    return NextHop(transport, host, uri.port or default_port(transport))


def flow_hop(source: Source) -> NextHop:
    """The next hop over a registered flow (RFC 5626 §7)."""
    transport = source.transport.upper()
    return NextHop(transport, source.host.strip("[]"), source.port, source)
