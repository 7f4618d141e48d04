"""SUBSCRIBE and NOTIFY over an ``Endpoint``: subscriber and notifier (RFC 6665).

The subscriber (§4.1) sends a SUBSCRIBE outside any dialog, takes the
duration the 2xx grants (§4.1.2.1: the Expires of the 200), accepts the
NOTIFYs of the dialog it creates, before the 2xx too (§4.1.2.4: they may
cross it), refreshes before expiry within the dialog (§4.1.2.2) and
unsubscribes with ``Expires: 0`` (§4.1.2.3).  Timer N (64*T1) bounds the
wait for a NOTIFY after each SUBSCRIBE.  NOTIFYs matching no subscription
are answered 481 (§4.1.3).  Their states follow the figure of §4.1.2:
``notify_wait``, ``pending``, ``active``, ``terminated``.

The notifier (§4.2) answers SUBSCRIBE for the event packages served on its
endpoint: 489 Bad Event (with Allow-Events) for another package, 406 when
the Accept lists none of the package's body types, 423 Interval Too Brief
with Min-Expires (§4.2.1.1), 481 for a refresh of an unknown subscription;
otherwise 200 with the granted Expires (shortened, never lengthened) and at
once a NOTIFY with the state (§4.2.1.2).  ``notify()`` sends the new state
to every subscriber of a resource; an expired subscription, or one
unsubscribed, gets its last NOTIFY, ``terminated;reason=timeout``
(§4.2.1.4).  ``message-summary`` (RFC 3842) is built in:
``serve_message_summary``.

Dialogs are ``sipwire.dialog.Dialog``; one ``Subscriber`` and one
``Notifier`` per endpoint hold the NOTIFY and SUBSCRIBE handlers.
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
from ..dialog.dialog import Dialog, DialogId, DialogState
from ..message.errors import ParseError
from ..message.fields.base import Field
from ..message.fields.events import Event, SubscriptionState
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response
from ..message.uri import URI
from ..transport.base import TransportError
from .endpoint import Endpoint
from .registration import refresh_delay
from .server import ServerTransactionHandle

__all__ = [
    "MESSAGE_SUMMARY",
    "Notification",
    "Notifier",
    "Subscriber",
    "Subscription",
    "SubscriptionError",
    "message_summary_body",
    "subscribe",
]

logger = logging.getLogger("sipwire.ua.subscriber")

#: RFC 3842 §6: the package and its body type
MESSAGE_SUMMARY = ("message-summary", "application/simple-message-summary")
#: §4.1.2.2: a refresh answered with one of these ends the subscription
_FATAL_TO_REFRESH = frozenset({404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501,
                               604})


class SubscriptionError(Exception):
    """A SUBSCRIBE refused (its non-2xx ``response``), or no NOTIFY in Timer N."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True, slots=True)
