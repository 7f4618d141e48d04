"""The INVITE session (RFC 3261 §13-15, RFC 6026, RFC 3311), sans-I/O.

One ``InviteSession`` per call leg, as caller (``InviteSession.uac``) or
callee (``InviteSession.uas``).  Inputs are messages and commands, each with
``now``; outputs are lists of actions (``sipwire.dialog.actions``); timers
are ``next_deadline()`` and ``handle_timer(now)``:

- ``start(now)``; ``receive_request(request, now)`` for every in-dialog
  request (ACK, BYE, re-INVITE, UPDATE, CANCEL of our INVITE, INFO ...);
  ``receive_response(response, now)`` for every response to a request the
  session sent (a timeout as its synthetic 408, §8.1.3.1);
- callee: ``provisional(now, status)``, ``answer(now)``, ``reject(now, status)``;
  caller: ``cancel(now)``; both: ``bye(now)``, ``reinvite(now)``, ``hold(now)``,
  ``unhold(now)``, ``update(now)``, ``send_request(method, now)``.

The call's states, ``SESSION_TABLE`` (one row an arrow; a message with no
row in the current state changes nothing)::

    role  state       event                         actions                              next
    UAC   initial     start                         SendRequest INVITE                   calling
    UAC   calling     1xx without To tag            Progress / Ringing / EarlyMedia      calling
    UAC   calling     1xx with To tag               (an early dialog per To tag)         early
    UAC   early       1xx (with or without tag)     Progress / Ringing / EarlyMedia      early
    UAC   calling     2xx                           SendAck, Answered                    confirmed
    UAC   early       2xx                           SendAck, Answered                    confirmed
    UAC   confirmed   2xx                           SendAck again (same ACK), or for     confirmed
                                                    another fork SendAck + BYE
    UAC   terminated  2xx                           the same                             terminated
    UAC   calling     300-699                       Failed, Ended                        terminated
    UAC   early       300-699                       Failed, Ended                        terminated
    UAC   calling     422 (RFC 4028 §7.3)           SendRequest INVITE (CSeq+1, larger   calling
                                                    Session-Expires)
    UAC   early       422                           the same                             calling
    UAS   initial     start                         OfferReceived                        proceeding
    UAS   initial     start, offer refused          SendResponse 488 (400: no Contact)   terminated
    UAS   proceeding  1xx sent (not 100)            SendResponse                         early
    UAS   early       1xx sent                      SendResponse                         early
    UAS   proceeding  2xx sent                      SendResponse, timers                 accepted
    UAS   early       2xx sent                      SendResponse, timers                 accepted
    UAS   proceeding  300-699 sent                  SendResponse, Ended                  terminated
    UAS   early       300-699 sent                  SendResponse, Ended                  terminated
    UAS   proceeding  CANCEL received               200 to it, 487 to INVITE, Ended      terminated
    UAS   early       CANCEL received               the same                             terminated
    UAS   accepted    2xx timer (T1, 2T1 ... T2)    SendResponse 2xx again               accepted
    UAS   accepted    ACK                           AckReceived                          confirmed
    UAS   accepted    no PRACK for the reliable 1xx SendResponse 500, Ended "no PRACK"    terminated
                      holding the 2xx (RFC 3262 §3)
    UAS   accepted    64*T1 without ACK             SendRequest BYE, Ended "no ACK"      terminated
    UAS   early       BYE received                  200, 487 to INVITE, Ended            terminated
    UAS   accepted    BYE received                  200, Ended                           terminated
    both  confirmed   BYE received                  200, Ended                           terminated
    UAC   early       BYE received                  200, Ended                           terminated
    both  confirmed   bye()                         SendRequest BYE, Ended               terminated
    both  confirmed   2xx timer (to a re-INVITE)    SendResponse 2xx again               confirmed
    both  confirmed   ACK (to a re-INVITE's 2xx)    AckReceived                          confirmed
    both  confirmed   64*T1 without ACK             SendRequest BYE, Ended "no ACK"      terminated
    both  early, confirmed; UAS accepted:
                      481 or 408 to a request       Ended "481" / "408"                  terminated

The caller's ``bye()`` before the 2xx is ``cancel()`` (§9.1; a CANCEL waits
for a provisional response, and a 2xx that crosses it is acknowledged and
ended with a BYE).  The callee's ``bye()`` while its 2xx waits for the ACK
is sent when the ACK comes or the wait ends (§15: "MUST NOT send a BYE on a
confirmed dialog until it has received an ACK").  A request on an ended
session gets 481, one out of CSeq order 500 (§12.2.2).

Our own session modifications (re-INVITE §14, UPDATE RFC 3311), ``MODIFY_TABLE``::

    idle     reinvite() / update()        SendRequest (a new offer)            pending
    pending  2xx                          SendAck (INVITE), Modified           idle
    pending  491                          ModifyFailed(retry_at), rollback     backoff
    pending  other 300-699                ModifyFailed, rollback (481/408 end) idle
    backoff  retry timer                  SendRequest (a new offer)            pending
    pending  422 (RFC 4028 §7.3)          SendRequest again, larger interval   pending
    backoff  session ended                -                                    idle

§14.1's backoff after a 491: 2.1-4 s (in 10 ms steps) when we own the Call-ID
(we were the caller), else 0-2 s, drawn from the session's ``rng``.  A
re-INVITE received while ours is pending gets 491 (§14.2), and so does an
offer (in UPDATE or re-INVITE) while one of ours is outstanding (RFC 3311
§5.2), as does an INVITE on the caller's early dialog while its INVITE is
in progress (§14.2); a re-INVITE before our final response to the INVITE,
or an UPDATE offer while the peer's offer is unanswered, gets 500 with
Retry-After 0-10 s (§14.2, RFC 3311 §5.2).  Received re-INVITEs and UPDATEs
are answered at once: ``modification_hook(request)``, when set, may refuse
one with a 300-699 (the session stays as it was, §14.2); else 200 with the
answer, or 488 when ``OfferAnswer.receive_offer`` refuses the offer.  A
refused or failed modification of ours leaves the hold state as it was.

Composed in (both from this package):

- RFC 3262 (``prack``), by the ``rel100`` policy.  The caller lists 100rel
  in Supported (or Require); a new in-order reliable 1xx is PRACKed (with
  our answer when it carried an offer; its answer completes our offer),
  retransmissions and out-of-order ones are dropped.  The callee decides per
  INVITE (``uas_decision``: 420/421 refuse it); its 101-199 then go through
  ``ReliableProvisionals`` (RSeq, retransmitted T1, 2*T1 ... until the
  PRACK, 500 after 64*T1), PRACKs are answered 200 or 481, and a 2xx waits
  while a 1xx with a session description is unacknowledged.  The first
  reliable 1xx carries the answer to the INVITE's offer (RFC 3261 §13.2.1,
  RFC 6337 §3.1.1); a PRACK with a new offer gets the answer in its 200, or
  488 (the 1xx is acknowledged all the same).  An UPDATE with an offer goes
  in the early dialog once that exchange completed (RFC 3311 §5.1).
- Forking (§13.2.2.4): with a ``ForkableOfferAnswer`` (``sipwire.sdp``'s),
  each early dialog keeps its own offer/answer state, copied from the
  INVITE's; the dialog of the 2xx gives the call its ``media``.
- A request challenged 401/407 and sent again with credentials (§22.2):
  ``request_retried(original, retry)`` makes the session match the retry
  (and the dialog's local CSeq follow it).
- RFC 4028 (``session_timer``), when ``session_timer`` is given.  Our INVITE,
  re-INVITEs and UPDATEs carry Session-Expires/Min-SE; a 422 sends them
  again with the interval it asks for; the peer's are checked (422/420) and
  our 2xx carries the negotiated interval.  The refresher refreshes at half
  the interval (an UPDATE without offer when the peer's Allow lists UPDATE,
  else a re-INVITE); the other side sends BYE when no refresh came by the
  expiry minus min(32 s, interval/3) (§10).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from ..message.fields.base import Field
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response, new_tag
from ..message.uri import URI
from ..transaction.client import build_cancel
from ..transaction.config import TimerConfig
from .actions import (
    AckReceived,
    Answered,
    AnswerReceived,
    DialogAction,
    EarlyMedia,
    Ended,
    Failed,
    Modified,
    ModifyFailed,
    OfferReceived,
    Progress,
    RequestReceived,
    Ringing,
    SendAck,
    SendRequest,
    SendResponse,
)
from .checks import not_acceptable_here
from .dialog import Dialog, DialogError, DialogState
from .dialogset import DialogSet, ForkOutcome
from .negotiation import ForkableOfferAnswer, OfferAnswer, OfferState, refusal_status
from .prack import (
    Acknowledged,
    GaveUp,
    PrackAction,
    ProvisionalKind,
    ReceivedProvisionals,
    Rel100,
    ReliableProvisionals,
    SendFinal,
    SendPrackResponse,
    SendProvisional,
    rack_for,
    uac_option_tags,
    uas_decision,
)
from .redirect import redirected_request
from .session_timer import (
    Expired,
    Refresh,
    Retry,
    SessionTimer,
    SessionTimerAction,
    SessionTimerConfig,
)

__all__ = [
    "MODIFY_TABLE",
    "SDP",
    "SESSION_TABLE",
    "InviteSession",
    "ModifyEdge",
    "ModifyEvent",
    "ModifyState",
    "Role",
    "SessionEdge",
    "SessionError",
    "SessionEvent",
    "SessionState",
    "glare_backoff",
]

SDP = "application/sdp"


class Role(Enum):
    UAC = "UAC"
    UAS = "UAS"


class SessionState(Enum):
    INITIAL = "initial"
    CALLING = "calling"          # UAC: INVITE sent, no early dialog yet
    PROCEEDING = "proceeding"    # UAS: INVITE received, no dialog-creating response sent
    EARLY = "early"              # an early dialog exists
    ACCEPTED = "accepted"        # UAS: 2xx sent, waiting for the ACK (RFC 6026)
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class SessionEvent(Enum):
    START = "start"
    START_REFUSED = "start, offer refused"
    PROVISIONAL = "1xx without To tag"
    EARLY_DIALOG = "1xx with To tag"
    SUCCESS = "2xx"
    FAILURE = "300-699"
    SEND_PROVISIONAL = "1xx sent"
    SEND_SUCCESS = "2xx sent"
    SEND_FAILURE = "300-699 sent"
    CANCEL = "CANCEL received"
    RETRANSMIT = "2xx timer"
    ACK = "ACK"
    NO_ACK = "64*T1 without ACK"
    BYE_SENT = "bye()"
    BYE_RECEIVED = "BYE received"
    DIALOG_GONE = "481 or 408"
    RETRY_422 = "422, sent again (RFC 4028)"


class SessionError(ValueError):
    """A command the session cannot carry out in its state; the text cites the RFC."""


@dataclass(frozen=True, slots=True)
class SessionEdge:
    role: Role
    state: SessionState
    event: SessionEvent
    next_state: SessionState


def _rows(roles: Iterable[Role], states: Iterable[SessionState], event: SessionEvent,
          next_state: SessionState) -> list[SessionEdge]:
    return [SessionEdge(r, s, event, next_state) for r in roles for s in states]


_R, _S, _E = Role, SessionState, SessionEvent
_BOTH = (_R.UAC, _R.UAS)
#: the call's state diagram (see the module docstring)
SESSION_TABLE: tuple[SessionEdge, ...] = tuple([
    *_rows([_R.UAC], [_S.INITIAL], _E.START, _S.CALLING),
    *_rows([_R.UAC], [_S.CALLING], _E.PROVISIONAL, _S.CALLING),
    *_rows([_R.UAC], [_S.CALLING, _S.EARLY], _E.EARLY_DIALOG, _S.EARLY),
    *_rows([_R.UAC], [_S.EARLY], _E.PROVISIONAL, _S.EARLY),
    *_rows([_R.UAC], [_S.CALLING, _S.EARLY, _S.CONFIRMED], _E.SUCCESS, _S.CONFIRMED),
    *_rows([_R.UAC], [_S.TERMINATED], _E.SUCCESS, _S.TERMINATED),
    *_rows([_R.UAC], [_S.CALLING, _S.EARLY], _E.FAILURE, _S.TERMINATED),
    *_rows([_R.UAS], [_S.INITIAL], _E.START, _S.PROCEEDING),
    *_rows([_R.UAS], [_S.INITIAL], _E.START_REFUSED, _S.TERMINATED),
    *_rows([_R.UAS], [_S.PROCEEDING, _S.EARLY], _E.SEND_PROVISIONAL, _S.EARLY),
    *_rows([_R.UAS], [_S.PROCEEDING, _S.EARLY], _E.SEND_SUCCESS, _S.ACCEPTED),
    *_rows([_R.UAS], [_S.PROCEEDING, _S.EARLY, _S.ACCEPTED], _E.SEND_FAILURE, _S.TERMINATED),
    *_rows([_R.UAC], [_S.CALLING, _S.EARLY], _E.RETRY_422, _S.CALLING),
    *_rows([_R.UAS], [_S.PROCEEDING, _S.EARLY], _E.CANCEL, _S.TERMINATED),
    *_rows([_R.UAS], [_S.ACCEPTED], _E.RETRANSMIT, _S.ACCEPTED),
    *_rows([_R.UAS], [_S.ACCEPTED], _E.ACK, _S.CONFIRMED),
    *_rows([_R.UAS], [_S.ACCEPTED], _E.NO_ACK, _S.TERMINATED),
    *_rows([_R.UAS], [_S.EARLY], _E.BYE_RECEIVED, _S.TERMINATED),
    *_rows([_R.UAS], [_S.ACCEPTED], _E.BYE_RECEIVED, _S.TERMINATED),
    *_rows(_BOTH, [_S.CONFIRMED], _E.BYE_RECEIVED, _S.TERMINATED),
    *_rows([_R.UAC], [_S.EARLY], _E.BYE_RECEIVED, _S.TERMINATED),
    *_rows(_BOTH, [_S.CONFIRMED], _E.BYE_SENT, _S.TERMINATED),
    *_rows(_BOTH, [_S.CONFIRMED], _E.RETRANSMIT, _S.CONFIRMED),
    *_rows(_BOTH, [_S.CONFIRMED], _E.ACK, _S.CONFIRMED),
    *_rows(_BOTH, [_S.CONFIRMED], _E.NO_ACK, _S.TERMINATED),
    *_rows(_BOTH, [_S.EARLY, _S.CONFIRMED], _E.DIALOG_GONE, _S.TERMINATED),
    *_rows([_R.UAS], [_S.ACCEPTED], _E.DIALOG_GONE, _S.TERMINATED),
])
_SESSION_EDGES = {(e.role, e.state, e.event): e.next_state for e in SESSION_TABLE}


class ModifyState(Enum):
    IDLE = "idle"
    PENDING = "pending"
    BACKOFF = "backoff"


class ModifyEvent(Enum):
    SEND = "reinvite() / update()"
    SUCCESS = "2xx"
    GLARE = "491"
    FAILURE = "other 300-699"
    RETRY = "retry timer"
    RETRY_422 = "422 (RFC 4028)"
    ENDED = "session ended"


@dataclass(frozen=True, slots=True)
class ModifyEdge:
    state: ModifyState
    event: ModifyEvent
    next_state: ModifyState


_M, _ME = ModifyState, ModifyEvent
#: our re-INVITE / UPDATE (see the module docstring)
MODIFY_TABLE: tuple[ModifyEdge, ...] = (
    ModifyEdge(_M.IDLE, _ME.SEND, _M.PENDING),
    ModifyEdge(_M.PENDING, _ME.SUCCESS, _M.IDLE),
    ModifyEdge(_M.PENDING, _ME.GLARE, _M.BACKOFF),
    ModifyEdge(_M.PENDING, _ME.FAILURE, _M.IDLE),
    ModifyEdge(_M.PENDING, _ME.RETRY_422, _M.PENDING),
    ModifyEdge(_M.BACKOFF, _ME.RETRY, _M.PENDING),
    ModifyEdge(_M.BACKOFF, _ME.ENDED, _M.IDLE),
)
_MODIFY_EDGES = {(e.state, e.event): e.next_state for e in MODIFY_TABLE}


def glare_backoff(owner: bool, rng: random.Random) -> float:
    """§14.1: the wait before retrying after a 491, in 10 ms units: 2.1-4 s
    for the owner of the Call-ID (the caller), else 0-2 s."""
    return rng.randint(210, 400) / 100 if owner else rng.randint(0, 200) / 100


def _retry_after(request: Request, rng: random.Random, status: int = 500) -> Response:
    """§14.2 / RFC 3311 §5.2: 500 with a Retry-After of 0-10 s, chosen at random."""
    return request.reply(status, headers=[("Retry-After", str(rng.randint(0, 10)))])


@dataclass(slots=True)
class _ForkMedia:
    """The offer/answer state of one early dialog of our forked INVITE: each
    fork answers the one offer its own way (RFC 3261 §13.2.2.4, RFC 3264 §4)."""

    media: OfferAnswer | None
    offer_state: OfferState
    exchanged: bool
    early_exchanged: bool


class InviteSession:
    """One INVITE session (see the module docstring for its interface and tables).

    ``invite`` is the initial INVITE; ``dialog`` the dialog of the call (the
    confirmed one, or the latest early one), ``dialogs`` (UAC) all dialogs
    the INVITE created; ``media`` the ``OfferAnswer`` (None: bodies are
    neither made nor read); ``timers`` T1/T2 (§13.3.1.4); ``rng`` the random
    source of the §14.1 backoff and the Retry-After values.
    """

    def __init__(self, role: Role, invite: Request, *, media: OfferAnswer | None = None,
                 timers: TimerConfig | None = None, rng: random.Random | None = None,
                 contact: URI | NameAddr | str | None = None, to_tag: str | None = None,
                 rel100: Rel100 = Rel100.SUPPORTED,
                 session_timer: SessionTimerConfig | None = None) -> None:
        self.role = role
        self.invite = invite
        self.media = media
        self.timers = timers if timers is not None else TimerConfig()
        self.rng = rng if rng is not None else random.Random()
        self.state = SessionState.INITIAL
        self.modify_state = ModifyState.IDLE
        self.offer_state = OfferState.NONE
        self.dialog: Dialog | None = None
        self.dialogs: DialogSet | None = DialogSet(invite) if role is Role.UAC else None
        self.contact = _contact_text(contact)
        self.to_tag = to_tag if to_tag is not None else new_tag()
        self.on_hold = False
        self._hold_before = False                     # on_hold before our modification
        self._deadlines: dict[str, float] = {}
        self._interval = 0.0
        self._answer: bytes | None = None             # UAS: our answer, not yet sent
        self._offer_body = b""                        # the peer's last offer
        self._unacked: Response | None = None         # our 2xx waiting for its ACK
        self._acks: dict[int, Request] = {}           # UAC: ACK per INVITE CSeq number
        self._modify: Request | None = None           # our re-INVITE / UPDATE in progress
        self._modify_method = "INVITE"
        self._sent: dict[int, Request] = {}           # other requests we sent in the dialog
        self._provisional_received = False
        self._cancel_wanted = False
        self._cancel_sent = False
        self._bye_wanted = False
        self._early_offer = True
        self._exchanged = False                       # an offer/answer exchange completed
        self._early_exchanged = False                 # ... in a reliable 1xx and its PRACK
        self.rel100 = rel100
        #: UAS: our reliable provisionals (RFC 3262), when this INVITE uses them
        self.reliable: ReliableProvisionals | None = None
        self._received = ReceivedProvisionals()       # UAC: reliable 1xx seen (RFC 3262 §4)
        #: the session timer (RFC 4028), None when off
        self.session_timer = SessionTimer(session_timer) if session_timer is not None else None
        self._peer_allows_update = False
        #: called with each re-INVITE or UPDATE received that the session could
        #: accept; None or a 2xx accepts it, a 300-699 status refuses it
        self.modification_hook: Callable[[Request], int | None] | None = None
        self._answer_pracked = False                  # UAS: a 1xx with SDP was PRACKed
        # UAC, a forkable ``media``: the offer/answer state as the INVITE left
        # (copied for each new early dialog), the To tag the session's state
        # is of, and the states of the other early dialogs
        self._fork_base: ForkableOfferAnswer | None = None
        self._fork_tag: str | None = None
        self._forks: dict[str, _ForkMedia] = {}

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def uac(cls, invite: Request, *, media: OfferAnswer | None = None,
            timers: TimerConfig | None = None, rng: random.Random | None = None,
            offer: bool = True, rel100: Rel100 = Rel100.SUPPORTED,
            session_timer: SessionTimerConfig | None = None) -> InviteSession:
        """The caller's session for ``invite`` (built with a Contact, §8.1.1.8).
        With ``media`` and no body, ``start`` puts an offer in it, unless
        ``offer`` is False: then the 2xx brings the offer and the ACK our
        answer (§13.2.1).  ``rel100`` is the RFC 3262 policy, ``session_timer``
        the RFC 4028 one (None: no session timer)."""
        session = cls(Role.UAC, invite, media=media, timers=timers, rng=rng, rel100=rel100,
                      session_timer=session_timer)
        session._early_offer = offer
        return session

    @classmethod
    def uas(cls, invite: Request, *, contact: URI | NameAddr | str,
            media: OfferAnswer | None = None, timers: TimerConfig | None = None,
            rng: random.Random | None = None, to_tag: str | None = None,
            rel100: Rel100 = Rel100.SUPPORTED,
            session_timer: SessionTimerConfig | None = None) -> InviteSession:
        """The callee's session for a received ``invite``; ``contact`` goes in
        our responses (§12.1.1: "MUST"), ``to_tag`` (new by default) in To."""
        return cls(Role.UAS, invite, media=media, timers=timers, rng=rng, contact=contact,
                   to_tag=to_tag, rel100=rel100, session_timer=session_timer)

    def __repr__(self) -> str:
        return f"<InviteSession {self.role.value} {self.state.value} {self.invite.call_id!r}>"

    @property
    def terminated(self) -> bool:
        return self.state is SessionState.TERMINATED

    # -- the tables ------------------------------------------------------------------------

    def _move(self, event: SessionEvent) -> bool:
        next_state = _SESSION_EDGES.get((self.role, self.state, event))
        if next_state is None:
            return False
        self.state = next_state
        return True

    def _modify_move(self, event: ModifyEvent) -> None:
        next_state = _MODIFY_EDGES.get((self.modify_state, event))
        if next_state is not None:
            self.modify_state = next_state

    # -- timers ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called, or None (always None once
        the session ended: nothing it owns is retransmitted after that)."""
        if self.state is SessionState.TERMINATED:
            return None
        times = list(self._deadlines.values())
        for part in (self.reliable, self.session_timer):
            if part is not None:
                deadline = part.next_deadline()
                if deadline is not None:
                    times.append(deadline)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[DialogAction]:
        """Fire every timer due at ``now``, earliest first."""
        if self.state is SessionState.TERMINATED:
            return []
        actions: list[DialogAction] = []
        while self._deadlines:
            name, deadline = min(self._deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                break
            del self._deadlines[name]
            if name == "2xx":
                actions += self._retransmit_2xx(now)
            elif name == "ack":
                actions += self._no_ack(now)
            elif name == "retry":
                actions += self._retry(now)
        if self.reliable is not None:
            due = self.reliable.next_deadline()
            if due is not None and due <= now:
                actions += self._prack_actions(self.reliable.handle_timer(now), now)
        if self.session_timer is not None:
            due = self.session_timer.next_deadline()
            if due is not None and due <= now:
                actions += self._timer_actions(self.session_timer.handle_timer(now), now)
        return actions

    # -- starting ----------------------------------------------------------------------------

    def start(self, now: float) -> list[DialogAction]:
        """UAC: send the INVITE (with an offer from ``media`` if it has no body).
        UAS: take the INVITE's offer; 488 if ``media`` refuses it."""
        if self.state is not SessionState.INITIAL:
            raise SessionError("the session has already started")
        if self.role is Role.UAC:
            invite = self.invite
            if self.media is not None and not invite.body and self._early_offer:
                invite.body = bytes(self.media.make_offer(hold=self.on_hold))
                invite.headers.set("Content-Type", SDP)
            if invite.body:
                self.offer_state = OfferState.LOCAL
            supported, require = uac_option_tags(self.rel100)
            extra: list[tuple[str, str | Field]] = []
            if self.session_timer is not None:
                timer_supported, timer_require = self.session_timer.option_tags()
                supported, require = supported + timer_supported, require + timer_require
                extra = self.session_timer.request_headers()
            _add_option_tags(invite, supported, require)
            for name, value in extra:
                invite.headers.add(name, value, before="Content-Length")
            if isinstance(self.media, ForkableOfferAnswer):
                self._fork_base = self.media.fork()
            self._move(SessionEvent.START)
            return [SendRequest(invite)]
        invite = self.invite
        if not invite.contact:
            self._move(SessionEvent.START_REFUSED)
            return [SendResponse(invite.reply(400, "Missing Contact", to_tag=self.to_tag)),
                    Ended("400")]
        self._peer_allows_update = _allows(invite, "UPDATE")
        decision = uas_decision(invite, self.rel100)
        refusal = decision.reject
        if refusal is None and self.session_timer is not None:
            refusal = self.session_timer.receive_request(invite)
        if refusal is not None:
            self._move(SessionEvent.START_REFUSED)
            return [SendResponse(refusal), Ended(str(refusal.status), refusal)]
        if decision.reliable:
            self.reliable = ReliableProvisionals(invite, timers=self.timers, rng=self.rng)
        if not invite.body:
            self._move(SessionEvent.START)
            return []
        actions: list[DialogAction] = [OfferReceived(invite, invite.body)]
        try:
            self._answer = self._take_offer(invite.body)
        except ValueError as exc:
            self._move(SessionEvent.START_REFUSED)
            refusal = self._refusal(invite, exc, to_tag=self.to_tag)
            return [SendResponse(refusal), Ended(str(refusal.status), refusal)]
        self.offer_state = OfferState.REMOTE
        self._move(SessionEvent.START)
        return actions

    # -- UAS: answering the INVITE ---------------------------------------------------------

    def provisional(self, now: float, status: int = 180, *, early_media: bool = False,
                    headers: Iterable[tuple[str, str | Field]] = ()) -> list[DialogAction]:
        """Send a provisional response (100 keeps no To tag and creates no
        dialog; 101-199 create the early dialog, §12.1.1).  A reliable one
        (RFC 3262) carries our answer to the INVITE's offer: it is the first
        reliable non-failure response, which the answer must be in (RFC 3261
        §13.2.1, RFC 6337 §3.1.1).  ``early_media`` puts the answer in an
        unreliable one too (a preview: the 2xx repeats it, §13.2.1), and, in
        a reliable one to an INVITE without offer, our offer (the PRACK
        answers it, RFC 3262 §5)."""
        self._require(Role.UAS, "provisional responses")
        if self.state not in (SessionState.PROCEEDING, SessionState.EARLY):
            raise SessionError(f"no provisional response in state {self.state.value}")
        if not 100 <= status < 200:
            raise SessionError(f"{status} is not provisional")
        if status == 100:
            return [SendResponse(self.invite.reply(100, headers=headers))]
        reliable = self.reliable is not None
        body = b""
        if self.offer_state is OfferState.REMOTE and (early_media or reliable):
            body = self._answer or b""
            if reliable:
                # RFC 3261 §13.2.1, RFC 3262 §5, RFC 6337 §3.1.1: once a reliable
                # non-failure response goes, the INVITE's offer is answered in it
                self._answer = None
                self._answer_sent()
        elif early_media and reliable and self.offer_state is OfferState.NONE and \
                not self._exchanged:
            body = self._make_offer()  # RFC 3262 §5: the PRACK brings the answer
        response = self.invite.reply(status, to_tag=self.to_tag, contact=self.contact,
                                     headers=headers, body=body,
                                     content_type=SDP if body else None)
        if self.dialog is None:
            self.dialog = Dialog.uas(self.invite, response)
        self._move(SessionEvent.SEND_PROVISIONAL)
        if self.reliable is not None:
            return self._prack_actions(self.reliable.send(response, now), now)
        return [SendResponse(response)]

    def answer(self, now: float, *, headers: Iterable[tuple[str, str | Field]] = (),
               ) -> list[DialogAction]:
        """Send the 2xx to the INVITE, with our answer (or, when the INVITE had
        no offer, our offer, whose answer the ACK brings, §13.2.1); it is
        sent again at T1, 2*T1 ... T2 until the ACK, for 64*T1 (§13.3.1.4)."""
        self._require(Role.UAS, "answer()")
        if self.state not in (SessionState.PROCEEDING, SessionState.EARLY):
            raise SessionError(f"no 2xx in state {self.state.value}")
        body = self._outgoing_body()
        extra = list(headers)
        if self.session_timer is not None:
            extra += self.session_timer.answer(self.invite, now)
        response = self.invite.reply(200, to_tag=self.to_tag, contact=self.contact,
                                     headers=extra, body=body,
                                     content_type=SDP if body else None)
        if self.dialog is None:
            self.dialog = Dialog.uas(self.invite, response)
        else:
            self.dialog.send_response(self.invite, response)
        self._move(SessionEvent.SEND_SUCCESS)
        if self.reliable is not None:
            # held while a reliable 1xx with a session description is unacknowledged
            return self._prack_actions(self.reliable.send_final(response, now), now)
        self._await_ack(response, now)
        return [SendResponse(response)]

    def reject(self, now: float, status: int = 486, *,
               headers: Iterable[tuple[str, str | Field]] = ()) -> list[DialogAction]:
        """Send a 300-699 to the INVITE: the call ends (§13.3.1.3)."""
        self._require(Role.UAS, "reject()")
        if self.state not in (SessionState.PROCEEDING, SessionState.EARLY):
            raise SessionError(f"no final response in state {self.state.value}")
        if not 300 <= status < 700:
            raise SessionError(f"{status} is not a failure response")
        response = self.invite.reply(status, to_tag=self.to_tag, headers=headers)
        self._rollback()
        if self.dialog is not None:
            self.dialog.send_response(self.invite, response)
        self._move(SessionEvent.SEND_FAILURE)
        if self.reliable is not None:
            sent = self._prack_actions(self.reliable.send_final(response, now), now)
            return [*sent, *self._ended(str(status), response)]
        return [SendResponse(response), *self._ended(str(status), response)]

    @property
    def answer_pending(self) -> bool:
        """The peer's offer is taken and our answer to it not sent yet."""
        return self.offer_state is OfferState.REMOTE

    def remake_answer(self) -> None:
        """Make our pending answer again with ``media`` (whose capabilities the
        application changed since the offer came, RFC 3264 §6).  SessionError
        when no answer is pending, or the offer cannot be answered now (the
        answer is then left unmade: fix the capabilities and call again)."""
        if self.offer_state is not OfferState.REMOTE or self.media is None:
            raise SessionError("no answer is pending to make again (RFC 3264 §4)")
        if self._answer is not None:
            self.media.rollback()
            self._answer = None
        try:
            self._answer = bytes(self.media.receive_offer(self._offer_body))
        except ValueError as exc:
            raise SessionError(f"the offer cannot be answered: {exc} (RFC 3264 §6)") from exc

    def request_retried(self, original: Request, retry: Request) -> None:
        """``original``, a request of this session, was sent again as ``retry``
        with credentials (§22.2, CSeq one up): the session follows the retry.

        The INVITE's retry is the INVITE (its dialogs are the retry's, §12.1.2);
        a re-INVITE, UPDATE or other request within the dialog is matched by
        the retry's CSeq from now on, and the dialog's local CSeq number
        moves up to it, so that the next request takes a higher one (§12.2.1.1).
        """
        if original.method != retry.method or retry.cseq.seq <= original.cseq.seq:
            raise SessionError(f"{retry.method} {retry.cseq.seq} is no retry of "
                               f"{original.method} {original.cseq.seq} (RFC 3261 §22.2)")
        if original is self.invite or (
                self.role is Role.UAC and original.method == "INVITE" and
                original.cseq.seq == self.invite.cseq.seq and self.dialog is None):
            self.invite = retry
            self.dialogs = DialogSet(retry)
            self._received = ReceivedProvisionals()
            self._provisional_received = False
            self._restart_forks()
            return
        if self._modify is not None and self._modify.cseq.seq == original.cseq.seq and \
                self._modify.method == original.method:
            self._modify = retry
        elif self._sent.pop(original.cseq.seq, None) is not None:
            self._sent[retry.cseq.seq] = retry
        dialog = self.dialog
        if dialog is not None and dialog.local_seq is not None:
            dialog.local_seq = max(dialog.local_seq, retry.cseq.seq)

    def _outgoing_body(self) -> bytes:
        """The body of a 2xx to an INVITE: our pending answer, or a new offer."""
        if self.offer_state is OfferState.REMOTE:
            answer, self._answer = self._answer or b"", None
            self._answer_sent()
            return answer
        if self.offer_state is OfferState.NONE and not self._exchanged:
            return self._make_offer()
        return b""

    def _await_ack(self, response: Response, now: float) -> None:
        self._unacked = response
        self._interval = self.timers.t1
        self._deadlines["2xx"] = now + self._interval
        self._deadlines["ack"] = now + 64 * self.timers.t1

    def _retransmit_2xx(self, now: float) -> list[DialogAction]:
        response = self._unacked
        if response is None:
            return []
        self._move(SessionEvent.RETRANSMIT)
        self._interval = min(2 * self._interval, self.timers.t2)
        self._deadlines["2xx"] = now + self._interval
        return [SendResponse(response)]

    def _no_ack(self, now: float) -> list[DialogAction]:
        """§13.3.1.4, §14.2: no ACK in 64*T1: the dialog is ended with a BYE."""
        self._unacked = None
        self._deadlines.pop("2xx", None)
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE")
        self._move(SessionEvent.NO_ACK)
        return [SendRequest(bye), *self._ended("no ACK", None)]

    # -- UAC: the INVITE's responses ---------------------------------------------------------

    def cancel(self, now: float) -> list[DialogAction]:
        """CANCEL our INVITE (§9.1): sent once a provisional response came
        (before that, when the first one comes).  Nothing once it is answered."""
        self._require(Role.UAC, "cancel()")
        if self.state not in (SessionState.CALLING, SessionState.EARLY) or \
                self._cancel_wanted or self._cancel_sent:
            return []
        if not self._provisional_received:
            self._cancel_wanted = True
            return []
        return self._send_cancel()

    def _send_cancel(self) -> list[DialogAction]:
        self._cancel_wanted = False
        self._cancel_sent = True
        return [SendRequest(build_cancel(self.invite))]

    def _invite_response(self, response: Response, now: float) -> list[DialogAction]:
        assert self.dialogs is not None
        status = response.status
        if status < 200:
            return self._provisional(response)
        try:
            fork = self.dialogs.receive_response(response)
        except DialogError:
            if status >= 300 or self.state not in (SessionState.CALLING, SessionState.EARLY):
                raise
            # a 2xx we cannot acknowledge in a dialog (no Contact, no To tag)
            self._move(SessionEvent.FAILURE)
            return [Failed(response), *self._ended("2xx without Contact or To tag", response)]
        if status == 422 and self.session_timer is not None and \
                self.state in (SessionState.CALLING, SessionState.EARLY):
            timer_actions = self.session_timer.receive_response(self.invite, response, now)
            if any(isinstance(a, Retry) for a in timer_actions):
                return self._retry_invite()
        if status >= 300:
            if not self._move(SessionEvent.FAILURE):
                return []
            self._rollback()
            reason = "CANCEL" if status == 487 and self._cancel_sent else str(status)
            return [Failed(response), *self._ended(reason, response)]
        if fork.outcome is ForkOutcome.EXTRA:
            return list(fork.actions)
        if fork.outcome is ForkOutcome.RETRANSMISSION:
            ack = self._acks.get(response.cseq.seq)
            return [SendAck(ack)] if ack is not None else []
        # the first 2xx
        dialog = fork.dialog
        assert dialog is not None
        if self.state is SessionState.TERMINATED:
            # after a failure or CANCEL, a fork answered: nobody wants the call
            ack = dialog.ack(self.invite, response)
            self._acks[response.cseq.seq] = ack
            bye = dialog.create_request("BYE")
            dialog.terminate("BYE sent")
            return [SendAck(ack), SendRequest(bye)]
        self.dialog = dialog
        self._follow_fork(dialog.id.remote_tag)
        self._fork_base, self._forks = None, {}  # the call's dialog is chosen
        self._move(SessionEvent.SUCCESS)
        self._peer_allows_update = _allows(response, "UPDATE")
        if self.session_timer is not None:
            self.session_timer.receive_response(self.invite, response, now)
        actions: list[DialogAction] = []
        # an exchange completed in a reliable 1xx: the 2xx may only repeat it (§13.2.1)
        ack_body = b"" if self._early_exchanged else self._answer_in_2xx(response, actions)
        ack = dialog.ack(self.invite, response, body=ack_body,
                         content_type=SDP if ack_body else None)
        self._acks[response.cseq.seq] = ack
        actions[:0] = [SendAck(ack), Answered(response)]
        if self._cancel_wanted or self._cancel_sent:
            # §9.1: the CANCEL crossed the 2xx; the caller wanted no call
            self._cancel_wanted = False
            actions += self._send_bye("CANCEL")
        return actions

    def _provisional(self, response: Response) -> list[DialogAction]:
        assert self.dialogs is not None
        kind = self._received.receive(response)
        if kind is not ProvisionalKind.UNRELIABLE and kind is not ProvisionalKind.NEW:
            return []  # RFC 3262 §4: a retransmission, out of order, or without RSeq
        self._provisional_received = True
        fork = self.dialogs.receive_response(response)
        if self.state not in (SessionState.CALLING, SessionState.EARLY):
            return []
        if fork.dialog is not None:
            self._follow_fork(fork.dialog.id.remote_tag)
        if fork.outcome is ForkOutcome.NEW_EARLY or fork.outcome is ForkOutcome.EARLY:
            self.dialog = fork.dialog
            self._move(SessionEvent.EARLY_DIALOG)
        else:
            self._move(SessionEvent.PROVISIONAL)
        actions: list[DialogAction] = self._send_cancel() if self._cancel_wanted else []
        if response.status == 100:
            return actions
        if response.body:
            actions.append(EarlyMedia(response))
        elif response.status == 180:
            actions.append(Ringing(response))
        else:
            actions.append(Progress(response))
        if kind is ProvisionalKind.NEW and fork.dialog is not None:
            actions += self._prack(fork.dialog, response)
        return actions

    def _prack(self, dialog: Dialog, response: Response) -> list[DialogAction]:
        """RFC 3262 §4, §5: PRACK a new reliable 1xx; its session description is
        the answer to our offer, or an offer the PRACK answers."""
        actions: list[DialogAction] = []
        body = b""
        if response.body and self.offer_state is OfferState.LOCAL:
            actions.append(AnswerReceived(response, response.body))
            self._take_answer(response.body)
        elif response.body and self.offer_state is OfferState.NONE and not self._exchanged:
            actions.append(OfferReceived(response, response.body))
            try:
                body = self._take_offer(response.body)
                self._answer_sent()
            except ValueError:
                body = b""
        self._early_exchanged = self._exchanged
        prack = dialog.create_request("PRACK", body=body, content_type=SDP if body else None,
                                      headers=[("RAck", str(rack_for(response)))])
        return [SendRequest(prack), *actions]

    def _follow_fork(self, tag: str) -> None:
        """Make the offer/answer state the session works on that of the early
        dialog ``tag`` (§13.2.2.4): the first dialog keeps the session's, each
        other starts from a copy of it as the INVITE left it."""
        base = self._fork_base
        if base is None or tag == self._fork_tag:
            return
        current = self._fork_tag
        self._fork_tag = tag
        if current is None:
            return
        self._forks[current] = _ForkMedia(self.media, self.offer_state, self._exchanged,
                                          self._early_exchanged)
        state = self._forks.pop(tag, None)
        if state is None:
            state = _ForkMedia(base.fork(), OfferState.LOCAL if self.invite.body else
                               OfferState.NONE, False, False)
        self.media, self.offer_state = state.media, state.offer_state
        self._exchanged, self._early_exchanged = state.exchanged, state.early_exchanged

    def _answer_in_2xx(self, response: Response, actions: list[DialogAction]) -> bytes:
        """Take the offer or answer of a 2xx to our (re-)INVITE; returns the
        body of the ACK: our answer when the 2xx made the offer (§13.2.1)."""
        body = response.body
        if self.offer_state is OfferState.LOCAL:
            if body:
                actions.append(AnswerReceived(response, body))
            self._take_answer(body)
            return b""
        if body:
            actions.append(OfferReceived(response, body))
            try:
                answer = self._take_offer(body)
            except ValueError:
                return b""  # unacceptable: an ACK without answer
            self._answer_sent()  # it goes in the ACK
            return answer
        return b""

    # -- both: receiving requests ---------------------------------------------------------

    def receive_request(self, request: Request, now: float) -> list[DialogAction]:
        """A request within the session's dialog, or a CANCEL of its INVITE."""
        method = request.method
        if method == "ACK":
            return self._ack(request, now)
        if method == "CANCEL":
            return self._cancel_received(request)
        dialog = self.dialog
        if dialog is None:
            return [SendResponse(request.reply(481))]
        refusal = dialog.receive_request(request)
        if refusal is not None:
            return [SendResponse(refusal)]
        if method == "BYE":
            return self._bye_received(request)
        if method == "INVITE":
            return self._reinvite_received(request, now)
        if method == "UPDATE":
            return self._update_received(request, now)
        if method == "PRACK":
            if self.reliable is None:
                return [SendResponse(request.reply(481))]
            return self._prack_actions(self.reliable.receive_prack(request, now), now)
        return [RequestReceived(request)]

    def _ack(self, ack: Request, now: float) -> list[DialogAction]:
        unacked = self._unacked
        if unacked is None or ack.cseq.seq != unacked.cseq.seq:
            return []  # a retransmitted ACK, or one for nothing of ours
        self._unacked = None
        self._deadlines.pop("2xx", None)
        self._deadlines.pop("ack", None)
        self._move(SessionEvent.ACK)
        actions: list[DialogAction] = [AckReceived(ack)]
        if self.offer_state is OfferState.LOCAL:
            if ack.body:
                actions.append(AnswerReceived(ack, ack.body))
            self._take_answer(ack.body)
        if self._bye_wanted:
            actions += self._send_bye("BYE sent")
        return actions

    def _cancel_received(self, cancel: Request) -> list[DialogAction]:
        """§9.2: 200 to the CANCEL; 487 to the INVITE if it has no final response."""
        ok = SendResponse(cancel.reply(200, to_tag=self.to_tag))
        if self.role is not Role.UAS or cancel.cseq.seq != self.invite.cseq.seq or \
                not self._move(SessionEvent.CANCEL):
            return [ok]
        terminated = self.invite.reply(487, to_tag=self.to_tag)
        if self.dialog is not None:
            self.dialog.send_response(self.invite, terminated)
        return [ok, SendResponse(terminated), *self._ended("CANCEL", cancel)]

    def _bye_received(self, bye: Request) -> list[DialogAction]:
        """§15.1.2: 200 to the BYE; a pending INVITE gets 487; the session ends."""
        early_uas = self.role is Role.UAS and self.state is SessionState.EARLY
        if not self._move(SessionEvent.BYE_RECEIVED):
            return [SendResponse(bye.reply(200))]
        actions: list[DialogAction] = [SendResponse(bye.reply(200))]
        if early_uas:
            actions.append(SendResponse(self.invite.reply(487, to_tag=self.to_tag)))
        return actions + self._ended("BYE received", bye)

    def _reinvite_received(self, request: Request, now: float) -> list[DialogAction]:
        if self.role is Role.UAC and self.state in (SessionState.CALLING, SessionState.EARLY):
            # §14.2: "an INVITE on a dialog while an INVITE it had sent on that
            # dialog is in progress": 491 (our INVITE has no final response yet)
            return [SendResponse(request.reply(491))]
        if self.state in (SessionState.PROCEEDING, SessionState.EARLY):
            # §14.2: an INVITE before our final response to the first
            return [SendResponse(_retry_after(request, self.rng))]
        if self.modify_state is ModifyState.PENDING and self._modify_method == "INVITE":
            return [SendResponse(request.reply(491))]  # §14.2 glare
        if self._unacked is not None:
            return [SendResponse(_retry_after(request, self.rng))]
        if self.offer_state is OfferState.LOCAL:
            # our offer (in an UPDATE or PRACK) is outstanding: an offer crossing it,
            # or a re-INVITE asking for ours, would need a second one (RFC 3311 §5.2,
            # RFC 3264 §4)
            return [SendResponse(request.reply(491))]
        return self._accept_modification(request, now)

    def _update_received(self, request: Request, now: float) -> list[DialogAction]:
        """RFC 3311 §5.2: 491 for an offer crossing ours, 500 with Retry-After
        for an offer while the peer's last one is unanswered."""
        if request.body:
            if self.offer_state is OfferState.LOCAL:
                return [SendResponse(request.reply(491))]
            if self.offer_state is OfferState.REMOTE:
                return [SendResponse(_retry_after(request, self.rng))]
        return self._accept_modification(request, now)

    def _accept_modification(self, request: Request, now: float) -> list[DialogAction]:
        """Answer a re-INVITE or UPDATE at once: 200 with our answer (or, to a
        re-INVITE without offer, our offer), or 488 when the offer is refused."""
        dialog = self.dialog
        assert dialog is not None
        if self.session_timer is not None:
            refusal = self.session_timer.receive_request(request)
            if refusal is not None:
                return [SendResponse(refusal)]
        hook = self.modification_hook
        status = hook(request) if hook is not None else None
        if status is not None and not 200 <= status < 300:
            if not 300 <= status < 700:
                raise SessionError(f"a modification is refused with 300-699, not {status}")
            # §14.2: refused, the session stays as it was (its offer is not taken)
            refusal = not_acceptable_here(request, "refused by the application") \
                if status == 488 else request.reply(status)
            return [SendResponse(refusal)]
        actions: list[DialogAction] = []
        body = b""
        if request.body:
            actions.append(OfferReceived(request, request.body))
            try:
                body = self._take_offer(request.body)
            except ValueError as exc:
                return [SendResponse(self._refusal(request, exc))]
            self._answer_sent()
        elif request.method == "INVITE":
            body = self._make_offer()
        timer_headers = self.session_timer.answer(request, now) \
            if self.session_timer is not None else []
        response = request.reply(200, contact=self.contact or _target_text(dialog),
                                 headers=timer_headers, body=body,
                                 content_type=SDP if body else None)
        dialog.send_response(request, response)
        if request.method == "INVITE":
            self._await_ack(response, now)
        actions.insert(0, SendResponse(response))
        actions.append(Modified(request.method, response))
        return actions

    # -- both: our requests ------------------------------------------------------------------

    def receive_response(self, response: Response, now: float) -> list[DialogAction]:
        """A response to a request this session sent (the INVITE, a re-INVITE,
        UPDATE, BYE, CANCEL, or one from ``send_request``)."""
        method = response.cseq.method
        seq = response.cseq.seq
        modify = self._modify
        if modify is not None and method == modify.method and seq == modify.cseq.seq:
            return self._modify_response(modify, response, now)
        if method == "INVITE":
            if self.role is Role.UAC and seq == self.invite.cseq.seq:
                return self._invite_response(response, now)
            ack = self._acks.get(seq)
            if ack is not None and 200 <= response.status < 300:
                return [SendAck(ack)]  # a re-INVITE's 2xx again (§13.2.2.4)
            return []
        if method in ("BYE", "CANCEL", "PRACK") or response.status < 200:
            return []
        request = self._sent.pop(seq, None)
        if request is None or self.dialog is None:
            return []
        return self._dialog_response(request, response)

    def _dialog_response(self, request: Request, response: Response) -> list[DialogAction]:
        """§12.2.1.2: a 481 or 408 to a request within the dialog ends it."""
        assert self.dialog is not None
        self.dialog.receive_response(request, response)
        if self.dialog.terminated and self._move(SessionEvent.DIALOG_GONE):
            return self._ended(str(response.status), response)
        return []

    def send_request(self, method: str, now: float, *, body: bytes = b"",
                     content_type: str | None = None,
                     headers: Iterable[tuple[str, str | Field]] = ()) -> list[DialogAction]:
        """Send another request within the dialog (INFO, MESSAGE, REFER,
        OPTIONS ...); its responses come back to ``receive_response``."""
        if method in ("INVITE", "UPDATE", "BYE", "ACK", "CANCEL", "PRACK"):
            raise SessionError(f"{method} has a method of its own on the session")
        dialog = self._live_dialog(method)
        request = dialog.create_request(method, body=body, content_type=content_type,
                                        headers=headers)
        self._sent[request.cseq.seq] = request
        return [SendRequest(request)]

    def bye(self, now: float) -> list[DialogAction]:
        """End the call (§15.1.1).  Before the 2xx the caller CANCELs instead;
        the callee's BYE waits for the ACK of its 2xx (§15)."""
        if self.state is SessionState.TERMINATED:
            return []
        if self.role is Role.UAC and self.state in (SessionState.CALLING, SessionState.EARLY):
            return self.cancel(now)
        if self.state is SessionState.ACCEPTED:
            self._bye_wanted = True
            return []
        if self.state is not SessionState.CONFIRMED:
            raise SessionError("the callee MUST NOT send a BYE on an early dialog: reject() "
                               "the INVITE (RFC 3261 §15)")
        return self._send_bye("BYE sent")

    def _send_bye(self, reason: str) -> list[DialogAction]:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE")
        self._move(SessionEvent.BYE_SENT)
        return [SendRequest(bye), *self._ended(reason, bye)]

    # -- both: modifying the session (§14, RFC 3311) ------------------------------------------

    def reinvite(self, now: float, *, hold: bool | None = None) -> list[DialogAction]:
        """Send a re-INVITE with a new offer (§14.1); ``hold`` changes the hold
        state first.  Refused while another INVITE is in progress either way,
        or an offer is outstanding."""
        if self.state is not SessionState.CONFIRMED:
            raise SessionError(f"no re-INVITE in state {self.state.value} (RFC 3261 §14.1)")
        if self._unacked is not None:
            raise SessionError("our 2xx to an INVITE waits for its ACK: no re-INVITE until "
                               "then (RFC 3261 §14.1)")
        return self._start_modify("INVITE", now, hold)

    def update(self, now: float, *, hold: bool | None = None) -> list[DialogAction]:
        """Send an UPDATE with a new offer (RFC 3311 §5.1), early or confirmed."""
        if self.state not in (SessionState.EARLY, SessionState.CONFIRMED,
                              SessionState.ACCEPTED):
            raise SessionError(f"no UPDATE in state {self.state.value} (RFC 3311 §5.1)")
        if self.state is SessionState.EARLY and (
                not self._exchanged or (self.role is Role.UAS and not self._answer_pracked)):
            raise SessionError("no offer in an UPDATE before the INVITE's offer/answer "
                               "exchange completed in a reliable provisional response "
                               "(and, for the callee, its PRACK came) (RFC 3311 §5.1)")
        return self._start_modify("UPDATE", now, hold)

    def hold(self, now: float) -> list[DialogAction]:
        """Put the call on hold: a re-INVITE whose offer is sendonly (RFC 3264 §8.4)."""
        return self.reinvite(now, hold=True)

    def unhold(self, now: float) -> list[DialogAction]:
        """Take the call off hold: a re-INVITE whose offer is sendrecv again."""
        return self.reinvite(now, hold=False)

    def _start_modify(self, method: str, now: float, hold: bool | None) -> list[DialogAction]:
        if self.modify_state is not ModifyState.IDLE:
            raise SessionError(f"a {self._modify_method} of ours is {self.modify_state.value} "
                               "(RFC 3261 §14.1)")
        if self.offer_state is not OfferState.NONE:
            raise SessionError(f"an offer is outstanding ({self.offer_state.value}): no new "
                               "one until it is answered (RFC 3264 §4)")
        self._hold_before = self.on_hold
        if hold is not None:
            self.on_hold = hold
        self._modify_method = method
        self._modify_move(ModifyEvent.SEND)
        return self._send_modify(method)

    def _send_modify(self, method: str, *, offer: bool = True) -> list[DialogAction]:
        dialog = self._live_dialog(method)
        body = self._make_offer() if offer else b""
        headers: list[tuple[str, str | Field]] = []
        if self.session_timer is not None:
            supported, require = self.session_timer.option_tags()
            headers += [("Supported", tag) for tag in supported]
            headers += [("Require", tag) for tag in require]
            headers += self.session_timer.request_headers()
        request = dialog.create_request(method, body=body, content_type=SDP if body else None,
                                        contact=self.contact_uri, headers=headers)
        self._modify = request
        return [SendRequest(request)]

    def _modify_response(self, request: Request, response: Response,
                         now: float) -> list[DialogAction]:
        status = response.status
        if status < 200:
            return []
        method = request.method
        self._modify = None
        assert self.dialog is not None
        self.dialog.receive_response(request, response)
        timer_actions = self.session_timer.receive_response(request, response, now) \
            if self.session_timer is not None else []
        if status < 300:
            self._modify_move(ModifyEvent.SUCCESS)
            actions: list[DialogAction] = []
            ack_body = self._answer_in_2xx(response, actions)
            if method == "INVITE":
                ack = self.dialog.ack(request, response, body=ack_body,
                                      content_type=SDP if ack_body else None)
                self._acks[request.cseq.seq] = ack
                actions.insert(0, SendAck(ack))
            return [*actions, Modified(method, response)]
        self._rollback()
        if any(isinstance(a, Retry) for a in timer_actions):
            # RFC 4028 §7.3: the same request again, with a larger Session-Expires
            self._modify_move(ModifyEvent.RETRY_422)
            return self._send_modify(method, offer=bool(request.body))
        if status == 491:
            self._modify_move(ModifyEvent.GLARE)
            retry_at = now + glare_backoff(self.role is Role.UAC, self.rng)
            self._deadlines["retry"] = retry_at
            return [ModifyFailed(method, response, retry_at)]
        self._modify_move(ModifyEvent.FAILURE)
        self.on_hold = self._hold_before  # §14.1: as if it had not been sent
        failed: list[DialogAction] = [ModifyFailed(method, response)]
        if self.dialog.terminated and self._move(SessionEvent.DIALOG_GONE):
            failed += self._ended(str(status), response)
        return failed

    def _retry(self, now: float) -> list[DialogAction]:
        """§14.1: the backoff after a 491 is over: the same change, a new offer."""
        if self.modify_state is not ModifyState.BACKOFF:
            return []
        if self.terminated or (self._modify_method == "INVITE" and self._unacked is not None):
            self._modify_move(ModifyEvent.ENDED)
            return []
        if self.offer_state is not OfferState.NONE:
            # the peer's offer is being answered: try again after another backoff
            self._deadlines["retry"] = now + glare_backoff(self.role is Role.UAC, self.rng)
            return []
        self._modify_move(ModifyEvent.RETRY)
        return self._send_modify(self._modify_method)

    # -- reliable provisionals (RFC 3262) and session timers (RFC 4028) -----------------------

    def _prack_actions(self, actions: list[PrackAction], now: float) -> list[DialogAction]:
        """What ``ReliableProvisionals`` asks, as the session's actions."""
        out: list[DialogAction] = []
        answers = self._prack_offers(actions)
        for action in actions:
            if isinstance(action, SendPrackResponse):
                out.append(SendResponse(answers.get(id(action.response), action.response)))
            elif isinstance(action, SendProvisional):
                out.append(SendResponse(action.response))
            elif isinstance(action, SendFinal):
                out.append(SendResponse(action.response))
                if 200 <= action.response.status < 300:
                    self._await_ack(action.response, now)
            elif isinstance(action, Acknowledged):
                if action.provisional.body:
                    self._answer_pracked = True
                body = action.prack.body
                if body and self.offer_state is OfferState.LOCAL:
                    out.append(AnswerReceived(action.prack, body))  # RFC 3262 §5
                    self._take_answer(body)
                elif body:
                    out.append(OfferReceived(action.prack, body))
            elif isinstance(action, GaveUp):
                # RFC 3262 §3: no PRACK in 64*T1: the INVITE is refused (5xx)
                out.append(SendResponse(action.final))
                self._move(SessionEvent.SEND_FAILURE)
                out += self._ended("no PRACK", action.final)
        return out

    def _prack_offers(self, actions: list[PrackAction]) -> dict[int, Response]:
        """RFC 3262 §5: "If the UAS receives a PRACK with an offer, it MUST place
        the answer in the 2xx to the PRACK."  The 200 that ``ReliableProvisionals``
        made for a PRACK bringing a new offer, by ``id``, replaced by one with
        our answer, or by 488 (with Warning) when the offer cannot be met
        (RFC 6337 §3.2: the 1xx is acknowledged all the same, the session
        stays as it was)."""
        replaced: dict[int, Response] = {}
        ok = next((a.response for a in actions if isinstance(a, SendPrackResponse)
                   and a.response.status == 200), None)
        acked = next((a for a in actions if isinstance(a, Acknowledged)), None)
        if ok is None or acked is None or not acked.prack.body or \
                self.offer_state is OfferState.LOCAL:
            return replaced
        prack = acked.prack
        if self.offer_state is OfferState.REMOTE:
            # the INVITE's offer is still unanswered (no reliable 1xx carried
            # the answer): a second offer cannot cross it (RFC 3264 §4)
            replaced[id(ok)] = _retry_after(prack, self.rng)
            return replaced
        try:
            answer = self._take_offer(prack.body)
        except ValueError as exc:
            replaced[id(ok)] = self._refusal(prack, exc)
            return replaced
        self._answer_sent()
        replaced[id(ok)] = prack.reply(200, body=answer, content_type=SDP if answer else None)
        return replaced

    def _timer_actions(self, actions: list[SessionTimerAction],
                       now: float) -> list[DialogAction]:
        """RFC 4028: a refresh when half the interval passed, BYE on expiry."""
        out: list[DialogAction] = []
        for action in actions:
            if isinstance(action, Refresh):
                if self.state is SessionState.CONFIRMED and \
                        self.modify_state is ModifyState.IDLE and \
                        self.offer_state is OfferState.NONE and self._unacked is None:
                    # §7.4: an UPDATE without offer where the peer allows it
                    method = "UPDATE" if self._peer_allows_update else "INVITE"
                    self._modify_method = method
                    self._modify_move(ModifyEvent.SEND)
                    out += self._send_modify(method, offer=method == "INVITE")
            elif isinstance(action, Expired) and not self.terminated:
                if self.state is SessionState.CONFIRMED:
                    out += self._send_bye("session expired")
                else:
                    out += self._ended("session expired", None)
        return out

    def _restart_forks(self) -> None:
        """The INVITE went again (422, a challenge): no early dialog is left."""
        self._fork_tag, self._forks = None, {}

    def _retry_invite(self) -> list[DialogAction]:
        """RFC 4028 §7.3: a 422 to our INVITE: the INVITE again, CSeq one up,
        with the Session-Expires and Min-SE the 422 asked for."""
        assert self.session_timer is not None
        invite = redirected_request(self.invite, self.invite.uri)
        invite.headers.remove("Session-Expires")
        invite.headers.remove("Min-SE")
        for name, value in self.session_timer.request_headers():
            invite.headers.add(name, value, before="Content-Length")
        self.invite = invite
        self.dialogs = DialogSet(invite)
        self._received = ReceivedProvisionals()
        self._provisional_received = False
        self.dialog = None
        self._restart_forks()
        self._move(SessionEvent.RETRY_422)
        return [SendRequest(invite)]

    # -- offer/answer (RFC 3264 through ``media``) ----------------------------------------

    def _make_offer(self) -> bytes:
        """Our offer, now outstanding; empty without ``media``."""
        if self.media is None:
            return b""
        offer = bytes(self.media.make_offer(hold=self.on_hold))
        self.offer_state = OfferState.LOCAL
        return offer

    def _take_offer(self, body: bytes) -> bytes:
        """The peer's offer; our answer (not yet sent).  ValueError: refused."""
        answer = bytes(self.media.receive_offer(body)) if self.media is not None else b""
        self._offer_body = body
        self.offer_state = OfferState.REMOTE
        return answer

    def _answer_sent(self) -> None:
        if self.offer_state is OfferState.REMOTE:
            self.offer_state = OfferState.NONE
            self._exchanged = True
            if self.media is not None:
                self.media.answer_sent()

    def _take_answer(self, body: bytes) -> None:
        """The peer's answer to our offer; none, or a bad one, drops our offer."""
        if self.offer_state is not OfferState.LOCAL:
            return
        self.offer_state = OfferState.NONE
        if self.media is None:
            self._exchanged = self._exchanged or bool(body)
            return
        if body:
            try:
                self.media.receive_answer(body)
                self._exchanged = True
                return
            except ValueError:
                pass
        self.media.rollback()

    def _rollback(self) -> None:
        if self.offer_state is not OfferState.NONE:
            self.offer_state = OfferState.NONE
            if self.media is not None:
                self.media.rollback()

    def _refusal(self, request: Request, error: ValueError, *,
                 to_tag: str | None = None) -> Response:
        status = refusal_status(error)
        if status == 488:
            return not_acceptable_here(request, str(error), to_tag=to_tag)
        if status == 500:
            return request.reply(500, to_tag=to_tag, headers=[
                ("Retry-After", str(self.rng.randint(0, 10)))])
        return request.reply(status, to_tag=to_tag)

    # -- helpers ---------------------------------------------------------------------------

    @property
    def contact_uri(self) -> URI | None:
        """Our Contact for target refresh requests (the INVITE's, or the one
        given to ``uas``)."""
        if self.contact is not None:
            return NameAddr.parse(self.contact).uri
        return None

    def _live_dialog(self, method: str) -> Dialog:
        dialog = self.dialog
        if dialog is None or dialog.terminated or self.terminated:
            raise SessionError(f"no dialog to send {method} in (RFC 3261 §12.2.1.1)")
        return dialog

    def _require(self, role: Role, what: str) -> None:
        if self.role is not role:
            raise SessionError(f"{what} belongs to the {role.value}")

    def _ended(self, reason: str, message: Request | Response | None) -> list[DialogAction]:
        """The session is over: its dialog ends, its timers stop."""
        self.state = SessionState.TERMINATED
        if self.dialog is not None and self.dialog.state is not DialogState.TERMINATED:
            self.dialog.terminate(reason)
        if self.dialogs is not None:
            for early in self.dialogs.early:
                early.terminate(reason)
        self._deadlines.clear()
        self._unacked = None
        self._bye_wanted = False
        self._modify_move(ModifyEvent.ENDED)
        return [Ended(reason, message)]


def _add_option_tags(request: Request, supported: list[str], require: list[str]) -> None:
    """Supported and Require option tags (§20.37, §20.32), as one line each."""
    for name, tags in (("Supported", supported), ("Require", require)):
        have = {t.lower() for t in request.headers.getall(name)}
        new = [t for t in tags if t.lower() not in have]
        if new:
            request.headers.add(name, ", ".join(new), before="Content-Length")


def _allows(message: Request | Response, method: str) -> bool:
    return any(m.strip().upper() == method for m in message.headers.getall("Allow"))


def _contact_text(contact: URI | NameAddr | str | None) -> str | None:
    if contact is None:
        return None
    if isinstance(contact, URI):
        return f"<{contact}>"
    text = str(contact)
    return text if "<" in text else f"<{text}>"


def _target_text(dialog: Dialog) -> str | None:
    target = dialog.local_target
    return f"<{target}>" if target is not None else None
