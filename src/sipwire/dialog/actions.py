"""What dialogs and INVITE sessions ask of their driver, and what they tell it.

Every input of ``sipwire.dialog`` returns a list of these small frozen values,
performed in order (as ``sipwire.transaction.actions``).  Three are orders:

- ``SendRequest``: start a client transaction for the request (the driver
  chooses the destination from its top Route or Request-URI, §8.1.2); every
  response of that transaction goes back to the session's
  ``receive_response(response, now)``, a timeout as its synthetic 408 (§8.1.3.1);
- ``SendAck``: pass an ACK for a 2xx straight to the transport, with no
  transaction (§13.2.2.4, §17.1.1.3);
- ``SendResponse``: pass a response to the server transaction of the request
  it answers (``TransactionLayer.send_response``); a 2xx to an INVITE is sent
  again this way until its ACK comes (§13.3.1.4, RFC 6026 §8.6: the
  transaction in Accepted passes each such 2xx on).

The others are events for the application: a call rings, is answered, gets an
offer, ends.  ``Ended.reason`` says why, in the RFC's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..message.message import Request, Response

__all__ = [
    "AckReceived",
    "AnswerReceived",
    "Answered",
    "DialogAction",
    "EarlyMedia",
    "Ended",
    "Failed",
    "Modified",
    "ModifyFailed",
    "OfferReceived",
    "Progress",
    "RequestReceived",
    "Ringing",
    "SendAck",
    "SendRequest",
    "SendResponse",
]


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send ``request`` in a new client transaction; feed its responses back."""

    request: Request


@dataclass(frozen=True, slots=True)
class SendAck:
    """Send ``request``, an ACK for a 2xx, to the transport directly (§13.2.2.4)."""

    request: Request


@dataclass(frozen=True, slots=True)
class SendResponse:
    """Pass ``response`` to the server transaction of the request it answers."""

    response: Response


@dataclass(frozen=True, slots=True)
class Progress:
    """A provisional response to our INVITE (other than 180 and 183)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Ringing:
    """180 Ringing to our INVITE: the callee is being alerted (§21.1.2)."""

    response: Response


@dataclass(frozen=True, slots=True)
class EarlyMedia:
    """A provisional response carrying a session description (183, or a 18x
    with an answer, §13.2.1): media may flow before the call is answered."""

    response: Response


@dataclass(frozen=True, slots=True)
class Answered:
    """The first 2xx to our INVITE: the call is up (its ACK is already ordered)."""

    response: Response


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for our 2xx to an INVITE (or re-INVITE) arrived (§13.3.1.4)."""

    request: Request


@dataclass(frozen=True, slots=True)
class Failed:
    """A non-2xx final response to our initial INVITE: no call (§13.2.2.3)."""

    response: Response


@dataclass(frozen=True, slots=True)
class OfferReceived:
    """The peer made an offer (RFC 3264) in ``message``; the session will send
    the answer produced by its offer/answer object."""

    message: Request | Response
    offer: bytes


@dataclass(frozen=True, slots=True)
class AnswerReceived:
    """The peer answered our offer in ``message`` (RFC 3264 §4)."""

    message: Request | Response
    answer: bytes


@dataclass(frozen=True, slots=True)
class Modified:
    """A re-INVITE or UPDATE (ours or the peer's) succeeded (§14, RFC 3311)."""

    method: str
    response: Response


@dataclass(frozen=True, slots=True)
class ModifyFailed:
    """Our re-INVITE or UPDATE got a non-2xx final response: the session stays
    as it was (§14.1, RFC 3311 §5.3).  ``retry_at`` is when a 491's retry is
    due (§14.1), else None."""

    method: str
    response: Response
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """An in-dialog request the session does not answer itself (INFO, MESSAGE,
    REFER, NOTIFY ...): the application answers it (``SendResponse``)."""

    request: Request


@dataclass(frozen=True, slots=True)
class Ended:
    """The session (and its dialog) ended.  ``reason``: "BYE received",
    "BYE sent", "no ACK" (§13.3.1.4), "481" / "408" (§12.2.1.2), "CANCEL",
    "session expired" (RFC 4028 §10) ...; ``message`` the message that ended
    it, when one did."""

    reason: str
    message: Request | Response | None = None


DialogAction = (SendRequest | SendAck | SendResponse | Progress | Ringing | EarlyMedia
                | Answered | AckReceived | Failed | OfferReceived | AnswerReceived | Modified
                | ModifyFailed | RequestReceived | Ended)
