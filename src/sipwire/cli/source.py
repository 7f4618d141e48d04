"""Reading a SIP message from a file or standard input, as the CLI does."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["read_message"]


def read_message(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for standard input), line endings made CRLF.

    Messages saved by editors often have LF line endings.  They are converted
    with a warning on standard error: the header section always, the body
    only when that makes it match Content-Length.
    """
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return normalise_line_endings(data, path)


def normalise_line_endings(data: bytes, label: str = "-") -> bytes:
    if b"\r\n\r\n" in data or b"\n" not in data:
        return data
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        head, body = data, b""
    if b"\r\n" in head and b"\n" not in head.replace(b"\r\n", b""):
        return data
    print(f"sipwire: warning: {label}: LF line endings converted to CRLF (RFC 3261 §7)",
          file=sys.stderr)
    new_head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    crlf_body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    length = _content_length(new_head)
    if length is not None and length == len(body) and length != len(crlf_body):
        new_body = body
    elif length is not None and length < len(crlf_body) and body.endswith(b"\n") and \
            len(crlf_body) - 2 == length:
        new_body = crlf_body[:-2]
    else:
        new_body = crlf_body
    return new_head + b"\r\n\r\n" + new_body


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None
