"""Refusing new work with 503 while the server is overloaded, instead of
collapsing (RFC 3261 §21.5.4; the ideas of RFC 6357 and RFC 7339).

A server past its capacity that keeps accepting everything answers nothing
in time: requests wait in its queues until their clients retransmit, the
retransmissions add load, and the goodput falls towards zero (RFC 6357 §1,
"congestion collapse").  ``OverloadControl`` watches two signs of overload
and, while either shows, refuses *new* work at once, before any expensive
step (authentication, the registrar, the location store, the proxy's
lookup), with ``503 Service Unavailable`` and a ``Retry-After`` (RFC 3261
§21.5.4: the server "is temporarily unable to process the request due to a
temporary overloading ... The server MAY indicate when the client should
retry the request in a Retry-After header field"):

- the **event loop's lag**: how late a callback asked for at a given time
  runs (``LagProbe`` measures it every ``interval``).  Everything the server
  does waits behind that much work;
- the **pending work**: requests whose handling waits (for the store, a
  connection), counted by the engine.  A slow store makes these pile up long
  before the loop lags.

What is refused, and what is not (RFC 6357 §3.2 and §5, RFC 7339 §5.10:
requests that complete work already admitted should get through, since
rejecting them wastes what was spent on it):

- a retransmission never reaches this decision: its server transaction
  absorbs it (RFC 3261 §17.2.1, §17.2.2) and resends the response it holds,
  so a request that was admitted is answered, and one that was refused gets
  its 503 again at the cost of a table lookup;
- ``ACK`` and ``CANCEL`` go through: they finish transactions under way;
- requests inside a dialog (a To tag: ``BYE``, re-``INVITE``, ``UPDATE``)
  go through: they end or change calls already set up;
- every other request (out of dialog: ``REGISTER``, an initial ``INVITE``,
  ``OPTIONS``, ``SUBSCRIBE``, ``MESSAGE``) is refused while overloaded.

RFC 7339's Via parameters (``oc``, ``oc-algo``) would let an upstream proxy
reduce its load before sending; phones do not speak it, so this server sheds
by itself, as a loss-based server of RFC 7339 §5.10 would for non-supporting
clients.  The policy is sans-I/O: time and measurements are arguments; only
``LagProbe`` touches the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY_AFTER", "LagProbe", "OverloadControl", "OverloadLimits",
           "overload_control"]

log = logging.getLogger("sipwire.server")

#: seconds a refused client is asked to wait (Retry-After, §20.33)
DEFAULT_RETRY_AFTER = 2


@dataclass(frozen=True, slots=True)
class OverloadLimits:
    """When the server counts as overloaded.

    ``max_lag``: seconds of event-loop lag past which new requests are refused
    (0: lag is not watched).  ``max_pending``: requests waiting for the store
    or a connection at which new ones are refused (0: not watched).
    ``hold``: seconds the refusing goes on after the last lag over the bound,
    so that it does not flap between two probes.  ``retry_after``: the
    Retry-After of the 503, in seconds.
    """

    max_lag: float = 0.5
    max_pending: int = 1000
    hold: float = 0.2
    retry_after: int = DEFAULT_RETRY_AFTER

    def __post_init__(self) -> None:
        if self.max_lag < 0 or self.max_pending < 0 or self.hold < 0:
            raise ValueError("overload limits are 0 (off) or more")
        if self.retry_after < 1:
            raise ValueError("Retry-After is a positive number of seconds (§20.33)")

    @property
    def active(self) -> bool:
        """Some sign of overload is watched."""
        return self.max_lag > 0 or self.max_pending > 0


class OverloadControl:
    """The shedding decision, sans-I/O.

    ``lagged(now, lag)`` records a measurement of the loop's lag at ``now``
    (seconds on any monotonic clock, the same for every call);
    ``admit(now, pending)`` says whether a new out-of-dialog request is
    handled (True) or refused with 503 (False), and counts the refusals.
    """

    __slots__ = ("_episode", "_lag_until", "lag", "limits", "logger", "overloads", "refused",
                 "shedding")

    def __init__(self, limits: OverloadLimits, *, logger: logging.Logger = log) -> None:
        self.limits = limits
        self.logger = logger
        #: refusals in the current overload
        self._episode = 0
        #: the latest lag measured, seconds
        self.lag = 0.0
        #: refusing on lag until then (``hold`` after the last lag over the bound)
        self._lag_until = float("-inf")
        #: requests refused with 503 since start (``/metrics``)
        self.refused = 0
        #: times the server went from admitting to refusing
        self.overloads = 0
        #: the latest new request was refused
        self.shedding = False

    def lagged(self, now: float, lag: float) -> None:
        """The loop ran a callback ``lag`` seconds late at ``now``."""
        self.lag = lag
        max_lag = self.limits.max_lag
        if max_lag and lag > max_lag:
            self._lag_until = now + self.limits.hold

    def overloaded(self, now: float, pending: int) -> bool:
        """Either sign of overload shows at ``now`` with ``pending`` requests waiting."""
        max_pending = self.limits.max_pending
        return now < self._lag_until or (max_pending > 0 and pending >= max_pending)

    def admit(self, now: float, pending: int) -> bool:
        """Handle a new out-of-dialog request (True), or refuse it (False,
        counted): the caller answers 503 with ``retry_after_header``.  The
        start and the end of each overload are logged, one line each."""
        limits = self.limits
        lagging = now < self._lag_until
        if not lagging and not (limits.max_pending and pending >= limits.max_pending):
            if self.shedding:
                self._recovered()
            return True
        if not self.shedding:
            self._overloaded(lagging, pending)
        self.refused += 1
        self._episode += 1
        return False

    def _overloaded(self, lagging: bool, pending: int) -> None:
        self.shedding = True
        self.overloads += 1
        self._episode = 0
        why = (f"the event loop lags {self.lag * 1000:.0f} ms (over "
               f"{self.limits.max_lag * 1000:.0f} ms)") if lagging else \
            f"{pending} requests wait (limit {self.limits.max_pending})"
        self.logger.warning("overloaded: %s; answering new requests 503 with Retry-After %d",
                            why, self.limits.retry_after)

    def _recovered(self) -> None:
        self.shedding = False
        self.logger.warning("no longer overloaded; %d new requests were answered 503",
                            self._episode)

    @property
    def retry_after_header(self) -> tuple[str, str]:
        """The Retry-After of the 503 (§20.33)."""
        return ("Retry-After", str(self.limits.retry_after))


class LagProbe:
    """Measures the event loop's lag every ``interval`` seconds for an
    ``OverloadControl``: a callback asked for at a time ``t`` runs at
    ``t + lag``.  One timer callback per interval; ``stop()`` cancels it."""

    __slots__ = ("_due", "_handle", "_loop", "control", "interval")

    def __init__(self, control: OverloadControl, *, interval: float = 0.05,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if interval <= 0:
            raise ValueError("the probe interval is more than 0 seconds")
        self.control = control
        self.interval = interval
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
        self.control.lagged(now, max(0.0, now - self._due))
        self._schedule(now)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def overload_control(max_lag: float, max_pending: int,
                     retry_after: int = DEFAULT_RETRY_AFTER) -> OverloadControl | None:
    """The control of ``sipwire serve``'s ``overload_*`` settings, or None
    when both signs are off (then the engine pays one None test per request)."""
    limits = OverloadLimits(max_lag=max_lag, max_pending=max_pending, retry_after=retry_after)
    return OverloadControl(limits) if limits.active else None
