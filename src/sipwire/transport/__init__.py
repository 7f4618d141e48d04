"""The asyncio transport layer (RFC 3261 §18; RFC 3581; RFC 5626 §3.5.1; RFC 7118).

    >>> layer = TransportLayer(TransportConfig(), on_message=handle)
    >>> point = await layer.listen("udp:127.0.0.1:0")
    >>> flow = await layer.send_request(request, Target(Transport.UDP, "192.0.2.1", 5060))
    >>> await layer.send_response(response, flow_the_request_came_on)
    >>> await layer.close()
"""

from .base import (
    Address,
    Connection,
    Flow,
    ListeningPoint,
    Target,
    Transport,
    TransportError,
)
from .config import TransportConfig
from .layer import MessageHandler, TransportLayer
from .udp import SendErrorHandler

__all__ = [
    "Address",
    "Connection",
    "Flow",
    "ListeningPoint",
    "MessageHandler",
    "SendErrorHandler",
    "Target",
    "Transport",
    "TransportConfig",
    "TransportError",
    "TransportLayer",
]
