"""Reliable provisional responses and PRACK (RFC 3262), sans-I/O.

Two objects, one per INVITE transaction:

- ``ReliableProvisionals`` (UAS) numbers the reliable 1xx responses (RSeq),
  sends them one at a time, retransmits each until its PRACK comes, answers
  PRACKs (200, or 481 when nothing matches), holds back a 2xx while a 1xx
  carrying a session description is unacknowledged, and gives up after
  64*T1 (the INVITE then gets a 5xx).
- ``ReceivedProvisionals`` (UAC) sorts received 1xx responses into new
  in-order reliable ones (to PRACK, with the ``RAck`` to put on it),
  retransmissions and out-of-order ones (both dropped), per dialog.

``uas_decision`` and ``uac_option_tags`` say when 100rel is used (§3, §4).

The UAS table (one row an edge; events with no row raise ``ValueError``,
except that a PRACK is answered in every state)::

    state      event                               actions                          next
    IDLE       reliable 1xx from the UA            SendProvisional                  WAITING
    IDLE       final from the UA                   SendFinal                        FINAL
    IDLE       PRACK                               481                              IDLE
    WAITING    reliable 1xx from the UA            (queued)                         WAITING
    WAITING    retransmit timer (T1, 2*T1 ...)     SendProvisional                  WAITING
    WAITING    64*T1 without PRACK                 GaveUp (5xx to send)             FINAL
    WAITING    matching PRACK, nothing queued      200, Acknowledged                IDLE
    WAITING    matching PRACK, 1xx queued          200, Acknowledged,               WAITING
                                                   SendProvisional (next)
    WAITING    other PRACK                         481                              WAITING
    WAITING    final, not a 2xx held by §3         SendFinal (queue dropped)        FINAL
    WAITING    2xx while an unacknowledged 1xx     (2xx held, queue dropped)        HOLDING
               carries a session description
    HOLDING    retransmit timer                    SendProvisional                  HOLDING
    HOLDING    64*T1 without PRACK                 GaveUp (5xx instead of the 2xx)  FINAL
    HOLDING    matching PRACK                      200, Acknowledged, SendFinal     FINAL
    HOLDING    other PRACK                         481                              HOLDING
    FINAL      PRACK for a 1xx unacknowledged      200, Acknowledged                FINAL
               when the final was sent
    FINAL      other PRACK                         481                              FINAL
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from ..message.errors import ParseError
from ..message.fields.session import RAck, RSeq
from ..message.fields.tokens import OptionTag
from ..message.message import Request, Response
from ..transaction.config import TimerConfig

__all__ = [
    "PRACK_UAS_TABLE",
    "Acknowledged",
    "GaveUp",
    "PrackAction",
    "ProvisionalKind",
    "ReceivedProvisionals",
    "Rel100",
    "Rel100Decision",
    "ReliableProvisionals",
    "ReliableState",
    "SendFinal",
    "SendPrackResponse",
    "SendProvisional",
    "has_option_tag",
    "rack_for",
    "uac_option_tags",
    "uas_decision",
]

#: the option tag of RFC 3262 §8
TAG_100REL = "100rel"
#: §3: the first RSeq is "between 1 and 2**31 - 1"
RSEQ_FIRST_MAX = 2**31 - 1
#: §3: "RSeq numbers MUST NOT wrap around"; response-num is at most 2**32 - 1
RSEQ_MAX = 2**32 - 1


# -- when to use 100rel (§3, §4) ------------------------------------------------------


class Rel100(Enum):
    """This UA's policy for reliable provisional responses.

    ``DISABLED``: not supported (a request requiring it gets 420, §3).
    ``SUPPORTED``: advertised; used as UAS only when the peer requires it.
    ``PREFERRED``: advertised; used as UAS whenever the peer supports it.
    ``REQUIRED``: as UAC, ``Require: 100rel``; as UAS, a peer without 100rel
    gets 421 Extension Required (RFC 3261 §21.4.16).
    """

    DISABLED = "disabled"
    SUPPORTED = "supported"
    PREFERRED = "preferred"
    REQUIRED = "required"


def has_option_tag(message: Request | Response, header: str, tag: str) -> bool:
    """True if ``header`` (Require, Supported ...) lists ``tag``; option tags
    compare case-insensitively (RFC 3261 §19.2, §7.3.1)."""
    tag = tag.lower()
    for value in message.headers.typed(header):
        if isinstance(value, OptionTag) and value.value.lower() == tag:
            return True
    return False


def uac_option_tags(policy: Rel100) -> tuple[list[str], list[str]]:
    """(Supported, Require) option tags for an INVITE (§4): the UAC "SHOULD"
    list 100rel in Supported, and puts it in Require to insist on it."""
    if policy is Rel100.DISABLED:
        return [], []
    if policy is Rel100.REQUIRED:
        return [TAG_100REL], [TAG_100REL]
    return [TAG_100REL], []


@dataclass(frozen=True, slots=True)
class Rel100Decision:
    """What a UAS does with 100rel for one INVITE: ``reliable`` says whether its
    non-100 provisionals go reliably; ``reject`` is the response to send instead
    of handling the INVITE at all (420 or 421), else None."""

    reliable: bool
    reject: Response | None = None


def uas_decision(invite: Request, policy: Rel100) -> Rel100Decision:
    """Apply §3: a Require of 100rel obliges (or gets 420 with ``Unsupported:
    100rel``); a Supported of 100rel allows; neither forbids reliability."""
    required = has_option_tag(invite, "Require", TAG_100REL)
    supported = required or has_option_tag(invite, "Supported", TAG_100REL)
    if required:
        if policy is Rel100.DISABLED:
            return Rel100Decision(False, invite.reply(420, headers=[("Unsupported", TAG_100REL)]))
        return Rel100Decision(True)
    if not supported:
        if policy is Rel100.REQUIRED:
            return Rel100Decision(False, invite.reply(421, headers=[("Require", TAG_100REL)]))
        return Rel100Decision(False)
    return Rel100Decision(policy in (Rel100.PREFERRED, Rel100.REQUIRED))


def rack_for(response: Response) -> RAck:
    """The RAck of a PRACK for ``response``: its RSeq, CSeq number and method (§7.2)."""
    rseq = response.headers.first("RSeq")
    if not isinstance(rseq, RSeq):
        raise ParseError("a reliable provisional response needs an RSeq", rfc="RFC 3262 §3")
    return RAck(rseq.value, response.cseq.seq, response.cseq.method)


def _has_session_description(message: Request | Response) -> bool:
    """A body of type application/sdp (RFC 3262 §5: "a session description")."""
    if not message.body:
        return False
    content_type = message.content_type
    return content_type is not None and str(content_type.mime) == "application/sdp"


# -- actions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendProvisional:
    """Pass ``response``, a reliable 1xx, to the INVITE server transaction
    (first sending or a retransmission, §3)."""

    response: Response


@dataclass(frozen=True, slots=True)
class SendFinal:
    """Pass ``response``, the final response to the INVITE, to its server transaction."""

    response: Response


@dataclass(frozen=True, slots=True)
class SendPrackResponse:
    """Pass ``response`` (200 or 481) to the server transaction of the PRACK."""

    response: Response


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """``prack`` acknowledged ``provisional``; a body on the PRACK (an answer,
    or a new offer, §5) is for the offer/answer layer."""

    provisional: Response
    prack: Request


@dataclass(frozen=True, slots=True)
class GaveUp:
    """No PRACK for ``provisional`` in 64*T1: send ``final`` (a 5xx) for the
    INVITE instead of anything else (§3)."""

    provisional: Response
    final: Response


PrackAction = SendProvisional | SendFinal | SendPrackResponse | Acknowledged | GaveUp


# -- UAS -----------------------------------------------------------------------------


class ReliableState(Enum):
    """States of ``ReliableProvisionals`` (see the module table)."""

    IDLE = "idle"
    WAITING = "waiting for PRACK"
    HOLDING = "2xx held for PRACK"
    FINAL = "final sent"


_S = ReliableState
#: (state, event, next state): the rows of the module docstring's table
PRACK_UAS_TABLE: frozenset[tuple[ReliableState, str, ReliableState]] = frozenset({
    (_S.IDLE, "provisional", _S.WAITING),
    (_S.IDLE, "final", _S.FINAL),
    (_S.IDLE, "other prack", _S.IDLE),
    (_S.WAITING, "provisional", _S.WAITING),
    (_S.WAITING, "retransmit", _S.WAITING),
    (_S.WAITING, "give up", _S.FINAL),
    (_S.WAITING, "prack", _S.IDLE),
    (_S.WAITING, "prack, next", _S.WAITING),
    (_S.WAITING, "other prack", _S.WAITING),
    (_S.WAITING, "final", _S.FINAL),
    (_S.WAITING, "2xx held", _S.HOLDING),
    (_S.HOLDING, "retransmit", _S.HOLDING),
    (_S.HOLDING, "give up", _S.FINAL),
    (_S.HOLDING, "prack", _S.FINAL),
    (_S.HOLDING, "other prack", _S.HOLDING),
    (_S.FINAL, "prack", _S.FINAL),
    (_S.FINAL, "other prack", _S.FINAL),
})


class ReliableProvisionals:
    """The UAS side of RFC 3262 for one INVITE server transaction.

    ``send(response, now)`` adds ``Require: 100rel`` and ``RSeq`` to a 101-199
    response and sends it, or queues it while an earlier one is unacknowledged
    (§3: one at a time).  ``send_final(response, now)`` sends the final
    response, or holds a 2xx while an unacknowledged 1xx carries a session
    description (§3, §5).  ``receive_prack(prack, now)`` answers a PRACK of the
    same dialog.  ``next_deadline()`` / ``handle_timer(now)`` drive the
    retransmissions (T1, doubling, no cap: §3) and the 64*T1 give-up.

    ``rng`` picks the first RSeq, uniformly in 1 .. 2**31-1 (§3); pass a
    seeded ``random.Random`` in tests.
    """

    __slots__ = ("_final", "_giveup_at", "_interval", "_queue", "_resend_at",
                 "_unacked", "invite", "next_rseq", "state", "t1")

    def __init__(self, invite: Request, *, timers: TimerConfig | None = None,
                 rng: random.Random | None = None) -> None:
        self.invite = invite
        self.t1 = (timers or TimerConfig()).t1
        self.next_rseq = (rng or random.SystemRandom()).randint(1, RSEQ_FIRST_MAX)
        self.state = ReliableState.IDLE
        #: reliable 1xx sent and not acknowledged (the outstanding one first)
        self._unacked: list[Response] = []
        #: reliable 1xx the UA gave while one was outstanding
        self._queue: list[Response] = []
        self._final: Response | None = None
        self._resend_at: float | None = None
        self._giveup_at: float | None = None
        self._interval = self.t1

    def _go(self, event: str, next_state: ReliableState) -> None:
        edge = (self.state, event, next_state)
        assert edge in PRACK_UAS_TABLE, edge
        self.state = next_state

    @property
    def outstanding(self) -> Response | None:
        """The reliable 1xx being retransmitted, if any."""
        return self._unacked[0] if self.state in (_S.WAITING, _S.HOLDING) else None

    @property
    def held(self) -> Response | None:
        """The 2xx held until the outstanding 1xx is acknowledged, if any."""
        return self._final if self.state is _S.HOLDING else None

    # -- from the UA ---------------------------------------------------------------

    def send(self, response: Response, now: float) -> list[PrackAction]:
        """Send ``response`` (a 101-199 to the INVITE) reliably, or queue it."""
        if not 101 <= response.status <= 199:
            raise ValueError(f"only 101-199 can be sent reliably, not {response.status} "
                             "(RFC 3262 §3)")
        if self.state in (_S.FINAL, _S.HOLDING):
            raise ValueError("no new reliable provisional after the final response "
                             "(RFC 3262 §3)")
        if self.next_rseq > RSEQ_MAX:
            raise ValueError("RSeq would wrap around (RFC 3262 §3)")
        response.headers.remove("RSeq")
        response.headers.add("RSeq", RSeq(self.next_rseq), before="Content-Length")
        self.next_rseq += 1
        if not has_option_tag(response, "Require", TAG_100REL):
            response.headers.add("Require", TAG_100REL, before="Content-Length")
        if self.state is _S.WAITING:
            self._go("provisional", _S.WAITING)
            self._queue.append(response)
            return []
        self._go("provisional", _S.WAITING)
        return self._start(response, now)

    def _start(self, response: Response, now: float) -> list[PrackAction]:
        self._unacked.insert(0, response)
        self._interval = self.t1
        self._resend_at = now + self.t1
        self._giveup_at = now + 64 * self.t1
        return [SendProvisional(response)]

    def send_final(self, response: Response, now: float) -> list[PrackAction]:
        """Send the final response to the INVITE, or hold a 2xx (§3, §5)."""
        if response.status < 200:
            raise ValueError(f"{response.status} is not a final response")
        if self.state in (_S.FINAL, _S.HOLDING):
            raise ValueError("the INVITE already has its final response")
        self._queue.clear()  # never sent: §3 forbids new ones after the final
        if (self.state is _S.WAITING and response.status < 300
                and any(_has_session_description(r) for r in self._unacked)):
            self._go("2xx held", _S.HOLDING)
            self._final = response
            return []
        self._go("final", _S.FINAL)
        self._final = response
        self._resend_at = self._giveup_at = None
        return [SendFinal(response)]

    # -- from the network ------------------------------------------------------------

    def receive_prack(self, prack: Request, now: float) -> list[PrackAction]:
        """Answer a PRACK of this dialog: 200 if its RAck (response-num,
        CSeq-num, method) matches an unacknowledged reliable 1xx, else 481 (§3)."""
        try:
            rack = prack.headers.first("RAck")
        except ParseError:
            # a fixed phrase: the parser's text may hold characters a Reason-Phrase cannot
            return [SendPrackResponse(prack.reply(400, "Bad RAck"))]
        match = None
        if isinstance(rack, RAck):
            cseq = self.invite.cseq
            for response in self._unacked:
                rseq = response.headers.first("RSeq")
                if (isinstance(rseq, RSeq) and rseq.value == rack.rseq
                        and rack.cseq == cseq.seq and rack.method == cseq.method):
                    match = response
                    break
        if match is None:
            self._go("other prack", self.state)
            reason = "no RAck" if rack is None else "Call/Transaction Does Not Exist"
            return [SendPrackResponse(prack.reply(481, reason))]
        actions: list[PrackAction] = [SendPrackResponse(prack.reply(200)),
                                      Acknowledged(match, prack)]
        # a later PRACK for it (a new transaction) matches nothing: 481 (§3)
        self._unacked.remove(match)
        if self.state is _S.FINAL:
            self._go("prack", _S.FINAL)
            return actions
        self._resend_at = self._giveup_at = None
        if self.state is _S.HOLDING:
            self._go("prack", _S.FINAL)
            assert self._final is not None
            actions.append(SendFinal(self._final))
            return actions
        if self._queue:
            self._go("prack, next", _S.WAITING)
            actions.extend(self._start(self._queue.pop(0), now))
            return actions
        self._go("prack", _S.IDLE)
        return actions

    # -- timers ----------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next run, or None."""
        if self._resend_at is None or self._giveup_at is None:
            return None
        return min(self._resend_at, self._giveup_at)

    def handle_timer(self, now: float) -> list[PrackAction]:
        """Retransmit the outstanding 1xx, or give up after 64*T1 (§3)."""
        if self._resend_at is None or self._giveup_at is None:
            return []
        outstanding = self._unacked[0]
        if now >= self._giveup_at:
            self._go("give up", _S.FINAL)
            self._resend_at = self._giveup_at = None
            self._queue.clear()
            final = self.invite.reply(500, "Provisional Response Not Acknowledged",
                                      to_tag=outstanding.to.tag)
            self._final = final
            return [GaveUp(outstanding, final)]
        if now < self._resend_at:
            return []
        self._go("retransmit", self.state)
        self._interval *= 2
        self._resend_at = now + self._interval
        return [SendProvisional(outstanding)]


