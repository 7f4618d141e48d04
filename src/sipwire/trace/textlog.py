"""The text trace of ``--trace`` and ``listen --raw``, and its reader.

Each message is a header line, then its bytes exactly as they crossed the
wire (CRLFs and all), then one line feed::

    --- 2024-05-01T12:00:00.123456Z recv UDP 192.0.2.20:5060 -> 192.0.2.1:5060 (412 bytes)
    REGISTER sip:example.com SIP/2.0
    ...

The header gives the time (UTC), the direction (``recv``, ``sent``), the
transport, the sender and the receiver, and the byte count, by which
``read_trace`` takes the message back whole.  Anything between messages
(log lines written to the same standard error) is skipped by the reader.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from typing import BinaryIO

from ..transport.base import Address, Transport, normalize_ip
from .record import TraceRecord, format_time

__all__ = ["TextTraceWriter", "format_header", "read_trace"]

_HEADER_RE = re.compile(
    rb"--- (\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z (recv|sent|seen) "
    rb"(UDP|TCP|TLS|WS|WSS) (\S+) -> (\S+) \((\d+) bytes\)\n")


def format_header(record: TraceRecord) -> str:
    """The header line of ``record``, without its line feed."""
    return (f"--- {format_time(record.time)} {record.direction} {record.transport} "
            f"{record.source} -> {record.destination} ({len(record.data)} bytes)")


class TextTraceWriter:
    """Writes each record to a binary stream (standard error's ``buffer``), flushed."""

    __slots__ = ("stream",)

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, record: TraceRecord) -> None:
        self.stream.write(format_header(record).encode("ascii") + b"\n" + record.data + b"\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def __repr__(self) -> str:
        return f"<text trace to {getattr(self.stream, 'name', self.stream)!r}>"


def _address(text: bytes) -> Address:
    host, _, port = text.decode("ascii").rpartition(":")
    return Address(normalize_ip(host), int(port))


def read_trace(data: bytes) -> Iterator[TraceRecord]:
    """The records of a text trace, in order, each with its exact bytes."""
    pos = 0
    while True:
        m = _HEADER_RE.search(data, pos)
        if m is None:
            return
        if m.start() and data[m.start() - 1:m.start()] != b"\n":
            pos = m.start() + 1  # "--- " inside a line is no header
            continue
        year, month, day, hour, minute, second, micro = (int(g) for g in m.groups()[:7])
        when = calendar.timegm((year, month, day, hour, minute, second)) + micro / 1e6
        direction = m.group(8)
        size = int(m.group(12))
        body = data[m.end():m.end() + size]
        yield TraceRecord(when, Transport(m.group(9).decode()), _address(m.group(10)),
                          _address(m.group(11)), body,
                          None if direction == b"seen" else direction == b"sent")
        pos = m.end() + size
