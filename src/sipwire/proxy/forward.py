"""Request forwarding (RFC 3261 §16.6 steps 1 to 9) for one target.

``forward`` returns the request to hand to a new client transaction and the
next hop to send it to; sending, and Timer C (step 11), belong to the driver
and to ``ResponseContext``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..message.fields.nameaddr import RouteAddr
from ..message.fields.via import Via
from ..message.message import Request
from ..message.uri import URI
from .config import ProxyConfig
from .routing import NextHop, _request_uri, flow_hop, next_hop_for_uri, strict_route
from .targets import Target

__all__ = ["DEFAULT_MAX_FORWARDS", "NO_RECORD_ROUTE", "Forwarded", "forward",
           "forward_request", "record_route_uri"]

#: §16.6 step 3: the Max-Forwards added when a request has none
DEFAULT_MAX_FORWARDS = 70

#: methods not record-routed: REGISTER creates no dialog (the registrar
#: ignores Record-Route), and an ACK or CANCEL is never answered by a
#: response that could carry a route set
NO_RECORD_ROUTE = frozenset({"REGISTER", "ACK", "CANCEL"})


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A request ready for its client transaction, and where it goes.

    ``strict_routed`` is True when step 6 reformatted it for a strict router
    (the next hop is then its Request-URI).
    """

    request: Request
    next_hop: NextHop
    strict_routed: bool = False


def forward_request(request: Request, target: Target | URI | str, config: ProxyConfig,
                    branch: str) -> Request:
    """``forward(...).request``: the copy of ``request`` to send to ``target``."""
    return forward(request, target, config, branch).request


def forward(request: Request, target: Target | URI | str, config: ProxyConfig,
            branch: str) -> Forwarded:
    """§16.6 steps 1 to 9 on a copy of the preprocessed ``request``.

    1. Copy: every header kept, in order; the body untouched.
    2. Request-URI: the target's (less a ``method`` parameter and headers).
    3. Max-Forwards: decremented, or 70 when absent.
    -  Path: the binding's path vector pushed ahead of any Route values
       (RFC 3327 §5.4).
    6. Strict routing: a first Route value without ``lr`` is put in the
       Request-URI and the Request-URI at the end of Route.
    4. Record-Route (``config.record_route``, not for REGISTER, ACK or
       CANCEL): ``<sip:proxy:port;lr>`` on top, SIPS when the Request-URI or
       the top Route is (done after step 6, which that rule refers to).
    7. Next hop: the Request-URI after step 6's reformatting, else the top
       Route, else the target's registered flow, else the Request-URI, each
       treated as SIPS when the Request-URI is (``next_hop_for_uri``).
    8. Via: ours on top, with ``branch`` (make it with ``branch_for``) and the
       sent-by of our address for the next hop's transport (the transport
       layer rewrites it to the socket actually used, §18.1.1).
    9. Content-Length: added when absent.

    ``branch`` must be unique per call (§16.6 step 7).  Raises ValueError
    for a request with Max-Forwards 0 (``validate_request`` answers those).
    """
    if not isinstance(target, Target):
        target = Target(URI.parse(target) if isinstance(target, str) else target)
    out: Request = request.copy()
    out.uri = _request_uri(target.uri)
    _decrement_max_forwards(out)
    if target.path:
        path = [RouteAddr.parse(value) for value in target.path]
        out.headers.add("Route", path, top=True, before="Content-Length")
    strict = strict_route(out)
    if config.record_route and out.method not in NO_RECORD_ROUTE:
        rr = RouteAddr(record_route_uri(config, secure=_secure(out)))
        out.headers.add("Record-Route", rr, top=True, before="Content-Length")
    hop = _next_hop(out, target, strict)
    address = config.address_for(hop.transport)
    via = Via(hop.transport, address.uri_host, address.port, branch=branch)
    out.headers.add("Via", via, top=True)
    if "Content-Length" not in out.headers:
        out.headers.add("Content-Length", str(len(out.body)))
    return Forwarded(out, hop, strict)


def _decrement_max_forwards(request: Request) -> None:
    value = request.max_forwards
    if value is None:
        request.headers.add("Max-Forwards", str(DEFAULT_MAX_FORWARDS), before="Content-Length")
        return
    if value <= 0:
        raise ValueError("a request with Max-Forwards 0 is not forwarded (RFC 3261 §16.3)")
    request.headers.set("Max-Forwards", str(value - 1))


def _secure(request: Request) -> bool:
    """§16.6 step 4: a SIPS Request-URI or top Route asks for a SIPS Record-Route."""
    if request.uri.scheme == "sips":
        return True
    routes = request.route
    return bool(routes) and routes[0].uri.scheme == "sips"


def _next_hop(request: Request, target: Target, strict: bool) -> NextHop:
    secure = request.uri.scheme == "sips"
    if strict:
        return next_hop_for_uri(request.uri, secure=secure)
    routes = request.route
    if routes:
        return next_hop_for_uri(routes[0].uri, secure=secure)
    if target.flow is not None:
        return flow_hop(target.flow)
    return next_hop_for_uri(request.uri, secure=secure)


def record_route_uri(config: ProxyConfig, *, secure: bool = False) -> URI:
    """The URI this proxy records in Record-Route (§16.6 step 4).

    A SIP or SIPS URI with ``lr`` that resolves to the proxy: its first
    host name, else the address itself.  SIPS names the TLS address.  A
    plain SIP URI names the UDP address, else the first other one with its
    ``transport`` parameter (the RFC would leave it out, but a proxy that
    does not listen on UDP cannot be reached without it).
    """
    if secure:
        address = config.address_for("TLS")
        transport = None
    else:
        address = config.address_for("UDP")
        transport = None if address.transport == "UDP" else address.transport.lower()
    host = config.hostnames[0] if config.hostnames else address.uri_host
    params: dict[str, str | None] = {}
    if transport is not None:
        params["transport"] = transport
    params["lr"] = None
    return URI("sips" if secure else "sip", None, host, address.port, params)
