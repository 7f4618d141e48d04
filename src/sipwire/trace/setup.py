"""The capture a command's flags ask for, and reading a trace file of any kind."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .capture import CaptureHub, TraceSink
from .hep import HepSender
from .pcap import PcapWriter, read_capture
from .record import TraceRecord
from .textlog import TextTraceWriter, read_trace

__all__ = ["open_capture", "read_records"]


def open_capture(*, text: BinaryIO | None = None, pcap: str | None = None,
                 hep: str | None = None, hep_id: int = 0) -> CaptureHub | None:
    """A hub writing the text trace to ``text``, a pcap file at ``pcap`` and
    HEPv3 to ``hep`` (``HOST:PORT``), each when given; None when none is.
    Raises ``OSError`` (a file that cannot be created, a name that does not
    resolve) or ``ValueError`` (a bad ``HOST:PORT``)."""
    sinks: list[TraceSink] = []
    try:
        if text is not None:
            sinks.append(TextTraceWriter(text))
        if pcap:
            try:
                sinks.append(PcapWriter.open(pcap))
            except OSError as exc:
                raise OSError(f"--pcap {pcap}: {exc.strerror or exc}") from exc
        if hep:
            try:
                sinks.append(HepSender.parse(hep, agent_id=hep_id))
            except OSError as exc:
                raise OSError(f"--hep {hep}: {exc.strerror or exc}") from exc
    except BaseException:
        for sink in sinks:
            if not isinstance(sink, TextTraceWriter):
                sink.close()
        raise
    return CaptureHub(sinks) if sinks else None


def read_records(path: str | Path) -> list[TraceRecord]:
    """The messages of a pcap, pcapng or text trace file (told apart by content)."""
    data = Path(path).read_bytes()
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                    b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"):
        return list(read_capture(data))
    return list(read_trace(data))
