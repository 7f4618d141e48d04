"""What ``sipwire serve`` tells its operator: log lines and the SIP trace.

Log lines go to standard error through ``logging``, one per transaction at
info level, as ``key=value`` pairs that a shell or a log shipper can split::

    2024-05-01 12:00:00,123 INFO sipwire.server: method=INVITE status=200
    call_id=a84b4c76e6@pc33 from=sip:alice@example.com to=sip:bob@example.com
    source=udp:192.0.2.20:5060 duration_ms=812.4

``--trace`` writes every SIP message received and sent, with its direction,
transport and addresses, to standard error, whatever the log level.

Lines about what a stranger sent (a refused request, say) pass through a
:class:`SourceLimiter`, so that the sender does not choose the log volume.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from typing import TextIO

from ..message.errors import ParseError
from ..message.message import Request, Response
from ..transport.base import Flow

__all__ = ["SourceLimiter", "Tracer", "configure_logging", "kv", "log", "log_transaction"]

log = logging.getLogger("sipwire.server")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Log ``level`` and above of every sipwire logger to standard error."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sipwire")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    root.propagate = False


def kv(value: object) -> str:
    """A value as written after ``key=``: quoted when it holds a space, quote or ``=``."""
    text = str(value)
    if not text or any(c in text for c in ' "=\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _uri(request: Request, name: str) -> str:
    try:
        return str((request.from_ if name == "from" else request.to).uri)
    except ParseError:
        return "-"


def log_transaction(request: Request, response: Response, duration: float,
                    flow: Flow | None) -> None:
    """One line for a server transaction that got its final response (§17.2)."""
    source = f"{flow.transport.lower()}:{flow.remote}" if flow is not None else "-"
    log.info("method=%s status=%d call_id=%s from=%s to=%s source=%s duration_ms=%.1f",
             kv(request.method), response.status, kv(request.call_id),
             kv(_uri(request, "from")), kv(_uri(request, "to")), source, duration * 1000)


class Tracer:
    """Writes each SIP message with its direction, transport and addresses (``--trace``)."""

    __slots__ = ("stream",)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def received(self, message: Request | Response, flow: Flow) -> None:
        self._write("recv", bytes(message), flow.transport, f"{flow.remote} -> {flow.local}")

    def sent(self, message: Request | Response | bytes, flow: Flow) -> None:
        data = message if isinstance(message, bytes) else bytes(message)
        self._write("sent", data, flow.transport, f"{flow.local} -> {flow.remote}")

    def _write(self, direction: str, data: bytes, transport: str, path: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        text = data.decode("utf-8", "replace").replace("\r\n", "\n")
        self.stream.write(f"--- {stamp} {direction} {transport} {path} ({len(data)} bytes)\n"
                          f"{text}{'' if text.endswith(chr(10)) else chr(10)}\n")
        self.stream.flush()


class SourceLimiter:
    """Lets through one log line per source per ``interval`` seconds, and at
    most ``max_lines`` per interval over all sources.

    :meth:`allow` says whether a line may be written now, and how many lines
    of that source were held back since its last one, for the line to say
    so.  A source is any key (an address, or ``"ban 192.0.2.7"``).  Memory is
    bounded: the ``max_sources`` most recently seen sources are remembered, so
    an attacker spraying addresses gets its lines cut by ``max_lines`` (and
    the counts of forgotten sources are lost).  ``now`` is seconds on any
    clock; nothing here reads one.
    """

    __slots__ = ("_lines", "_sources", "_start", "interval", "max_lines", "max_sources")

    def __init__(self, interval: float = 10.0, *, max_lines: int = 100,
                 max_sources: int = 4096) -> None:
        if interval <= 0 or max_lines < 1 or max_sources < 1:
            raise ValueError("need interval > 0, max_lines >= 1 and max_sources >= 1")
        self.interval = interval
        self.max_lines = max_lines
        self.max_sources = max_sources
        #: source -> [time of its last line, lines held back since]
        self._sources: OrderedDict[str, list[float]] = OrderedDict()
        self._start = float("-inf")  # of the current interval of the overall budget
        self._lines = 0

    def allow(self, source: str, now: float) -> int | None:
        """None: hold this line back (it is counted).  Otherwise write it: the
        number of lines of ``source`` held back since its previous one."""
        entry = self._sources.get(source)
        if entry is None:
            entry = self._sources[source] = [float("-inf"), 0]
            while len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        if now - self._start >= self.interval:
            self._start, self._lines = now, 0
        if now - entry[0] < self.interval or self._lines >= self.max_lines:
            entry[1] += 1
            return None
        self._lines += 1
        held = int(entry[1])
        entry[0], entry[1] = now, 0
        return held

    def __len__(self) -> int:
        """The sources remembered."""
        return len(self._sources)
