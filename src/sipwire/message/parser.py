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
from dataclasses import dataclass

from .abnf import REASON_PHRASE_RE, SIP_VERSION_RE, TOKEN, TOKEN_RE
from .errors import MessageTooLarge, ParseError, UnsupportedVersion
from .fields.base import HEADER_TYPES, Field
from .fields.cseq import CSeq
from .fields.nameaddr import NameAddr
from .fields.simple import CallID, ContentLength, MaxForwards
from .fields.via import Via
from .headers import (
    COMPACT_FORMS,
    HeaderLine,
    Headers,
    _parse_line,
    canonical_name,
    split_list,
)
from .message import Message, Request, Response
from .uri import SIP_URI_FAST, URI, UriParts, check_fast

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

_KNOWN_KEYS = frozenset(HEADER_TYPES) | frozenset(COMPACT_FORMS)


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
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > limits.max_message_size:
        raise MessageTooLarge(
            f"message of {len(data)} bytes is over the limit of {limits.max_message_size}",
            rfc="RFC 3261 §21.5.11")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if b"\n\n" in data or (b"\n" in data and b"\r\n" not in data):
            raise ParseError("lines must end in CRLF", rfc="RFC 3261 §7")
        raise ParseError("no empty line ends the header section", rfc="RFC 3261 §7")
    start = 0
    if data[0:2] == b"\r\n":
        # §7.5: CRLFs before the start line are ignored.
        while data.startswith(b"\r\n", start):
            start += 2
        if start >= end:
            end = data.find(b"\r\n\r\n", start)
            if end < 0:
                raise ParseError("no empty line ends the header section", rfc="RFC 3261 §7")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, start, start + exc.start) from None
    lines = head.split("\r\n")
    nlines = len(lines)
    if head.count("\n") != nlines - 1 or head.count("\r") != nlines - 1:
        raise ParseError("bare CR or LF inside the header section", rfc="RFC 3261 §7")
    if nlines - 1 > limits.max_headers:
        raise MessageTooLarge(f"more than {limits.max_headers} header lines",
                              rfc="RFC 3261 §21.5.11")
    if end - start > limits.max_line_length:
        # only a header section longer than the limit can hold a line that is
        longest = max(map(len, lines))
        if longest > limits.max_line_length:
            raise MessageTooLarge(f"a line of {longest} characters is over the limit of "
                                  f"{limits.max_line_length}", rfc="RFC 3261 §21.5.11")
    nul = "\x00" in head
    if nul and "\x00" in lines[0]:
        raise ParseError("NUL byte in the start line", rfc="RFC 3261 §25.1",
                         offset=start + lines[0].encode("utf-8").index(b"\x00"))
    msg = _start_line(lines[0], limits)
    header_lines, index = _header_lines(lines, limits)
    if nul:
        for line in header_lines:
            check_nul(line)
    msg.headers = Headers._from_lines(header_lines, index)
    if collect is None:
        _check_mandatory(msg, index)
    else:
        _collect_mandatory(msg, index, collect)
    if limits.require_branch and collect is None and missing_branch(msg):
        raise ParseError("missing branch parameter", header="Via", rfc="RFC 3261 §8.1.1.7")

    body_start = end + 4
    length_lines = index.get("content-length")
    if length_lines and length_lines[0][4] is not None:
        length: int = length_lines[0][4][0].value
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
    value: str = line[2]
    if "\x00" not in value:
        return
    key: str = line[1]
    name = canonical_name(key)
    cls = HEADER_TYPES.get(key)
    if cls is None or _BARE_NUL_RE.search(value) is not None:
        raise ParseError("NUL byte outside a quoted-pair", header=name,
                         rfc="RFC 3261 §25.1 quoted-pair")
    try:
        line[4] = _parse_line(cls, key, line)
    except ParseError as exc:
        raise exc.with_header(name) from None


