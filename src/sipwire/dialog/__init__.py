"""RFC 3261 §12 dialogs and §13-15 INVITE sessions, sans-I/O.

Nothing here reads a clock, opens a socket or imports asyncio.  The shape of
the API, for a driver (``sipwire.ua``):

- ``Dialog`` (§12): created with ``Dialog.uac(request, response)`` or
  ``Dialog.uas(request, response)``; ``create_request(method, ...)`` and
  ``ack(invite, response)`` build requests within it; ``receive_request(request)``
  returns a ready 500/481 or None; ``receive_response(request, response)`` and
  ``send_response(request, response)`` move its state (``DialogState``).
- ``DialogStore``: dialogs by ``DialogId``; ``receive(request)`` returns the
  ``Dialog`` a request belongs to, None (out of dialog) or a ready 481.
- ``DialogSet``: the dialogs of one forking INVITE; ``receive_response(response)``
  returns a ``ForkResponse`` (outcome, dialog, and for the 2xx of an extra fork
  its ``SendAck`` and ``SendRequest`` BYE).

Actions (``actions``) are frozen values: ``SendRequest`` (start a client
transaction and feed its responses back), ``SendAck`` (to the transport
directly), ``SendResponse`` (to the server transaction of its request), and
events for the application (``Ringing``, ``Answered``, ``Ended`` ...).
"""

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
from .dialog import (
    DIALOG_TABLE,
    TARGET_REFRESH_METHODS,
    Dialog,
    DialogEdge,
    DialogError,
    DialogId,
    DialogState,
    build_2xx_ack,
    build_in_dialog_request,
)
from .dialogset import DialogSet, ForkOutcome, ForkResponse
from .store import DialogStore

__all__ = [
    "DIALOG_TABLE",
    "TARGET_REFRESH_METHODS",
    "AckReceived",
    "AnswerReceived",
    "Answered",
    "Dialog",
    "DialogAction",
    "DialogEdge",
    "DialogError",
    "DialogId",
    "DialogSet",
    "DialogState",
    "DialogStore",
    "EarlyMedia",
    "Ended",
    "Failed",
    "ForkOutcome",
    "ForkResponse",
    "Modified",
    "ModifyFailed",
    "OfferReceived",
    "Progress",
    "RequestReceived",
    "Ringing",
    "SendAck",
    "SendRequest",
    "SendResponse",
    "build_2xx_ack",
    "build_in_dialog_request",
]
