"""Parsing SIP messages: ``parse()`` for a datagram, ``StreamParser`` for a
TCP/TLS/WebSocket byte stream (RFC 3261 §7, §18.3).

``parse()`` frames the message, indexes the header lines and checks strictly
what every element needs: the start line and the Via, From, To, Call-ID, CSeq,
Max-Forwards and Content-Length headers.  Every other header is parsed when it
is first read; ``msg.validate()`` reads them all.

What real peers get wrong but a receiver can live with is accepted, and
``sipwire.lint()`` reports it: a request without Max-Forwards (§16.3 step 3
passes it; §8.1.1.6), a top Via without a branch (an RFC 2543 element,
matched by §17.2.3; §8.1.1.7), a body without Content-Type (§20.15) and an
IPv6 reference with three colons before its IPv4 part (RFC 5118 §4.10).

What nothing downstream can live with is refused with 400, whatever the
header: a header section that is not UTF-8 (§25.1: TEXT-UTF8char and qdtext
are ASCII or UTF8-NONASCII; a value that cannot be decoded cannot be stored
or logged faithfully either), and a NUL byte anywhere but as the character
of a quoted-pair (§25.1 ``quoted-pair = "\" (%x00-09 / ...)``, only inside
the quoted-string or comment of a header whose grammar has one; RFC 4475
§3.1.1.3 shows it).  A NUL elsewhere truncates the value for a peer or log
that reads C strings, a way to make two elements see two different headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .abnf import REASON_PHRASE_RE, SIP_VERSION_RE, TOKEN, TOKEN_RE
from .errors import MessageTooLarge, ParseError, UnsupportedVersion
from .fields.base import HEADER_TYPES, Field
from .fields.cseq import CSeq
from .fields.nameaddr import NameAddr
from .fields.simple import CallID, ContentLength, MaxForwards
from .fields.via import Via
from .headers import (
    HeaderLine,
    Headers,
    _parse_value,
    _split_raw,
    _where,
    canonical_name,
    compact_headers,
    split_list,
)
from .message import Message, Request, Response

try:  # the compiled build's C scanner, else its pure-Python twin
    from ._cscanner import scan
except ImportError:
    from .scanner import scan
from .uri import SIP_URI_FAST, URI, UriParts, check_fast

_scan_request_line: Callable[[str], tuple[str, str, UriParts, bool] | None] | None
_scan_status_line: Callable[[str], tuple[int, str] | None] | None
try:  # the compiled build's C twins of the start line's fast paths below
    from .fields._cfields import scan_request_line as _scan_request_line
    from .fields._cfields import scan_status_line as _scan_status_line
except ImportError:  # the pure build: the patterns
    _scan_request_line = _scan_status_line = None

__all__ = ["DEFAULT_LIMITS", "BadMessage", "KeepAlive", "Limits", "StreamEvent", "StreamParser",
           "check_nul", "parse"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a parser accepts; going past one is a ``ParseError``."""

    #: the largest message, start line to body end (513 past it, §21.5.11)
    max_message_size: int = 65535
    #: the most header lines (after unfolding)
    max_headers: int = 256
    #: the longest header line or start line, folding included
    max_line_length: int = 16384
    #: True refuses a request whose top Via has no branch (§8.1.1.7).  By
    #: default it is accepted as an RFC 2543 element's: §17.2.3 matches a
    #: request whose top Via branch "is not present" by its backward-compatible
    #: rule (which the transaction layer follows), and lint reports it.
    require_branch: bool = False


DEFAULT_LIMITS = Limits()


