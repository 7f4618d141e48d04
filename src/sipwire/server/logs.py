"""What ``sipwire serve`` tells its operator: log lines and the SIP trace.

Log lines go to standard error through ``logging``, one per transaction at
info level, as ``key=value`` pairs that a shell or a log shipper can split::

    2024-05-01 12:00:00,123 INFO sipwire.server: method=INVITE status=200
    call_id=a84b4c76e6@pc33 from=sip:alice@example.com to=sip:bob@example.com
    source=udp:192.0.2.20:5060 duration_ms=812.4

``--trace`` writes every SIP message received and sent, with its direction,
transport and addresses, to standard error, whatever the log level.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from ..message.errors import ParseError
from ..message.message import Request, Response
from ..transport.base import Flow

__all__ = ["Tracer", "configure_logging", "kv", "log", "log_transaction"]

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
