"""The offer/answer exchange an INVITE session drives (RFC 3264, RFC 3261 §13.2.1).

The session decides *when* an offer or answer goes into which message, and
tracks which side has an offer outstanding; what the session descriptions
say is the business of an ``OfferAnswer`` object.  ``sipwire.sdp.OfferAnswer``
is one; anything with these five methods will do.  Each may raise
``ValueError`` (``sipwire.sdp``'s errors are ValueErrors) for a description
it cannot take; the session answers such an offer with the error's
``status_code`` when it has one of 400, 491 or 500, else 488 (§13.3.1.1,
§14.2, RFC 3311 §5.2).
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol, SupportsBytes, runtime_checkable

__all__ = ["ForkableOfferAnswer", "OfferAnswer", "OfferState", "refusal_status"]


@runtime_checkable
class OfferAnswer(Protocol):
    """What the INVITE session asks of the session descriptions (RFC 3264)."""

    def make_offer(self, *, hold: bool | None = None) -> SupportsBytes:
        """A new offer: the first, or a modification (RFC 3264 §8); ``hold``
        True puts the peer on hold (RFC 3264 §8.4), False resumes."""
        ...

    def receive_offer(self, sdp: bytes) -> SupportsBytes:
        """The peer's offer; returns our answer (RFC 3264 §6)."""
        ...

    def answer_sent(self) -> object:
        """The answer ``receive_offer`` returned went out in a reliable message."""
        ...

    def receive_answer(self, sdp: bytes) -> object:
        """The peer's answer to our outstanding offer (RFC 3264 §7)."""
        ...

    def rollback(self) -> None:
        """The outstanding offer (ours, or the peer's we refuse) is dropped: the
        session goes back to what it was (§14.1: "as if no re-INVITE had been
        issued")."""
        ...


@runtime_checkable
class ForkableOfferAnswer(OfferAnswer, Protocol):
    """An ``OfferAnswer`` that can be copied for another early dialog of a
    forked INVITE (RFC 3261 §13.2.2.4: each fork answers the one offer its
    own way); ``sipwire.sdp.OfferAnswer`` is one."""

    def fork(self) -> ForkableOfferAnswer:
        """A copy in the same state, to go its own way from here."""
        ...


class OfferState(Enum):
    """Who has an offer outstanding in the session (RFC 3264 §4)."""

    NONE = "none"
    LOCAL = "local offer sent"
    REMOTE = "remote offer received"


def refusal_status(error: ValueError) -> int:
    """The status to answer an offer that raised ``error`` with."""
    status = getattr(error, "status_code", None)
    return status if status in (400, 491, 500) else 488
