"""What ``sipwire serve`` tells its operator: log lines and the SIP trace.

Log lines go to standard error through ``logging``, one per transaction at
info level, as ``key=value`` pairs that a shell or a log shipper can split::

    2024-05-01 12:00:00,123 INFO sipwire.server: method=INVITE status=200
    call_id=a84b4c76e6@pc33 branch=z9hG4bK776asdhds from=sip:alice@example.com
    to=sip:bob@example.com source=udp:192.0.2.20:5060 duration_ms=812.4

A line about a message carries its ``call_id``, ``branch`` (the transaction,
§17), ``source`` and ``method`` (``message_fields``, passed as the record's
``sip`` attribute); a text line that does not already say them gets them
appended.  ``--log-format json`` writes one JSON object per line instead:
``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, those fields,
and ``exception`` when there is a traceback.  ``--log-file PATH`` appends to
a file (reopened when moved, as by logrotate), ``--log-file syslog:`` sends to
the local syslog (``/dev/log``; ``syslog:SOCKET`` to another Unix socket).

``--trace`` writes every SIP message received and sent, with its direction,
transport and addresses, to standard error, whatever the log level.

Lines about what a stranger sent (a refused request, say) pass through a
:class:`SourceLimiter`, so that the sender does not choose the log volume.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import sys
import time
from collections import OrderedDict
from typing import Any, TextIO

from ..message.errors import ParseError
from ..message.message import Request, Response
from ..transport.base import Flow

__all__ = ["JsonFormatter", "SourceLimiter", "TextFormatter", "Tracer", "configure_logging",
           "kv", "log", "log_transaction", "message_fields"]

log = logging.getLogger("sipwire.server")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure_logging(level: str, stream: TextIO | None = None, *, format: str = "text",
                      file: str = "") -> None:
    """Log ``level`` and above of every sipwire logger to standard error (or
    ``stream``), or to ``file`` (a path, ``syslog:`` or ``syslog:SOCKET``), as
    ``format`` (``text`` or ``json``).  ``OSError`` when the file or syslog
    socket cannot be opened."""
    handler: logging.Handler
    syslog = file.startswith("syslog:")
    if syslog:
        address = file[len("syslog:"):] or "/dev/log"
        # SysLogHandler ignores a socket it cannot connect to, then reports a
        # logging error for every line: a probe makes that an OSError now
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
        handler = logging.handlers.SysLogHandler(
            address=address, socktype=socket.SOCK_DGRAM,
            facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.ident = f"sipwire[{os.getpid()}]: "
    elif file:
        handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter: logging.Formatter
    if format == "json":
        formatter = JsonFormatter()
    elif syslog:  # syslog stamps the time itself
        formatter = TextFormatter("%(levelname)s %(name)s: %(message)s")
    else:
        formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger("sipwire")
    for old in root.handlers:
        old.close()
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


def message_fields(message: Request | Response, flow: Flow | None = None) -> dict[str, str]:
    """What identifies a message in a log line: ``call_id``, ``branch`` (of the
    top Via: the transaction, §17.2.3), ``source`` (``transport:host:port`` of
    ``flow``'s far end, else the top Via's sent-by) and ``method`` (the CSeq's
    for a response).  A header that does not parse is ``-``."""
    fields: dict[str, str] = {}
    try:
        fields["call_id"] = message.call_id
    except (ParseError, AttributeError):
        fields["call_id"] = "-"
    try:
        via = message.top_via
        fields["branch"] = via.branch or "-"
    except ParseError:
        via = None
        fields["branch"] = "-"
    if flow is not None:
        fields["source"] = f"{flow.transport.lower()}:{flow.remote}"
    elif via is not None:
        fields["source"] = f"{str(via.transport).lower()}:{via.received or via.host}"
    else:
        fields["source"] = "-"
    if isinstance(message, Request):
        fields["method"] = message.method
    else:
        try:
            fields["method"] = message.cseq.method
        except ParseError:
            fields["method"] = "-"
    return fields


def log_transaction(request: Request, response: Response, duration: float,
                    flow: Flow | None) -> None:
    """One line for a server transaction that got its final response (§17.2)."""
    fields = message_fields(request, flow)
    log.info("method=%s status=%d call_id=%s branch=%s from=%s to=%s source=%s "
             "duration_ms=%.1f", kv(request.method), response.status, kv(fields["call_id"]),
             kv(fields["branch"]), kv(_uri(request, "from")), kv(_uri(request, "to")),
             fields["source"], duration * 1000,
             extra={"sip": {**fields, "status": response.status,
                            "duration_ms": round(duration * 1000, 1)}})


class TextFormatter(logging.Formatter):
    """``logging.Formatter``, with the ``sip`` fields of a record that its
    message does not already say appended as ``key=value``."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        sip: dict[str, Any] | None = getattr(record, "sip", None)
        if not sip:
            return text
        message = record.message
        extra = [f"{key}={kv(value)}" for key, value in sip.items()
                 if f"{key}=" not in message]
        return f"{text} {' '.join(extra)}" if extra else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docs)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        sip: dict[str, Any] | None = getattr(record, "sip", None)
        if sip:
            entry.update(sip)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


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
