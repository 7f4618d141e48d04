"""Server transactions: RFC 3261 §17.2, with RFC 6026 §7.1 and §8.5-8.8.

``InviteServerTransaction`` runs Figure 7 as replaced by RFC 6026 (Accepted
state, Timer L), ``NonInviteServerTransaction`` runs Figure 8.  The core
creates one for a request that matched none (``TransactionLayer`` does this),
calls ``start(now)`` (which passes the request up), passes each matching
retransmission or ACK to ``receive(request, now)`` and each response of the TU
to ``send(response, now)``.

Transport errors: RFC 6026 §8.8 rewrote §17.2.4 for every server
transaction: "inform the TU that a failure has occurred, and MUST remain in
the current state", so that retransmissions of the request are still
absorbed.  Figure 7 was redrawn to match; Figure 8 was not, and its two
"Transport Err. / Inform TU -> Terminated" arrows are read here as amended
by the §8.8 text: inform the TU, stay (Timer J ends the transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..message.message import Request, Response, kept_bytes
from ..message.parser import parse
from .actions import Action, Deliver, Send, Timeout, TransportFailure
from .base import Message, Transaction
from .config import TimerConfig
from .matching import BranchKey
from .table import FAILURE, FINAL, PROVISIONAL, SUCCESS, Edge, Event, State, Timer

__all__ = [
    "FIGURE_7",
    "FIGURE_8",
    "InviteServerTransaction",
    "NonInviteServerTransaction",
    "ServerTransaction",
]

S, E, T = State, Event, Timer

# Members read on every message, bound once: the enum metaclass of Python
# 3.11 has a __getattr__, which makes each ``Timer.G`` a slow lookup.
_ACK = Event.ACK
_REQUEST = Event.REQUEST
_TU_RESPONSE = Event.TU_RESPONSE
_ACCEPTED = State.ACCEPTED
_COMPLETED = State.COMPLETED
_TIMER_TRYING = Timer.TRYING
_TIMER_G = Timer.G
_TIMER_H = Timer.H
_TIMER_I = Timer.I
_TIMER_L = Timer.L
_TIMER_J = Timer.J

#: Figure 7 (RFC 6026 §8.6): INVITE server transaction
FIGURE_7: tuple[Edge, ...] = (
    # "INVITE / pass INV to TU, send 100 if TU won't in 200 ms"
    Edge(S.INITIAL, E.START, None, ("deliver", "start_timer_trying"), S.PROCEEDING),
    Edge(S.PROCEEDING, T.TRYING, None, ("send_trying",), S.PROCEEDING),
    # "INVITE / send response": the most recent provisional, if any (§17.2.1)
    Edge(S.PROCEEDING, E.REQUEST, None, ("resend_response",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.TU_RESPONSE, PROVISIONAL, ("send_response",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.TRANSPORT_ERROR, None, ("transport_failure",), S.PROCEEDING),
    # "2xx from TU / send response": the TU, not the transaction, retransmits it
    Edge(S.PROCEEDING, E.TU_RESPONSE, SUCCESS,
         ("send_response", "start_timer_l"), S.ACCEPTED),
    # "300-699 from TU / send response"; G only over unreliable transports
    Edge(S.PROCEEDING, E.TU_RESPONSE, FAILURE,
         ("send_response", "start_timer_g", "start_timer_h"), S.COMPLETED),
    Edge(S.COMPLETED, E.REQUEST, None, ("resend_response",), S.COMPLETED),
    # "Timer G fires / send response": reset to MIN(2*G, T2)
    Edge(S.COMPLETED, T.G, None, ("resend_response", "back_off_timer_g"), S.COMPLETED),
    Edge(S.COMPLETED, E.TRANSPORT_ERROR, None, ("transport_failure",), S.COMPLETED),
    Edge(S.COMPLETED, E.ACK, None, ("start_timer_i",), S.CONFIRMED),
    # "Timer H fires": the ACK never came; §17.2.1 has the TU told of the failure
    Edge(S.COMPLETED, T.H, None, ("timeout",), S.TERMINATED),
    # Confirmed absorbs the ACKs that response retransmissions triggered (§17.2.1)
    Edge(S.CONFIRMED, E.ACK, None, (), S.CONFIRMED),
    Edge(S.CONFIRMED, T.I, None, (), S.TERMINATED),
    # RFC 6026: retransmitted INVITEs absorbed, ACKs (for the 2xx) to the TU,
    # the TU's 2xx retransmissions sent
    Edge(S.ACCEPTED, E.REQUEST, None, (), S.ACCEPTED),
    Edge(S.ACCEPTED, E.ACK, None, ("deliver",), S.ACCEPTED),
    Edge(S.ACCEPTED, E.TU_RESPONSE, SUCCESS, ("send_response",), S.ACCEPTED),
    Edge(S.ACCEPTED, E.TRANSPORT_ERROR, None, ("transport_failure",), S.ACCEPTED),
    Edge(S.ACCEPTED, T.L, None, (), S.TERMINATED),
)

#: Figure 8: non-INVITE server transaction (transport errors per RFC 6026 §8.8)
FIGURE_8: tuple[Edge, ...] = (
    # "Request received / pass to TU"
    Edge(S.INITIAL, E.START, None, ("deliver",), S.TRYING),
    # retransmissions in Trying "MUST be discarded" (§17.2.2)
    Edge(S.TRYING, E.REQUEST, None, (), S.TRYING),
    Edge(S.TRYING, E.TU_RESPONSE, PROVISIONAL, ("send_response",), S.PROCEEDING),
    Edge(S.TRYING, E.TU_RESPONSE, FINAL, ("send_response", "start_timer_j"), S.COMPLETED),
    Edge(S.PROCEEDING, E.TU_RESPONSE, PROVISIONAL, ("send_response",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.REQUEST, None, ("resend_response",), S.PROCEEDING),
    Edge(S.PROCEEDING, E.TU_RESPONSE, FINAL,
         ("send_response", "start_timer_j"), S.COMPLETED),
    Edge(S.PROCEEDING, E.TRANSPORT_ERROR, None, ("transport_failure",), S.PROCEEDING),
    Edge(S.COMPLETED, E.REQUEST, None, ("resend_response",), S.COMPLETED),
    # "any other final responses passed by the TU ... MUST be discarded" (§17.2.2)
    Edge(S.COMPLETED, E.TU_RESPONSE, None, (), S.COMPLETED),
    Edge(S.COMPLETED, E.TRANSPORT_ERROR, None, ("transport_failure",), S.COMPLETED),
    Edge(S.COMPLETED, T.J, None, (), S.TERMINATED),
)


class ServerTransaction(Transaction):
    """What both server transactions share (§17.2).

    ``last_response`` is the response most recently passed to the transport,
    the one a retransmitted request is answered with.
    """

    __slots__ = ("_j_name", "_key", "_last_response", "_last_wire")

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        if request.method == "ACK":
            raise ValueError("an ACK creates no server transaction (RFC 3261 §17.2.3)")
        super().__init__(request, reliable=reliable, config=config)
        self._last_response: Response | None = None
        self._last_wire: bytes | None = None
        #: the branch key it is found by (§17.2.3), set by its ``TransactionLayer``;
        #: None for an RFC 2543 request (no magic cookie) or outside a layer
        self._key: BranchKey | None = None
        #: its ``completed_key``, once its layer computed it (its Timer J queue
        #: holds it by that)
        self._j_name: bytes | None = None

    @property
    def branch(self) -> str | None:
        key = self._key
        return key[0] if key is not None else self.request.top_via.branch

    @property
    def key(self) -> BranchKey | None:
        """The (branch, sent-by host, sent-by port) its layer finds it by (§17.2.3),
        or None for a request whose branch lacks the magic cookie."""
        return self._key

    @property
    def last_response(self) -> Response | None:
        response = self._last_response
        if response is None and self._last_wire is not None:
            parsed = parse(self._last_wire)
            assert isinstance(parsed, Response)
            response = self._last_response = parsed
            self._last_wire = None
        return response

    @last_response.setter
    def last_response(self, response: Response | None) -> None:
        self._last_response = response
        self._last_wire = None

    @property
    def settled(self) -> bool:
        """True once the final response is sent and, until a timer ends it,
        the transaction only deals with retransmissions: a non-INVITE server
        transaction in Completed (§17.2.2), an INVITE server transaction in
        Accepted (RFC 6026 §8.6).  A TU may then ``compact()`` it, after the
        response went out."""
        return False

    def compact(self) -> None:
        """Keep the request and the last response as bytes only (parsed again
        when read); the response's bytes are those it was last serialized to,
        so call this after the transport sent it."""
        super().compact()
        response = self._last_response
        if response is not None:
            self._last_wire = kept_bytes(response)
            self._last_response = None

    def compact_response(self) -> None:
        """Keep the last response as bytes only (parsed again if read), after
        the transport sent it: for a provisional response that a transaction
        in Proceeding holds only to answer retransmissions of the request with
        (§17.2.1, §17.2.2) while, for a ringing call, minutes may pass."""
        response = self._last_response
        if response is not None:
            self._last_wire = kept_bytes(response)
            self._last_response = None

    def receive(self, request: Request, now: float) -> list[Action]:
        """A request that matched this transaction (§17.2.3): a retransmission or an ACK."""
        event = _ACK if request.method == "ACK" else _REQUEST
        return self._handle(event, request, now)

    def send(self, response: Response, now: float) -> list[Action]:
        """The TU passes ``response`` to the transaction for transmission."""
        return self._handle(_TU_RESPONSE, response, now)

    # -- steps --------------------------------------------------------------------------------

    def _deliver(self, event: Event | Timer, message: Message | None,
                 now: float) -> list[Action]:
        assert message is not None
        return [Deliver(message, self)]

    def _send_response(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        assert isinstance(message, Response)
        self.last_response = message
        return [Send(message, self)]

    def _resend_response(self, event: Event | Timer, message: Message | None,
                         now: float) -> list[Action]:
        response = self._last_response
        if response is None:
            if self._last_wire is None:
                return []  # nothing sent yet: the retransmission is absorbed
            # compacted: a copy for this send (whose bytes are the wire's), not kept
            parsed = parse(self._last_wire)
            assert isinstance(parsed, Response)
            response = parsed
        return [Send(response, self)]

    def _transport_failure(self, event: Event | Timer, message: Message | None,
                           now: float) -> list[Action]:
        return [TransportFailure(None, self)]


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 Figure 7 as replaced by RFC 6026 §8.6.

    The transaction sends 100 Trying itself when the TU has sent no response
    ``config.trying_delay`` (200 ms) after the INVITE arrived (§17.2.1).  It
    retransmits non-2xx final responses (Timer G); a 2xx it sends once, and
    sends again each time the TU passes it a retransmission (§13.3.1.4).
    """

    TABLE: ClassVar[tuple[Edge, ...]] = FIGURE_7
    STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {
        State.PROCEEDING: frozenset({Timer.TRYING}),
        State.COMPLETED: frozenset({Timer.G, Timer.H}),
        State.CONFIRMED: frozenset({Timer.I}),
        State.ACCEPTED: frozenset({Timer.L}),
    }

    __slots__ = ()

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        if request.method != "INVITE":
            raise ValueError(f"an INVITE server transaction cannot serve {request.method}")
        super().__init__(request, reliable=reliable, config=config)

    def _send_response(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._stop_timer(_TIMER_TRYING)  # the TU has answered: no 100 from us
        return super()._send_response(event, message, now)

    def _start_timer_trying(self, event: Event | Timer, message: Message | None,
                            now: float) -> list[Action]:
        if self.config.trying_delay is not None:
            self._start_timer(_TIMER_TRYING, now, self.config.trying_delay)
        return []

    def _send_trying(self, event: Event | Timer, message: Message | None,
                     now: float) -> list[Action]:
        # §8.2.6.1: a 100 copies Timestamp and gets no To tag; request.reply does both
        self.last_response = self.request.reply(100)
        return [Send(self.last_response, self)]

    def _start_timer_g(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        if not self.reliable:
            self._start_timer(_TIMER_G, now, self.config.t1)
        return []

    def _back_off_timer_g(self, event: Event | Timer, message: Message | None,
                          now: float) -> list[Action]:
        self._start_timer(_TIMER_G, now, min(2 * self._interval, self.config.t2))
        return []

    def _start_timer_h(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_H, now, self.config.timer_h)
        return []

    def _timeout(self, event: Event | Timer, message: Message | None,
                 now: float) -> list[Action]:
        return [Timeout(_TIMER_H, None, self)]

    def _start_timer_i(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_I, now, 0.0 if self.reliable else self.config.t4)
        return []

    def _start_timer_l(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        # RFC 6026 §8.7: 64*T1 "for all transports"
        self._start_timer(_TIMER_L, now, self.config.timer_l)
        return []

    @property
    def settled(self) -> bool:
        """True in Accepted (RFC 6026 §8.6): the 2xx is sent, and until Timer L
        the transaction only absorbs retransmissions of the INVITE and passes
        on the TU's retransmissions of the 2xx.  A TU may then ``compact()``
        it, after each response went out."""
        return self.state is _ACCEPTED


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 Figure 8: the server transaction of every method but INVITE and ACK."""

    TABLE: ClassVar[tuple[Edge, ...]] = FIGURE_8
    STATE_TIMERS: ClassVar[Mapping[State, frozenset[Timer]]] = {
        State.COMPLETED: frozenset({Timer.J}),
    }

    __slots__ = ()

    def __init__(self, request: Request, *, reliable: bool,
                 config: TimerConfig | None = None) -> None:
        if request.method == "INVITE":
            raise ValueError("an INVITE needs an InviteServerTransaction")
        super().__init__(request, reliable=reliable, config=config)

    def compact(self) -> None:
        """In Completed, with a branch key (RFC 3261 §17.2.3 matching by
        branch, sent-by and method): keep the last response's bytes and
        nothing of the request.

        Until Timer J ends it (64*T1 over UDP) the transaction only answers
        retransmissions of the request with that response (§17.2.2), and its
        layer finds them by the key: a busy registrar holds tens of thousands
        of such transactions.  ``request`` raises ``LookupError`` afterwards.
        Otherwise (an RFC 2543 request, matched by its fields, or an earlier
        state) it is ``ServerTransaction.compact``.
        """
        if self._key is None or self.state is not _COMPLETED:
            super().compact()
            return
        response = self._last_response
        if response is not None:
            self._last_wire = kept_bytes(response)
            self._last_response = None
        self._request = None
        self._request_wire = None

    def _start_timer_j(self, event: Event | Timer, message: Message | None,
                       now: float) -> list[Action]:
        self._start_timer(_TIMER_J, now, 0.0 if self.reliable else self.config.timer_j)
        return []

    @property
    def settled(self) -> bool:
        """In Completed (§17.2.2): the final response is sent, and until Timer J
        the transaction answers retransmissions of the request with it."""
        return self.state is _COMPLETED
