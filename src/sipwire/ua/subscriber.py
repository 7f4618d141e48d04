"""SUBSCRIBE and NOTIFY over an ``Endpoint``: subscriber and notifier (RFC 6665).

The state machines are ``sipwire.dialog.subscription``'s, sans-I/O: a
``Subscriber`` there is one subscription as its subscriber sees it (§4.1.2's
figure: notify_wait, pending, active, terminated; Timer N; refresh before
expiry; unsubscribe), a ``Notifier`` one as its notifier sees it (§4.2: 489,
406, 423, 200 then NOTIFY; refresh; expiry with ``reason=timeout``).  This
module drives them over asyncio: it sends the requests they ask for and feeds
back the final responses, answers the NOTIFYs and SUBSCRIBEs the endpoint
receives through them, and runs their deadlines on the loop's clock.

Subscriber side: ``subscribe(endpoint, target, event, from_=...)`` (or
``Subscriber.of(endpoint).subscribe``) returns a ``Subscription`` once a 2xx
came (``SubscriptionError`` otherwise; a 423 is retried with Min-Expires);
``async for n in sub.notifications()`` yields each NOTIFY, ending after the
one that terminates; ``refresh()``, ``unsubscribe()``.  A NOTIFY matching no
subscription is answered 481 (489 for a package nobody subscribed to, §4.1.3).

Notifier side: ``Notifier(endpoint)`` and ``serve(package, state)`` for each
``EventPackage`` (``serve_message_summary`` for RFC 3842's, the body from a
``MessageSummary``); ``notify(package, resource)`` sends the new state.  The
packages served are announced in the endpoint's OPTIONS answer (Allow-Events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from ..auth.client import DigestClient
from ..dialog.actions import SendRequest, SendResponse
from ..dialog.dialog import Dialog, DialogId
from ..dialog.events import MESSAGE_SUMMARY, EventPackage, EventPackages, MessageSummary
from ..dialog.subscription import (
    Notified,
    NotifierState,
    SubscriberState,
    SubscriptionAction,
    SubscriptionEnded,
    Subscriptions,
)
from ..dialog.subscription import Notifier as NotifierCore
from ..dialog.subscription import Subscriber as SubscriberCore
from ..message.fields.base import Field
from ..message.fields.events import Event, SubscriptionState
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response
from ..message.uri import URI
from ..transport.base import TransportError
from .endpoint import Endpoint
from .server import ServerTransactionHandle

__all__ = [
    "Notification",
    "Notifier",
    "Subscriber",
    "Subscription",
    "SubscriptionError",
    "subscribe",
]

logger = logging.getLogger("sipwire.ua.subscriber")


class SubscriptionError(Exception):
    """A SUBSCRIBE refused: ``response`` is its final response (489, 403 ...)."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True, slots=True)
class Notification:
    """A NOTIFY received: its Subscription-State and body (§4.1.3)."""

    request: Request
    state: SubscriptionState

    @classmethod
    def of(cls, notify: Request) -> Notification:
        value = notify.headers.first("Subscription-State")
        assert isinstance(value, SubscriptionState)  # the core checked it
        return cls(notify, value)

    @property
    def state_text(self) -> str:
        return str(self.state)

    @property
    def body(self) -> bytes:
        return self.request.body

    @property
    def content_type(self) -> str | None:
        return self.request.headers.get("Content-Type")


# -- the subscriber -----------------------------------------------------------------------------


