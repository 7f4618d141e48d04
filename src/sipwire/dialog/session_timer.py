"""Session timers (RFC 4028), sans-I/O: one ``SessionTimer`` per INVITE session.

The INVITE session calls it at four points of every session refresh request
(the initial INVITE, a re-INVITE or an UPDATE), whichever side sends it:

- ``request_headers()`` when it sends one: Supported/Require ``timer``,
  Session-Expires and Min-SE (§7.1, §7.4);
- ``receive_response(request, response, now)`` when the final response to it
  arrives: a 2xx sets the interval and the refresher (§7.2), a 422 asks for a
  retry with a larger interval (§7.3), a 408 or 481 ends the session (§10);
- ``receive_request(request)`` when one arrives: a 420 or a 422 to send
  instead of handling it (§9), else None;
- ``answer(request, now)`` when the session accepts it: the headers of the 2xx
  (Table 2 of §9), which also arms the timer (the 2xx goes out at ``now``).

``next_deadline()`` / ``handle_timer(now)`` then yield ``Refresh`` (we are the
refresher and half the interval has passed, §7.2) or ``Expired`` (no refresh
by the session expiration minus min(32, interval/3): send BYE, §10).

The table (an event with no row changes nothing)::

    state      event                                       actions    next
    OFF        2xx negotiating a timer we refresh          -          LOCAL
    OFF        2xx negotiating a timer the peer refreshes  -          REMOTE
    OFF        2xx without Session-Expires                 -          OFF
    OFF        422 to our request                          Retry      OFF
    LOCAL      half the interval passed                    Refresh    LOCAL
    LOCAL      expiration - min(32, SE/3), no 2xx since    Expired    EXPIRED
    LOCAL      2xx, we refresh                             -          LOCAL
    LOCAL      2xx, the peer refreshes                     -          REMOTE
    LOCAL      2xx without Session-Expires (timer off)     -          OFF
    LOCAL      422 to our refresh                          Retry      LOCAL
    LOCAL      408 or 481 to our refresh                   Expired    EXPIRED
    REMOTE     expiration - min(32, SE/3), no refresh      Expired    EXPIRED
    REMOTE     2xx, we refresh                             -          LOCAL
    REMOTE     2xx, the peer refreshes                     -          REMOTE
    REMOTE     2xx without Session-Expires (timer off)     -          OFF
    REMOTE     422 to our request                          Retry      REMOTE
    REMOTE     408 or 481 to our request                   Expired    EXPIRED
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from ..message.errors import ParseError
from ..message.fields.base import Field
from ..message.fields.session import MinSE, SessionExpires
from ..message.message import Request, Response
from .prack import has_option_tag

__all__ = [
    "MIN_SE_FLOOR",
    "SESSION_TIMER_TABLE",
    "Expired",
    "Refresh",
    "Retry",
    "SessionTimer",
    "SessionTimerAction",
    "SessionTimerConfig",
    "TimerState",
    "bye_margin",
]

#: §5: Min-SE "MUST NOT be less than 90 seconds"; its default when absent
MIN_SE_FLOOR = 90
#: the option tag of §12.3
TAG_TIMER = "timer"
#: the methods that refresh a session (§1, §7.4)
REFRESH_METHODS = frozenset({"INVITE", "UPDATE"})

Refresher = Literal["uac", "uas"]


def bye_margin(interval: int) -> float:
    """How long before the session expiration the side that does not refresh
    sends BYE: "the minimum of 32 seconds and one third of the session
    interval" (§10)."""
    return min(32.0, interval / 3)


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    """This UA's session timer policy.

    ``enabled``: 'timer' is supported (listed in Supported, §7.1); when False
    a request requiring it gets 420.  ``interval``: the session interval we
    ask for, or None to ask for none (§7.1: "MAY"; §4 recommends 1800).
    ``min_se``: the smallest interval we accept (422 below it, §9), at least
    90.  ``refresher``: who we ask to refresh as UAC (None: let the UAS pick,
    as §7.1 recommends), and who refreshes when we pick as UAS (§9 Table 2
    row 4).  ``require``: put 'timer' in Require (§7.1: NOT RECOMMENDED).
    """

    enabled: bool = True
    interval: int | None = 1800
    min_se: int = MIN_SE_FLOOR
    refresher: Refresher | None = None
    require: bool = False

    def __post_init__(self) -> None:
        if self.min_se < MIN_SE_FLOOR:
            raise ValueError(f"Min-SE cannot be below {MIN_SE_FLOOR} s (RFC 4028 §5)")
        if self.interval is not None and self.interval < self.min_se:
            raise ValueError(f"the session interval {self.interval} is below Min-SE "
                             f"{self.min_se} (RFC 4028 §7.1)")


