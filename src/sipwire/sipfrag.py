"""``message/sipfrag`` bodies (RFC 3420): a fragment of a SIP message.

``sipfrag = [ start-line ] *message-header [ CRLF [ message-body ] ]`` (§2).
REFER's NOTIFYs carry one whose start line is the status line of the
referred request's latest response, ``SIP/2.0 100 Trying`` or ``SIP/2.0 200
OK`` (RFC 3515 §2.4.5); that is what ``status_fragment`` writes and
``SipFrag.status`` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .message.abnf import REQUEST_LINE_RE, STATUS_LINE_RE
from .message.errors import ParseError
from .message.status import reason_phrase

__all__ = ["CONTENT_TYPE", "SipFrag", "status_fragment"]

#: the Content-Type REFER's NOTIFYs use (RFC 3515 §2.4.5, RFC 3420 §3)
CONTENT_TYPE = "message/sipfrag;version=2.0"
_RULE = "RFC 3420 §2"
# message-header = field-name HCOLON field-value (any header, as in RFC 3261 §7.3)
_HEADER_RE = re.compile(r"([!%'*+\-.0-9A-Z_`a-z~]+)[ \t]*:[ \t]*(.*)")


def status_fragment(status: int, reason: str | None = None) -> bytes:
    """The sipfrag of a bare status line: ``SIP/2.0 200 OK`` plus CRLF."""
    if not 100 <= status <= 699:
        raise ValueError(f"status code {status} is outside 100-699 (RFC 3261 §7.2)")
    if reason is None:
        reason = reason_phrase(status)
    return f"SIP/2.0 {status} {reason}\r\n".encode()


@dataclass(frozen=True, slots=True)
class SipFrag:
    """A parsed sipfrag: ``start_line`` (None when absent), ``headers`` as
    (name, value) pairs in order, and ``body``."""

    start_line: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"")

    @classmethod
    def parse(cls, data: bytes) -> SipFrag:
        text = data.decode("utf-8", "surrogateescape")
        head, sep, rest = text.partition("\r\n\r\n")
        if not sep and head.endswith("\r\n"):
            head = head[:-2]
        lines = re.sub(r"\r\n[ \t]+", " ", head).split("\r\n") if head else []
        start: str | None = None
        if lines and (STATUS_LINE_RE.fullmatch(lines[0]) or REQUEST_LINE_RE.fullmatch(lines[0])):
            start = lines.pop(0)
        headers: list[tuple[str, str]] = []
        for line in lines:
            m = _HEADER_RE.fullmatch(line)
            if m is None:
                raise ParseError(f"not a start line or header: {line[:60]!r}", rfc=_RULE)
            headers.append((m.group(1), m.group(2).strip(" \t")))
        return cls(start, tuple(headers), rest.encode("utf-8", "surrogateescape"))

    @property
    def status(self) -> int | None:
        """The status code of a fragment that starts with a status line."""
        if self.start_line is None:
            return None
        m = STATUS_LINE_RE.fullmatch(self.start_line)
        return int(m.group(2)) if m else None

    @property
    def reason(self) -> str | None:
        if self.start_line is None:
            return None
        m = STATUS_LINE_RE.fullmatch(self.start_line)
        return m.group(3) if m else None

    def __bytes__(self) -> bytes:
        lines = ([self.start_line] if self.start_line is not None else []) + [
            f"{name}: {value}" for name, value in self.headers]
        head = "".join(line + "\r\n" for line in lines)
        if self.body:
            return head.encode() + b"\r\n" + self.body
        return head.encode()
