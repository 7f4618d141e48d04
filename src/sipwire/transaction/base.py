"""What the four transaction state machines share (RFC 3261 §17).

A transaction is driven by its table (see ``table``): each public method turns
its input into an ``Event`` (or a ``Timer`` that fired), finds the edge for
the current state, runs that edge's steps and moves to its next state.  It
never reads a clock: the caller passes ``now`` (seconds, any monotonic
origin), asks ``next_deadline()`` and calls ``handle_timer(now)`` when that
time comes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from ..message.message import Request, Response, kept_bytes
from ..message.parser import parse
from .actions import Action, Terminated
from .config import TimerConfig
from .table import Edge, Event, State, Timer

__all__ = ["Transaction"]

Message = Request | Response
#: the retransmission timers, whose interval doubles (§17.1.1.2, §17.1.2.2, §17.2.1)
_BACKING_OFF = frozenset({Timer.A, Timer.E, Timer.G})
#: the timers of a state that has none
_NO_TIMERS: frozenset[Timer] = frozenset()
EventKey = tuple[State, Event | Timer]

# Members read on every message, bound once: the enum metaclass of Python
# 3.11 has a __getattr__, which makes each ``State.TERMINATED`` a slow lookup.
_INITIAL = State.INITIAL
_TERMINATED = State.TERMINATED
_START = Event.START
_TRANSPORT_ERROR = Event.TRANSPORT_ERROR

#: a step of an edge, called as ``step(transaction, event, message, now)``
Step = Callable[["Transaction", Event | Timer, Message | None, float], list[Action]]
#: one edge as ``_dispatch`` reads it (see ``Transaction._EDGES``)
_Row = tuple[tuple[Step, ...], int | None, int, State, frozenset[Timer]]


class Transaction:
    """One RFC 3261 §17 transaction: the request that created it, its state and timers.

    ``request`` is the request that created the transaction, ``reliable``
    whether it travels over a reliable transport (TCP, TLS, SCTP, WS: no
    retransmissions, zero-length wait timers), ``config`` its ``TimerConfig``.
    """

    #: the figure, one ``Edge`` per arrow
    TABLE: ClassVar[tuple[Edge, ...]] = ()
    #: the timers that may run in each state; entering a state stops the others
    STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {}
    #: the edges from each state on each event: (its steps' functions, the
    #: status codes its guard admits (None: no guard, any message), the next
    #: state, the timers that may run there)
    _EDGES: ClassVar[dict[EventKey, tuple[_Row, ...]]] = {}

    __slots__ = ("_at1", "_at2", "_interval", "_method", "_observer", "_request", "_request_wire",
                 "_timer1", "_timer2", "config", "reliable", "state")

    reliable: bool
    config: TimerConfig
    state: State

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # every subclass: one that only overrides a step gets its own functions
        edges: dict[EventKey, list[_Row]] = {}
        for edge in cls.TABLE:
            steps: list[Step] = []
            for step in edge.actions:
                function = getattr(cls, "_" + step, None)
                if not callable(function):
                    raise TypeError(f"{cls.__name__}: no step {step!r} for edge {edge}")
                steps.append(function)
            guard = edge.guard
            edges.setdefault((edge.state, edge.event), []).append(
                (tuple(steps), None if guard is None else guard.low,
                 0 if guard is None else guard.high, edge.next_state,
                 cls.STATE_TIMERS.get(edge.next_state, _NO_TIMERS)))
        cls._EDGES = {key: tuple(rows) for key, rows in edges.items()}
        for state, timers in cls.STATE_TIMERS.items():
            if len(timers) > 2:  # a transaction holds two timers at most (Figures 5-8)
                raise TypeError(f"{cls.__name__}: more than two timers in {state}")

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        self._request: Request | None = request
        self._request_wire: bytes | None = None
        self._method = request.method
        self.reliable = reliable
        self.config = config if config is not None else TimerConfig()
        self.state = _INITIAL
        # the running timers and their deadlines: two slots, not a dict (a busy
        # element holds tens of thousands of transactions waiting on one timer)
        self._timer1: Timer | None = None
        self._at1 = 0.0
        self._timer2: Timer | None = None
        self._at2 = 0.0
        #: the last interval of its retransmission timer, which doubles (A, E or G:
        #: a transaction has one at most)
        self._interval = 0.0
        self._observer: Callable[[Transaction], None] | None = None

    def __repr__(self) -> str:
        if not hasattr(self, "state"):  # __init__ refused the request
            return f"<{type(self).__name__}>"
        return (f"<{type(self).__name__} {self.method} branch={self.branch!r} "
                f"{self.state.value}>")

    # -- the interface of every transaction -------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Enter the initial state: the entry arrow at the top of the figure."""
        return self._handle(_START, self.request, now)

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to send a message of this transaction (§17.1.4, §17.2.4)."""
        return self._handle(_TRANSPORT_ERROR, None, now)

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called, or None if no timer runs."""
        if self._timer1 is None:
            return None if self._timer2 is None else self._at2
        at1 = self._at1
        if self._timer2 is None:
            return at1
        at2 = self._at2
        return at1 if at1 <= at2 else at2

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``, earliest first."""
        actions: list[Action] = []
        while True:
            timer = self._timer1
            if timer is not None and (self._timer2 is None or self._at1 <= self._at2):
                if self._at1 > now:
                    break
                self._timer1 = None
            else:
                timer = self._timer2
                if timer is None or self._at2 > now:
                    break
                self._timer2 = None
            actions += self._dispatch(timer, None, now)
        self._changed()
        return actions

    @property
    def timers(self) -> dict[Timer, float]:
        """The running timers and their deadlines (a copy, for inspection)."""
        timers: dict[Timer, float] = {}
        if self._timer1 is not None:
            timers[self._timer1] = self._at1
        if self._timer2 is not None:
            timers[self._timer2] = self._at2
        return timers

    @property
    def terminated(self) -> bool:
        return self.state is _TERMINATED

    @property
    def request(self) -> Request:
        """The request that created the transaction (parsed again from its
        bytes when the transaction was ``compact()``-ed).

        Raises ``LookupError`` once a ``compact()`` dropped it: a completed
        non-INVITE server transaction keeps only its response (see
        ``NonInviteServerTransaction.compact``).
        """
        request = self._request
        if request is None:
            if self._request_wire is None:
                raise LookupError(f"{self!r} keeps only its response, not the request")
            parsed = parse(self._request_wire)
            assert isinstance(parsed, Request)
            request = self._request = parsed
        return request

    def compact(self) -> None:
        """Keep the request as bytes only, parsed again if it is read.

        For a transaction that from now on only absorbs or answers
        retransmissions until a timer ends it (§17.2.2 Completed): nothing
        reads its messages any more, and a busy UDP element holds 64*T1
        seconds of such transactions, whose parsed messages would be most of
        its memory and of its garbage collector's work.  A received request
        is kept as it was received (what the transport added to its top Via,
        §18.2.1, is not kept: matching does not read it, §17.2.3).
        """
        request = self._request
        if request is not None:
            self._request_wire = kept_bytes(request)
            self._request = None

    @property
    def branch(self) -> str | None:
        """The branch of the top Via of the request: the transaction ID (§17.1.3, §17.2.3)."""
        return self.request.top_via.branch

    @property
    def method(self) -> str:
        """The method of the request that created the transaction."""
        return self._method

    # -- the machinery ----------------------------------------------------------------------

    def _handle(self, event: Event, message: Message | None, now: float) -> list[Action]:
        actions = self._dispatch(event, message, now)
        observer = self._observer  # _changed(), without its frame: on every message
        if observer is not None:
            observer(self)
        return actions

    def _dispatch(self, event: Event | Timer, message: Message | None,
                  now: float) -> list[Action]:
        # a guard admits a response whose status is in its range (``Guard.admits``)
        status = message.status if isinstance(message, Response) else None
        state = self.state
        for row in self._EDGES.get((state, event), ()):
            low = row[1]
            if low is None or (status is not None and low <= status <= row[2]):
                break
        else:
            return []  # no arrow in the figure: ignore
        steps = row[0]
        next_state = row[3]
        if next_state is not state:
            timer1 = self._timer1
            timer2 = self._timer2
            if timer1 is not None or timer2 is not None:
                running = row[4]
                if timer1 not in running:
                    self._timer1 = None
                if timer2 not in running:
                    self._timer2 = None
            self.state = next_state
        actions: list[Action] = []
        for step in steps:
            actions += step(self, event, message, now)
        if self.state is _TERMINATED:
            self._timer1 = self._timer2 = None
            actions.append(Terminated(event.value, self))
        return actions

    def _changed(self) -> None:
        if self._observer is not None:
            self._observer(self)

    def _start_timer(self, timer: Timer, now: float, interval: float) -> None:
        timer1 = self._timer1
        timer2 = self._timer2
        if timer1 is timer or (timer1 is None and timer2 is not timer):
            self._timer1, self._at1 = timer, now + interval
        elif timer2 is timer or timer2 is None:
            self._timer2, self._at2 = timer, now + interval
        else:
            raise RuntimeError(f"{self!r}: a third timer, {timer.value}")
        if timer in _BACKING_OFF:
            self._interval = interval

    def _stop_timer(self, timer: Timer) -> None:
        if self._timer1 is timer:
            self._timer1 = None
        elif self._timer2 is timer:
            self._timer2 = None
