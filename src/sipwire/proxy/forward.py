"""Request forwarding (RFC 3261 §16.6 steps 1 to 9) for one target.

``forward`` returns the request to hand to a new client transaction and the
next hop to send it to; sending, and Timer C (step 11), belong to the driver
and to ``ResponseContext``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .._frozen import quick_init
from ..location.binding import Source
from ..message.fields.nameaddr import RouteAddr
from ..message.fields.via import Via
from ..message.message import Request
from ..message.uri import URI
from .breadth import breadth_of
from .config import ProxyAddress, ProxyConfig
from .routing import NextHop, _request_uri, flow_hop, next_hop_for_uri, strict_route
from .targets import Target

__all__ = ["DEFAULT_MAX_FORWARDS", "NO_RECORD_ROUTE", "Forwarded", "forward",
           "forward_request", "record_route", "record_route_uri"]

#: §16.6 step 3: the Max-Forwards added when a request has none
DEFAULT_MAX_FORWARDS = 70

#: methods not record-routed: REGISTER creates no dialog (the registrar
#: ignores Record-Route), and an ACK or CANCEL is never answered by a
#: response that could carry a route set
NO_RECORD_ROUTE = frozenset({"REGISTER", "ACK", "CANCEL"})


@quick_init
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
                    branch: str, *, inbound: Source | None = None) -> Request:
    """``forward(...).request``: the copy of ``request`` to send to ``target``."""
    return forward(request, target, config, branch, inbound=inbound).request


def forward(request: Request, target: Target | URI | str, config: ProxyConfig,
            branch: str, *, inbound: Source | None = None, copy: bool = True) -> Forwarded:
    """§16.6 steps 1 to 9 on a copy of the preprocessed ``request``.

    1. Copy: every header kept, in order; the body untouched.
    2. Request-URI: the target's (less a ``method`` parameter and headers).
    3. Max-Forwards: decremented, or 70 when absent.
    -  Max-Breadth: one value, the target's share (``Target.breadth``), else
       the request's Incoming Max-Breadth (RFC 5393 §5.3.3: "All proxied
       requests MUST contain a single Max-Breadth header field value").
    -  Path: the binding's path vector pushed ahead of any Route values
       (RFC 3327 §5.4).
    6. Strict routing: a first Route value without ``lr`` is put in the
       Request-URI and the Request-URI at the end of Route.
    4. Record-Route (``config.record_route``; not for REGISTER, ACK or
       CANCEL, nor within a dialog, whose route set is fixed, §12.2.1.1):
       see ``record_route``.  Done after step 6, which that rule refers to.
    7. Next hop: the Request-URI after step 6's reformatting, else the
       target's flow (a registered flow, or one a Record-Route token named,
       RFC 5626 §5.3), else the top Route, else the Request-URI, each
       treated as SIPS when the Request-URI is (``next_hop_for_uri``).
    8. Via: ours on top, with ``branch`` (make it with ``branch_for``) and the
       sent-by of our address for the next hop's transport (the transport
       layer rewrites it to the socket actually used, §18.1.1).
    9. Content-Length: added when absent.

    ``branch`` must be unique per call (§16.6 step 7).  Raises ValueError
    for a request with Max-Forwards 0 (``validate_request`` answers those).

    ``copy=False`` changes ``request`` itself instead of a copy (step 1 done
    by the caller): for a request forwarded once, already a copy of the one
    received (``preprocess_route`` copied it), such as the ACK of a 2xx.
    """
    if not isinstance(target, Target):
        target = Target(URI.parse(target) if isinstance(target, str) else target)
    # read once: the copy has the same lines
    breadths = request.headers.texts("Max-Breadth")
    out: Request = request.copy() if copy else request
    out.uri = _request_uri(target.uri)
    _decrement_max_forwards(out)
    _set_max_breadth(out, target.breadth if target.breadth is not None
                     else breadth_of(breadths, config.max_breadth), breadths)
    if target.path:
        path = [RouteAddr.parse(value) for value in target.path]
        out.headers.add("Route", path, top=True, before="Content-Length")
    strict = strict_route(out)
    hop = _next_hop(out, target, strict)
    if config.record_route and out.method not in NO_RECORD_ROUTE and out.to.tag is None:
        record_route(out, config, hop, inbound=inbound, outbound=target.flow)
    address = config.address_for(hop.transport, hop.host)
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


def _set_max_breadth(request: Request, value: int, present: list[str]) -> None:
    """One Max-Breadth of ``value``; a line that already says so is left as it
    was.  ``present``: the request's Max-Breadth texts."""
    text = str(value)
    if present == [text]:
        return
    if present:
        request.headers.set("Max-Breadth", text)
    else:
        request.headers.add("Max-Breadth", text, before="Content-Length")


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
    if target.flow is not None:
        return flow_hop(target.flow)
    routes = request.route
    if routes:
        return next_hop_for_uri(routes[0].uri, secure=secure)
    return next_hop_for_uri(request.uri, secure=secure)


