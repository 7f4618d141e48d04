"""The offer/answer state of one session (RFC 3264, RFC 6337), sans-I/O.

An INVITE session (or each early dialog of a forked INVITE, see ``fork``)
holds one ``OfferAnswer``.  The dialog layer tells it what it sends and
receives; it builds the SDP, answers offers, keeps the ``o=`` version, and
refuses what the state does not allow, with the status code to answer.

States (``OfferAnswerState``) and edges, one row per ``_TABLE`` entry::

    state          event                 next state       notes
    -------------  --------------------  ---------------  ------------------------------
    NO_OFFER       make_offer()          LOCAL_OFFER      initial offer (INVITE, or 2xx
                                                          of an INVITE without SDP)
    STABLE         make_offer()          LOCAL_OFFER      re-offer (re-INVITE, UPDATE) §8
    NO_OFFER       receive_offer(sdp)    REMOTE_OFFER     returns the answer to send
    STABLE         receive_offer(sdp)    REMOTE_OFFER     returns the answer to send
    REMOTE_OFFER   answer_sent()         STABLE           the answer went out
    LOCAL_OFFER    receive_answer(sdp)   STABLE           negotiated
    STABLE         receive_answer(sdp)   STABLE           ignored: an answer was already
                                                          taken (RFC 3261 §13.2.1)
    LOCAL_OFFER    rollback()            NO_OFFER/STABLE  offer refused (488, 491, ...)
    REMOTE_OFFER   rollback()            NO_OFFER/STABLE  we refuse the peer's offer

Every other (state, event) raises ``OfferAnswerError`` and changes nothing:

    LOCAL_OFFER    receive_offer   491  glare (RFC 3261 §14.2, RFC 3311 §5.2)
    REMOTE_OFFER   receive_offer   500  the previous offer is unanswered (same sections;
                                        the UAS adds Retry-After)
    LOCAL_OFFER    make_offer      500  our offer is still pending
    REMOTE_OFFER   make_offer      500  answer the peer's offer first
    NO_OFFER, REMOTE_OFFER  receive_answer   400  nobody asked for an answer
    NO_OFFER, LOCAL_OFFER, STABLE  answer_sent  500  no answer is pending
    NO_OFFER, STABLE  rollback     500  nothing to roll back

An answer that cannot be made (``NotAcceptableHere``, 488) or an answer that
does not match the offer (``SdpError``) also changes nothing: the state stays
where it was, and a refused offer is then rolled back or simply left (for
``receive_offer`` the state does not move until the answer exists).

**The o= line** (RFC 3264 §8): our session id stays; the version goes up by
exactly one each time we send SDP that differs from the last SDP we sent
(offer or answer, taken or refused, so a version number never names two
descriptions), and stays the same when we send the same again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from enum import Enum

from .capabilities import MediaCapabilities
from .errors import OfferAnswerError
from .model import SessionDescription
from .negotiation import Negotiated, answer, make_offer, negotiate, new_origin

__all__ = ["OfferAnswer", "OfferAnswerState"]


class OfferAnswerState(Enum):
    """Where a session is in RFC 3264's exchange (§4; RFC 6337 summarises it for SIP)."""

    NO_OFFER = "no offer"
    LOCAL_OFFER = "local offer sent"
    REMOTE_OFFER = "remote offer received"
    STABLE = "stable"


class _Event(Enum):
    MAKE_OFFER = "make_offer"
    RECEIVE_OFFER = "receive_offer"
    ANSWER_SENT = "answer_sent"
    RECEIVE_ANSWER = "receive_answer"
    ROLLBACK = "rollback"


S = OfferAnswerState
_PREVIOUS = None  # rollback: back to NO_OFFER or STABLE, whichever it was

#: the edges of the module docstring's table: (state, event) -> next state
_TABLE: dict[tuple[OfferAnswerState, _Event], OfferAnswerState | None] = {
    (S.NO_OFFER, _Event.MAKE_OFFER): S.LOCAL_OFFER,
    (S.STABLE, _Event.MAKE_OFFER): S.LOCAL_OFFER,
    (S.NO_OFFER, _Event.RECEIVE_OFFER): S.REMOTE_OFFER,
    (S.STABLE, _Event.RECEIVE_OFFER): S.REMOTE_OFFER,
    (S.REMOTE_OFFER, _Event.ANSWER_SENT): S.STABLE,
    (S.LOCAL_OFFER, _Event.RECEIVE_ANSWER): S.STABLE,
    (S.STABLE, _Event.RECEIVE_ANSWER): S.STABLE,
    (S.LOCAL_OFFER, _Event.ROLLBACK): _PREVIOUS,
    (S.REMOTE_OFFER, _Event.ROLLBACK): _PREVIOUS,
}