class Notification:
    """A NOTIFY received: its Subscription-State and body (§4.1.3)."""

    request: Request
    state: SubscriptionState

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
    """One subscription of ours (§4.1): its dialog, state and NOTIFYs.

    ``state`` is ``notify_wait``, ``pending``, ``active`` or ``terminated``
    (§4.1.2); ``expires`` the granted duration, ``reason`` the reason of the
    terminating NOTIFY (or ``timer-n``, ``refresh``).  ``async for n in
    sub.notifications()`` yields each NOTIFY, ending after the terminating one.
    """

    def __init__(self, subscriber: Subscriber, request: Request, event: Event,
                 credentials: DigestClient | None) -> None:
        self._subscriber = subscriber
        self.request = request
        self.event = event
        self.credentials = credentials
        self.dialog: Dialog | None = None
        self.state = "notify_wait"
        self.expires: int | None = None
        self.expires_at: float | None = None
        self.reason: str | None = None
        self.received: list[Notification] = []
        #: refresh before expiry (§4.1.2.2); False lets the subscription lapse
        self.auto_refresh = True
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        self._notified = asyncio.Event()
        self._refresh: asyncio.TimerHandle | None = None
        self._timer_n: asyncio.TimerHandle | None = None

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    @property
    def key(self) -> tuple[str, str]:
        """(Call-ID, our tag): what a NOTIFY of ours carries in Call-ID and To."""
        tag = self.request.from_.tag
        assert tag is not None
        return (self.request.call_id, tag)

    async def notifications(self) -> AsyncIterator[Notification]:
        """Every NOTIFY, as it arrives; ends after the one that terminates."""
        seen = 0
        while True:
            while seen < len(self.received):
                seen += 1
                yield self.received[seen - 1]
            if self.terminated:
                return
            await self._queue.get()

    async def refresh(self, expires: int | None = None) -> Response:
        """SUBSCRIBE again within the dialog (§4.1.2.2); its final response."""
        return await self._resubscribe((self.expires or 0) if expires is None else expires)

    async def unsubscribe(self, timeout: float | None = None) -> Response | None:
        """SUBSCRIBE with ``Expires: 0`` (§4.1.2.3), then wait (Timer N at most)
        for the final NOTIFY.  None when the subscription had already ended."""
        if self.terminated or self.dialog is None:
            self._terminate("unsubscribed")
            return None
        response = await self._resubscribe(0)
        if 200 <= response.status < 300 and not self.terminated:
            wait = timeout if timeout is not None else self._subscriber.timer_n
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    while not self.terminated:
                        self._notified.clear()
                        await self._notified.wait()
        self._terminate(self.reason or "unsubscribed")
        return response

    async def _resubscribe(self, expires: int) -> Response:
        dialog = self.dialog
        if dialog is None or dialog.terminated:
            raise SubscriptionError("no dialog to refresh the subscription in")
        request = dialog.create_request("SUBSCRIBE", headers=[
            ("Event", str(self.event)), ("Expires", str(expires)),
            *self._subscriber._accept_lines(self.request)])
        self._start_timer_n()
        response = await self._subscriber.endpoint.request(request,
                                                           credentials=self.credentials)
        dialog.local_seq = max(dialog.local_seq or 0, response.cseq.seq)
        status = response.status
        if 200 <= status < 300:
            if expires:
                self._granted(response, expires)
        elif status in _FATAL_TO_REFRESH:
            self._terminate(f"refresh {status}")
        return response

    # -- what the subscriber calls ----------------------------------------------------------

    def _granted(self, response: Response, asked: int) -> None:
        expires = response.expires
        self._set_expiry(expires if expires is not None else asked)

    def _set_expiry(self, expires: int) -> None:
        loop = asyncio.get_running_loop()
        self.expires = expires
        self.expires_at = loop.time() + expires
        if self._refresh is not None:
            self._refresh.cancel()
        self._refresh = None
        if expires > 0 and not self.terminated:
            # a refresh one transaction (64*T1) before expiry, not before half of it
            delay = refresh_delay(expires, self._subscriber.timer_n)
            self._refresh = loop.call_later(delay, self._refresh_due)

    def _refresh_due(self) -> None:
        self._refresh = None
        if not self.terminated and self.expires and self.auto_refresh:
            self._subscriber._spawn(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except (SubscriptionError, TransportError) as exc:
            logger.info("refreshing %s: %s", self.event, exc)

    def _start_timer_n(self) -> None:
        if self._timer_n is not None:
            self._timer_n.cancel()
        self._notified.clear()
        self._timer_n = asyncio.get_running_loop().call_later(
            self._subscriber.timer_n, self._timer_n_fired)

    def _timer_n_fired(self) -> None:
        self._timer_n = None
        if not self._notified.is_set():
            logger.info("no NOTIFY for %s in Timer N (RFC 6665 §4.1.2.4)", self.event)
            self._terminate("timer-n")

    def _on_notify(self, request: Request, state: SubscriptionState) -> None:
        notification = Notification(request, state)
        self.received.append(notification)
        if self._timer_n is not None:
            self._timer_n.cancel()
            self._timer_n = None
        if state.state == "terminated":
            self._terminate(state.reason or "terminated")
        else:
            self.state = "pending" if state.state == "pending" else "active"
            if state.expires is not None and (self.expires is None or
                                              state.expires < self.expires):
                self._set_expiry(state.expires)
        self._notified.set()
        self._queue.put_nowait(notification)

    def _terminate(self, reason: str) -> None:
        if self.terminated:
            return
        self.state = "terminated"
        self.reason = reason
        for timer in (self._refresh, self._timer_n):
            if timer is not None:
                timer.cancel()
        self._refresh = self._timer_n = None
        if self.dialog is not None:
            self.dialog.terminate(reason)
        self._subscriber._forget(self)
        self._notified.set()
        self._queue.put_nowait(None)


_subscribers: weakref.WeakKeyDictionary[Endpoint, Subscriber] = weakref.WeakKeyDictionary()


class Subscriber:
    """The subscriber side of an endpoint: its NOTIFY handler and subscriptions.

    ``Subscriber.of(endpoint)`` gives the endpoint's one (made at first use).
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._subscriptions: dict[tuple[str, str], list[Subscription]] = {}
        endpoint.on_request(self._on_notify, "NOTIFY")
        _subscribers[endpoint] = self

    @classmethod
    def of(cls, endpoint: Endpoint) -> Subscriber:
        found = _subscribers.get(endpoint)
        return found if found is not None else cls(endpoint)

    @property
    def timer_n(self) -> float:
        """§4.1.2.4: 64*T1."""
        return 64 * self.endpoint.config.timers.t1

    @property
    def subscriptions(self) -> list[Subscription]:
        return [s for group in self._subscriptions.values() for s in group]

    async def subscribe(self, target: URI | str, event: str | Event, *,
                        from_: NameAddr | URI | str, contact: URI | str | None = None,
                        proxy: URI | str | None = None, expires: int = 600,
                        accept: Iterable[str] | None = None,
                        credentials: DigestClient | None = None,
                        headers: Iterable[tuple[str, str | Field]] = ()) -> Subscription:
        """Subscribe to ``event`` of ``target`` (§4.1.2.1); returns once the 2xx came.

        Raises ``SubscriptionError`` for a non-2xx (489 Bad Event, 406, 403 ...).
        The first NOTIFY may come before or after; ``notifications()`` has it.
        """
        uri = URI.parse(target) if isinstance(target, str) else target
        kind = Event.parse(event) if isinstance(event, str) else event
        lines: list[tuple[str, str | Field]] = []
        route: URI | None = URI.parse(proxy) if isinstance(proxy, str) else proxy
        if route is not None:
            if "lr" not in route.params:
                route = route.copy(params={**route.params, "lr": None})
            lines.append(("Route", NameAddr(route)))
        lines += [("Event", str(kind)), ("Expires", str(expires))]
        lines += [("Accept", value) for value in (accept or ())]
        lines += [("Allow", "NOTIFY"), *headers]
        if contact is None:
            from .target import uri_target

            contact = self.endpoint.contact(uri_target(route or uri).transport,
                                            user=_user_of(from_))
        request = Request.build("SUBSCRIBE", uri, from_=from_, contact=contact, headers=lines)
        subscription = Subscription(self, request, kind, credentials)
        self._subscriptions.setdefault(subscription.key, []).append(subscription)
        subscription._start_timer_n()
        try:
            response = await self.endpoint.request(request, credentials=credentials)
        except BaseException:
            subscription._terminate("failed")
            raise
        if not 200 <= response.status < 300:
            subscription._terminate(f"{response.status}")
            raise SubscriptionError(f"SUBSCRIBE {uri}: {response.status} {response.reason}",
                                    response)
        sent = self._sent(request, response)
        subscription.request = sent
        if subscription.dialog is None and response.contact:
            subscription.dialog = Dialog.uac(sent, response)
        elif subscription.dialog is not None:
            subscription.dialog.local_seq = response.cseq.seq
        if not subscription.terminated:
            subscription._granted(response, expires)
        return subscription

    def _sent(self, request: Request, response: Response) -> Request:
        # a Digest retry raised the CSeq: the dialog's local CSeq is the retry's (§12.1.2)
        if response.cseq.seq == request.cseq.seq:
            return request
        sent: Request = request.copy()
        sent.headers.set("CSeq", str(response.cseq))
        return sent

    def _accept_lines(self, request: Request) -> list[tuple[str, str | Field]]:
        return [("Accept", value) for value in request.headers.getall("Accept")]

    async def _on_notify(self, request: Request, tx: ServerTransactionHandle) -> Response:
        """§4.1.3: match, check, update the state, answer 200 (or 481, 489, 400)."""
        tag = request.to.tag
        candidates = self._subscriptions.get((request.call_id, tag or ""), [])
        try:
            event = Event.parse(request.headers.get("Event") or "")
            state = SubscriptionState.parse(request.headers.get("Subscription-State") or "")
        except ParseError as exc:
            return tx.reply(400, f"Bad Event or Subscription-State ({exc.reason})"[:120])
        match = next((s for s in candidates if s.event.key == event.key), None)
        if match is None:
            return tx.reply(481)
        remote_tag = request.from_.tag or ""
        dialog = match.dialog
        if dialog is None:
            # §4.1.2.4: the NOTIFY came before the 2xx; it creates the dialog
            if not request.contact:
                return tx.reply(400, "Missing Contact (RFC 6665 §8.1.2)")
            dialog = match.dialog = Dialog(
                DialogId(request.call_id, tag or "", remote_tag), state=DialogState.CONFIRMED,
                local=NameAddr.parse(str(match.request.from_)),
                remote=NameAddr.parse(str(request.from_)),
                remote_target=request.contact[0].uri.copy(),
                route_set=[NameAddr.parse(str(r)) for r in request.record_route],
                local_seq=match.request.cseq.seq, is_uac=True,
                local_target=match.request.contact[0].uri.copy() if match.request.contact
                else None)
        elif dialog.id.remote_tag != remote_tag:
            return tx.reply(481)  # another fork: one subscription per SUBSCRIBE here
        refusal = dialog.receive_request(request)
        if refusal is not None:
            return refusal
        match._on_notify(request, state)
        return tx.reply(200)

    def _forget(self, subscription: Subscription) -> None:
        group = self._subscriptions.get(subscription.key)
        if group is not None and subscription in group:
            group.remove(subscription)
            if not group:
                del self._subscriptions[subscription.key]

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.endpoint._spawn(coro)


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


#: ``state(resource) -> body``: the current state of a resource, as a body
StateSource = Callable[[URI], bytes]
#: ``authorize(subscribe) -> None (allowed) | status (403 ...)``
Authorizer = Callable[[Request], int | None]


@dataclass(frozen=True, slots=True)
class _Package:
    name: str
    content_type: str
    state: StateSource
    authorize: Authorizer | None


class _Subscribed:
    """A subscription the notifier holds: its dialog, resource and expiry."""

    __slots__ = ("dialog", "event", "expires_at", "package", "resource", "timer")

    def __init__(self, dialog: Dialog, event: Event, package: _Package, resource: URI) -> None:
        self.dialog = dialog
        self.event = event
        self.package = package
        self.resource = resource
        self.expires_at = 0.0
        self.timer: asyncio.TimerHandle | None = None


class Notifier:
    """The notifier side of an endpoint (§4.2): packages served, subscriptions held.

    ``serve(package, content_type, state)`` accepts subscriptions to
    ``package``; ``state(resource)`` gives the body of each NOTIFY (the
    resource is the SUBSCRIBE's Request-URI, without parameters).
    ``min_expires`` answers shorter requests 423; ``max_expires`` caps what
    is granted; ``default_expires`` is granted when the SUBSCRIBE has no
    Expires (RFC 3842 §6: 3600 s for message-summary).
    """

    def __init__(self, endpoint: Endpoint, *, min_expires: int = 60,
                 max_expires: int = 3600, default_expires: int = 3600) -> None:
        self.endpoint = endpoint
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self._packages: dict[str, _Package] = {}
        self._subscriptions: dict[DialogId, _Subscribed] = {}
        endpoint.on_request(self._on_subscribe, "SUBSCRIBE")

    def serve(self, package: str, content_type: str, state: StateSource, *,
              authorize: Authorizer | None = None) -> None:
        """Accept subscriptions to ``package``, bodies of ``content_type``."""
        self._packages[package] = _Package(package, content_type, state, authorize)
        self.endpoint.announce(events=[package])

    def serve_message_summary(self, mailbox: Callable[[URI], tuple[int, int]], *,
                              account: Callable[[URI], URI | None] | None = None,
                              authorize: Authorizer | None = None) -> None:
        """RFC 3842: ``mailbox(resource)`` is (new, old) voice messages."""
        def state(resource: URI) -> bytes:
            new, old = mailbox(resource)
            where = account(resource) if account is not None else resource
            return message_summary_body(new, old, account=where)

        self.serve(*MESSAGE_SUMMARY, state, authorize=authorize)

    @property
    def subscriptions(self) -> int:
        return len(self._subscriptions)

    async def notify(self, package: str, resource: URI | str | None = None) -> int:
        """Send the current state to each subscriber of ``package`` (of
        ``resource`` only, when given); how many NOTIFYs were sent."""
        wanted = URI.parse(resource) if isinstance(resource, str) else resource
        targets = [s for s in self._subscriptions.values() if s.package.name == package and
                   (wanted is None or s.resource == wanted)]
        await asyncio.gather(*(self._send_notify(s) for s in targets))
        return len(targets)

    async def close(self) -> None:
        """End every subscription: NOTIFY ``terminated;reason=noresource``."""
        held = list(self._subscriptions.values())
        await asyncio.gather(*(self._end(s, "noresource") for s in held),
                             return_exceptions=True)

    # -- SUBSCRIBE ----------------------------------------------------------------------------

    async def _on_subscribe(self, request: Request, tx: ServerTransactionHandle) -> Response:
        try:
            event = Event.parse(request.headers.get("Event") or "")
        except ParseError:
            return tx.reply(400, "Missing or bad Event (RFC 6665 §8.2.1)")
        package = self._packages.get(event.package)
        if package is None:
            return tx.reply(489, headers=[("Allow-Events", ", ".join(self._packages))])
        accept = [a.split(";", 1)[0].strip().lower() for a in request.headers.getall("Accept")]
        if accept and not any(a in (package.content_type, "*/*",
                                    package.content_type.split("/")[0] + "/*")
                              for a in accept):
            return tx.reply(406, headers=[("Accept", package.content_type)])
        asked = request.expires
        if asked is None:
            asked = self.default_expires
        if 0 < asked < 3600 and asked < self.min_expires:  # §4.2.1.1
            return tx.reply(423, headers=[("Min-Expires", str(self.min_expires))])
        granted = min(asked, self.max_expires)
        if request.to.tag is not None:
            return await self._refresh(request, tx, event, granted)
        if package.authorize is not None:
            refusal = package.authorize(request)
            if refusal is not None:
                return tx.reply(refusal)
        if not request.contact:
            return tx.reply(400, "Missing Contact (RFC 6665 §8.1.1)")
        response = tx.reply(200, headers=[("Expires", str(granted))],
                            contact=self.endpoint.contact(tx.flow.transport))
        dialog = Dialog.uas(request, response)
        resource = request.uri.copy(params={}, headers={})
        held = _Subscribed(dialog, event, package, resource)
        await tx.respond(response)
        if granted == 0:  # §4.4.3: a poll: one NOTIFY with the state, and done
            self.endpoint._spawn(self._end(held, "timeout", with_state=True))
            return response
        self._subscriptions[dialog.id] = held
        self._expire_at(held, granted)
        self.endpoint._spawn(self._send_notify(held))
        return response

    async def _refresh(self, request: Request, tx: ServerTransactionHandle, event: Event,
                       granted: int) -> Response:
        """§4.2.1.4: a SUBSCRIBE within the dialog refreshes (or, Expires 0, ends)."""
        dialog_id = DialogId(request.call_id, request.to.tag or "", request.from_.tag or "")
        held = self._subscriptions.get(dialog_id)
        if held is None or held.event.key != event.key:
            return tx.reply(481)
        refusal = held.dialog.receive_request(request)
        if refusal is not None:
            return refusal
        response = tx.reply(200, headers=[("Expires", str(granted))],
                            contact=self.endpoint.contact(tx.flow.transport))
        await tx.respond(response)
        if granted == 0:
            self.endpoint._spawn(self._end(held, "timeout"))
        else:
            self._expire_at(held, granted)
            self.endpoint._spawn(self._send_notify(held))
        return response

    def _expire_at(self, held: _Subscribed, granted: int) -> None:
        loop = asyncio.get_running_loop()
        held.expires_at = loop.time() + granted
        if held.timer is not None:
            held.timer.cancel()
        held.timer = loop.call_at(held.expires_at, self._expired, held)

    def _expired(self, held: _Subscribed) -> None:
        held.timer = None
        if self._subscriptions.get(held.dialog.id) is held:
            self.endpoint._spawn(self._end(held, "timeout"))

    # -- NOTIFY -------------------------------------------------------------------------------

    async def _send_notify(self, held: _Subscribed, *, state: SubscriptionState | None = None,
                           with_state: bool = True) -> Response | None:
        if held.dialog.terminated:
            return None
        if state is None:
            loop = asyncio.get_running_loop()
            remaining = max(0, int(held.expires_at - loop.time() + 0.5))
            state = SubscriptionState("active", expires=remaining)
        body = held.package.state(held.resource) if with_state else b""
        request = held.dialog.create_request(
            "NOTIFY", body=body, content_type=held.package.content_type if body else None,
            headers=[("Event", str(held.event)), ("Subscription-State", state)])
        try:
            response = await self.endpoint.request(request)
        except TransportError as exc:
            logger.info("NOTIFY to %s: %s", held.dialog.remote_target, exc)
            return None
        if response.status >= 300 and state.state != "terminated":
            # §4.2.2: a 481 (and any failure, RFC 5057) ends the subscription
            self._forget(held)
        return response

    async def _end(self, held: _Subscribed, reason: str, *, with_state: bool = False,
                   ) -> Response | None:
        self._forget(held)
        response = await self._send_notify(
            held, state=SubscriptionState("terminated", reason=reason), with_state=with_state)
        held.dialog.terminate(reason)
        return response

    def _forget(self, held: _Subscribed) -> None:
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        if self._subscriptions.get(held.dialog.id) is held:
            del self._subscriptions[held.dialog.id]


def message_summary_body(new: int, old: int, *, account: URI | None = None,
                         new_urgent: int = 0, old_urgent: int = 0) -> bytes:
    """An ``application/simple-message-summary`` body (RFC 3842 §5.2) for voice
    messages: ``Messages-Waiting``, ``Message-Account`` and ``Voice-Message:
    new/old (new-urgent/old-urgent)``."""
    lines = [f"Messages-Waiting: {'yes' if new > 0 else 'no'}"]
    if account is not None:
        lines.append(f"Message-Account: {account}")
    lines.append(f"Voice-Message: {new}/{old} ({new_urgent}/{old_urgent})")
    return ("\r\n".join(lines) + "\r\n").encode()
