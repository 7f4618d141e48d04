"""Routing decisions shared by the registrar, the proxy and the auth policy:
who this server is (``Myself``) and the signed Record-Route token
(``RouteToken``).  Sans-I/O: no sockets, no clocks."""

from .myself import DEFAULT_PORTS, Myself, default_port, normalize_host, uri_transport
from .token import RouteToken, Verified

__all__ = ["DEFAULT_PORTS", "Myself", "RouteToken", "Verified", "default_port",
           "normalize_host", "uri_transport"]