def _not_utf8(data: bytes, start: int, offset: int) -> ParseError:
    """The error for a byte at ``offset`` of the header section that does not
    start or continue a UTF-8 character, naming the header it is in."""
    line_start = data.rfind(b"\r\n", start, offset) + 2
    while line_start > start + 1 and data[line_start:line_start + 1] in (b" ", b"\t"):
        line_start = data.rfind(b"\r\n", start, line_start - 2) + 2  # folded (§7.3.1)
    if line_start <= start + 1:
        return ParseError("bytes that are not UTF-8 in the start line",
                          rfc="RFC 3261 §25.1 UTF8-NONASCII", offset=offset)
    colon = data.find(b":", line_start, offset)
    if colon < 0:
        return ParseError("bytes that are not UTF-8 in a header name",
                          rfc="RFC 3261 §25.1 header-name", offset=offset)
    header = canonical_name(data[line_start:colon].decode("ascii", "replace").strip(" \t"))
    return ParseError("bytes that are not UTF-8", header=header,
                      rfc="RFC 3261 §25.1 UTF8-NONASCII", offset=offset)


def _start_line(line: str, limits: Limits) -> Request | Response:
    if len(line) > limits.max_line_length:
        raise MessageTooLarge("start line too long", rfc="RFC 3261 §21.5.11")
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
            raise ParseError(f"status code {status} is outside 100-699", rfc="RFC 3261 §7.2")
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
    parts: UriParts | None = None
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


def _header_lines(
    lines: list[str], limits: Limits
) -> tuple[list[HeaderLine], dict[str, list[HeaderLine]]]:
    """Split header lines into ``[name, key, value, raw, typed]`` and index them."""
    out: list[HeaderLine] = []
    index: dict[str, list[HeaderLine]] = {}
    keys = _KEYS
    for raw in lines[1:]:
        name, colon, value = raw.partition(":")
        key = keys.get(name)
        if key is None or not colon:
            if raw[:1] in (" ", "\t"):
                return _folded_lines(lines, limits)
            key = _new_key(name, colon, raw)
        line: HeaderLine = [name, key, value, raw, None]
        out.append(line)
        found = index.get(key)
        if found is None:
            index[key] = [line]
        else:
            found.append(line)
    return out, index


def _folded_lines(
    lines: list[str], limits: Limits
) -> tuple[list[HeaderLine], dict[str, list[HeaderLine]]]:
    """The slow path: some lines continue the previous one (§7.3.1 folding)."""
    merged: list[tuple[str, str]] = []  # (unfolded text, raw text)
    for i in range(1, len(lines)):
        raw = lines[i]
        if not raw:
            raise ParseError("empty header line", rfc="RFC 3261 §7.3")
        if raw[0] == " " or raw[0] == "\t":
            if not merged:
                raise ParseError("continuation line before any header", rfc="RFC 3261 §7.3.1")
            text, prev_raw = merged[-1]
            merged[-1] = (text.rstrip(" \t") + " " + raw.strip(" \t"), prev_raw + "\r\n" + raw)
        else:
            merged.append((raw, raw))
    out: list[HeaderLine] = []
    index: dict[str, list[HeaderLine]] = {}
    for text, raw in merged:
        name, colon, value = text.partition(":")
        key = _KEYS.get(name)
        if key is None or not colon:
            key = _new_key(name, colon, text)
        if len(raw) > limits.max_line_length:
            raise MessageTooLarge("header line too long", header=name.strip(),
                                  rfc="RFC 3261 §21.5.11")
        line: HeaderLine = [name, key, value, raw, None]
        out.append(line)
        index.setdefault(key, []).append(line)
    return out, index


def _new_key(name: str, colon: str, raw: str) -> str:
    """Check a header name not seen before (``token``, §25.1) and cache its key."""
    if not raw:
        raise ParseError("empty header line", rfc="RFC 3261 §7.3")
    if not colon:
        raise ParseError(f"header line without a colon: {raw[:40]!r}", rfc="RFC 3261 §7.3")
    stripped = name.rstrip(" \t")
    if TOKEN_RE.fullmatch(stripped) is None:
        raise ParseError(f"bad header name {stripped!r}", rfc="RFC 3261 §25.1 header-name")
    key = stripped.lower()
    key = COMPACT_FORMS.get(key, key)
    if len(_KEYS) < 4096:
        _KEYS[name] = key
    return key


