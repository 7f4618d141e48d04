"""The offer/answer exchange an INVITE session drives (RFC 3264, RFC 3261 §13.2.1).

The session decides *when* an offer or answer goes into which message, and
tracks which side has an offer outstanding; what the session descriptions
say is the business of an ``OfferAnswer`` object, anything with these four
methods (``sipwire.sdp`` provides one for SDP).  Each raises ``ValueError``
(``sipwire.sdp``'s errors are ValueErrors) for a description it cannot
accept; the session answers such an offer 488 (§13.3.1.1, §14.2).
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol, runtime_checkable

__all__ = ["OfferAnswer", "OfferState"]


@runtime_checkable
class OfferAnswer(Protocol):
    """What the INVITE session asks of the session descriptions (RFC 3264)."""

    def create_offer(self, *, hold: bool = False) -> bytes:
        """A new offer: the first, or a modification (§8 of RFC 3264); with
        ``hold``, every stream ``sendonly`` (or ``inactive``), RFC 3264 §8.4."""
        ...

    def receive_offer(self, offer: bytes) -> bytes:
        """The peer's offer; returns our answer (RFC 3264 §6), or raises
        ``ValueError`` when it cannot be accepted."""
        ...

    def receive_answer(self, answer: bytes) -> None:
        """The peer's answer to our outstanding offer (RFC 3264 §7)."""
        ...

    def rollback(self) -> None:
        """Our outstanding offer was refused (a non-2xx final response): the
        session goes back to what it was (§14.1: "as if no re-INVITE had
        been issued")."""
        ...


class OfferState(Enum):
    """Who has an offer outstanding (RFC 3264 §4: one at a time per direction pair)."""

    NONE = "none"
    LOCAL = "local offer sent"
    REMOTE = "remote offer received"