# -- UAC -----------------------------------------------------------------------------


class ProvisionalKind(Enum):
    """How a UAC treats a received provisional response (§4)."""

    #: not reliable (no ``Require: 100rel``, or a 100): process it as usual
    UNRELIABLE = "unreliable"
    #: a new in-order reliable 1xx: process it and send a PRACK
    NEW = "new"
    #: the same dialog, CSeq and RSeq as one already received: discard
    RETRANSMISSION = "retransmission"
    #: RSeq not one higher than the last in-order one: neither PRACK nor process
    OUT_OF_ORDER = "out of order"
    #: ``Require: 100rel`` without a valid RSeq: discard
    INVALID = "invalid"


class ReceivedProvisionals:
    """The UAC side of RFC 3262 §4 for one INVITE client transaction.

    RSeq spaces are per dialog (each fork's UAS picks its own first RSeq), so
    the last in-order RSeq is kept per To tag.  ``receive(response)`` returns
    the ``ProvisionalKind``; for ``NEW``, ``rack_for(response)`` is the PRACK's
    RAck.  Reliable 1xx arriving after the final response are still
    classified: the UA "MAY acknowledge" them or discard them (§4).
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str | None, int] = {}

    def receive(self, response: Response) -> ProvisionalKind:
        if not 101 <= response.status <= 199 or not has_option_tag(
                response, "Require", TAG_100REL):
            return ProvisionalKind.UNRELIABLE
        try:
            rseq = response.headers.first("RSeq")
        except ParseError:
            return ProvisionalKind.INVALID
        if not isinstance(rseq, RSeq):
            return ProvisionalKind.INVALID
        tag = response.to.tag
        last = self._last.get(tag)
        if last is None or rseq.value == last + 1:
            self._last[tag] = rseq.value
            return ProvisionalKind.NEW
        if rseq.value <= last:
            return ProvisionalKind.RETRANSMISSION
        return ProvisionalKind.OUT_OF_ORDER

    def last_rseq(self, to_tag: str | None) -> int | None:
        """The RSeq of the last in-order reliable 1xx of the dialog with ``to_tag``."""
        return self._last.get(to_tag)
