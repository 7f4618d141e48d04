"""SDP (RFC 4566) and the offer/answer model (RFC 3264), sans-I/O.

- ``model``: ``SessionDescription`` and ``MediaDescription``, read liberally
  and written back losslessly (``SessionDescription.parse``, ``bytes()``).
- ``attributes``: rtpmap, fmtp, direction (``Direction``), static payload types.
- ``capabilities``: ``Codec`` and ``MediaCapabilities``, what we offer and accept.
- ``negotiation``: ``make_offer``, ``answer`` and ``negotiate`` as pure
  functions, and the ``Negotiated`` result a media engine plugs into.
- ``offeranswer``: ``OfferAnswer``, one session's state table (RFC 3264 §4),
  o= versioning and hold, for the INVITE session to drive.
- ``errors``: ``SdpError`` (400), ``NotAcceptableHere`` (488),
  ``OfferAnswerError`` (491/500/400), each with ``status_code``.

See docs/sdp.md.
"""

from __future__ import annotations

from .attributes import DIRECTIONS, STATIC_PAYLOAD_TYPES, Direction, Fmtp, RtpMap
from .capabilities import (
    DEFAULT_CODECS,
    G722,
    OPUS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    MediaCapabilities,
)
from .errors import NotAcceptableHere, OfferAnswerError, SdpError
from .model import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    OtherLine,
    RepeatTime,
    SessionDescription,
    Timing,
    ZoneAdjustment,
)
from .negotiation import (
    MediaStream,
    Negotiated,
    NegotiatedCodec,
    answer,
    make_offer,
    negotiate,
    new_origin,
)
from .offeranswer import OfferAnswer, OfferAnswerState

__all__ = [
    "DEFAULT_CODECS",
    "DIRECTIONS",
    "G722",
    "OPUS",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "Attribute",
    "Bandwidth",
    "Codec",
    "Connection",
    "Direction",
    "Fmtp",
    "MediaCapabilities",
    "MediaDescription",
    "MediaStream",
    "Negotiated",
    "NegotiatedCodec",
    "NotAcceptableHere",
    "OfferAnswer",
    "OfferAnswerError",
    "OfferAnswerState",
    "Origin",
    "OtherLine",
    "RepeatTime",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "Timing",
    "ZoneAdjustment",
    "answer",
    "make_offer",
    "negotiate",
    "new_origin",
]
