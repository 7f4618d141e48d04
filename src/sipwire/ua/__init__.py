"""The user-agent core over asyncio: an ``Endpoint`` tying the transport layer
(RFC 3261 §18) to the transaction layer (§17), for UACs and UASs (§8).

    >>> async with Endpoint(listen=["udp:127.0.0.1:0"]) as ep:
    ...     @ep.handles("MESSAGE")
    ...     async def message(request, tx):
    ...         return tx.reply(200)
    ...     response = await ep.request(some_request)
"""

from .agent import UserAgent, UserAgentConfig
from .call import Call, CallError, CallEvent, CallFailed, CallState, Ended, ReferResult
from .client import ClientTransactionHandle
from .config import EndpointConfig
from .endpoint import (
    KNOWN_METHODS,
    AckHandler,
    DialogRouter,
    Endpoint,
    ReceiveFilter,
    RequestHandler,
    StrayHandler,
)
from .messaging import MessageReceiver, MessageSender, ReceivedMessage
from .registration import (
    Outbound,
    Registration,
    RegistrationError,
    RegistrationPolicy,
    RegistrationState,
)
from .server import ServerTransactionHandle
from .subscriber import Notifier, Subscriber, Subscription, SubscriptionError
from .target import request_target, uri_target
from .uac import build_2xx_ack, build_in_dialog_request

__all__ = [
    "KNOWN_METHODS",
    "AckHandler",
    "Call",
    "CallError",
    "CallEvent",
    "CallFailed",
    "CallState",
    "ClientTransactionHandle",
    "DialogRouter",
    "Ended",
    "Endpoint",
    "EndpointConfig",
    "MessageReceiver",
    "MessageSender",
    "Notifier",
    "Outbound",
    "ReceiveFilter",
    "ReceivedMessage",
    "ReferResult",
    "Registration",
    "RegistrationError",
    "RegistrationPolicy",
    "RegistrationState",
    "RequestHandler",
    "ServerTransactionHandle",
    "StrayHandler",
    "Subscriber",
    "Subscription",
    "SubscriptionError",
    "UserAgent",
    "UserAgentConfig",
    "build_2xx_ack",
    "build_in_dialog_request",
    "request_target",
    "uri_target",
]
