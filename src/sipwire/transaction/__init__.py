"""RFC 3261 §17 transactions, with RFC 6026: sans-I/O state machines.

Events in (``start``, ``receive``, ``send``, ``transport_error``,
``handle_timer``, each with ``now``), actions out (``Send``, ``Deliver``,
``Timeout``, ``TransportFailure``, ``Terminated`` ...), deadlines from
``next_deadline()``.  ``TransactionLayer`` holds many and matches messages to
them.
"""

from .actions import (
    Action,
    Deliver,
    LoopDetected,
    Retransmit,
    Send,
    Stray,
    Terminated,
    Timeout,
    TransportFailure,
)
from .base import Transaction
from .client import (
    FIGURE_5,
    FIGURE_6,
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
    build_ack,
    build_cancel,
)
from .config import TimerConfig
from .layer import J_RESOLUTION, UNRELIABLE_TRANSPORTS, TransactionLayer
from .server import (
    FIGURE_7,
    FIGURE_8,
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from .table import Edge, Event, Guard, State, Timer

__all__ = [
    "FIGURE_5",
    "FIGURE_6",
    "FIGURE_7",
    "FIGURE_8",
    "J_RESOLUTION",
    "UNRELIABLE_TRANSPORTS",
    "Action",
    "ClientTransaction",
    "Deliver",
    "Edge",
    "Event",
    "Guard",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "LoopDetected",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "Retransmit",
    "Send",
    "ServerTransaction",
    "State",
    "Stray",
    "Terminated",
    "Timeout",
    "Timer",
    "TimerConfig",
    "Transaction",
    "TransactionLayer",
    "TransportFailure",
    "build_ack",
    "build_cancel",
]
