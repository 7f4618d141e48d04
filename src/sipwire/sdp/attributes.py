"""The attributes offer/answer reads: rtpmap, fmtp, ptime and direction.

- ``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]``
  (RFC 4566 §6); for audio the encoding parameters are the channel count,
  1 when absent.
- ``a=fmtp:<format> <format specific parameters>`` (RFC 4566 §6); the
  parameters are kept as the text they are, ``parameters()`` splits the
  common ``name=value;name=value`` shape.
- ``a=ptime:<packet time>`` in milliseconds (RFC 4566 §6); ``maxptime`` too.
- ``a=sendrecv`` / ``sendonly`` / ``recvonly`` / ``inactive`` (RFC 4566 §6,
  RFC 3264 §5.1): at media level or session level, the media level winning,
  ``sendrecv`` when neither says.

Static payload types without an rtpmap take their meaning from the RTP/AVP
profile (RFC 3551 §6, Table 4 and 5): ``STATIC_PAYLOAD_TYPES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Self

from .errors import SdpError

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Direction",
    "Fmtp",
    "RtpMap",
]


class Direction(Enum):
    """A stream's direction attribute (RFC 3264 §5.1), from the writer's point of view."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """The writer of the SDP sends media on the stream."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """The writer of the SDP receives media on the stream."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        """The direction that sends and receives as given."""
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def reversed(self) -> Direction:
        """The same stream seen from the other end: sendonly <-> recvonly."""
        return Direction.of(self.receives, self.sends)

    def __and__(self, other: Direction) -> Direction:
        """What both allow: ``SENDRECV & SENDONLY`` is ``SENDONLY``."""
        return Direction.of(self.sends and other.sends, self.receives and other.receives)


#: attribute names that are direction attributes
DIRECTIONS: frozenset[str] = frozenset(d.value for d in Direction)

# RFC 4566 §6: "a=rtpmap:<payload type> <encoding name>/<clock rate> [/<encoding parameters>]"
_RTPMAP_RE = re.compile(r"\s*(\d{1,3})\s+([^/\s]+)/(\d+)(?:/(\S+))?\s*")
_FMTP_RE = re.compile(r"\s*(\S+)(?:\s+(.*?))?\s*")


@dataclass(frozen=True, slots=True)
class RtpMap:
    """One ``a=rtpmap`` value: payload type, encoding name, clock rate, channels.

    ``channels`` is the audio channel count (the ``<encoding parameters>``),
    1 when absent; ``str()`` omits it when it is 1, as RFC 4566 §6 allows,
    except for names that always carry it (opus is ``opus/48000/2``, RFC 7587).
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value after ``a=rtpmap:``; ``SdpError`` when it is not one."""
        m = _RTPMAP_RE.fullmatch(value)
        if m is None:
            raise SdpError(f"bad rtpmap {value!r}", rfc="RFC 4566 §6 rtpmap")
        pt, name, rate, params = m.groups()
        channels = 1
        if params is not None:
            if not params.isdigit() or int(params) == 0:
                raise SdpError(f"bad rtpmap channel count {params!r}", rfc="RFC 4566 §6 rtpmap")
            channels = int(params)
        if int(pt) > 127:
            raise SdpError(f"rtpmap payload type {pt} over 127", rfc="RFC 3550 §5.1")
        return cls(int(pt), name, int(rate), channels)

    @property
    def key(self) -> tuple[str, int, int]:
        """The codec whatever its payload type: name (lower case), rate, channels.

        Opus is always ``opus/48000/2`` (RFC 7587 §7) whatever channel count an
        rtpmap gives (some agents write ``opus/48000``).
        """
        name = self.encoding.lower()
        return (name, self.clock_rate, 2 if name == "opus" else self.channels)

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        if self.channels != 1 or self.encoding.lower() == "opus":
            text += f"/{self.channels}"
        return text


@dataclass(frozen=True, slots=True)
class Fmtp:
    """One ``a=fmtp`` value: the format it applies to and its parameter text."""

    format: str
    params: str

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value after ``a=fmtp:``; ``SdpError`` when it is empty."""
        m = _FMTP_RE.fullmatch(value)
        if m is None:
            raise SdpError(f"bad fmtp {value!r}", rfc="RFC 4566 §6 fmtp")
        return cls(m.group(1), m.group(2) or "")

    def parameters(self) -> dict[str, str]:
        """``name=value;name=value`` as a dict (names lower-cased; a bare name maps to "")."""
        result: dict[str, str] = {}
        for part in self.params.split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                result[name.strip().lower()] = value.strip()
        return result

    def __str__(self) -> str:
        return f"{self.format} {self.params}" if self.params else self.format


def _static(pt: int, name: str, rate: int, channels: int = 1) -> tuple[str, RtpMap]:
    return str(pt), RtpMap(pt, name, rate, channels)


#: RFC 3551 Tables 4 and 5: the payload types an SDP may use without an rtpmap
STATIC_PAYLOAD_TYPES: dict[str, RtpMap] = dict([
    _static(0, "PCMU", 8000), _static(3, "GSM", 8000), _static(4, "G723", 8000),
    _static(5, "DVI4", 8000), _static(6, "DVI4", 16000), _static(7, "LPC", 8000),
    _static(8, "PCMA", 8000), _static(9, "G722", 8000), _static(10, "L16", 44100, 2),
    _static(11, "L16", 44100), _static(12, "QCELP", 8000), _static(13, "CN", 8000),
    _static(14, "MPA", 90000), _static(15, "G728", 8000), _static(16, "DVI4", 11025),
    _static(17, "DVI4", 22050), _static(18, "G729", 8000), _static(25, "CelB", 90000),
    _static(26, "JPEG", 90000), _static(28, "nv", 90000), _static(31, "H261", 90000),
    _static(32, "MPV", 90000), _static(33, "MP2T", 90000), _static(34, "H263", 90000),
])
