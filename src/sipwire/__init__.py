"""sipwire: a SIP (RFC 3261) stack and server for asyncio.

The message layer is re-exported here::

    >>> import sipwire
    >>> msg = sipwire.parse(data)           # Request or Response
    >>> msg.via[0].branch, msg.cseq.seq, msg.call_id
"""

from ._build import BUILD
from .message.errors import MessageTooLarge, ParseError, UnsupportedVersion
from .message.fields.base import Field, register
from .message.fields.cseq import CSeq
from .message.fields.nameaddr import Contact, NameAddr, RouteAddr
from .message.fields.via import Via
from .message.headers import Headers
from .message.lint import Finding, lint
from .message.message import Message, Request, Response, new_branch, new_call_id, new_tag
from .message.parser import (
    DEFAULT_LIMITS,
    BadMessage,
    KeepAlive,
    Limits,
    StreamEvent,
    StreamParser,
    parse,
)
from .message.status import Status, StatusClass
from .message.uri import URI

__version__ = "0.1.0"

__all__ = [
    "BUILD",
    "DEFAULT_LIMITS",
    "URI",
    "BadMessage",
    "CSeq",
    "Contact",
    "Field",
    "Finding",
    "Headers",
    "KeepAlive",
    "Limits",
    "Message",
    "MessageTooLarge",
    "NameAddr",
    "ParseError",
    "Request",
    "Response",
    "RouteAddr",
    "Status",
    "StatusClass",
    "StreamEvent",
    "StreamParser",
    "UnsupportedVersion",
    "Via",
    "__version__",
    "lint",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse",
    "register",
]