def parse(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS, *,
    collect: list[ParseError] | None = None,
) -> Request | Response:
    """Parse one SIP message from a datagram (or a complete framed message).

    Returns a ``Request`` or ``Response``; raises ``ParseError`` whose
    ``status_code`` is the response a server should answer with.

    With ``collect`` (a list, as ``lint`` passes), problems in the mandatory
    headers (§8.1.1, §8.2.6.2) are appended to it instead of raised, so every
    one of them can be reported; framing errors are still raised.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) > limits.max_message_size:
        raise MessageTooLarge(
            f"message of {len(data)} bytes is over the limit of {limits.max_message_size}",
            rfc="RFC 3261 §21.5.11")
    start, end, first, offsets, keys, positions, nul, lines = scan(
        data, limits.max_headers, limits.max_line_length)
    if nul and "\x00" in first:
        raise ParseError("NUL byte in the start line", rfc="RFC 3261 §25.1",
                         offset=start + first.encode("utf-8").index(b"\x00"))
    msg = _start_line(first, limits)
    headers = msg.headers = compact_headers(
        Headers, data if lines is None else lines, offsets, keys, positions)
    if nul:
        for i in range(len(keys)):
            raw = headers._line(i)
            if "\x00" in raw:
                name, value = _split_raw(raw)
                headers._vals[i] = _check_nul(keys[i], name, value)  # type: ignore[index]
    if collect is None:
        _check_mandatory(msg, headers, lines)
    else:
        _collect_mandatory(msg, headers, collect)
    if limits.require_branch and collect is None and missing_branch(msg):
        raise ParseError("missing branch parameter", header="Via", rfc="RFC 3261 §8.1.1.7")

    body_start = end + 4
    vals: list[list[Any] | None] = headers._vals  # type: ignore[assignment]
    at = positions.get("content-length")
    length_values = None if at is None else vals[at if type(at) is int else at[0]]  # type: ignore[index]
    if length_values is not None:
        length: int = length_values[0].value
        available = len(data) - body_start
        if length > available:
            raise ParseError(
                f"Content-Length {length} is larger than the {available} bytes received",
                header="Content-Length", rfc="RFC 3261 §18.3")
        body_end = body_start + length
    else:
        body_end = len(data)
    msg.body_bytes = data[body_start:body_end]
    msg._wire = data[start:body_end]
    return msg


def missing_branch(msg: Message) -> bool:
    """True for a request whose top Via lacks the branch §8.1.1.7 requires
    (a response copies the Via of its request, branch or none, §8.2.6.2)."""
    return isinstance(msg, Request) and msg.top_via.branch is None


#: a NUL after an even run of backslashes (none included): not a quoted-pair's
_BARE_NUL_RE = re.compile(r"(?<!\\)(?:\\\\)*\x00")


def check_nul(line: HeaderLine) -> None:
    """Raise ``ParseError`` unless every NUL in a header line is the escaped
    character of a quoted-pair in a value its header's grammar accepts (§25.1).

    ``header-value`` of an extension header has no quoted-pair, so a NUL there
    is never allowed; in a known header the typed value is parsed now, by the
    grammar of its quoted-strings and comments, and kept.
    """
    values = _check_nul(line[1], line[0], line[2])
    if values is not None:
        line[4] = values


def _check_nul(key: str, name: str, value: str) -> list[Field] | None:
    """``check_nul`` of one header's key, name and value: the typed values
    parsed when the value holds a NUL, else None."""
    if "\x00" not in value:
        return None
    canonical = canonical_name(key)
    cls = HEADER_TYPES.get(key)
    if cls is None or _BARE_NUL_RE.search(value) is not None:
        raise ParseError("NUL byte outside a quoted-pair", header=canonical,
                         rfc="RFC 3261 §25.1 quoted-pair")
    try:
        return _parse_value(cls, key, name, value)
    except ParseError as exc:
        raise exc.with_header(canonical) from None


def _start_line(line: str, limits: Limits) -> Request | Response:
    if len(line) > limits.max_line_length:
        raise MessageTooLarge("start line too long", rfc="RFC 3261 §21.5.11")
    scanned = _scan_request_line(line) if _scan_request_line is not None else None
    parts: UriParts | None
    if scanned is not None:
        # the C twin of the Request-Line's fast path below: the same groups,
        # port and escapes checked ('/' is no token character: never a Status-Line)
        method, uri_text, parts, unusual = scanned
        version = "SIP/2.0"
        if unusual:
            try:
                check_fast(uri_text, parts[2], parts[3])
            except ParseError as exc:
                raise ParseError(f"bad Request-URI: {exc.reason}", rfc=exc.rfc) from None
    else:
        if _scan_status_line is not None:
            status_reason = _scan_status_line(line)
            if status_reason is not None:  # the C twin of the Status-Line's checks
                response = Response.__new__(Response)
                response.status, response.reason = status_reason
                response.version = "SIP/2.0"
                response._start = line
                return response
        first, sp, rest = line.partition(" ")
        if first[:4].upper() == "SIP/":
            # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
            # RFC 3665 §3.9 prints "SIP/2.0  486": extra spaces are taken as one.
            code, sp2, reason = rest.lstrip(" ").partition(" ")
            _check_version(first)
            if not sp or not sp2 or len(code) != 3 or not code.isdigit() or not code.isascii():
                raise ParseError(f"malformed Status-Line {line!r}", rfc="RFC 3261 §7.2")
            status = int(code)
            if not 100 <= status <= 699:
                raise ParseError(f"status code {status} is outside 100-699",
                                 rfc="RFC 3261 §7.2")
            if REASON_PHRASE_RE.fullmatch(reason) is None:
                raise ParseError(f"bad Reason-Phrase {reason!r}", rfc="RFC 3261 §25.1")
            response = Response.__new__(Response)
            response.status = status
            response.reason = reason
            response.version = first
            response._start = line
            return response
        # Request-Line = Method SP Request-URI SP SIP-Version
        m = _REQUEST_LINE_FAST_RE.fullmatch(line)
        parts = None
        if m is not None:
            groups = m.groups()
            method, uri_text = groups[:2]
            parts = groups[2:]  # type: ignore[assignment]
            version = "SIP/2.0"
            try:
                check_fast(uri_text, groups[4], groups[5])
            except ParseError as exc:
                raise ParseError(f"bad Request-URI: {exc.reason}", rfc=exc.rfc) from None
        else:
            words = line.split(" ")
            if len(words) != 3 or not words[1]:
                raise ParseError(f"malformed Request-Line {line!r}", rfc="RFC 3261 §7.1")
            method, uri_text, version = words
            if TOKEN_RE.fullmatch(method) is None:
                raise ParseError(f"bad method {method!r}", rfc="RFC 3261 §25.1 Method")
            _check_version(version)
            try:
                URI.check(uri_text)
            except ParseError as exc:
                raise ParseError(f"bad Request-URI: {exc.reason}", rfc=exc.rfc) from None
    if "?" in uri_text and _uri_has_headers(uri_text):
        # §19.1.1: the headers component is not allowed in a Request-URI
        raise ParseError(f"Request-URI {uri_text!r} has a headers component",
                         rfc="RFC 3261 §19.1.1")
    request = Request.__new__(Request)
    request.method = method
    request._uri = None
    request._uri_parts = parts
    request.version = version
    request._start = line
    request._start_uri = uri_text
    return request


def _uri_has_headers(text: str) -> bool:
    uri = URI.parse(text)
    return uri.is_sip and bool(uri.headers)


_REQUEST_LINE_FAST_RE = re.compile(rf"({TOKEN}) ({SIP_URI_FAST}) SIP/2\.0")


def _check_version(version: str) -> None:
    if version == "SIP/2.0":
        return
    if SIP_VERSION_RE.fullmatch(version) is None:
        raise ParseError(f"malformed SIP-Version {version!r}", rfc="RFC 3261 §7.1")
    if version.upper() != "SIP/2.0":
        raise UnsupportedVersion(f"SIP version {version} is not supported",
                                 rfc="RFC 3261 §8.2.2 / §21.5.6")


def _check_mandatory(msg: Message, headers: Headers, lines: list[str] | None) -> None:
    """Parse the headers every element reads, and require the mandatory ones
    (§8.1.1 for requests, §8.2.6.2 for responses).

    Max-Forwards is parsed when present but not required: §16.3 step 3 passes
    a request without it, and §16.6 step 3 has a proxy add one.  ``lines``
    is the text of the header lines when the scanner made it.
    """
    positions: dict[str, Any] = headers._pos  # type: ignore[assignment]
    vals: list[list[Any] | None] = headers._vals  # type: ignore[assignment]
    is_request = isinstance(msg, Request)
    key = "via"
    try:
        at = positions.get("via")
        if at is None:
            raise _missing("via", msg)
        for i in (at,) if type(at) is int else at:
            raw = headers._line(i) if lines is None else lines[i]
            value = _split_raw(raw)[1] if "\n" in raw else raw.partition(":")[2]
            if "," in value:
                vals[i] = [_parse_via(part) for part in split_list(value.strip(" \t"))]
            else:
                vals[i] = [_parse_via(value)]
        for key, parse_value, in_request, in_response in _HOT_SINGLE:
            i = positions.get(key)
            if i is None:
                if in_request if is_request else in_response:
                    raise _missing(key, msg)
                continue
            if type(i) is not int:
                raise _duplicate(key)
            raw = headers._line(i) if lines is None else lines[i]
            vals[i] = [parse_value(_split_raw(raw)[1] if "\n" in raw else raw.partition(":")[2])]
        if is_request:
            key = "cseq"
            cseq = vals[positions["cseq"]][0]
            if cseq.method != msg.method:  # type: ignore[attr-defined]
                raise ParseError(f"CSeq method {cseq.method!r} differs from the request "
                                 f"method {msg.method!r}", rfc="RFC 3261 §8.1.1.5")  # type: ignore[attr-defined]
    except ParseError as exc:
        raise exc.with_header(canonical_name(key)) from None


def _collect_mandatory(msg: Message, headers: Headers, problems: list[ParseError]) -> None:
    """``_check_mandatory`` that appends every problem to ``problems`` instead of
    raising the first: each missing, repeated or malformed mandatory header."""
    positions: dict[str, Any] = headers._pos  # type: ignore[assignment]
    line = headers._line
    vals: list[list[Any] | None] = headers._vals  # type: ignore[assignment]
    is_request = isinstance(msg, Request)
    for i in _where(positions, "via"):
        try:
            vals[i] = [_parse_via(part)
                       for part in split_list(_split_raw(line(i))[1].strip(" \t"))]
        except ParseError as exc:
            problems.append(exc.with_header("Via"))
    if "via" not in positions:
        problems.append(_missing("via", msg))
    for key, parse_value, in_request, in_response in _HOT_SINGLE:
        where = _where(positions, key)
        if not where:
            if in_request if is_request else in_response:
                problems.append(_missing(key, msg))
            continue
        if len(where) > 1:
            problems.append(_duplicate(key))
        try:
            vals[where[0]] = [parse_value(_split_raw(line(where[0]))[1])]
        except ParseError as exc:
            problems.append(exc.with_header(canonical_name(key)))
    cseq_at = _where(positions, "cseq")
    cseq_values = vals[cseq_at[0]] if cseq_at else None
    if is_request and cseq_values is not None:
        cseq = cseq_values[0]
        if cseq.method != msg.method:  # type: ignore[attr-defined]
            problems.append(ParseError(
                f"CSeq method {cseq.method!r} differs from the request method "
                f"{msg.method!r}", header="CSeq", rfc="RFC 3261 §8.1.1.5"))  # type: ignore[attr-defined]


#: single-valued headers parse() checks: (key, the parse of its class, needed in
#: requests, in responses); the classes' parse methods bound once, not looked up
#: on each message
_HOT_SINGLE: tuple[tuple[str, Callable[[str], Field], bool, bool], ...] = (
    ("from", NameAddr.parse, True, True),
    ("to", NameAddr.parse, True, True),
    ("call-id", CallID.parse, True, True),
    ("cseq", CSeq.parse, True, True),
    ("max-forwards", MaxForwards.parse, False, False),
    ("content-length", ContentLength.parse, False, False),
)
_parse_via = Via.parse


def _missing(key: str, msg: Message) -> ParseError:
    return ParseError("missing mandatory header", header=canonical_name(key),
                      rfc="RFC 3261 §8.1.1" if msg.is_request else "RFC 3261 §8.2.6.2")


def _duplicate(key: str) -> ParseError:
    return ParseError("header appears more than once", header=canonical_name(key),
                      rfc="RFC 3261 §7.3.1")


# -- stream framing ---------------------------------------------------------------------

_CONTENT_LENGTH_RE = re.compile(
    rb"\r\n(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Ll])[ \t]*:[ \t]*([^\r]*)"
)


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A CRLF keep-alive on a stream (RFC 5626 §3.5.1).

    ``ping`` is True for the double CRLF a client sends, which a server answers
    with a single CRLF (a ``pong``, ``ping`` False).
    """

    ping: bool


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A well-framed message that does not parse: answer it (a request with
    ``error.status_code``) or drop it, and go on reading the stream."""

    error: ParseError
    data: bytes


StreamEvent = Message | KeepAlive | BadMessage


class StreamParser:
    """Sans-I/O framing of SIP over a byte stream (RFC 3261 §18.3, RFC 5626 §3.5.1).

    Feed it chunks as they arrive; it returns the complete messages, keep-alives
    and unparsable-but-framed messages found so far.  Content-Length is
    mandatory on a stream; without it, or with a header section over the size
    limit, the stream cannot be re-synchronised: ``feed`` raises ``ParseError``
    and every later call raises it again, and the connection should be closed.

    A single CRLF that ends a chunk is reported at once as a pong (a client
    waits for it, RFC 5626 §4.4.1); when the next chunk starts with another
    CRLF, the two were a ping split in two, and that CRLF is reported as the
    ping a server must answer (§5.4).
    """

    __slots__ = ("_buffer", "_error", "_lone_crlf", "_unframed", "limits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buffer = bytearray()
        self._error: ParseError | None = None
        self._unframed = b""
        #: the last bytes taken were a single CRLF that ended a chunk
        self._lone_crlf = False

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buffer)

    @property
    def unframed(self) -> bytes:
        """Once ``feed`` has raised: the start of the message that could not be
        framed (at most ``limits.max_message_size`` bytes), from which a server
        can still answer a request 400 or 513 before closing (§18.3, §21.4.1)."""
        return self._unframed

    @property
    def error(self) -> ParseError | None:
        """The error that ended the stream (``feed`` raises it from then on),
        or None.  When messages came before the error in the same ``feed``,
        that call returns them and only sets this: check it after handling
        them."""
        return self._error

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        events: list[StreamEvent] = []
        try:
            while self._buffer:
                event = self._next()
                if event is None:
                    break
                events.append(event)
        except ParseError as exc:
            self._error = exc
            self._unframed = bytes(self._buffer[:self.limits.max_message_size])
            self._buffer.clear()
            if not events:
                raise
        return events

    def _next(self) -> StreamEvent | None:
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            # §7.5 / RFC 5626 §3.5.1: CRLFs between messages are keep-alives.
            if buffer[:4] == b"\r\n\r\n":
                del buffer[:4]
                self._lone_crlf = False
                return KeepAlive(ping=True)
            if len(buffer) == 3 and buffer[2:3] == b"\r":
                return None
            del buffer[:2]
            if self._lone_crlf:  # the second half of a ping split between chunks
                self._lone_crlf = False
                return KeepAlive(ping=True)
            self._lone_crlf = not buffer
            return KeepAlive(ping=False)
        limit = self.limits.max_message_size
        end = buffer.find(b"\r\n\r\n", 0, limit + 4)
        if end < 0:
            if len(buffer) > limit:
                raise MessageTooLarge("header section over the size limit",
                                      rfc="RFC 3261 §21.5.11")
            return None
        m = _CONTENT_LENGTH_RE.search(buffer, 0, end + 2)
        if m is None:
            raise ParseError("Content-Length is mandatory on a stream transport",
                             header="Content-Length", rfc="RFC 3261 §18.3")
        text = m.group(1).strip(b" \t")
        if not text.isdigit() or len(text) > 10:
            raise ParseError(f"bad Content-Length {text[:20]!r}", header="Content-Length",
                             rfc="RFC 3261 §20.14")
        total = end + 4 + int(text)
        if total > limit:
            raise MessageTooLarge(f"message of {total} bytes is over the limit of {limit}",
                                  rfc="RFC 3261 §21.5.11")
        if len(buffer) < total:
            return None
        frame = bytes(buffer[:total])
        del buffer[:total]
        self._lone_crlf = False
        try:
            return parse(frame, self.limits)
        except ParseError as exc:
            # drop the traceback: its frames reach feed()'s event list (a cycle)
            return BadMessage(exc.with_traceback(None), frame)
