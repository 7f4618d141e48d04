"""Refusing new work with 503 while the server is overloaded, instead of
collapsing (RFC 3261 §21.5.4; the ideas of RFC 6357 and RFC 7339).

A server past its capacity that keeps accepting everything answers late or
not at all: requests wait in its queues until their clients retransmit, the
retransmissions add load, and the goodput falls (RFC 6357's "congestion
collapse").  ``OverloadControl`` watches three signs of overload and, while
one shows, refuses a share of *new* work at once, before any expensive step
(authentication, the registrar, the location store, the proxy's lookup),
with ``503 Service Unavailable`` and a ``Retry-After`` (RFC 3261 §21.5.4:
the server "is temporarily unable to process the request due to a temporary
overloading or maintenance of the server ... The server MAY indicate when
the client should retry the request in a Retry-After header field"):

- the **event loop's lag**: how late a callback asked for at a given time
  runs (``LagProbe`` measures it every ``interval``);
- the **receive queues**: how full the kernel's queue of unread datagrams of
  a UDP socket is.  A server short of CPU reads one datagram per callback,
  so its loop hardly lags while the kernel queue fills and then drops what
  arrives, unanswered.  Off by default (``max_queue`` 0): dropping is free
  and a 503 is not, so a server only short of CPU serves more 200s without;
- the **pending work**: requests whose handling waits (for the store, a
  connection), counted by the engine.  A slow store makes these pile up long
  before the loop lags; at the bound every new request is refused.

What is refused, and what is not (requests that complete work already
admitted get through, since refusing them would waste what was spent on it,
and would hang up calls rather than keep new ones out):

- a retransmission never reaches this decision: its server transaction
  absorbs it (RFC 3261 §17.2.1, §17.2.2) and resends the response it holds,
  so a request that was admitted is answered, and one that was refused gets
  its 503 again at the cost of a table lookup;
- ``ACK`` and ``CANCEL`` go through: they finish transactions under way;
- requests inside a dialog (a To tag: ``BYE``, re-``INVITE``, ``UPDATE``)
  go through: they end or change calls already set up;
- every other request (out of dialog: ``REGISTER``, an initial ``INVITE``,
  ``OPTIONS``, ``SUBSCRIBE``, ``MESSAGE``) may be refused while overloaded.

RFC 7339's Via parameters (``oc``, ``oc-algo``) would let an upstream proxy
reduce what it sends; phones do not speak it, so this server sheds by
itself, with the share-based ("loss") idea of that RFC.  The policy is
sans-I/O: measurements are arguments; only ``LagProbe`` touches the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY_AFTER", "LagProbe", "OverloadControl", "OverloadLimits",
           "overload_control"]

log = logging.getLogger("sipwire.server")

#: seconds a refused client is asked to wait (Retry-After, §20.33)
DEFAULT_RETRY_AFTER = 2


@dataclass(frozen=True, slots=True)
class OverloadLimits:
    """When the server counts as overloaded, and how much it then refuses.

    ``max_lag``: seconds of event-loop lag past which the server is
    overloaded (0: lag is not watched).  ``max_queue``: how full (0 to 1) a
    UDP receive queue may be, datagrams the kernel holds unread, before the
    server is overloaded (0: not watched).  ``max_pending``: requests waiting
    for the store or a connection at which every new one is refused (0: not
    watched).  ``max_refused``: the largest share of new requests refused
    while overloaded; ``step``: how much that share grows at each probe that
    finds the server overloaded (and shrinks by as much at each that does
    not).  ``retry_after``: the Retry-After of the 503, in seconds.
    """

    max_lag: float = 0.5
    max_queue: float = 0.0
    max_pending: int = 1000
    max_refused: float = 0.2
    step: float = 0.05
    retry_after: int = DEFAULT_RETRY_AFTER

    def __post_init__(self) -> None:
        if self.max_lag < 0 or self.max_pending < 0:
            raise ValueError("overload limits are 0 (off) or more")
        if not 0 <= self.max_queue <= 1 or not 0 < self.max_refused <= 1 \
                or not 0 < self.step <= 1:
            raise ValueError("max_queue is 0 to 1, max_refused and step more than 0 to 1")
        if self.retry_after < 1:
            raise ValueError("Retry-After is a positive number of seconds (§20.33)")

    @property
    def active(self) -> bool:
        """Some sign of overload is watched."""
        return self.max_lag > 0 or self.max_queue > 0 or self.max_pending > 0


class OverloadControl:
    """The shedding decision, sans-I/O: a loss-based control in the manner
    of RFC 7339 (a share of new requests is refused).

    ``observe(lag, queue)`` is told, at each probe, how late the loop ran
    and how full the receive queues are; while either is over its bound the
    share ``refusing`` grows by ``step`` per probe up to ``max_refused``, and
    it shrinks by as much per probe once both are under.
    ``admit(pending)`` says whether a new out-of-dialog request is handled
    (True) or refused with 503 (False): every one while ``pending`` is at
    ``max_pending``, else ``refusing`` of them, spread evenly.

    Why a share that grows rather than all at once: the server should keep
    admitting as much as it can serve.  The share rises while the queue
    stays over its bound and falls once it is under, so the admitted rate
    settles near what the server can do, and the rest is answered at once
    instead of left to the kernel to drop.  An answered request is done: its
    client stops retransmitting (a dropped one is sent again and again, each
    copy more load), and a phone honours the Retry-After.  A rejection costs
    CPU too (a point RFC 6357 makes of 503), but far less than the work it
    spares; ``max_refused`` caps the share where it would not.
    """

    __slots__ = ("_credit", "_episode", "lag", "limits", "logger", "overloads", "queue",
                 "refused", "refusing", "shedding")

    def __init__(self, limits: OverloadLimits, *, logger: logging.Logger = log) -> None:
        self.limits = limits
        self.logger = logger
        #: the latest lag measured, seconds, and the latest receive queue fill
        self.lag = 0.0
        self.queue = 0.0
        #: the share of new requests refused now (0: none)
        self.refusing = 0.0
        #: refusals owed: ``refusing`` is added per request, one refusal per 1
        self._credit = 0.0
        #: requests refused with 503 since start (``/metrics``)
        self.refused = 0
        #: times the server went from admitting everything to refusing
        self.overloads = 0
        #: refusing now, for one reason or the other
        self.shedding = False
        #: refusals in the current overload
        self._episode = 0

    def observe(self, lag: float, queue: float = 0.0) -> None:
        """A probe: the loop ran a callback ``lag`` seconds late, and the
        fullest receive queue is ``queue`` full (0 to 1)."""
        self.lag = lag
        self.queue = queue
        limits = self.limits
        lagging = bool(limits.max_lag) and lag > limits.max_lag
        queued = bool(limits.max_queue) and queue > limits.max_queue
        if lagging or queued:
            if not self.refusing:
                self._started(f"the event loop lags {lag * 1000:.0f} ms" if lagging else
                              f"a UDP receive queue is {queue:.0%} full")
            self.refusing = min(limits.max_refused, self.refusing + limits.step)
        elif self.refusing:
            refusing = self.refusing - limits.step
            self.refusing = refusing if refusing > 1e-9 else 0.0  # not a float's dust
            if not self.refusing:
                self._credit = 0.0
                self._ended()

    def admit(self, pending: int) -> bool:
        """Handle a new out-of-dialog request (True), or refuse it (False,
        counted): the caller answers 503 with ``retry_after_header``."""
        max_pending = self.limits.max_pending
        if max_pending and pending >= max_pending:
            if not self.shedding:
                self._started(f"{pending} requests wait (limit {max_pending})")
            self._refuse()
            return False
        if not self.refusing:
            if self.shedding:
                self._ended()
            return True
        self._credit += self.refusing
        if self._credit < 0.999999:  # 1, less what adding tenths loses
            return True
        self._credit -= 1
        self._refuse()
        return False

    def _refuse(self) -> None:
        self.refused += 1
        self._episode += 1

    def _started(self, why: str) -> None:
        if self.shedding:
            return
        self.shedding = True
        self.overloads += 1
        self._episode = 0
        self.logger.warning("overloaded: %s; answering new requests 503 with Retry-After %d",
                            why, self.limits.retry_after)

    def _ended(self) -> None:
        if not self.shedding:
            return
        self.shedding = False
        self.logger.warning("no longer overloaded; %d new requests were answered 503",
                            self._episode)

    @property
    def retry_after_header(self) -> tuple[str, str]:
        """The Retry-After of the 503 (§20.33)."""
        return ("Retry-After", str(self.limits.retry_after))


class LagProbe:
    """Measures, every ``interval`` seconds, the event loop's lag (a callback
    asked for at ``t`` runs at ``t + lag``) and how full the receive queues
    are (``queue()``), for an ``OverloadControl``.  One timer callback per
    interval; ``stop()`` cancels it."""

    __slots__ = ("_due", "_handle", "_loop", "control", "interval", "queue")

    def __init__(self, control: OverloadControl, *, interval: float = 0.05,
                 queue: Callable[[], float] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if interval <= 0:
            raise ValueError("the probe interval is more than 0 seconds")
        self.control = control
        self.interval = interval
        self.queue = queue
        self._loop = loop or asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        """Probe until ``stop()``."""
        if self._handle is None:
            self._schedule(self._loop.time())

    def _schedule(self, now: float) -> None:
        self._due = now + self.interval
        self._handle = self._loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        now = self._loop.time()
        self.control.observe(max(0.0, now - self._due),
                             self.queue() if self.queue is not None else 0.0)
        self._schedule(now)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def overload_control(max_lag: float, max_pending: int, retry_after: int = DEFAULT_RETRY_AFTER,
                     max_queue: float = 0.0, max_refused: float = 0.2,
                     ) -> OverloadControl | None:
    """The control of ``sipwire serve``'s ``overload_*`` settings, or None
    when no sign is watched (then the engine pays one None test per request)."""
    limits = OverloadLimits(max_lag=max_lag, max_pending=max_pending, retry_after=retry_after,
                            max_queue=max_queue, max_refused=max_refused)
    return OverloadControl(limits) if limits.active else None
