"""Where a request goes first: RFC 3261 §8.1.2, without the RFC 3263 lookups.

The next hop is the URI of the topmost Route header field when there is one
(a loose router's or a strict router's: either way it is the first hop,
§16.12), else the Request-URI.  From that URI: the ``maddr`` parameter or the
host, the port, and the ``transport`` parameter; a SIPS URI means TLS
(§19.1.2, §26.2.2).  A host name is resolved with a plain address lookup by
the transport layer; NAPTR and SRV (RFC 3263 §4) are consulted only by an
``Endpoint`` given a resolver (``sipwire.dns``, docs/dns.md).
"""

from __future__ import annotations

from ..message.message import Request
from ..message.uri import URI
from ..transport.base import Target, Transport, TransportError

__all__ = ["request_target", "uri_target"]


def request_target(request: Request) -> Target:
    """The transport, host and port ``request`` is sent to (§8.1.2).

    Raises ValueError when the URI is not a SIP or SIPS URI, or names a
    transport sipwire does not have.
    """
    routes = request.route
    return uri_target(routes[0].uri if routes else request.uri)


def uri_target(uri: URI) -> Target:
    """The next hop a SIP or SIPS ``uri`` designates (§8.1.2, §19.1.2).

    ``transport`` parameter, else TLS for ``sips:`` and UDP for ``sip:``
    (RFC 3263 §4.1 without NAPTR: UDP is the default of every SIP element);
    ``maddr`` overrides the host (§19.1.1); no port: the transport's default.
    """
    if not uri.is_sip:
        raise ValueError(f"cannot send to {uri}: not a SIP or SIPS URI (RFC 3261 §8.1.2)")
    name = uri.transport
    secure = uri.scheme == "sips"
    if name is None:
        transport = Transport.TLS if secure else Transport.UDP
    else:
        try:
            transport = Transport.parse(name)
        except TransportError as exc:
            raise ValueError(f"cannot send to {uri}: {exc}") from None
        if secure and not transport.secure:
            # §26.2.2: a SIPS URI is reached over TLS; ws becomes wss (RFC 7118 §5.2)
            transport = Transport.WSS if transport is Transport.WS else Transport.TLS
    host = uri.maddr or uri.host_address
    if not host:
        raise ValueError(f"cannot send to {uri}: no host")
    return Target(transport, host, uri.port)
