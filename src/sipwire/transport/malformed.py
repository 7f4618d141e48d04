"""Answering a request that does not parse (RFC 3261 §8.2.2, §18.3, §21.4.1).

``parse()`` refused the message, but a server SHOULD still answer a request
with 400 (505 for a SIP version it does not support, 513 for one too large)
when it can tell where the answer goes and how the client matches it: the
Via, From, To, Call-ID and CSeq headers (§8.2.6.2).  This module reads those
five leniently from the raw bytes and builds the response; when one of them
cannot be recovered, or the message is a response or an ACK (which is never
answered, §17.1.1.3), there is nothing to do but drop it.
"""

from __future__ import annotations

import re

from ..message.errors import ParseError
from ..message.fields.base import HEADER_TYPES, Field
from ..message.fields.via import Via
from ..message.headers import Headers, header_key, split_list
from ..message.message import Response, new_tag
from ..message.parser import Limits
from ..message.status import Status

__all__ = ["error_response"]

_NEEDED = ("via", "from", "to", "call-id", "cseq")
_LINE_END_RE = re.compile(r"\r\n|\r|\n")
# Characters of reason-phrase (RFC 3261 §25.1) other than escapes and UTF-8.
_REASON_UNSAFE_RE = re.compile(r"[^A-Za-z0-9;/?:@&=+$,\-_.!~*'() ]+")
_MAX_REASON = 120


def error_response(data: bytes, error: ParseError, limits: Limits) -> Response | None:
    """The response to the unparsable request ``data``, or None to drop it.

    The status is ``error.status_code`` and the reason phrase tells what was
    wrong (``error.reason``, with the header concerned).
    """
    head = _header_section(data, limits)
    lines = _LINE_END_RE.split(head)
    while lines and not lines[0]:
        lines.pop(0)
    if not lines or lines[0][:4].upper() == "SIP/":
        return None  # a response is never answered (§18.3)
    if lines[0].partition(" ")[0].upper() == "ACK":
        return None
    found = _find_headers(lines[1:limits.max_headers + 1], limits)
    if found is None:
        return None
    vias, others = found
    cseq = others["cseq"]
    if cseq.method.upper() == "ACK":  # type: ignore[attr-defined]
        return None
    status = error.status_code if 100 <= error.status_code <= 699 else 400
    to = others["to"]
    if to.tag is None:  # type: ignore[attr-defined]
        to.tag = new_tag()  # type: ignore[attr-defined]
    headers = Headers()
    headers.add("Via", vias[0])
    for value in vias[1:]:
        headers.add("Via", value)
    headers.add("From", others["from"])
    headers.add("To", to)
    headers.add("Call-ID", others["call-id"])
    headers.add("CSeq", cseq)
    headers.add("Content-Length", "0")
    return Response(status, _reason(status, error), headers)


def _header_section(data: bytes, limits: Limits) -> str:
    data = data[:limits.max_message_size]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    if end >= 0:
        data = data[:end]
    return data.decode("utf-8", "replace")


def _find_headers(
    lines: list[str], limits: Limits
) -> tuple[list[Via | str], dict[str, Field]] | None:
    """The Via values (top one typed, the rest as text) and the other four, typed."""
    unfolded: list[str] = []
    for line in lines:
        if not line:
            break
        if line[0] in " \t" and unfolded:
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            unfolded.append(line)
    vias: list[Via | str] = []
    others: dict[str, Field] = {}
    for line in unfolded:
        if len(line) > limits.max_line_length:
            continue
        name, colon, value = line.partition(":")
        key = header_key(name.strip(" \t"))
        if not colon or key not in _NEEDED:
            continue
        value = value.strip(" \t")
        try:
            if key == "via":
                parts = split_list(value)
                if not vias:
                    vias.append(Via.parse(parts[0]))
                    vias.extend(p for p in parts[1:] if p)
                else:
                    vias.extend(p for p in parts if p)
            elif key not in others:
                others[key] = HEADER_TYPES[key].parse(value)
        except ParseError:
            if key == "via" and not vias:
                return None  # no top Via, no way to route the answer
            continue
    if not vias or len(others) != len(_NEEDED) - 1:
        return None
    return vias, others


def _reason(status: int, error: ParseError) -> str:
    detail = error.reason
    if error.header and not detail.startswith(error.header):
        detail = f"{error.header}: {detail}"
    detail = " ".join(_REASON_UNSAFE_RE.sub(" ", detail).split())[:_MAX_REASON]
    return detail or Status(status).phrase