class Subscription:
    """One subscription of ours, driven over the endpoint.

    ``state`` is the core's (``notify_wait``, ``pending``, ``active``,
    ``terminated``); ``expires`` the duration last granted; ``reason`` why
    it ended (a Subscription-State reason such as ``timeout`` or
    ``noresource``, ``Timer N``, ``expired``, or a status code); ``received``
    every NOTIFY so far; ``core`` the sans-I/O ``dialog.subscription.Subscriber``.
    """

    def __init__(self, subscriber: Subscriber, core: SubscriberCore,
                 credentials: DigestClient | None) -> None:
        self._subscriber = subscriber
        self.core = core
        self.credentials = credentials
        self.reason: str | None = None
        self.received: list[Notification] = []
        self._changed = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        #: the request last sent (after any Digest retry), whose answer is fed back
        self._sent: Request = core.request

    @property
    def state(self) -> str:
        return self.core.state.value

    @property
    def terminated(self) -> bool:
        return self.core.state is SubscriberState.TERMINATED

    @property
    def expires(self) -> int | None:
        return self.core.expires

    @property
    def dialog(self) -> Dialog | None:
        return self.core.dialog

    async def notifications(self) -> AsyncIterator[Notification]:
        """Every NOTIFY as it arrives; ends after the one that terminates (or when
        the subscription ends without one: Timer N, expiry)."""
        seen = 0
        while True:
            while seen < len(self.received):
                seen += 1
                yield self.received[seen - 1]
            if self.terminated:
                return
            self._changed.clear()
            await self._changed.wait()

    async def refresh(self, expires: int | None = None) -> Response:
        """SUBSCRIBE again within the dialog (§4.1.2.2); its final response."""
        actions = self.core.refresh(self._subscriber._now(), expires)
        return await self._send_all(actions)

    async def unsubscribe(self, timeout: float | None = None) -> Response | None:
        """SUBSCRIBE with ``Expires: 0`` (§4.1.2.3), then wait for the final
        NOTIFY (Timer N at most, or ``timeout``).  None when nothing was sent."""
        actions = self.core.unsubscribe(self._subscriber._now())
        if not any(isinstance(a, SendRequest) for a in actions):
            self._perform(actions)
            return None
        response = await self._send_all(actions)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.terminated:
                    self._changed.clear()
                    await self._changed.wait()
        return response

    # -- driving the core -------------------------------------------------------------------

    async def _send_all(self, actions: list[SubscriptionAction]) -> Response:
        """Perform ``actions``; send their requests, feeding each final response
        back (a 423's retry too); the last final response."""
        last: Response | None = None
        pending = self._perform(actions)
        while pending:
            request = pending.pop(0)
            last = await self._exchange(request)
            pending += self._perform(self.core.receive_response(
                self._sent, last, self._subscriber._now()))
        assert last is not None
        return last

    async def _exchange(self, request: Request) -> Response:
        handle = self._subscriber.endpoint.send(request, credentials=self.credentials)
        response = await handle.final()
        sent = handle.request
        dialog = self.core.dialog
        if dialog is not None and sent.cseq.seq > (dialog.local_seq or 0):
            dialog.local_seq = sent.cseq.seq  # a Digest retry raised it (§22.2)
        self._sent = sent
        return response

    def _perform(self, actions: list[SubscriptionAction]) -> list[Request]:
        """Events into state; the requests to send are returned."""
        requests: list[Request] = []
        for action in actions:
            if isinstance(action, SendRequest):
                requests.append(action.request)
            elif isinstance(action, Notified):
                self.received.append(Notification.of(action.notify))
            elif isinstance(action, SubscriptionEnded):
                if isinstance(action.message, Request) and action.message.method == "NOTIFY":
                    self.received.append(Notification.of(action.message))
                self.reason = action.reason
                self._subscriber._forget(self)
        self._rearm()
        self._changed.set()
        return requests

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None and not self.terminated:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer,
                                                             deadline)

    def _on_timer(self, deadline: float) -> None:
        self._timer = None
        now = max(self._subscriber._now(), deadline)
        requests = self._perform(self.core.handle_timer(now))
        if requests:  # a refresh (§4.1.2.2)
            self._subscriber._spawn(self._refresh_quietly(requests))

    async def _refresh_quietly(self, requests: list[Request]) -> None:
        try:
            pending = list(requests)
            while pending:
                request = pending.pop(0)
                response = await self._exchange(request)
                pending += self._perform(self.core.receive_response(
                    self._sent, response, self._subscriber._now()))
        except TransportError as exc:
            logger.info("refreshing a subscription: %s", exc)


_subscribers: weakref.WeakKeyDictionary[Endpoint, Subscriber] = weakref.WeakKeyDictionary()