#: the refusals: (state, event) -> (status code, why, rule)
_REFUSALS: dict[tuple[OfferAnswerState, _Event], tuple[int, str, str]] = {
    (S.LOCAL_OFFER, _Event.RECEIVE_OFFER):
        (491, "an offer arrived while our offer is pending (glare)",
         "RFC 3261 §14.2, RFC 3311 §5.2"),
    (S.REMOTE_OFFER, _Event.RECEIVE_OFFER):
        (500, "an offer arrived before the previous offer was answered (answer with "
              "Retry-After)", "RFC 3261 §14.2, RFC 3311 §5.2"),
    (S.LOCAL_OFFER, _Event.MAKE_OFFER):
        (500, "our previous offer is still pending", "RFC 3264 §4"),
    (S.REMOTE_OFFER, _Event.MAKE_OFFER):
        (500, "the peer's offer must be answered first", "RFC 3264 §4"),
    (S.NO_OFFER, _Event.RECEIVE_ANSWER):
        (400, "an answer arrived but no offer was made", "RFC 3264 §4"),
    (S.REMOTE_OFFER, _Event.RECEIVE_ANSWER):
        (400, "an answer arrived while we owe the answer", "RFC 3264 §4"),
    (S.NO_OFFER, _Event.ANSWER_SENT): (500, "no answer is pending", "RFC 3264 §4"),
    (S.LOCAL_OFFER, _Event.ANSWER_SENT): (500, "no answer is pending", "RFC 3264 §4"),
    (S.STABLE, _Event.ANSWER_SENT): (500, "no answer is pending", "RFC 3264 §4"),
    (S.NO_OFFER, _Event.ROLLBACK): (500, "no offer is pending", "RFC 3264 §4"),
    (S.STABLE, _Event.ROLLBACK): (500, "no offer is pending", "RFC 3264 §4"),
}


