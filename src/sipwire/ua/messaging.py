"""Instant messages: MESSAGE sent and received over an ``Endpoint`` (RFC 3428).

Sending (§4): a MESSAGE outside any dialog, with no Contact ("MESSAGE
requests do not initiate dialogs"), its body ``text/plain`` unless told
otherwise, at most 1300 bytes in all (§8: the limit for a path whose
congestion control is not known), answered Digest challenges (§22.2) by
the endpoint's or the sender's ``DigestClient``, and never two pending at
once to one URI (§8: "A UAC MUST NOT initiate a new out-of-dialog MESSAGE
transaction to a given URI if there is a previous out-of-dialog
transaction pending for the same URI"): a second waits for the first.

Receiving (§7): a final response at once, 200 (delivered) or 202 (a relay
that will deliver later), with neither body nor Contact; 415 Unsupported
Media Type with Accept for a body type we do not take (RFC 3261 §21.4.13),
413 Request Entity Too Large for a body over the size we take (§21.4.11,
with Retry-After as RFC 3428 §10's table allows for 413 only when it is
transient, so none here).  The body types taken are announced in the
endpoint's OPTIONS answer (Accept).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from ..auth.client import DigestClient
from ..message.fields.base import Field
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response
from ..message.uri import URI
from .endpoint import Endpoint
from .server import ServerTransactionHandle

__all__ = [
    "MAX_MESSAGE_SIZE",
    "MessageHandler",
    "MessageReceiver",
    "MessageSender",
    "ReceivedMessage",
    "build_message",
]

logger = logging.getLogger("sipwire.ua.messaging")

#: RFC 3428 §8: a MESSAGE outside a media session is at most 1300 bytes
MAX_MESSAGE_SIZE = 1300
TEXT_PLAIN = "text/plain;charset=UTF-8"


def build_message(target: URI | str, body: bytes | str, *, from_: NameAddr | URI | str,
                  content_type: str = TEXT_PLAIN, route: URI | str | None = None,
                  headers: Iterable[tuple[str, str | Field]] = (),
                  max_size: int | None = MAX_MESSAGE_SIZE) -> Request:
    """A MESSAGE to ``target`` outside any dialog (RFC 3428 §4): no Contact;
    ``route`` is an outbound proxy (§8.1.2: a loose route).  ValueError when
    the request is over ``max_size`` bytes (§8; None: no limit)."""
    data = body.encode() if isinstance(body, str) else body
    lines: list[tuple[str, str | Field]] = []
    if route is not None:
        uri = URI.parse(route) if isinstance(route, str) else route.copy()
        if "lr" not in uri.params:
            uri = uri.copy(params={**uri.params, "lr": None})
        lines.append(("Route", NameAddr(uri)))
    lines.extend(headers)
    request = Request.build("MESSAGE", target, from_=from_, body=data,
                            content_type=content_type, headers=lines)
    if max_size is not None:
        size = len(bytes(request))
        if size > max_size:
            raise ValueError(f"a MESSAGE of {size} bytes is over {max_size} "
                             "(RFC 3428 §8: 1300 bytes outside a media session)")
    return request


class MessageSender:
    """Sends MESSAGEs from ``from_`` over ``endpoint`` (RFC 3428 §4, §8).

    ``proxy`` is an outbound proxy (in Route, and where requests go);
    ``credentials`` answer 401/407 (the endpoint's by default).
    """

    def __init__(self, endpoint: Endpoint, from_: NameAddr | URI | str, *,
                 proxy: URI | str | None = None, credentials: DigestClient | None = None,
                 max_size: int | None = MAX_MESSAGE_SIZE) -> None:
        self.endpoint = endpoint
        self.from_ = from_
        self.proxy = URI.parse(proxy) if isinstance(proxy, str) else proxy
        self.credentials = credentials
        self.max_size = max_size
        # per URI: the lock of its pending MESSAGE, and how many sends use it
        self._pending: dict[str, tuple[asyncio.Lock, int]] = {}

    async def send(self, target: URI | str, body: bytes | str, *,
                   content_type: str = TEXT_PLAIN,
                   headers: Iterable[tuple[str, str | Field]] = ()) -> Response:
        """Send one MESSAGE and return its final response: 200 delivered, 202
        accepted for later delivery (§4), 408/503 when nothing came back."""
        uri = URI.parse(target) if isinstance(target, str) else target
        request = build_message(uri, body, from_=_copy(self.from_), content_type=content_type,
                                route=self.proxy, headers=headers, max_size=self.max_size)
        key = str(uri)
        lock, users = self._pending.get(key, (asyncio.Lock(), 0))
        self._pending[key] = (lock, users + 1)
        try:
            async with lock:  # one pending out-of-dialog MESSAGE per URI (§8)
                return await self.endpoint.request(request, credentials=self.credentials)
        finally:
            lock, users = self._pending[key]
            if users == 1:
                del self._pending[key]
            else:
                self._pending[key] = (lock, users - 1)


def _copy(value: NameAddr | URI | str) -> NameAddr | URI | str:
    # Request.build sets a tag on a NameAddr: each MESSAGE gets its own
    if isinstance(value, NameAddr):
        return NameAddr(value.uri.copy(), value.display_name,
                        {k: v for k, v in value.params.items() if k != "tag"})
    return value.copy() if isinstance(value, URI) else value


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A MESSAGE received: who sent it, to whom, and its body."""

    request: Request

    @property
    def sender(self) -> NameAddr:
        return self.request.from_

    @property
    def recipient(self) -> NameAddr:
        return self.request.to

    @property
    def content_type(self) -> str:
        media = self.request.content_type
        return "text/plain" if media is None else f"{media.type}/{media.subtype}".lower()

    @property
    def body(self) -> bytes:
        return self.request.body

    @property
    def text(self) -> str:
        """The body decoded with its charset (UTF-8 by default, RFC 3428 §4)."""
        media = self.request.content_type
        charset = "utf-8"
        if media is not None:
            charset = (media.params.get("charset") or "utf-8").strip('"')
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


#: ``handler(message) -> status | None``, sync or async: 200 or 202 (None: the
#: receiver's ``status``), or a failure status
MessageHandler = Callable[[ReceivedMessage], "int | Awaitable[int | None] | None"]


class MessageReceiver:
    """Answers the MESSAGEs an endpoint receives (RFC 3428 §7).

    Installs itself as the endpoint's MESSAGE handler.  Each MESSAGE whose
    body it takes is passed to ``handler`` (when given) and queued for
    ``async for message in receiver``; the answer is ``status`` (200, or 202
    for a relay) unless the handler returns another.  ``accept`` lists the
    body types taken (text/plain always, §7), ``max_size`` the largest body.
    """

    def __init__(self, endpoint: Endpoint, handler: MessageHandler | None = None, *,
                 accept: Iterable[str] = ("text/plain", "message/cpim"),
                 max_size: int = 64 * 1024, status: int = 200) -> None:
        if status not in (200, 202):
            raise ValueError("a MESSAGE delivered is answered 200 or 202 (RFC 3428 §7)")
        self.endpoint = endpoint
        self.handler = handler
        types = [t.lower() for t in accept]
        if "text/plain" not in types:
            types.insert(0, "text/plain")  # §7: MUST be prepared to receive it
        self.accept = tuple(types)
        self.max_size = max_size
        self.status = status
        self.received: list[ReceivedMessage] = []
        self._queue: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
        endpoint.on_request(self._on_message, "MESSAGE")
        endpoint.announce(accept=self.accept)

    async def __aiter__(self) -> AsyncIterator[ReceivedMessage]:
        while True:
            yield await self._queue.get()

    async def get(self) -> ReceivedMessage:
        """The next MESSAGE taken (waits for one)."""
        return await self._queue.get()

    async def _on_message(self, request: Request, tx: ServerTransactionHandle) -> Response:
        if len(request.body) > self.max_size:
            return tx.reply(413)  # RFC 3261 §21.4.11
        message = ReceivedMessage(request)
        if request.body and message.content_type not in self.accept:
            # RFC 3261 §21.4.13: 415 listing what we take
            return tx.reply(415, headers=[("Accept", ", ".join(self.accept))])
        status = self.status
        if self.handler is not None:
            outcome = self.handler(message)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if outcome is not None:
                status = outcome
        if 200 <= status < 300:
            self.received.append(message)
            self._queue.put_nowait(message)
        # §7: a 2xx has no body and no Contact
        return tx.reply(status)
