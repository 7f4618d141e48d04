"""What a transaction asks of its caller: the actions of RFC 3261 Figures 5-8.

Every method of a transaction returns a list of these.  They are small frozen
values; the caller performs them in order.  Each carries ``transaction``, the
transaction that produced it, so a caller driving many transactions through a
``TransactionLayer`` knows where to send (the transaction itself records
nothing about addresses or sockets: §17.1 has the TU choose the destination,
§18.2.2 the transport).  ``transaction`` takes no part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._frozen import quick_init
from ..message.message import Request, Response

if TYPE_CHECKING:
    from .base import Transaction
    from .table import Timer

__all__ = [
    "Action",
    "Deliver",
    "LoopDetected",
    "Retransmit",
    "Send",
    "Stray",
    "Terminated",
    "Timeout",
    "TransportFailure",
]


@quick_init
@dataclass(frozen=True, slots=True)
class Send:
    """Pass ``message`` to the transport layer: send ``bytes(message)``.

    Client side: to the address, port and transport the TU chose for the
    request (the ACK for a non-2xx goes to the same place, §17.1.1.3).
    Server side: per §18.2.2, over the connection the request came in on.
    """

    message: Request | Response
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass ``message`` up to the transaction user (a response to the UAC or
    proxy core; a new request, or an ACK for a 2xx, to the UAS or proxy core).

    ``transaction`` is None for an ACK that matched no server transaction: an
    ACK for a 2xx, which the core handles itself (§17.2.3, §13.3.1.4).
    """

    message: Request | Response
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Timeout:
    """The transaction timed out (``timer`` fired).

    Client side (Timer B, F) ``response`` is a synthetic 408 Request Timeout,
    built from the request, which the TU MUST treat as a received 408
    (§8.1.3.1).  Server side (Timer H: the ACK never came, §17.2.1) it is None.
    """

    timer: Timer
    response: Response | None = None
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class TransportFailure:
    """The transport could not send a message of this transaction.

    ``response`` is a synthetic 503 Service Unavailable when the TU of a client
    transaction has no final response yet (§8.1.3.1, §17.1.4); None when it
    has (INVITE client in Completed) and on the server side (§17.2.4 as
    amended by RFC 6026 §8.8: inform the TU, keep the state).
    """

    response: Response | None = None
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction reached "Terminated"; the caller forgets it (§17.1.1.2:
    destroyed "the instant it enters the Terminated state").  ``reason`` names
    the event that ended it (``"Timer D"``, ``"transport error"`` ...)."""

    reason: str
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Stray:
    """A response that matched no client transaction (§17.1.3).

    RFC 6026 §8.9: any element but a stateless proxy MUST silently discard
    it.  Returned, rather than dropped, only so the caller can count or log.
    """

    message: Response
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class LoopDetected:
    """A merged request (§8.2.2.2): no To tag, and From tag, Call-ID and CSeq
    equal those of an ongoing server transaction that it does not match.

    Returned instead of ``Deliver``.  ``transaction`` is the new server
    transaction created for the request; the UAS answers by passing
    ``response``, a ready 482 (Loop Detected), to it:
    ``action.transaction.send(action.response, now)``.
    """

    request: Request
    response: Response
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


@quick_init
@dataclass(frozen=True, slots=True)
class Retransmit:
    """Send ``data`` again to ``destination``: a retransmitted request matched a
    completed non-INVITE server transaction that its ``TransactionLayer``
    keeps only as the bytes of its final response and where they went
    (``TransactionLayer.retire``).  §17.2.2: "the server transaction MUST
    pass the final response to the transport layer for retransmission".

    ``destination`` is what the driver gave ``retire`` (its flow), or None:
    where this retransmission came from (the response went back where the
    request came from, RFC 3581 §4).  The transaction object is gone, so
    ``transaction`` is None.
    """

    data: bytes
    destination: object = field(default=None, compare=False)
    transaction: Transaction | None = field(default=None, compare=False, repr=False)


Action = (Send | Deliver | Timeout | TransportFailure | Terminated | Stray | LoopDetected
          | Retransmit)
