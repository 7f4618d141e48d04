"""SIP-specific event notification (RFC 6665), sans-I/O: subscriber and notifier.

``Subscriber`` is one subscription as its subscriber sees it (§4.1.2): it
sends the SUBSCRIBE, takes the 2xx or the first NOTIFY (whichever comes first
creates the dialog, §4.1.2.4), answers NOTIFYs, refreshes before expiry, and
unsubscribes with ``Expires: 0`` (§4.1.2.3).  Timer N (64*T1) bounds the wait
for a NOTIFY after each SUBSCRIBE.  ``Subscriptions`` holds a UA's
subscribers and answers a NOTIFY matching none of them: 489 for an unknown
event package, 481 otherwise (§4.1.3).

``Notifier`` is one subscription as its notifier sees it (§4.2): it answers
the SUBSCRIBE (489, 423, 406 or 200), sends the NOTIFY that must follow every
200 (§4.2.1.2), later NOTIFYs of state changes, and the final NOTIFY with
``Subscription-State: terminated`` and a reason (timeout, rejected,
noresource, ...).  ``Notifier.implicit`` makes the subscription a REFER
creates (RFC 3515 §2.4.4).

Both return lists of actions: ``SendRequest`` and ``SendResponse`` (from
``sipwire.dialog.actions``), and the events ``Notified`` and
``SubscriptionEnded``.  Time is an argument: ``next_deadline()`` and
``handle_timer(now)`` drive Timer N, refreshes and expiry.

The subscriber's table (§4.1.2's figure, with the edges that stay put)::

    state        event                                   actions                 next
    NOTIFY_WAIT  2xx to the SUBSCRIBE                    -                       NOTIFY_WAIT
    NOTIFY_WAIT  423 to the SUBSCRIBE                    SendRequest (retry)     NOTIFY_WAIT
    NOTIFY_WAIT  other failure to the SUBSCRIBE          SubscriptionEnded       TERMINATED
    NOTIFY_WAIT  NOTIFY active                           200, Notified           ACTIVE
    NOTIFY_WAIT  NOTIFY pending                          200, Notified           PENDING
    NOTIFY_WAIT  NOTIFY terminated                       200, SubscriptionEnded  TERMINATED
    NOTIFY_WAIT  Timer N                                 SubscriptionEnded       TERMINATED
    NOTIFY_WAIT  expiry (a 2xx granted less than Timer N) SubscriptionEnded      TERMINATED
    NOTIFY_WAIT  unsubscribe (after the 2xx)             SendRequest             NOTIFY_WAIT
    NOTIFY_WAIT  unsubscribe (no dialog yet)             SubscriptionEnded       TERMINATED
    PENDING      NOTIFY active                           200, Notified           ACTIVE
    PENDING      NOTIFY pending                          200, Notified           PENDING
    ACTIVE       NOTIFY active                           200, Notified           ACTIVE
    ACTIVE       NOTIFY pending                          200, Notified           PENDING
    PENDING/ACTIVE  NOTIFY terminated                    200, SubscriptionEnded  TERMINATED
    PENDING/ACTIVE  refresh (timer or asked)             SendRequest             same
    PENDING/ACTIVE  unsubscribe                          SendRequest             same
    PENDING/ACTIVE  2xx to a refresh                     -                       same
    PENDING/ACTIVE  423 to a refresh                     SendRequest (retry)     same
    PENDING/ACTIVE  404 405 410 416 480-485 489 501 604  SubscriptionEnded       TERMINATED
                    to a refresh (§4.1.2.2)
    PENDING/ACTIVE  other failure to a refresh           -                       same
    PENDING/ACTIVE  Timer N (re-subscription timed out)  SubscriptionEnded       TERMINATED
    PENDING/ACTIVE  expiry without refresh               SubscriptionEnded       TERMINATED

The notifier's table (§4.2.2's figure)::

    state      event                                   actions                     next
    INIT       SUBSCRIBE, authorized                   200, NOTIFY active          ACTIVE
    INIT       SUBSCRIBE, authorization pending        200, NOTIFY pending         PENDING
    INIT       SUBSCRIBE with Expires: 0 (a fetch)     200, NOTIFY terminated      TERMINATED
    INIT       implicit (REFER)                        -                           ACTIVE
    PENDING    authorized                              NOTIFY active               ACTIVE
    PENDING    rejected                                NOTIFY terminated;rejected  TERMINATED
    PENDING/ACTIVE  state change                       NOTIFY                      same
    PENDING/ACTIVE  refresh SUBSCRIBE                  200, NOTIFY                 same
    PENDING/ACTIVE  SUBSCRIBE with Expires: 0          200, NOTIFY terminated      TERMINATED
    PENDING/ACTIVE  expiry                             NOTIFY terminated;timeout   TERMINATED
    PENDING/ACTIVE  terminate (local policy)           NOTIFY terminated;reason    TERMINATED
    PENDING/ACTIVE  NOTIFY failure (408, §4.2.2 codes) SubscriptionEnded           TERMINATED
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum

from ..message.errors import ParseError
from ..message.fields.base import Field
from ..message.fields.cseq import CSeq
from ..message.fields.events import Event, SubscriptionState
from ..message.fields.simple import Expires
from ..message.message import Request, Response, new_branch
from ..message.uri import URI
from ..transaction.config import TimerConfig
from .actions import SendRequest, SendResponse
from .dialog import Dialog, DialogError
from .events import EventPackage, EventPackages

__all__ = [
    "NOTIFIER_TABLE",
    "SUBSCRIBER_TABLE",
    "TERMINATING_CODES",
    "Notified",
    "Notifier",
    "NotifierState",
    "Subscriber",
    "SubscriberState",
    "SubscriptionAction",
    "SubscriptionEnded",
    "Subscriptions",
    "retry_delay",
]

#: §4.1.2.2 / §4.2.2: responses that end a subscription (RFC 5057 "usage terminated")
TERMINATING_CODES = frozenset({404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501,
                               604})
#: §4.1.3: reasons after which the subscriber should not subscribe again
NO_RETRY_REASONS = frozenset({"rejected", "noresource", "invariant"})


# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notified:
    """A NOTIFY arrived for an active or pending subscription: ``state`` is
    its substate-value, ``body`` the resource state, ``expires`` the seconds
    left (None when it said none)."""

    state: str
    notify: Request
    expires: int | None = None

    @property
    def body(self) -> bytes:
        return self.notify.body


@dataclass(frozen=True, slots=True)
class SubscriptionEnded:
    """The subscription is over.  ``reason`` is the RFC's word: a
    Subscription-State reason (``timeout``, ``rejected``, ``noresource`` ...),
    ``"Timer N"`` (no NOTIFY came, §4.1.2.4), ``"expired"``, ``"unsubscribed"``,
    or the status code of the response that ended it.  ``retry_after`` is
    from Subscription-State; ``message`` the message that ended it, if any."""

    reason: str
    retry_after: int | None = None
    message: Request | Response | None = None

    @property
    def retry(self) -> float | None:
        """Seconds until subscribing again makes sense, None for never (§4.1.3)."""
        return retry_delay(self.reason, self.retry_after)


def retry_delay(reason: str | None, retry_after: int | None) -> float | None:
    """§4.1.3: deactivated and timeout retry at once; rejected, noresource and
    invariant never; probation, giveup and unknown reasons after retry-after
    (at once without one)."""
    if reason in NO_RETRY_REASONS:
        return None
    if reason in ("deactivated", "timeout"):
        return 0.0
    return float(retry_after or 0)


SubscriptionAction = SendRequest | SendResponse | Notified | SubscriptionEnded


def _event(message: Request | Response) -> Event | None:
    try:
        value = message.headers.first("Event")
    except ParseError:
        return None
    return value if isinstance(value, Event) else None


def _expires(message: Request | Response) -> int | None:
    try:
        value = message.headers.first("Expires")
    except ParseError:
        return None
    return value.value if isinstance(value, Expires) else None


def _retry(request: Request, expires: int) -> Request:
    """``request`` again with a CSeq one higher, a new branch and ``Expires`` (§7.3 of
    RFC 4028 and §10.2.8 of RFC 3261 say the same of 422 and 423)."""
    retry: Request = request.copy()
    retry.headers.set("CSeq", CSeq(request.cseq.seq + 1, request.method))
    vias = retry.via
    if vias:
        via = vias[0]
        via.branch = new_branch()
        retry.headers.set("Via", [via, *vias[1:]])
    retry.headers.set("Expires", str(expires))
    return retry


# -- the subscriber ---------------------------------------------------------------------


class SubscriberState(Enum):
    """§4.1.2's states (init is the object before ``start``)."""

    NOTIFY_WAIT = "notify_wait"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