@dataclass(frozen=True, slots=True)
class Refresh:
    """Send a session refresh request now (an UPDATE, or a re-INVITE with the
    unchanged offer, §7.4) carrying ``SessionTimer.request_headers()``."""


@dataclass(frozen=True, slots=True)
class Retry:
    """The 422 asked for ``min_se``: send the request again, with a CSeq one
    higher and ``SessionTimer.request_headers()`` (now at least ``min_se``)
    (§7.3, §7.4)."""

    min_se: int


@dataclass(frozen=True, slots=True)
class Expired:
    """The session expired, or its refresh failed: send BYE (§10).  ``reason``
    says which, in the RFC's words."""

    reason: str


SessionTimerAction = Refresh | Retry | Expired


class TimerState(Enum):
    """Who refreshes the session, if anyone."""

    OFF = "no session timer"
    LOCAL = "we refresh"
    REMOTE = "the peer refreshes"
    EXPIRED = "expired"


_S = TimerState
#: (state, event, next state): the rows of the module docstring's table
SESSION_TIMER_TABLE: frozenset[tuple[TimerState, str, TimerState]] = frozenset({
    (_S.OFF, "2xx, we refresh", _S.LOCAL),
    (_S.OFF, "2xx, the peer refreshes", _S.REMOTE),
    (_S.OFF, "2xx without timer", _S.OFF),
    (_S.OFF, "422", _S.OFF),
    (_S.LOCAL, "refresh due", _S.LOCAL),
    (_S.LOCAL, "expiry", _S.EXPIRED),
    (_S.LOCAL, "2xx, we refresh", _S.LOCAL),
    (_S.LOCAL, "2xx, the peer refreshes", _S.REMOTE),
    (_S.LOCAL, "2xx without timer", _S.OFF),
    (_S.LOCAL, "422", _S.LOCAL),
    (_S.LOCAL, "408 or 481", _S.EXPIRED),
    (_S.REMOTE, "expiry", _S.EXPIRED),
    (_S.REMOTE, "2xx, we refresh", _S.LOCAL),
    (_S.REMOTE, "2xx, the peer refreshes", _S.REMOTE),
    (_S.REMOTE, "2xx without timer", _S.OFF),
    (_S.REMOTE, "422", _S.REMOTE),
    (_S.REMOTE, "408 or 481", _S.EXPIRED),
})


def _session_expires(message: Request | Response) -> SessionExpires | None:
    try:
        value = message.headers.first("Session-Expires")
    except ParseError:
        return None
    return value if isinstance(value, SessionExpires) else None


def _min_se(message: Request | Response) -> int | None:
    try:
        value = message.headers.first("Min-SE")
    except ParseError:
        return None
    return value.value if isinstance(value, MinSE) else None