class Subscriber:
    """The subscriber side of an endpoint: its NOTIFY handler and subscriptions.

    ``Subscriber.of(endpoint)`` gives the endpoint's one (made at first use).
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.cores = Subscriptions(EventPackages())
        self._by_core: dict[SubscriberCore, Subscription] = {}
        endpoint.on_request(self._on_notify, "NOTIFY")
        _subscribers[endpoint] = self

    @classmethod
    def of(cls, endpoint: Endpoint) -> Subscriber:
        found = _subscribers.get(endpoint)
        return found if found is not None else cls(endpoint)

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions not terminated."""
        return list(self._by_core.values())

    async def subscribe(self, target: URI | str, event: str | Event, *,
                        from_: NameAddr | URI | str, contact: URI | str | None = None,
                        proxy: URI | str | None = None, expires: int = 600,
                        accept: Iterable[str] | None = None,
                        credentials: DigestClient | None = None,
                        headers: Iterable[tuple[str, str | Field]] = ()) -> Subscription:
        """Subscribe to ``event`` of ``target`` (§4.1.2.1); returns once a 2xx came
        (the first NOTIFY may come before or after it).  ``SubscriptionError``
        for a refusal (489 Bad Event, 406, 403 ...)."""
        uri = URI.parse(target) if isinstance(target, str) else target
        kind = Event.parse(event) if isinstance(event, str) else event
        types = tuple(accept or ())
        if kind.package not in self.cores.packages:
            self.cores.packages.register(EventPackage(kind.package, types or ("*/*",), expires))
        lines: list[tuple[str, str | Field]] = []
        route: URI | None = URI.parse(proxy) if isinstance(proxy, str) else proxy
        if route is not None:
            if "lr" not in route.params:
                route = route.copy(params={**route.params, "lr": None})
            lines.append(("Route", NameAddr(route)))
        lines += [("Event", str(kind)), ("Expires", str(expires))]
        lines += [("Accept", value) for value in types]
        lines += [("Allow", "NOTIFY"), *headers]
        if contact is None:
            from .target import uri_target

            contact = self.endpoint.contact(uri_target(route or uri).transport,
                                            user=_user_of(from_))
        request = Request.build("SUBSCRIBE", uri, from_=from_, contact=contact, headers=lines)
        core = SubscriberCore(request, timers=self.endpoint.config.timers)
        subscription = Subscription(self, core, credentials)
        self.cores.add(core)
        self._by_core[core] = subscription
        try:
            response = await subscription._send_all(core.start(self._now()))
        except BaseException:
            self._forget(subscription)
            raise
        if not 200 <= response.status < 300:
            raise SubscriptionError(f"SUBSCRIBE {uri}: {response.status} {response.reason}",
                                    response)
        return subscription

    async def _on_notify(self, request: Request, tx: ServerTransactionHandle) -> Response:
        """§4.1.3: the matching subscription answers it, else 481 (489)."""
        now = self._now()
        core = self.cores.match(request)
        if core is None:
            actions = self.cores.receive_notify(request, now)
            return _response_in(actions, tx)
        subscription = self._by_core.get(core)
        actions = core.receive_notify(request, now)
        if subscription is not None:
            subscription._perform(actions)
        return _response_in(actions, tx)

    def _forget(self, subscription: Subscription) -> None:
        self._by_core.pop(subscription.core, None)
        self.cores.prune()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.endpoint._spawn(coro)


def _response_in(actions: list[SubscriptionAction], tx: ServerTransactionHandle) -> Response:
    response = next((a.response for a in actions if isinstance(a, SendResponse)), None)
    return response if response is not None else tx.reply(500)


async def subscribe(endpoint: Endpoint, target: URI | str, event: str | Event, *,
                    from_: NameAddr | URI | str, contact: URI | str | None = None,
                    proxy: URI | str | None = None, expires: int = 600,
                    accept: Iterable[str] | None = None,
                    credentials: DigestClient | None = None) -> Subscription:
    """``Subscriber.of(endpoint).subscribe(...)``."""
    return await Subscriber.of(endpoint).subscribe(
        target, event, from_=from_, contact=contact, proxy=proxy, expires=expires,
        accept=accept, credentials=credentials)


def _user_of(value: NameAddr | URI | str) -> str | None:
    if isinstance(value, NameAddr):
        return value.uri.user
    if isinstance(value, URI):
        return value.user
    return NameAddr.parse(value).uri.user


# -- the notifier -------------------------------------------------------------------------------


#: ``state(resource) -> state``: the resource's current state, as its package
#: takes it (bytes, or a ``MessageSummary`` for message-summary)
StateSource = Callable[[URI], object]
#: ``authorize(subscribe) -> None (allowed) | status (403 ...)`` (§4.2.1.3)
Authorizer = Callable[[Request], int | None]


@dataclass(slots=True)
class _Held:
    core: NotifierCore
    resource: URI
    timer: asyncio.TimerHandle | None = None


