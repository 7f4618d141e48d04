"""One SIP message as it crossed the wire: the unit every trace format holds."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ..transport.base import Address, Transport

__all__ = ["TraceRecord", "format_time", "is_sip_payload"]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """The exact bytes of one message, who sent them to whom, when, and how.

    ``time`` is POSIX seconds.  ``sent`` is True for a message this element
    sent (``source`` is then our address), False for one it received, None
    when not known (a capture read back from a pcap file).  ``stream`` names
    the connection of a reliable transport, so that writers of TCP keep one
    sequence space per connection; ``inbound`` is True when the peer opened
    it (None: not known, or UDP).
    """

    time: float
    transport: Transport
    source: Address
    destination: Address
    data: bytes
    sent: bool | None = None
    stream: int | None = None
    inbound: bool | None = None

    @property
    def direction(self) -> str:
        """``sent``, ``recv``, or ``seen`` (neither: a third party's capture)."""
        return "seen" if self.sent is None else ("sent" if self.sent else "recv")


def is_sip_payload(data: bytes) -> bool:
    """A SIP message, not a CRLF keep-alive (RFC 5626 §3.5.1) nor a STUN
    message (whose first byte is 0 or 1, RFC 5626 §8)."""
    return bool(data) and data[0] >= 2 and bool(data.strip(b"\r\n\0 \t"))


def format_time(when: float) -> str:
    """``2024-05-01T12:00:00.123456Z``: UTC, to the microsecond."""
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