class SessionTimer:
    """The session timer state of one dialog (§7.2, §9).

    ``interval`` (seconds, None without a timer) and ``state`` (who refreshes)
    come from the most recent 2xx to a session refresh request; ``expires_at``
    is the session expiration.  ``peer_min_se`` is the largest Min-SE seen in
    422 responses and in requests from the peer (§7.4).
    """

    __slots__ = ("_bye_at", "_refresh_at", "_requested", "config", "expires_at", "interval",
                 "peer_min_se", "peer_supports", "state")

    def __init__(self, config: SessionTimerConfig | None = None) -> None:
        self.config = config or SessionTimerConfig()
        self.state = TimerState.OFF
        self.interval: int | None = None
        self.expires_at: float | None = None
        self.peer_min_se: int | None = None
        #: the peer listed 'timer' in Supported (so it can be asked to refresh, §7.4)
        self.peer_supports = False
        #: the Session-Expires value of the last refresh request we sent
        self._requested: int | None = None
        self._refresh_at: float | None = None
        self._bye_at: float | None = None

    def _go(self, event: str, next_state: TimerState) -> None:
        edge = (self.state, event, next_state)
        assert edge in SESSION_TIMER_TABLE, edge
        self.state = next_state

    # -- option tags ----------------------------------------------------------------

    def option_tags(self) -> tuple[list[str], list[str]]:
        """(Supported, Require) option tags for every request but ACK (§7.1), and
        Supported for our 2xx responses."""
        if not self.config.enabled:
            return [], []
        return [TAG_TIMER], [TAG_TIMER] if self.config.require else []

    # -- requests we send (§7.1, §7.4) -----------------------------------------------

    def min_se(self) -> int:
        """The Min-SE for our requests: our own minimum or the largest the path asked for."""
        return max(self.config.min_se, self.peer_min_se or MIN_SE_FLOOR)

    def request_headers(self) -> list[tuple[str, str | Field]]:
        """Session-Expires and Min-SE for a session refresh request we send.

        Initial request: our configured interval (raised to Min-SE after a 422)
        and our refresher preference.  Within an active timer: the larger of
        Min-SE and the current interval, with ``refresher`` keeping the roles
        (§7.4).  Min-SE goes in once a 422 or a peer's request carried one,
        or when our own minimum is above 90 (§7.1, §7.4).
        """
        if not self.config.enabled:
            return []
        headers: list[tuple[str, str | Field]] = []
        min_se = self.min_se()
        refresher: Refresher | None
        if self.interval is not None and self.state in (_S.LOCAL, _S.REMOTE):
            value: int | None = max(min_se, self.interval)
            refresher = "uac" if self.state is _S.LOCAL else "uas"
        else:
            value = None if self.config.interval is None else max(min_se, self.config.interval)
            refresher = self.config.refresher
        if self.peer_min_se is not None and value is None:
            value = min_se  # a 422 asked for a timer: its minimum is the interval
        self._requested = value
        if value is not None:
            headers.append(("Session-Expires", SessionExpires(value, refresher)))
        if self.peer_min_se is not None or self.config.min_se > MIN_SE_FLOOR:
            headers.append(("Min-SE", MinSE(min_se)))
        return headers

    def receive_response(self, request: Request, response: Response,
                         now: float) -> list[SessionTimerAction]:
        """The final response to a session refresh request we sent."""
        if (request.method not in REFRESH_METHODS or response.status < 200
                or self.state is _S.EXPIRED):
            return []
        if response.status < 300:
            se = _session_expires(response)
            if se is not None:
                self._arm("uac" if se.refresher in (None, "uac") else "uas", se.value,
                          local_is_uac=True, now=now)
            elif self._requested is not None and not (
                    has_option_tag(response, "Require", TAG_TIMER)
                    or has_option_tag(response, "Supported", TAG_TIMER)):
                # §7.2: the UAS does not support timers; we keep ours and refresh
                self._arm("uac", self._requested, local_is_uac=True, now=now)
            else:
                # a UAS that knows timers and sends no Session-Expires turns it off
                self._off()
            return []
        if response.status == 422:
            asked = _min_se(response)
            if asked is None or asked <= (self._requested or 0):
                return []  # §10: do not retry what the server refuses again
            self.peer_min_se = max(self.peer_min_se or 0, asked)
            self._go("422", self.state)
            return [Retry(asked)]
        if response.status in (408, 481) and self.state is not _S.OFF:
            self._go("408 or 481", _S.EXPIRED)
            self._refresh_at = self._bye_at = None
            return [Expired(f"session refresh got {response.status}")]
        return []

    # -- requests we receive (§9) ------------------------------------------------------

    def receive_request(self, request: Request) -> Response | None:
        """Check a session refresh request from the peer: a 420 when it
        requires 'timer' and we do not support it, a 422 with our Min-SE when
        it supports timers and asks for an interval below our minimum (§9),
        else None (and its Min-SE is remembered, §7.4)."""
        if request.method not in REFRESH_METHODS:
            return None
        if not self.config.enabled:
            if has_option_tag(request, "Require", TAG_TIMER):
                return request.reply(420, headers=[("Unsupported", TAG_TIMER)])
            return None
        self.peer_supports = has_option_tag(request, "Supported", TAG_TIMER)
        se = _session_expires(request)
        if se is not None and self.peer_supports and se.value < self.config.min_se:
            return request.reply(422, headers=[("Min-SE", MinSE(self.config.min_se))])
        asked = _min_se(request)
        if asked is not None:
            self.peer_min_se = max(self.peer_min_se or 0, asked)
        return None

    def answer(self, request: Request, now: float) -> list[tuple[str, str | Field]]:
        """The Session-Expires and Require headers of our 2xx to ``request``
        (§9 and its Table 2); arms the timer as of ``now``.  Call after
        ``receive_request`` returned None."""
        if (request.method not in REFRESH_METHODS or not self.config.enabled
                or self.state is _S.EXPIRED):
            return []
        uac_supports = has_option_tag(request, "Supported", TAG_TIMER)
        se = _session_expires(request)
        floor = max(_min_se(request) or MIN_SE_FLOOR, MIN_SE_FLOOR)
        if se is not None:
            # "MAY reduce its value but MUST NOT set it to a duration lower than"
            # Min-SE (or 90), and "MUST NOT increase" it
            value = se.value
            if self.config.interval is not None and self.config.interval < value:
                value = max(self.config.interval, floor)
        elif uac_supports and self.config.interval is not None:
            value = max(self.config.interval, floor)
        else:
            self._off()
            return []
        refresher: Refresher
        if not uac_supports:
            refresher = "uas"  # Table 2 row 1: the UAC cannot refresh
        elif se is not None and se.refresher is not None:
            refresher = "uac" if se.refresher == "uac" else "uas"  # rows 5-6: as asked
        else:
            refresher = self.config.refresher or "uac"  # row 4: our choice
        self._arm(refresher, value, local_is_uac=False, now=now)
        headers: list[tuple[str, str | Field]] = [
            ("Session-Expires", SessionExpires(value, refresher))]
        if refresher == "uac" or uac_supports:
            # MUST for uac (it has to process the response), SHOULD for uas
            headers.append(("Require", TAG_TIMER))
        return headers

    # -- the negotiated state ---------------------------------------------------------------

    def _arm(self, refresher: Refresher, interval: int, *, local_is_uac: bool,
             now: float) -> None:
        local = (refresher == "uac") == local_is_uac
        self._go("2xx, we refresh" if local else "2xx, the peer refreshes",
                 _S.LOCAL if local else _S.REMOTE)
        self.interval = interval
        self.expires_at = now + interval
        self._bye_at = now + interval - bye_margin(interval)
        self._refresh_at = now + interval / 2 if local else None

    def _off(self) -> None:
        self._go("2xx without timer", _S.OFF)
        self.interval = self.expires_at = None
        self._refresh_at = self._bye_at = None

    # -- timers ------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next run, or None."""
        times = [t for t in (self._refresh_at, self._bye_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[SessionTimerAction]:
        if self._bye_at is not None and now >= self._bye_at:
            self._go("expiry", _S.EXPIRED)
            self._refresh_at = self._bye_at = None
            return [Expired("session expired")]
        if self._refresh_at is not None and now >= self._refresh_at:
            self._go("refresh due", _S.LOCAL)
            self._refresh_at = None  # once; the 2xx to it re-arms (§10)
            return [Refresh()]
        return []