class Notifier:
    """The notifier side of an endpoint (§4.2): the packages it serves and the
    subscriptions it holds.  ``min_expires`` answers shorter requests 423,
    ``max_expires`` caps what is granted."""

    def __init__(self, endpoint: Endpoint, *, min_expires: int = 60,
                 max_expires: int | None = 3600) -> None:
        self.endpoint = endpoint
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.packages = EventPackages()
        self._states: dict[str, tuple[StateSource, Authorizer | None]] = {}
        self._held: dict[DialogId, _Held] = {}
        endpoint.on_request(self._on_subscribe, "SUBSCRIBE")

    def serve(self, package: EventPackage, state: StateSource, *,
              authorize: Authorizer | None = None) -> None:
        """Accept subscriptions to ``package``; ``state(resource)`` is the state of
        the resource (the SUBSCRIBE's Request-URI without parameters)."""
        self.packages.register(package)
        self._states[package.name] = (state, authorize)
        self.endpoint.announce(events=[package.name])

    def serve_message_summary(self, mailbox: Callable[[URI], MessageSummary], *,
                              authorize: Authorizer | None = None) -> None:
        """RFC 3842 message waiting: ``mailbox(resource)`` is its ``MessageSummary``."""
        self.serve(MESSAGE_SUMMARY, mailbox, authorize=authorize)

    @property
    def subscriptions(self) -> int:
        return len(self._held)

    async def notify(self, package: str, resource: URI | str | None = None) -> int:
        """Send the current state to each subscriber of ``package`` (of ``resource``
        only, when given); how many NOTIFYs went."""
        wanted = URI.parse(resource) if isinstance(resource, str) else resource
        now = self._now()
        sends: list[Coroutine[Any, Any, None]] = []
        for held in list(self._held.values()):
            if held.core.package.name != package or (wanted is not None and
                                                     held.resource != wanted):
                continue
            sends += self._perform(held, held.core.notify(now, self._state(held)))
        await asyncio.gather(*sends)
        return len(sends)

    async def close(self) -> None:
        """End every subscription: NOTIFY ``terminated;reason=noresource`` (§4.2.2)."""
        now = self._now()
        sends: list[Coroutine[Any, Any, None]] = []
        for held in list(self._held.values()):
            sends += self._perform(held, held.core.terminate(now, "noresource"))
        await asyncio.gather(*sends, return_exceptions=True)

    # -- SUBSCRIBE ----------------------------------------------------------------------------

    async def _on_subscribe(self, request: Request, tx: ServerTransactionHandle) -> None:
        now = self._now()
        if request.to.tag is not None:
            held = self._held.get(DialogId(request.call_id, request.to.tag,
                                           request.from_.tag or ""))
            if held is None:
                await tx.respond(tx.reply(481, "Subscription Does Not Exist"))
                return
            actions = held.core.receive_subscribe_refresh(request, now, self._state(held))
            await self._answer(held, actions, tx)
            return
        found = self.packages.check_subscribe(request)
        if isinstance(found, Response):  # 489 with Allow-Events, 406 with Accept
            await tx.respond(found)
            return
        _, authorize = self._states[found.name]
        refusal = authorize(request) if authorize is not None else None
        if refusal is not None:
            await tx.respond(tx.reply(refusal))
            return
        resource = request.uri.copy(params={}, headers={})
        try:
            state = self._states[found.name][0](resource)
        except LookupError:
            await tx.respond(tx.reply(404))
            return
        core, actions = NotifierCore.receive_subscribe(
            request, now, packages=self.packages, contact=self.endpoint.contact(
                tx.flow.transport), resource_state=state, min_expires=self.min_expires,
            max_expires=self.max_expires, to_tag=tx.to_tag)
        if core is None:
            await self._answer(None, actions, tx)
            return
        held = _Held(core, resource)
        if core.state is not NotifierState.TERMINATED:
            self._held[core.dialog.id] = held
        await self._answer(held, actions, tx)

    async def _answer(self, held: _Held | None, actions: list[SubscriptionAction],
                      tx: ServerTransactionHandle) -> None:
        """The response first, then the NOTIFY (§4.2.1.2)."""
        for action in actions:
            if isinstance(action, SendResponse):
                await tx.respond(action.response)
        if held is not None:
            for send in self._perform(held, [a for a in actions
                                             if not isinstance(a, SendResponse)]):
                self.endpoint._spawn(send)

    def _state(self, held: _Held) -> object:
        return self._states[held.core.package.name][0](held.resource)

    # -- NOTIFY and time ------------------------------------------------------------------------

    def _perform(self, held: _Held, actions: list[SubscriptionAction],
                 ) -> list[Coroutine[Any, Any, None]]:
        """The NOTIFYs to send (as coroutines); the subscription forgotten when over."""
        sends = [self._send(held, a.request) for a in actions if isinstance(a, SendRequest)]
        self._rearm(held)
        return sends

    async def _send(self, held: _Held, notify: Request) -> None:
        try:
            response = await self.endpoint.request(notify)
        except TransportError as exc:
            logger.info("NOTIFY to %s: %s", held.core.dialog.remote_target, exc)
            return
        self._perform(held, held.core.receive_response(notify, response, self._now()))

    def _rearm(self, held: _Held) -> None:
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        if held.core.state is NotifierState.TERMINATED:
            if self._held.get(held.core.dialog.id) is held:
                del self._held[held.core.dialog.id]
            return
        deadline = held.core.next_deadline()
        if deadline is not None:
            held.timer = asyncio.get_running_loop().call_at(deadline, self._expired, held,
                                                            deadline)

    def _expired(self, held: _Held, deadline: float) -> None:
        held.timer = None
        now = max(self._now(), deadline)
        for send in self._perform(held, held.core.handle_timer(now)):
            self.endpoint._spawn(send)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

