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
- ``InviteSession`` (§13-15, RFC 3311): ``InviteSession.uac(invite, media=...)``
  or ``InviteSession.uas(invite, contact=..., media=...)``, then ``start(now)``.
  Every input returns a list of actions: ``receive_request(request, now)``,
  ``receive_response(response, now)``, ``handle_timer(now)`` (when
  ``next_deadline()`` comes), and the commands ``provisional``, ``answer``,
  ``reject`` (callee), ``cancel`` (caller), ``bye``, ``reinvite``, ``hold``,
  ``unhold``, ``update``, ``send_request``.  ``media`` is any ``OfferAnswer``
  (``sipwire.sdp.OfferAnswer``); ``rel100`` (RFC 3262) and ``session_timer``
  (RFC 4028) compose PRACK and session refreshes in.  The driver performs
  each ``SendRequest`` in a client transaction and feeds every response of
  it (a timeout as the synthetic 408) to ``receive_response``; it passes the
  in-dialog requests (ACK and the CANCEL of the INVITE included) to
  ``receive_request``, and 2xx retransmissions to ``receive_response`` too.
- Helpers: ``check_content`` (415), ``check_require`` (420),
  ``not_acceptable_here`` (488); ``TargetSet`` and ``redirected_request`` to
  follow a 3xx (§8.1.3.4); ``glare_backoff`` (§14.1).
- Usages and extensions, each its own sans-I/O table: ``ReliableProvisionals``
  and ``ReceivedProvisionals`` (RFC 3262, ``prack``), ``SessionTimer`` (RFC
  4028), ``Subscriber`` and ``Notifier`` with the ``EventPackages`` registry
  (RFC 6665), ``ReferNotifier``, ``build_refer`` and ``match_replaces`` (RFC
  3515, 3891).

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
from .checks import check_content, check_require, not_acceptable_here
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
from .events import MESSAGE_SUMMARY, EventPackage, EventPackages, MessageCounts, MessageSummary
from .events import REFER as REFER_PACKAGE
from .invite import (
    MODIFY_TABLE,
    SESSION_TABLE,
    InviteSession,
    ModifyEdge,
    ModifyEvent,
    ModifyState,
    Role,
    SessionEdge,
    SessionError,
    SessionEvent,
    SessionState,
    glare_backoff,
)
from .negotiation import OfferAnswer, OfferState
from .prack import (
    PRACK_UAS_TABLE,
    Acknowledged,
    GaveUp,
    PrackAction,
    ProvisionalKind,
    ReceivedProvisionals,
    Rel100,
    Rel100Decision,
    ReliableProvisionals,
    ReliableState,
    SendFinal,
    SendPrackResponse,
    SendProvisional,
    has_option_tag,
    rack_for,
    uac_option_tags,
    uas_decision,
)
from .redirect import TargetSet, redirected_request
from .refer import (
    ReferNotifier,
    ReferTarget,
    ReplacesMatch,
    build_refer,
    match_replaces,
    progress_status,
    refer_to,
    replaces_for,
)
from .session_timer import (
    SESSION_TIMER_TABLE,
    Expired,
    Refresh,
    Retry,
    SessionTimer,
    SessionTimerAction,
    SessionTimerConfig,
    TimerState,
    bye_margin,
)
from .store import DialogStore
from .subscription import (
    NOTIFIER_TABLE,
    SUBSCRIBER_TABLE,
    Notified,
    Notifier,
    NotifierState,
    Subscriber,
    SubscriberState,
    SubscriptionAction,
    SubscriptionEnded,
    Subscriptions,
    retry_delay,
)

__all__ = [
    "DIALOG_TABLE",
    "MODIFY_TABLE",
    "SESSION_TABLE",
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
    "InviteSession",
    "Modified",
    "ModifyEdge",
    "ModifyEvent",
    "ModifyFailed",
    "ModifyState",
    "OfferAnswer",
    "OfferReceived",
    "OfferState",
    "Progress",
    "RequestReceived",
    "Ringing",
    "Role",
    "SendAck",
    "SendRequest",
    "SendResponse",
    "SessionEdge",
    "SessionError",
    "SessionEvent",
    "SessionState",
    "TargetSet",
    "build_2xx_ack",
    "build_in_dialog_request",
    "check_content",
    "check_require",
    "glare_backoff",
    "not_acceptable_here",
    "redirected_request",
]
__all__ += [
    "MESSAGE_SUMMARY",
    "NOTIFIER_TABLE",
    "PRACK_UAS_TABLE",
    "REFER_PACKAGE",
    "SESSION_TIMER_TABLE",
    "SUBSCRIBER_TABLE",
    "Acknowledged",
    "EventPackage",
    "EventPackages",
    "Expired",
    "GaveUp",
    "MessageCounts",
    "MessageSummary",
    "Notified",
    "Notifier",
    "NotifierState",
    "PrackAction",
    "ProvisionalKind",
    "ReceivedProvisionals",
    "ReferNotifier",
    "ReferTarget",
    "Refresh",
    "Rel100",
    "Rel100Decision",
    "ReliableProvisionals",
    "ReliableState",
    "ReplacesMatch",
    "Retry",
    "SendFinal",
    "SendPrackResponse",
    "SendProvisional",
    "SessionTimer",
    "SessionTimerAction",
    "SessionTimerConfig",
    "Subscriber",
    "SubscriberState",
    "SubscriptionAction",
    "SubscriptionEnded",
    "Subscriptions",
    "TimerState",
    "build_refer",
    "bye_margin",
    "has_option_tag",
    "match_replaces",
    "progress_status",
    "rack_for",
    "refer_to",
    "replaces_for",
    "retry_delay",
    "uac_option_tags",
    "uas_decision",
]
