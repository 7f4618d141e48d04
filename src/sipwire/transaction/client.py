"""Client transactions: RFC 3261 §17.1, with RFC 6026 §7.2 and §8.4.

``InviteClientTransaction`` runs Figure 5 as replaced by RFC 6026 (Accepted
state, Timer M), ``NonInviteClientTransaction`` runs Figure 6.  The TU
creates one with the request, calls ``start(now)`` and passes each matching
response to ``receive(response, now)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..message.fields.base import Field
from ..message.fields.cseq import CSeq
from ..message.fields.via import Via
from ..message.message import Request, Response
from .actions import Action, Deliver, Send, Timeout, TransportFailure
from .base import Message, Transaction
from .config import TimerConfig
from .table import FAILURE, FINAL, PROVISIONAL, SUCCESS, Edge, Event, State, Timer

__all__ = [
    "FIGURE_5",
    "FIGURE_6",
    "ClientTransaction",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "build_ack",
    "build_cancel",
]

S, E, T = State, Event, Timer

# Members read on every message, bound once: the enum metaclass of Python
# 3.11 has a __getattr__, which makes each ``Timer.A`` a slow lookup.
_RESPONSE = Event.RESPONSE
_TIMER_A = Timer.A
_TIMER_B = Timer.B
_TIMER_D = Timer.D
_TIMER_M = Timer.M
_TIMER_E = Timer.E
_TIMER_F = Timer.F
_TIMER_K = Timer.K

#: Figure 5 (RFC 6026 §8.4): INVITE client transaction
FIGURE_5: tuple[Edge, ...] = (
    # "INVITE from TU / INVITE sent"; A only over unreliable transports (§17.1.1.2)
    Edge(S.INITIAL, E.START, None,
         ("send_request", "start_timer_a", "start_timer_b"), S.CALLING),
    # "Timer A fires / Reset A, INVITE sent": the interval doubles, uncapped
    Edge(S.CALLING, T.A, None, ("send_request", "double_timer_a"), S.CALLING),
    # "Timer B fires or Transport Err. / inform TU": 408 and 503 of §8.1.3.1
    Edge(S.CALLING, T.B, None, ("timeout_408",), S.TERMINATED),
    Edge(S.CALLING, E.TRANSPORT_ERROR, None, ("transport_failure_503",), S.TERMINATED),
    Edge(S.CALLING, E.RESPONSE, PROVISIONAL, ("deliver",), S.PROCEEDING),
    Edge(S.CALLING, E.RESPONSE, SUCCESS, ("deliver", "start_timer_m"), S.ACCEPTED),
    Edge(S.CALLING, E.RESPONSE, FAILURE,
         ("deliver", "send_ack", "start_timer_d"), S.COMPLETED),
    Edge(S.PROCEEDING, E.RESPONSE, PROVISIONAL, ("deliver",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.RESPONSE, SUCCESS, ("deliver", "start_timer_m"), S.ACCEPTED),
    Edge(S.PROCEEDING, E.RESPONSE, FAILURE,
         ("deliver", "send_ack", "start_timer_d"), S.COMPLETED),
    # a retransmitted final response: re-send the ACK, do not pass it up
    Edge(S.COMPLETED, E.RESPONSE, FAILURE, ("send_ack",), S.COMPLETED),
    Edge(S.COMPLETED, E.TRANSPORT_ERROR, None, ("transport_failure",), S.TERMINATED),
    Edge(S.COMPLETED, T.D, None, (), S.TERMINATED),
    # RFC 6026: retransmitted 2xx and 2xx from other forks go up; the TU ACKs them
    Edge(S.ACCEPTED, E.RESPONSE, SUCCESS, ("deliver",), S.ACCEPTED),
    Edge(S.ACCEPTED, T.M, None, (), S.TERMINATED),
)

#: Figure 6: non-INVITE client transaction
FIGURE_6: tuple[Edge, ...] = (
    # "Request from TU / send request"; E only over unreliable transports (§17.1.2.2)
    Edge(S.INITIAL, E.START, None,
         ("send_request", "start_timer_e", "start_timer_f"), S.TRYING),
    # "Timer E / send request": reset to MIN(2*E, T2)
    Edge(S.TRYING, T.E, None, ("send_request", "back_off_timer_e"), S.TRYING),
    Edge(S.TRYING, T.F, None, ("timeout_408",), S.TERMINATED),
    Edge(S.TRYING, E.TRANSPORT_ERROR, None, ("transport_failure_503",), S.TERMINATED),
    Edge(S.TRYING, E.RESPONSE, PROVISIONAL, ("deliver",), S.PROCEEDING),
    Edge(S.TRYING, E.RESPONSE, FINAL, ("deliver", "start_timer_k"), S.COMPLETED),
    # "Timer E / send req": in Proceeding E is reset to T2 (§17.1.2.2)
    Edge(S.PROCEEDING, T.E, None, ("send_request", "reset_timer_e_to_t2"), S.PROCEEDING),
    Edge(S.PROCEEDING, T.F, None, ("timeout_408",), S.TERMINATED),
    Edge(S.PROCEEDING, E.TRANSPORT_ERROR, None, ("transport_failure_503",), S.TERMINATED),
    Edge(S.PROCEEDING, E.RESPONSE, PROVISIONAL, ("deliver",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.RESPONSE, FINAL, ("deliver", "start_timer_k"), S.COMPLETED),
    # Completed "buffer[s] any additional response retransmissions" (§17.1.2.2)
    Edge(S.COMPLETED, E.RESPONSE, None, (), S.COMPLETED),
    Edge(S.COMPLETED, T.K, None, (), S.TERMINATED),
)


class ClientTransaction(Transaction):
    """What both client transactions share (§17.1).

    There is no client transaction for ACK (§17.1): the TU sends an ACK for a
    2xx straight to the transport.
    """

    __slots__ = ("_key",)

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        method = request.method
        if method == "ACK":
            raise ValueError("there is no client transaction for ACK (RFC 3261 §17.1)")
        via = request.headers.first("Via")  # the top one: the others are not read
        branch = via.branch if isinstance(via, Via) else None
        if not branch:
            raise ValueError("the request needs a top Via with a branch (RFC 3261 §8.1.1.7)")
        #: what §17.1.3 matches its responses by, the branch and the method
        #: (``matching.client_key``): kept, so that ending a ``compact()``-ed
        #: transaction does not parse its request again to find it
        self._key: tuple[str, str] = (branch, method)
        super().__init__(request, reliable=reliable, config=config)

    @property
    def key(self) -> tuple[str, str]:
        """The branch of the request's top Via and its method: the transaction
        ID its responses match (§17.1.3)."""
        return self._key

    @property
    def branch(self) -> str:
        """The branch of the request's top Via (§17.1.3), without reading the
        request (parsed again when the transaction was ``compact()``-ed)."""
        return self._key[0]

    def receive(self, response: Response, now: float) -> list[Action]:
        """A response that matched this transaction (§17.1.3) arrived."""
        return self._handle(_RESPONSE, response, now)

    # -- steps --------------------------------------------------------------------------------

    def _send_request(self, event: Event | Timer, message: Message | None,
                      now: float) -> list[Action]:
        # a retransmission passes the very message sent before once more (§17.1.1.2)
        return [Send(self.request, self)]

    def _deliver(self, event: Event | Timer, message: Message | None,
                 now: float) -> list[Action]:
        assert message is not None
        return [Deliver(message, self)]

    def _timeout_408(self, event: Event | Timer, message: Message | None,
                     now: float) -> list[Action]:
        assert isinstance(event, Timer)
        return [Timeout(event, self.request.reply(408), self)]

    def _transport_failure_503(self, event: Event | Timer, message: Message | None,
                               now: float) -> list[Action]:
        return [TransportFailure(self.request.reply(503), self)]


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 Figure 5 as replaced by RFC 6026 §8.4.

    A 300-699 response is acknowledged here with an ACK built per §17.1.1.3
    (``ack``); a 2xx is passed up and the TU acknowledges it (§13.2.2.4), as
    it does every 2xx passed up while in Accepted.
    """

    TABLE: ClassVar[tuple[Edge, ...]] = FIGURE_5
    STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {
        State.CALLING: frozenset({Timer.A, Timer.B}),
        State.COMPLETED: frozenset({Timer.D}),
        State.ACCEPTED: frozenset({Timer.M}),
    }

    __slots__ = ("ack",)

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        if request.method != "INVITE":
            raise ValueError(f"an INVITE client transaction cannot send {request.method}")
        super().__init__(request, reliable=reliable, config=config)
        #: the ACK sent for the non-2xx final response, once there is one
        self.ack: Request | None = None

    def _start_timer_a(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        if not self.reliable:  # "SHOULD NOT start timer A" over reliable transports
            self._start_timer(_TIMER_A, now, self.config.t1)
        return []

    def _double_timer_a(self, event: Event | Timer, message: Message | None,
                        now: float) -> list[Action]:
        self._start_timer(_TIMER_A, now, 2 * self._interval)
        return []

    def _start_timer_b(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_B, now, self.config.timer_b)
        return []

    def _send_ack(self, event: Event | Timer, message: Message | None,
                  now: float) -> list[Action]:
        if self.ack is None:
            assert isinstance(message, Response)
            self.ack = build_ack(self.request, message)
        # a retransmitted final response is answered with the same ACK (§17.1.1.2)
        return [Send(self.ack, self)]

    def _start_timer_d(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_D, now, 0.0 if self.reliable else self.config.timer_d)
        return []

    def _start_timer_m(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_M, now, self.config.timer_m)
        return []

    def _transport_failure(self, event: Event | Timer, message: Message | None,
                           now: float) -> list[Action]:
        # the ACK could not be sent; the TU already has its final response
        return [TransportFailure(None, self)]


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 Figure 6: the client transaction of every method but INVITE and ACK."""

    TABLE: ClassVar[tuple[Edge, ...]] = FIGURE_6
    STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {
        State.TRYING: frozenset({Timer.E, Timer.F}),
        State.PROCEEDING: frozenset({Timer.E, Timer.F}),
        State.COMPLETED: frozenset({Timer.K}),
    }

    __slots__ = ()

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        if request.method == "INVITE":
            raise ValueError("an INVITE needs an InviteClientTransaction")
        super().__init__(request, reliable=reliable, config=config)

    def _start_timer_e(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        if not self.reliable:
            self._start_timer(_TIMER_E, now, self.config.t1)
        return []

    def _back_off_timer_e(self, event: Event | Timer, message: Message | None,
                          now: float) -> list[Action]:
        interval = min(2 * self._interval, self.config.t2)
        self._start_timer(_TIMER_E, now, interval)
        return []

    def _reset_timer_e_to_t2(self, event: Event | Timer, message: Message | None,
                             now: float) -> list[Action]:
        self._start_timer(_TIMER_E, now, self.config.t2)
        return []

    def _start_timer_f(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_F, now, self.config.timer_f)
        return []

    def _start_timer_k(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_K, now, 0.0 if self.reliable else self.config.t4)
        return []


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final ``response`` to the INVITE ``request`` (§17.1.1.3).

    Request-URI, Call-ID and From are those of the INVITE; To is that of the
    response (with its tag); the single Via is the INVITE's top Via, so the
    branch is the same; CSeq has the INVITE's number and method ACK; the
    INVITE's Route header fields are kept; Max-Forwards is 70.  (An ACK for a
    2xx is the TU's business, §13.2.2.4.)
    """
    return _hop_by_hop("ACK", request, to=_text(response, "To"))


def build_cancel(request: Request) -> Request:
    """A CANCEL for ``request`` (§9.1): same Request-URI, Call-ID, To, From and
    CSeq number, method CANCEL, the request's top Via only (same branch, so
    the server can match it, §9.2), its Route header fields, Max-Forwards 70.

    The CANCEL gets its own client transaction: responses match it by the
    same branch and CSeq method CANCEL (§17.1.3).
    """
    return _hop_by_hop("CANCEL", request, to=_text(request, "To"))


def _hop_by_hop(method: str, request: Request, *, to: str) -> Request:
    # Built line by line rather than with Request.build, which would give a
    # tagless From (an RFC 2543 peer's) a new tag: From must equal the request's.
    headers: list[tuple[str, str | Field]] = [
        ("Via", Via.parse(str(request.top_via))),
        ("Max-Forwards", "70"),
        ("From", _text(request, "From")),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", CSeq(request.cseq.seq, method)),
    ]
    headers += [("Route", route) for route in request.headers.getall("Route")]
    headers.append(("Content-Length", "0"))
    return Request(method, request.uri.copy(), headers)


def _text(message: Message, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise ValueError(f"{message!r} has no {name} header field")
    return value
