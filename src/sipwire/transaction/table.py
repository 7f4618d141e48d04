"""The vocabulary of RFC 3261 Figures 5-8: states, events, guards and edges.

A figure becomes a tuple of ``Edge`` rows, one per arrow::

    Edge(state, event, guard, actions, next_state)

read as "in ``state``, on ``event``, if ``guard`` admits the message, do
``actions`` (names of steps of the transaction class, in order) and go to
``next_state``".  Events with no row from the current state are ignored:
the RFC gives them no arrow (a 1xx in Completed, a request after
Terminated ...).  A test walks every row; a reader holds the rows against
the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..message.message import Request, Response

__all__ = [
    "FAILURE",
    "FINAL",
    "PROVISIONAL",
    "SUCCESS",
    "Edge",
    "Event",
    "Guard",
    "State",
    "Timer",
]


class _Member(Enum):
    """An enum hashed by identity: its members are singletons compared by
    identity, Enum's own ``__hash__`` hashes the name in Python code, and the
    transaction tables are looked up by these on every message."""

    __hash__ = object.__hash__


class State(_Member):
    """The states of Figures 5-8 and RFC 6026 (Accepted).

    ``INITIAL`` is the entry arrow at the top of each figure: the transaction
    exists but ``start()`` has not yet run.
    """

    INITIAL = "Initial"
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Event(_Member):
    """What can happen to a transaction, other than a timer firing."""

    #: the entry arrow: "INVITE from TU" / "Request from TU" (client),
    #: "INVITE" / "Request" received (server)
    START = "start"
    #: client: a response received from the network
    RESPONSE = "response"
    #: server: a retransmission of the request that created the transaction
    REQUEST = "request"
    #: INVITE server: an ACK that matched the transaction (§17.2.3)
    ACK = "ACK"
    #: server: a response passed down by the TU
    TU_RESPONSE = "response from TU"
    #: the transport could not send a message of this transaction
    TRANSPORT_ERROR = "transport error"


class Timer(_Member):
    """RFC 3261 Table 4 timers, RFC 6026's L and M, and the §17.2.1 100 Trying delay."""

    A = "Timer A"  # INVITE request retransmit interval, UDP only
    B = "Timer B"  # INVITE transaction timeout
    D = "Timer D"  # wait time for response retransmits
    E = "Timer E"  # non-INVITE request retransmit interval, UDP only
    F = "Timer F"  # non-INVITE transaction timeout
    G = "Timer G"  # INVITE response retransmit interval
    H = "Timer H"  # wait time for ACK receipt
    I = "Timer I"  # wait time for ACK retransmits  # noqa: E741
    J = "Timer J"  # wait time for non-INVITE request retransmits
    K = "Timer K"  # wait time for response retransmits
    L = "Timer L"  # wait time for accepted INVITE request retransmits (RFC 6026)
    M = "Timer M"  # wait time for 2xx retransmits and forked 2xx (RFC 6026)
    TRYING = "100 Trying"  # §17.2.1: "send 100 if TU won't in 200 ms"


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition on a response's status code, labelled as in the figures."""

    label: str
    low: int
    high: int

    def admits(self, message: Request | Response | None) -> bool:
        return isinstance(message, Response) and self.low <= message.status <= self.high

    def __str__(self) -> str:
        return self.label


PROVISIONAL = Guard("1xx", 100, 199)
SUCCESS = Guard("2xx", 200, 299)
FAILURE = Guard("300-699", 300, 699)
FINAL = Guard("200-699", 200, 699)


@dataclass(frozen=True, slots=True)
class Edge:
    """One arrow of a figure."""

    state: State
    event: Event | Timer
    guard: Guard | None
    actions: tuple[str, ...]
    next_state: State

    def __str__(self) -> str:
        event = self.event.value + (f" [{self.guard}]" if self.guard else "")
        steps = ", ".join(self.actions) or "-"
        return f"{self.state.value} --{event} / {steps}--> {self.next_state.value}"