_W, _P, _A, _T = (SubscriberState.NOTIFY_WAIT, SubscriberState.PENDING,
                  SubscriberState.ACTIVE, SubscriberState.TERMINATED)
#: (state, event, next state): the rows of the subscriber's table
SUBSCRIBER_TABLE: frozenset[tuple[SubscriberState, str, SubscriberState]] = frozenset({
    (_W, "2xx", _W), (_W, "423", _W), (_W, "failure", _T),
    (_W, "NOTIFY active", _A), (_W, "NOTIFY pending", _P), (_W, "NOTIFY terminated", _T),
    (_W, "Timer N", _T), (_W, "expiry", _T), (_W, "unsubscribe", _W),
    (_W, "unsubscribe, no dialog", _T),
    (_P, "NOTIFY active", _A), (_P, "NOTIFY pending", _P),
    (_A, "NOTIFY active", _A), (_A, "NOTIFY pending", _P),
    *((s, e, n) for s in (_P, _A) for e, n in (
        ("NOTIFY terminated", _T), ("refresh", s), ("unsubscribe", s), ("2xx", s),
        ("423", s), ("terminating failure", _T), ("failure", s), ("Timer N", _T),
        ("expiry", _T))),
})


class Subscriber:
    """One subscription, subscriber side (RFC 6665 §4.1).

    ``request`` is the SUBSCRIBE (or the REFER, RFC 3515, whose subscription
    is implicit) as the UA built it.  Pass ``dialog`` when the request is
    sent within an existing dialog.  ``margin``: a refresh goes out this long
    before expiry, but not before half the duration (default 64*T1, the time
    Timer N gives the refresh's NOTIFY).
    """

    __slots__ = ("_expires_at", "_refresh_at", "_timer_n", "_unsubscribing", "dialog",
                 "event_keys", "expires", "margin", "request", "state", "t1")

    def __init__(self, request: Request, *, dialog: Dialog | None = None,
                 timers: TimerConfig | None = None, margin: float | None = None) -> None:
        self.request = request
        self.dialog = dialog
        self.t1 = (timers or TimerConfig()).t1
        self.margin = 64 * self.t1 if margin is None else margin
        self.state = SubscriberState.NOTIFY_WAIT
        #: the duration last granted (2xx Expires or NOTIFY expires), seconds
        self.expires: int | None = None
        self.event_keys = self._keys(request)
        self._timer_n: float | None = None
        self._refresh_at: float | None = None
        self._expires_at: float | None = None
        self._unsubscribing = False

    @staticmethod
    def _keys(request: Request) -> frozenset[tuple[str, str | None]]:
        if request.method == "REFER":
            # RFC 3515 §2.4.6: "id" is the REFER's CSeq number; a NOTIFY for the
            # first REFER of a dialog may leave it out
            return frozenset({("refer", str(request.cseq.seq)), ("refer", None)})
        event = _event(request)
        if event is None:
            raise ValueError("a SUBSCRIBE needs an Event header (RFC 6665 §8.2.1)")
        return frozenset({event.key})

    def _go(self, event: str, next_state: SubscriberState) -> None:
        edge = (self.state, event, next_state)
        assert edge in SUBSCRIBER_TABLE, edge
        self.state = next_state

    def _end(self, event: str, reason: str, message: Request | Response | None = None,
             retry_after: int | None = None) -> SubscriptionEnded:
        self._go(event, _T)
        self._timer_n = self._refresh_at = self._expires_at = None
        return SubscriptionEnded(reason, retry_after, message)

    @property
    def expires_at(self) -> float | None:
        return self._expires_at

    # -- sending ---------------------------------------------------------------------

    def start(self, now: float) -> list[SubscriptionAction]:
        """Send the initial request and start Timer N (§4.1.2.4)."""
        self._timer_n = now + 64 * self.t1
        return [SendRequest(self.request)]

    def _subscribe(self, expires: int) -> Request:
        assert self.dialog is not None
        headers: list[tuple[str, str | Field]] = []
        event = _event(self.request)
        if event is None:  # a REFER's subscription: Event: refer;id=<CSeq>
            event = Event("refer", id=str(self.request.cseq.seq))
        headers.append(("Event", Event(event.package, dict(event.params))))
        headers.append(("Expires", str(expires)))
        accept = self.request.headers.get("Accept")
        if accept is not None:
            headers.append(("Accept", accept))
        return self.dialog.create_request("SUBSCRIBE", headers=headers)

    def refresh(self, now: float, expires: int | None = None) -> list[SubscriptionAction]:
        """Send a refreshing SUBSCRIBE in the dialog (§4.1.2.2), for ``expires``
        seconds (default: the duration last granted)."""
        if self.state not in (_P, _A) or self.dialog is None:
            raise ValueError(f"no subscription to refresh ({self.state.value})")
        duration = expires if expires is not None else (self.expires or
                                                        _expires(self.request) or 3600)
        self._go("refresh", self.state)
        self._refresh_at = None
        self._timer_n = now + 64 * self.t1
        return [SendRequest(self._subscribe(duration))]

    def unsubscribe(self, now: float) -> list[SubscriptionAction]:
        """SUBSCRIBE with ``Expires: 0`` (§4.1.2.3); the final NOTIFY ends it."""
        if self.state is _T:
            return []
        if self.dialog is None:
            return [self._end("unsubscribe, no dialog", "unsubscribed")]
        self._go("unsubscribe", self.state)
        self._unsubscribing = True
        self._refresh_at = None
        self._timer_n = now + 64 * self.t1
        return [SendRequest(self._subscribe(0))]

    # -- responses to our SUBSCRIBEs ---------------------------------------------------

    def receive_response(self, request: Request, response: Response,
                         now: float) -> list[SubscriptionAction]:
        """The final response to ``request``, a SUBSCRIBE (or the REFER) we sent."""
        if response.status < 200 or self.state is _T:
            return []
        initial = self.state is _W
        if response.status < 300:
            self._go("2xx", self.state)
            if self.dialog is None:
                # without a Contact the 2xx makes no dialog: the first NOTIFY will
                with suppress(DialogError):
                    self.dialog = Dialog.uac(request, response)
            else:
                self.dialog.receive_response(request, response)
            granted = _expires(response)
            if granted is None and request.method == "SUBSCRIBE":
                granted = _expires(request)
            if granted is not None and not self._unsubscribing:
                self._set_expiry(granted, now)
            return []
        if response.status == 423:
            minimum = _expires_min(response)
            if minimum is not None:
                self._go("423", self.state)
                retry = _retry(request, minimum)
                if initial and request is self.request:
                    self.request = retry
                self._timer_n = now + 64 * self.t1
                return [SendRequest(retry)]
        if initial:
            return [self._end("failure", str(response.status), response)]
        if response.status in TERMINATING_CODES:
            return [self._end("terminating failure", str(response.status), response)]
        # §4.1.2.2: still valid for the duration last known
        self._go("failure", self.state)
        self._timer_n = None
        return []

    def _set_expiry(self, seconds: int, now: float) -> None:
        self.expires = seconds
        self._expires_at = now + seconds
        self._refresh_at = now + max(seconds / 2, seconds - self.margin) if seconds else None

    # -- NOTIFYs ---------------------------------------------------------------------

    def matches(self, notify: Request) -> bool:
        """§4.4.1 and §8.2.1: same Call-ID, its To tag our From tag, the Event
        (type and id) of our SUBSCRIBE, and the dialog's remote tag once there
        is a dialog."""
        event = _event(notify)
        if event is None or event.key not in self.event_keys:
            return False
        if self.dialog is not None:
            return (notify.call_id == self.dialog.id.call_id
                    and notify.to.tag == self.dialog.id.local_tag
                    and notify.from_.tag == self.dialog.id.remote_tag)
        return (notify.call_id == self.request.call_id
                and notify.to.tag == self.request.from_.tag)

    def receive_notify(self, notify: Request, now: float) -> list[SubscriptionAction]:
        """Answer a NOTIFY of this subscription and report what it says (§4.1.3)."""
        if self.state is _T or not self.matches(notify):
            return [SendResponse(notify.reply(481, "Subscription Does Not Exist"))]
        try:
            substate = notify.headers.first("Subscription-State")
        except ParseError:
            return [SendResponse(notify.reply(400, "Bad Subscription-State"))]
        if not isinstance(substate, SubscriptionState):
            return [SendResponse(notify.reply(400, "Missing Subscription-State"))]
        if self.dialog is None:
            ok = notify.reply(200)
            try:
                self._dialog_from(notify, ok)
            except DialogError:
                return [SendResponse(notify.reply(400, "Missing Contact"))]
        else:
            refused = self.dialog.receive_request(notify)
            if refused is not None:
                return [SendResponse(refused)]
            ok = notify.reply(200)
        actions: list[SubscriptionAction] = [SendResponse(ok)]
        state = substate.state
        if state == "terminated":
            # §4.1.3: "expires" has no meaning here and is ignored
            actions.append(self._end("NOTIFY terminated", substate.reason or "terminated",
                                     notify, substate.retry_after))
            return actions
        if state in ("active", "pending"):
            self._go(f"NOTIFY {state}", _A if state == "active" else _P)
            self._timer_n = None
            if substate.expires is not None and not self._unsubscribing:
                self._set_expiry(substate.expires, now)  # authoritative (§4.1.3)
        actions.append(Notified(state, notify, substate.expires))
        return actions

    def _dialog_from(self, notify: Request, ok: Response) -> None:
        """§4.1.2.4: a NOTIFY before the 2xx creates the dialog, as if it were the 2xx."""
        dialog = Dialog.uas(notify, ok)
        dialog.local_seq = self.request.cseq.seq
        dialog.is_uac = True
        contacts = self.request.contact
        if contacts:
            dialog.local_target = contacts[0].uri.copy()
        self.dialog = dialog

    # -- timers ----------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        # no refresh before the first NOTIFY: Timer N or the expiry decides then
        refresh = self._refresh_at if self.state in (_P, _A) else None
        times = [t for t in (self._timer_n, refresh, self._expires_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[SubscriptionAction]:
        if self.state is _T:
            return []
        if self._timer_n is not None and now >= self._timer_n:
            return [self._end("Timer N", "Timer N")]
        if self._expires_at is not None and now >= self._expires_at:
            return [self._end("expiry", "expired")]
        if self._refresh_at is not None and now >= self._refresh_at and self.state in (_P, _A):
            return self.refresh(now)
        return []


def _expires_min(response: Response) -> int | None:
    try:
        return response.min_expires
    except ParseError:
        return None


class Subscriptions:
    """A UA's subscribers, and the answer to a NOTIFY that matches none (§4.1.3):
    489 Bad Event for an event package we do not know, 481 otherwise."""

    __slots__ = ("_subscribers", "packages")

    def __init__(self, packages: EventPackages | None = None) -> None:
        self.packages = packages if packages is not None else EventPackages.default()
        self._subscribers: list[Subscriber] = []

    def add(self, subscriber: Subscriber) -> Subscriber:
        self._subscribers.append(subscriber)
        return subscriber

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(self._subscribers)

    def __len__(self) -> int:
        return len(self._subscribers)

    def match(self, notify: Request) -> Subscriber | None:
        return next((s for s in self._subscribers
                     if s.state is not _T and s.matches(notify)), None)

    def receive_notify(self, notify: Request, now: float) -> list[SubscriptionAction]:
        subscriber = self.match(notify)
        if subscriber is not None:
            return subscriber.receive_notify(notify, now)
        event = _event(notify)
        if event is None or event.package not in self.packages:
            return [SendResponse(self.packages.bad_event(notify))]
        return [SendResponse(notify.reply(481, "Subscription Does Not Exist"))]

    def prune(self) -> list[Subscriber]:
        """Forget terminated subscriptions; return them."""
        gone = [s for s in self._subscribers if s.state is _T]
        self._subscribers = [s for s in self._subscribers if s.state is not _T]
        return gone


# -- the notifier ---------------------------------------------------------------------


class NotifierState(Enum):
    """§4.2.2's states (resp_wait is folded into the NOTIFY's own transaction)."""

    INIT = "init"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


_NI, _NP, _NA, _NT = (NotifierState.INIT, NotifierState.PENDING, NotifierState.ACTIVE,
                      NotifierState.TERMINATED)
#: (state, event, next state): the rows of the notifier's table
NOTIFIER_TABLE: frozenset[tuple[NotifierState, str, NotifierState]] = frozenset({
    (_NI, "SUBSCRIBE, authorized", _NA), (_NI, "SUBSCRIBE, pending", _NP),
    (_NI, "SUBSCRIBE, fetch", _NT), (_NI, "implicit", _NA),
    (_NP, "authorized", _NA), (_NP, "rejected", _NT),
    *((s, e, n) for s in (_NP, _NA) for e, n in (
        ("state change", s), ("refresh", s), ("unsubscribe", _NT), ("expiry", _NT),
        ("terminate", _NT), ("NOTIFY failure", _NT))),
})


class Notifier:
    """One subscription, notifier side (RFC 6665 §4.2).

    Made by ``Notifier.receive_subscribe`` for an initial SUBSCRIBE, or by
    ``Notifier.implicit`` for the subscription of a REFER.  ``state`` is the
    substate the NOTIFYs say; ``expires_at`` when the subscription ends
    unless refreshed.
    """

    __slots__ = ("dialog", "event", "expires_at", "max_expires", "min_expires", "package",
                 "state")

    def __init__(self, dialog: Dialog, package: EventPackage, event: Event, *,
                 min_expires: int = 0, max_expires: int | None = None) -> None:
        self.dialog = dialog
        self.package = package
        self.event = event
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.state = NotifierState.INIT
        self.expires_at: float | None = None

    def _go(self, event: str, next_state: NotifierState) -> None:
        edge = (self.state, event, next_state)
        assert edge in NOTIFIER_TABLE, edge
        self.state = next_state

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def receive_subscribe(
        cls, request: Request, now: float, *, packages: EventPackages, contact: URI | str,
        resource_state: object = b"", pending: bool = False, min_expires: int = 0,
        max_expires: int | None = None, to_tag: str | None = None,
    ) -> tuple[Notifier | None, list[SubscriptionAction]]:
        """Answer an initial SUBSCRIBE (§4.2.1.1).

        489 for an unknown event package, 406 for an Accept we cannot meet,
        403 for the ``refer`` package (only a REFER creates one, RFC 3515 §2.4.4),
        423 with Min-Expires for a positive Expires below ``min_expires``
        (and below an hour); else 200 with the granted Expires (never longer
        than asked, at most ``max_expires``) and at once the NOTIFY (§4.2.1.2):
        ``pending`` while authorization is not decided, else active with
        ``resource_state``.  Expires: 0 is a fetch: NOTIFY terminated;timeout.
        """
        found = packages.check_subscribe(request)
        if isinstance(found, Response):
            return None, [SendResponse(found)]
        package = found
        if package.name == "refer":
            # RFC 3515 §2.4.4: only a REFER creates a refer subscription
            return None, [SendResponse(request.reply(403, "Refer Subscription Needs A REFER"))]
        event = _event(request)
        assert event is not None
        if not request.contact:
            # the dialog would have no remote target (RFC 3261 §12.1.1)
            return None, [SendResponse(request.reply(400, "Missing Contact"))]
        asked = _expires(request)
        granted = package.default_expires if asked is None else asked
        if 0 < granted < 3600 and granted < min_expires:
            return None, [SendResponse(request.reply(
                423, headers=[("Min-Expires", str(min_expires))]))]
        if max_expires is not None:
            granted = min(granted, max_expires)
        ok = request.reply(200, to_tag=to_tag, contact=contact,
                           headers=[("Expires", str(granted))])
        dialog = Dialog.uas(request, ok)
        notifier = cls(dialog, package, Event(event.package, dict(event.params)),
                       min_expires=min_expires, max_expires=max_expires)
        actions: list[SubscriptionAction] = [SendResponse(ok)]
        if granted == 0:
            notifier._go("SUBSCRIBE, fetch", _NT)
            actions.append(SendRequest(notifier._notify("terminated", now, resource_state,
                                                        reason="timeout")))
            return notifier, actions
        notifier.expires_at = now + granted
        if pending:
            notifier._go("SUBSCRIBE, pending", _NP)
            actions.append(SendRequest(notifier._notify("pending", now, b"")))
        else:
            notifier._go("SUBSCRIBE, authorized", _NA)
            actions.append(SendRequest(notifier._notify("active", now, resource_state)))
        return notifier, actions

    @classmethod
    def implicit(cls, dialog: Dialog, package: EventPackage, event: Event, now: float, *,
                 expires: int | None = None) -> Notifier:
        """The subscription a REFER creates (RFC 3515 §2.4.4, RFC 6665 §4.2.1):
        active at once, for ``expires`` seconds (the package's default)."""
        notifier = cls(dialog, package, event)
        notifier._go("implicit", _NA)
        notifier.expires_at = now + (package.default_expires if expires is None else expires)
        return notifier

    # -- NOTIFYs ------------------------------------------------------------------------

    def _notify(self, state: str, now: float, resource_state: object, *,
                reason: str | None = None, retry_after: int | None = None) -> Request:
        if state == "terminated":
            substate = SubscriptionState(state, reason=reason, retry_after=retry_after)
        else:
            left = 0 if self.expires_at is None else max(0, int(self.expires_at - now))
            substate = SubscriptionState(state, expires=left)
        body = self.package.build_body(resource_state)
        return self.dialog.create_request(
            "NOTIFY", headers=[("Event", self.event), ("Subscription-State", substate)],
            body=body, content_type=self.package.content_type if body else None)

    def notify(self, now: float, resource_state: object) -> list[SubscriptionAction]:
        """A NOTIFY of the resource's new state (§4.2.2)."""
        if self.state not in (_NP, _NA):
            raise ValueError(f"no NOTIFY on a {self.state.value} subscription")
        self._go("state change", self.state)
        return [SendRequest(self._notify(self.state.value, now, resource_state))]

    def authorize(self, granted: bool, now: float,
                  resource_state: object = b"") -> list[SubscriptionAction]:
        """The decision on a pending subscription (§4.2.1.3): NOTIFY active with
        the state, or NOTIFY terminated;reason=rejected."""
        if self.state is not _NP:
            raise ValueError(f"the subscription is {self.state.value}, not pending")
        if granted:
            self._go("authorized", _NA)
            return [SendRequest(self._notify("active", now, resource_state))]
        self._go("rejected", _NT)
        self.expires_at = None
        return [SendRequest(self._notify("terminated", now, b"", reason="rejected"))]

    def terminate(self, now: float, reason: str = "noresource", *,
                  retry_after: int | None = None,
                  resource_state: object = b"") -> list[SubscriptionAction]:
        """End the subscription with a final NOTIFY (§4.2.2), e.g. ``noresource``
        when the resource is gone, ``deactivated`` to have the subscriber move."""
        if self.state not in (_NP, _NA):
            return []
        self._go("terminate", _NT)
        self.expires_at = None
        return [SendRequest(self._notify("terminated", now, resource_state, reason=reason,
                                         retry_after=retry_after))]

    # -- requests and responses of the dialog -----------------------------------------

    def receive_subscribe_refresh(self, request: Request, now: float,
                                  resource_state: object = b"") -> list[SubscriptionAction]:
        """A SUBSCRIBE within the dialog for this subscription (§4.2.1.4): 200
        and a NOTIFY, or with Expires: 0 the final NOTIFY terminated;timeout."""
        event = _event(request)
        if self.state not in (_NP, _NA) or event is None or event.key != self.event.key:
            return [SendResponse(request.reply(481, "Subscription Does Not Exist"))]
        refused = self.dialog.receive_request(request)
        if refused is not None:
            return [SendResponse(refused)]
        asked = _expires(request)
        granted = self.package.default_expires if asked is None else asked
        if 0 < granted < 3600 and granted < self.min_expires:
            return [SendResponse(request.reply(
                423, headers=[("Min-Expires", str(self.min_expires))]))]
        if self.max_expires is not None:
            granted = min(granted, self.max_expires)
        ok = request.reply(200, headers=[("Expires", str(granted))])
        if granted == 0:
            self._go("unsubscribe", _NT)
            self.expires_at = None
            return [SendResponse(ok), SendRequest(self._notify(
                "terminated", now, resource_state, reason="timeout"))]
        self._go("refresh", self.state)
        self.expires_at = now + granted
        body_state = resource_state if self.state is _NA else b""
        return [SendResponse(ok), SendRequest(self._notify(self.state.value, now, body_state))]

    def receive_response(self, request: Request, response: Response,
                         now: float) -> list[SubscriptionAction]:
        """The final response to one of our NOTIFYs: a timeout (408) or one of
        the §4.2.2 codes removes the subscription."""
        if response.status < 300 or self.state not in (_NP, _NA):
            return []
        if response.status == 408 or response.status in TERMINATING_CODES:
            self._go("NOTIFY failure", _NT)
            self.expires_at = None
            if response.status == 481:
                self.dialog.receive_response(request, response)
            return [SubscriptionEnded(str(response.status), None, response)]
        return []

    # -- timers ------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self.expires_at if self.state in (_NP, _NA) else None

    def handle_timer(self, now: float) -> list[SubscriptionAction]:
        """At expiry: the final NOTIFY with reason=timeout (§4.2.1.4)."""
        if self.state not in (_NP, _NA) or self.expires_at is None or now < self.expires_at:
            return []
        self._go("expiry", _NT)
        self.expires_at = None
        return [SendRequest(self._notify("terminated", now, b"", reason="timeout"))]