def _interface(config: ProxyConfig, inbound: Source) -> ProxyAddress | None:
    """The listening address a request came in on (``Source.local`` is the
    ``host:port`` of our end of the flow)."""
    if not inbound.local:
        return None
    return _listening_address(inbound.transport, inbound.local)


# a server has a few interfaces: each is read once, not per record-routed request
@functools.lru_cache(maxsize=256)
def _listening_address(transport: str, local: str) -> ProxyAddress | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return ProxyAddress(transport, host.strip("[]"), int(port))


def record_route(request: Request, config: ProxyConfig, hop: NextHop, *,
                 inbound: Source | None = None, outbound: Source | None = None) -> None:
    """§16.6 step 4 with RFC 5658: Record-Route values that bring the
    dialog's requests back the way each side reached us.

    One value names the interface the request came in on (``inbound``,
    where known), and a second, above it, the interface it leaves on when
    that is another transport or address family (double record-routing,
    RFC 5658 §5).  Each carries its transport (``record_route_uri``), IPv6
    in brackets, ``lr``, and in its user part the signed token
    (``RouteToken``) with the hop of either side: the flow the request came
    on, and ``outbound`` (the registered flow used) or else ``hop``.
    """
    out_address = config.address_for(hop.transport, hop.host)
    in_address = _interface(config, inbound) if inbound is not None else None
    if in_address is None or not config.myself.is_me(in_address.host, in_address.port):
        in_address = out_address
    # both hops pinned (routing.token): requests of the dialog go to these
    # and nowhere else, whatever their Request-URI and Route say
    if outbound is None:
        outbound = Source(hop.transport, hop.host, hop.port)
    flowable = config.token.flowable
    caller_flow = inbound if inbound is not None and flowable(inbound) else None
    callee_flow = outbound if flowable(outbound) else None
    token = config.token.sign(request.call_id, request.from_.tag, caller_flow=caller_flow,
                              callee_flow=callee_flow)
    secure = _secure(request)
    prefix, suffix = _record_route_text(config, secure, in_address)
    text = f"{prefix}{token}{suffix}"
    if out_address != in_address:
        prefix, suffix = _record_route_text(config, secure, out_address)
        text = f"{prefix}{token}{suffix}, {text}"
    request.headers.add("Record-Route", text, top=True, before="Content-Length")


def _record_route_text(config: ProxyConfig, secure: bool, address: ProxyAddress
                       ) -> tuple[str, str]:
    """The text of a Record-Route value of ``address`` around its token:
    ``("<sip:", "@192.0.2.1:5060;transport=tcp;lr>")``, made once per
    address (``record_route_uri`` is the rule)."""
    if secure and address.transport not in ("TLS", "WSS"):
        address = config.address_for("TLS")
    return _text_around_user(address, secure)


@functools.lru_cache(maxsize=256)
def _text_around_user(address: ProxyAddress, secure: bool) -> tuple[str, str]:
    uri = _uri_of(address, secure, "u")
    scheme, _, rest = str(uri).partition(":u@")
    return f"<{scheme}:", f"@{rest}>"


def record_route_uri(config: ProxyConfig, *, secure: bool = False,
                     address: ProxyAddress | None = None, user: str | None = None) -> URI:
    """A URI this proxy records in Record-Route (§16.6 step 4) for one of its
    listening ``address``es (default: the UDP one, else the first).

    A SIP URI with ``lr`` that resolves to that address, its transport in a
    parameter (``transport=tcp``, ``transport=tls``, ``transport=ws``; none
    for UDP), IPv6 in brackets.  ``secure`` (a SIPS Request-URI or top Route)
    asks for a SIPS URI (§16.6 step 4), of the TLS address.  ``user`` is the
    token of the user part.

    A TLS interface of a request that is not SIPS is written
    ``sip:...;transport=tls``: §16.6 step 4 says "a proxy that receives a
    request over TLS, but generates a request without a SIPS URI ... MUST
    insert a Record-Route header field that is not a SIPS URI", and with an
    IP address no RFC 3263 lookup can lead to TLS otherwise.  RFC 5658 §6.2
    would rather have ``sips:`` and no ``transport=tls``, but a ``sips:`` route
    set forces TLS end to end, and phones in the field (baresip 1.0) cannot
    send to one; Kamailio writes ``transport=tls`` too.
    """
    if address is None:
        address = config.address_for("UDP")
    if secure and address.transport not in ("TLS", "WSS"):
        address = config.address_for("TLS")
    return _uri_of(address, secure, user)


def _uri_of(address: ProxyAddress, secure: bool, user: str | None) -> URI:
    transport = address.transport
    scheme = "sips" if secure or transport == "WSS" else "sip"
    params: dict[str, str | None] = {}
    if transport == "TLS":
        if not secure:
            params["transport"] = "tls"
    elif transport in ("WS", "WSS"):
        params["transport"] = "ws"
    elif transport != "UDP":
        params["transport"] = transport.lower()
    params["lr"] = None
    return URI(scheme, user, address.uri_host, address.port, params)
