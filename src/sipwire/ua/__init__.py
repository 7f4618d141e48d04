"""The user-agent core over asyncio: an ``Endpoint`` tying the transport layer
(RFC 3261 §18) to the transaction layer (§17), for UACs and UASs (§8).

    >>> async with Endpoint(listen=["udp:127.0.0.1:0"]) as ep:
    ...     @ep.handles("MESSAGE")
    ...     async def message(request, tx):
    ...         return tx.reply(200)
    ...     response = await ep.request(some_request)
"""

from .client import ClientTransactionHandle
from .config import EndpointConfig
from .endpoint import (
    KNOWN_METHODS,
    AckHandler,
    Endpoint,
    ReceiveFilter,
    RequestHandler,
    StrayHandler,
)
from .server import ServerTransactionHandle
from .target import request_target, uri_target
from .uac import build_2xx_ack, build_in_dialog_request

__all__ = [
    "KNOWN_METHODS",
    "AckHandler",
    "ClientTransactionHandle",
    "Endpoint",
    "EndpointConfig",
    "ReceiveFilter",
    "RequestHandler",
    "ServerTransactionHandle",
    "StrayHandler",
    "build_2xx_ack",
    "build_in_dialog_request",
    "request_target",
    "uri_target",
]
