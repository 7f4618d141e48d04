"""SIP traces: the exact bytes of every message at the transport's edge.

- ``CaptureHub``: the hook set as ``TransportConfig.capture``; it stamps each
  message and hands a ``TraceRecord`` to its sinks;
- ``TextTraceWriter`` / ``read_trace``: the text trace of ``--trace``;
- ``PcapWriter`` / ``read_capture``: pcap files (``--pcap``), and pcap or
  pcapng files of other tools read back;
- ``HepSender`` / ``encode_hep3``: HEPv3 to Homer (``--hep``);
- ``open_capture``: the hub a command's flags ask for.
"""

from __future__ import annotations

from .capture import CaptureHub, TraceSink
from .hep import HepSender, encode_hep3
from .pcap import PcapError, PcapWriter, read_capture
from .record import TraceRecord
from .setup import open_capture, read_records
from .textlog import TextTraceWriter, read_trace

__all__ = ["CaptureHub", "HepSender", "PcapError", "PcapWriter", "TextTraceWriter",
           "TraceRecord", "TraceSink", "encode_hep3", "open_capture", "read_capture",
           "read_records", "read_trace"]
