"""The capture hook: the transport layer's edge, fanned out to trace sinks.

``CaptureHub`` is what ``TransportConfig.capture`` is set to.  The transport
calls it with the exact bytes of every message it receives or sends (see
``transport.config.Capture``); it stamps them with the wall clock once and
hands a ``TraceRecord`` to each sink: the text trace of ``--trace``, a pcap
file (``--pcap``), a HEP collector (``--hep``).  When nothing is traced the
transport holds None and pays one None check per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ..transport.base import Flow
from .record import TraceRecord, is_sip_payload

__all__ = ["CaptureHub", "TraceSink"]

logger = logging.getLogger("sipwire.trace")


class TraceSink(Protocol):
    """Where records go: a text log, a pcap file, a HEP collector."""

    def write(self, record: TraceRecord) -> None:
        """Take one record; must not block the event loop for long."""

    def close(self) -> None:
        """Flush and release what the sink holds."""


class CaptureHub:
    """Turns the transport's ``received``/``sent`` calls into records for ``sinks``.

    Keep-alives and STUN are not SIP messages and are left out.  A sink that
    fails is logged (once) and dropped, so that a full disk or a collector
    gone away never stops SIP traffic.  ``clock`` gives POSIX seconds.
    """

    __slots__ = ("_clock", "sinks")

    def __init__(self, sinks: Iterable[TraceSink], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.sinks = list(sinks)
        self._clock = clock

    def received(self, flow: Flow, data: bytes) -> None:
        self._record(flow, data, sent=False)

    def sent(self, flow: Flow, data: bytes) -> None:
        self._record(flow, data, sent=True)

    def _record(self, flow: Flow, data: bytes, *, sent: bool) -> None:
        if not is_sip_payload(data):
            return
        conn = flow.connection
        source, destination = (flow.local, flow.remote) if sent else (flow.remote, flow.local)
        record = TraceRecord(
            self._clock(), flow.transport, source, destination, bytes(data), sent,
            stream=id(conn) if conn is not None else None,
            inbound=conn.inbound if conn is not None else None)
        for sink in list(self.sinks):
            try:
                sink.write(record)
            except Exception as exc:
                logger.error("trace: %s failed and is turned off: %s", sink, exc)
                self.sinks.remove(sink)

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                logger.error("trace: closing %s failed: %s", sink, exc)
        self.sinks.clear()