class OfferAnswer:
    """The offer/answer exchange of one session (see the module docstring's table).

    ``capabilities`` may be replaced between exchanges (a new port, codecs);
    the next offer or answer uses them.  ``negotiated`` is the result of the
    last completed exchange (None before the first); ``hold`` is whether we
    hold the peer, set by ``make_offer(hold=...)`` and honoured by answers.
    """

    capabilities: MediaCapabilities
    hold: bool

    def __init__(self, capabilities: MediaCapabilities, *, session_id: int | None = None) -> None:
        self.capabilities = capabilities
        self.hold = False
        self._state = S.NO_OFFER
        self._origin = new_origin(capabilities, session_id)
        self._negotiated: Negotiated | None = None
        self._last_sent: SessionDescription | None = None
        self._pending: SessionDescription | None = None  # our offer, or our answer to send
        self._remote_offer: SessionDescription | None = None
        self._hold_before: bool = False

    # ---- reading -----------------------------------------------------------
    @property
    def state(self) -> OfferAnswerState:
        return self._state

    @property
    def negotiated(self) -> Negotiated | None:
        """What the last completed exchange agreed on."""
        return self._negotiated

    @property
    def pending_offer(self) -> SessionDescription | None:
        """Our offer awaiting its answer (``LOCAL_OFFER``), to send again as is."""
        return self._pending if self._state is S.LOCAL_OFFER else None

    @property
    def pending_answer(self) -> SessionDescription | None:
        """Our answer not yet sent (``REMOTE_OFFER``)."""
        return self._pending if self._state is S.REMOTE_OFFER else None

    @property
    def remote_offer(self) -> SessionDescription | None:
        """The peer's offer we owe an answer to (``REMOTE_OFFER``)."""
        return self._remote_offer if self._state is S.REMOTE_OFFER else None

    @property
    def last_sent(self) -> SessionDescription | None:
        """The last SDP we sent: RFC 3264 §8's "previous SDP"."""
        return self._last_sent

    # ---- events ------------------------------------------------------------
    def make_offer(self, *, hold: bool | None = None, remove: Collection[int] = (),
                   add: bool = False) -> SessionDescription:
        """Our offer (RFC 3264 §5), or a re-offer after a completed exchange (§8).

        ``hold=True`` holds the peer (``a=sendonly``, or ``a=inactive`` when
        it holds us, §8.4), ``hold=False`` resumes, None keeps what we had.
        ``remove`` sets those m-line indexes to port 0; ``add`` appends our
        stream again when none of ours is active.  The offer counts as sent.
        """
        self._check(_Event.MAKE_OFFER)
        holding = self.hold if hold is None else hold
        offer = self._stamp(make_offer(self.capabilities, origin=self._origin,
                                       previous=self._negotiated, hold=holding,
                                       remove=remove, add=add))
        self._hold_before, self.hold = self.hold, holding
        self._pending = offer
        self._last_sent = offer
        self._state = S.LOCAL_OFFER
        return offer

    def receive_offer(self, sdp: SessionDescription | bytes | str) -> SessionDescription:
        """The peer's offer: returns our answer (RFC 3264 §6), to send in the next
        reliable message; call ``answer_sent()`` when it goes, or ``rollback()``
        when the request is refused instead.

        Raises ``OfferAnswerError`` (491/500) when the state does not allow an
        offer, ``NotAcceptableHere`` (488) when nothing can be accepted,
        ``SdpError`` (400) for an unusable description; the state is unchanged.
        """
        self._check(_Event.RECEIVE_OFFER)
        offer = _description(sdp)
        reply = self._stamp(answer(offer, self.capabilities, origin=self._origin,
                                   hold=self.hold))
        self._remote_offer = offer
        self._pending = reply
        self._hold_before = self.hold
        self._state = S.REMOTE_OFFER
        return reply

    def answer_sent(self) -> Negotiated:
        """Our pending answer was sent: the exchange is complete."""
        self._check(_Event.ANSWER_SENT)
        assert self._pending is not None and self._remote_offer is not None
        result = negotiate(self._pending, self._remote_offer)
        self._last_sent = self._pending
        self._complete(result)
        return result

    def receive_answer(self, sdp: SessionDescription | bytes | str) -> Negotiated:
        """The peer's answer to our offer (RFC 3264 §7).

        In ``STABLE`` an answer was already taken and this one is ignored (RFC
        3261 §13.2.1: the first answer counts); the current result is returned.
        ``SdpError`` (400) if it does not match our offer; the state is unchanged.
        """
        self._check(_Event.RECEIVE_ANSWER)
        if self._state is S.STABLE:
            assert self._negotiated is not None
            return self._negotiated
        assert self._pending is not None
        result = negotiate(self._pending, _description(sdp))
        self._complete(result)
        return result

    def rollback(self) -> None:
        """Forget the pending offer (ours refused with 488/491/..., or theirs refused by us).

        The state goes back to ``NO_OFFER`` or ``STABLE``; ``hold`` to what it
        was.  The o= version is not reused for different SDP (see the module
        docstring).
        """
        self._check(_Event.ROLLBACK)
        self.hold = self._hold_before
        self._pending = self._remote_offer = None
        self._state = S.NO_OFFER if self._negotiated is None else S.STABLE

    def fork(self) -> OfferAnswer:
        """A copy for another early dialog of the same INVITE (RFC 3261 §13.2.2.4):
        each dialog takes its own answer to the one offer."""
        copy = OfferAnswer.__new__(OfferAnswer)
        for name in ("capabilities", "hold", "_state", "_origin", "_negotiated", "_last_sent",
                     "_pending", "_remote_offer", "_hold_before"):
            setattr(copy, name, getattr(self, name))
        return copy

    # ---- internals ---------------------------------------------------------
    def _check(self, event: _Event) -> None:
        if (self._state, event) in _TABLE:
            return
        status, why, rule = _REFUSALS[(self._state, event)]
        raise OfferAnswerError(f"{event.value} in state {self._state.value!r}: {why}",
                               rfc=rule, status_code=status)

    def _complete(self, result: Negotiated) -> None:
        self._negotiated = result
        self._pending = self._remote_offer = None
        self._state = S.STABLE

    def _stamp(self, sdp: SessionDescription) -> SessionDescription:
        """Give ``sdp`` our o= line with the right version (RFC 3264 §8)."""
        last = self._last_sent
        if last is None:
            return dataclasses.replace(sdp, origin=self._origin)
        if dataclasses.replace(sdp, origin=last.origin) == last:
            return last
        version = last.origin.sess_version + 1
        return dataclasses.replace(sdp, origin=dataclasses.replace(last.origin,
                                                                   sess_version=version))


def _description(sdp: SessionDescription | bytes | str) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else SessionDescription.parse(sdp)