def _check_mandatory(msg: Message, index: dict[str, list[HeaderLine]]) -> None:
    """Parse the headers every element reads, and require the mandatory ones
    (§8.1.1 for requests, §8.2.6.2 for responses).

    Max-Forwards is parsed when present but not required: §16.3 step 3 passes
    a request without it, and §16.6 step 3 has a proxy add one.
    """
    get = index.get
    is_request = isinstance(msg, Request)
    key = "via"
    try:
        lines = get("via")
        if lines is None:
            raise _missing("via", msg)
        for line in lines:
            value: str = line[2]
            if "," in value:
                line[4] = [Via.parse(part) for part in split_list(value.strip(" \t"))]
            else:
                line[4] = [Via.parse(value)]
        for key, cls, in_request, in_response in _HOT_SINGLE:
            lines = get(key)
            if lines is None:
                if in_request if is_request else in_response:
                    raise _missing(key, msg)
                continue
            if len(lines) > 1:
                raise _duplicate(key)
            line = lines[0]
            line[4] = [cls.parse(line[2])]
        if is_request:
            key = "cseq"
            cseq = index["cseq"][0][4][0]
            if cseq.method != msg.method:  # type: ignore[attr-defined]
                raise ParseError(f"CSeq method {cseq.method!r} differs from the request "
                                 f"method {msg.method!r}", rfc="RFC 3261 §8.1.1.5")  # type: ignore[attr-defined]
    except ParseError as exc:
        raise exc.with_header(canonical_name(key)) from None


def _collect_mandatory(msg: Message, index: dict[str, list[HeaderLine]],
                       problems: list[ParseError]) -> None:
    """``_check_mandatory`` that appends every problem to ``problems`` instead of
    raising the first: each missing, repeated or malformed mandatory header."""
    is_request = isinstance(msg, Request)
    for line in index.get("via", ()):
        try:
            line[4] = [Via.parse(part) for part in split_list(line[2].strip(" \t"))]
        except ParseError as exc:
            problems.append(exc.with_header("Via"))
    if "via" not in index:
        problems.append(_missing("via", msg))
    for key, cls, in_request, in_response in _HOT_SINGLE:
        lines = index.get(key)
        if lines is None:
            if in_request if is_request else in_response:
                problems.append(_missing(key, msg))
            continue
        if len(lines) > 1:
            problems.append(_duplicate(key))
        try:
            lines[0][4] = [cls.parse(lines[0][2])]
        except ParseError as exc:
            problems.append(exc.with_header(canonical_name(key)))
    cseq_lines = index.get("cseq")
    if is_request and cseq_lines and cseq_lines[0][4] is not None:
        cseq = cseq_lines[0][4][0]
        if cseq.method != msg.method:  # type: ignore[attr-defined]
            problems.append(ParseError(
                f"CSeq method {cseq.method!r} differs from the request method "
                f"{msg.method!r}", header="CSeq", rfc="RFC 3261 §8.1.1.5"))  # type: ignore[attr-defined]


#: single-valued headers parse() checks: (key, class, needed in requests, in responses)
_HOT_SINGLE: tuple[tuple[str, type[Field], bool, bool], ...] = (
    ("from", NameAddr, True, True),
    ("to", NameAddr, True, True),
    ("call-id", CallID, True, True),
    ("cseq", CSeq, True, True),
    ("max-forwards", MaxForwards, False, False),
    ("content-length", ContentLength, False, False),
)


def _missing(key: str, msg: Message) -> ParseError:
    return ParseError("missing mandatory header", header=canonical_name(key),
                      rfc="RFC 3261 §8.1.1" if msg.is_request else "RFC 3261 §8.2.6.2")


def _duplicate(key: str) -> ParseError:
    return ParseError("header appears more than once", header=canonical_name(key),
                      rfc="RFC 3261 §7.3.1")


# header name as written -> lookup key, for names already checked once
_KEYS: dict[str, str] = {}
for _key in _KNOWN_KEYS:
    for _name in {_key, canonical_name(_key), _key.upper(), _key.title()}:
        _KEYS[_name] = COMPACT_FORMS.get(_key, _key)


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
