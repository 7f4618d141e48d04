"""What a user agent can send and receive: ``Codec`` and ``MediaCapabilities``.

The defaults are what a SIP engineer expects of a softphone today: Opus
(RFC 7587, ``opus/48000/2``, in-band FEC), G.722, G.711 µ-law and A-law at
their static payload types (RFC 3551), and DTMF as ``telephone-event``
(RFC 4733, events 0-16), 20 ms packets, plain ``RTP/AVP``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .attributes import Direction, RtpMap

__all__ = [
    "DEFAULT_CODECS",
    "G722",
    "OPUS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Codec",
    "MediaCapabilities",
]


@dataclass(frozen=True, slots=True)
class Codec:
    """A codec we can use: encoding name, RTP clock rate, channels, fmtp.

    ``payload_type`` is the static payload type (0-95) or the dynamic one
    (96-127) we put in our offers; an answer keeps the offerer's number.
    """

    name: str
    rate: int
    channels: int = 1
    payload_type: int | None = None
    fmtp: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """Name (case-insensitive), rate and channels: what makes two codecs the same."""
        return (self.name.lower(), self.rate, self.channels)

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 DTMF events rather than audio."""
        return self.name.lower() == "telephone-event"

    def matches(self, rtpmap: RtpMap) -> bool:
        """``rtpmap`` describes this codec (``RtpMap.key``: name, rate and channels)."""
        return rtpmap.key == self.key

    def rtpmap(self, payload_type: int) -> RtpMap:
        """This codec's rtpmap at ``payload_type``."""
        return RtpMap(payload_type, self.name, self.rate, self.channels)


PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
#: G.722's RTP clock rate is 8000 although it samples at 16 kHz (RFC 3551 §4.5.2)
G722 = Codec("G722", 8000, payload_type=9)
OPUS = Codec("opus", 48000, 2, payload_type=111, fmtp="useinbandfec=1")
#: the clock rate is a placeholder: telephone-event is offered and accepted at
#: the rate of each audio codec (RFC 4733 §2.5.1.2)
TELEPHONE_EVENT = Codec("telephone-event", 8000, payload_type=101, fmtp="0-16")
DEFAULT_CODECS: tuple[Codec, ...] = (OPUS, G722, PCMU, PCMA, TELEPHONE_EVENT)


@dataclass(frozen=True, slots=True)
class MediaCapabilities:
    """What we offer and accept: one stream of ``media`` at ``address``:``port``.

    ``codecs`` are in order of preference.  ``direction`` is what we want when
    not on hold.  ``protos`` are the transport protocols we can do (an offered
    stream with another one, SRTP's ``RTP/SAVP`` say, is refused).  ``username``
    and ``session_name`` go in ``o=`` and ``s=`` (RFC 3264 §5 recommends ``-``).
    """

    address: str
    port: int
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    direction: Direction = Direction.SENDRECV
    ptime: int | None = 20
    media: str = "audio"
    protos: tuple[str, ...] = ("RTP/AVP",)
    username: str = "-"
    session_name: str = "-"

    @property
    def audio_codecs(self) -> tuple[Codec, ...]:
        """The codecs that are not telephone-event."""
        return tuple(c for c in self.codecs if not c.is_telephone_event)

    @property
    def telephone_event(self) -> Codec | None:
        """Our telephone-event codec, if we do DTMF events."""
        return next((c for c in self.codecs if c.is_telephone_event), None)

    def accepts_proto(self, proto: str) -> bool:
        """``proto`` is one of ours (compared case-insensitively)."""
        return proto.upper() in (p.upper() for p in self.protos)
