"""What a phone saw on the wire, read back from its own log.

Each phone keeps the messages it sent and received as ``Observed`` values,
so a test can assert what *arrived at the far end* (RFC 3261 §12-§15: the
ACK reached the callee, the BYE reached the caller), not only the final
response the near end got.  baresip's SIP trace (``-s``) and SIPp's message
log (``-trace_msg``) are parsed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import sipwire
from sipwire import Request, Response


@dataclass(frozen=True)
class Observed:
    """One message a phone sent (``out``) or received (``in``) on ``transport``."""

    direction: str
    transport: str
    message: Request | Response

    @property
    def call_id(self) -> str:
        return self.message.call_id

    def describe(self) -> str:
        message = self.message
        arrow = "<-" if self.direction == "in" else "->"
        if isinstance(message, Request):
            first = f"{message.method} cseq={message.cseq.seq}"
            if message.to.tag is not None:
                first += " (in dialog)"
        else:
            first = f"{message.status} ({message.cseq.method} cseq={message.cseq.seq})"
        return f"{arrow} {self.transport} {first}"


Match = Callable[[Observed], bool]


def request(method: str, call_id: str | None = None, *, cseq: int | None = None,
            in_dialog: bool | None = None, direction: str = "in") -> Match:
    """Matches a ``method`` request (of the call ``call_id``) seen in ``direction``."""
    def match(seen: Observed) -> bool:
        message = seen.message
        if seen.direction != direction or not isinstance(message, Request):
            return False
        if message.method != method or (call_id is not None and message.call_id != call_id):
            return False
        if cseq is not None and message.cseq.seq != cseq:
            return False
        return in_dialog is None or (message.to.tag is not None) == in_dialog
    return match


def response(status: int | Collection[int], method: str, call_id: str, *,
             cseq: int | None = None, direction: str = "in") -> Match:
    """Matches a response to ``method`` of the call ``call_id`` seen in ``direction``."""
    wanted = {status} if isinstance(status, int) else set(status)

    def match(seen: Observed) -> bool:
        message = seen.message
        if seen.direction != direction or not isinstance(message, Response):
            return False
        if message.status not in wanted or message.call_id != call_id:
            return False
        if message.cseq.method != method:
            return False
        return cseq is None or message.cseq.seq == cseq
    return match


def summary(seen: list[Observed], call_id: str | None = None) -> str:
    """One line per message (of ``call_id``), for failure messages."""
    lines = [s.describe() for s in seen if call_id is None or s.call_id == call_id]
    return "; ".join(lines) if lines else "nothing"


def _parse(text: str) -> Request | Response | None:
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    try:
        return sipwire.parse(head + b"\r\n\r\n" + body)
    except sipwire.ParseError:
        # the body as logged may not be what Content-Length says (trailing newlines)
        try:
            return sipwire.parse(head + b"\r\n\r\n")
        except sipwire.ParseError:
            return None


# -- baresip -------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BARESIP_BLOCK = re.compile(
    r"^#\n(?P<transport>UDP|TCP|TLS) (?P<src>\S+) -> (?P<dst>\S+)\n(?P<message>.*?)(?=^#\n|\Z)",
    re.S | re.M)


def baresip_trace(path: Path, own_ports: Collection[int]) -> list[Observed]:
    """The messages in baresip's SIP trace (``baresip -s``).

    The trace does not say which way a message went; the top Via does: a
    request whose top Via names one of baresip's own ports (``own_ports``,
    its UDP/TCP and TLS listening ports) was sent by it, any other was
    received; for a response it is the other way round.
    """
    if not path.exists():
        return []
    text = _ANSI.sub("", path.read_text(errors="replace")).replace("\r\n", "\n")
    seen: list[Observed] = []
    for block in _BARESIP_BLOCK.finditer(text):
        message = _parse(_trace_message(block["message"]))
        if message is None or not message.via:
            continue
        ours = message.via[0].port in own_ports
        outgoing = ours if isinstance(message, Request) else not ours
        seen.append(Observed("out" if outgoing else "in", block["transport"], message))
    return seen


def _trace_message(text: str) -> str:
    """A traced message without baresip's own log lines printed after it."""
    head, sep, rest = text.partition("\n\n")
    if not sep:
        return text.rstrip("\n") + "\n\n"
    length = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.M | re.I)
    body = rest[: int(length.group(1))] if length else ""
    return f"{head}\n\n{body}"


# -- SIPp ----------------------------------------------------------------------------------

_SIPP_BLOCK = re.compile(
    r"^(?P<transport>UDP|TCP|TLS|SCTP) message (?P<verb>received|sent) "
    r"(?:\[\d+\] bytes :|\(\d+ bytes\):)\n\n"
    r"(?P<message>.*?)(?=^-{20,} |\Z)", re.S | re.M)


def sipp_messages(path: Path) -> list[Observed]:
    """The messages in a SIPp message log (``-trace_msg -message_file``)."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace").replace("\r\n", "\n")
    seen: list[Observed] = []
    for block in _SIPP_BLOCK.finditer(text):
        message = _parse(_trace_message(block["message"].strip("\n") + "\n"))
        if message is None:
            continue
        direction = "in" if block["verb"] == "received" else "out"
        seen.append(Observed(direction, block["transport"], message))
    return seen
