"""SIP requests and responses (RFC 3261 §7), built (§8.1.1, §8.2.6) or parsed.

A parsed message keeps its bytes: ``bytes(msg)`` returns exactly what
``parse()`` was given until something is changed, and after a change only the
changed parts are rewritten (see ``Headers``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ParseError
from .fields.base import HEADER_TYPES, Field
from .fields.cseq import CSeq
from .fields.nameaddr import Contact, NameAddr
from .fields.via import BRANCH_MAGIC_COOKIE, Via
from .headers import (
    HeaderLine,
    Headers,
    _parse_line,
    _parse_value,
    _unfold,
    header_key,
    positions_of,
)
from .status import Status
from .uri import URI, UriParts

if TYPE_CHECKING:
    from .lint import Finding

__all__ = ["Message", "Request", "Response", "new_branch", "new_call_id", "new_tag"]

SIP_VERSION = "SIP/2.0"

#: §12.1: requests whose responses can create a dialog
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


class _RandomPool:
    """Random bytes from the operating system's generator (``os.urandom``, as
    ``secrets`` uses), read 4 KiB at a time: a registrar or proxy needs a tag
    or branch for most messages, and one ``getrandom`` call per message is a
    system call per message.  Each byte is handed out once; a forked child
    starts a pool of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._bytes = b""
        self._used = 0

    def hex(self, n: int) -> str:
        """``secrets.token_hex(n)``: 2n hex digits from n random bytes."""
        with self._lock:
            start = self._used
            end = start + n
            if end > len(self._bytes):
                self._bytes = os.urandom(4096)
                start, end = 0, n
            self._used = end
            return self._bytes[start:end].hex()


_random = _RandomPool()


def new_branch() -> str:
    """A Via branch unique in space and time, with the §8.1.1.7 magic cookie."""
    return BRANCH_MAGIC_COOKIE + _random.hex(10)


def new_tag() -> str:
    """A From/To tag with at least 32 bits of randomness (§19.3)."""
    return _random.hex(6)


def new_call_id(host: str | None = None) -> str:
    """A globally unique Call-ID (§8.1.1.4)."""
    token = _random.hex(12)
    return f"{token}@{host}" if host else token


HeaderItems = Iterable[tuple[str, "str | Field"]]


def kept_bytes(message: Message) -> bytes:
    """What to keep of a message held only for retransmissions: the bytes it
    was received as or last serialized to (those on the wire), else its bytes
    now."""
    wire = message._wire
    return wire if wire is not None else bytes(message)


class Message:
    """What requests and responses share: headers, body and typed accessors."""

    __slots__ = ("_start", "_wire", "body_bytes", "headers")

    headers: Headers
    body_bytes: bytes
    _wire: bytes | None
    #: the start line as received, or None for a built message
    _start: str | None

    #: True for Request, False for Response (a value here, not a bare annotation,
    #: which the compiled build would read as a field of the extension type)
    is_request: ClassVar[bool] = False

    # -- body ---------------------------------------------------------------------

    @property
    def body(self) -> bytes:
        return self.body_bytes

    @body.setter
    def body(self, value: bytes) -> None:
        """Set the body; Content-Length follows it (§20.14)."""
        self.body_bytes = bytes(value)
        self.headers.set("Content-Length", str(len(self.body_bytes)))

    # -- typed accessors of RFC 3261 §20 ----------------------------------------------

    @property
    def via(self) -> list[Via]:
        headers = self.headers
        pos = headers._pos
        if pos is not None:
            at = pos.get("via")
            if type(at) is int:
                values = headers._vals[at]  # type: ignore[index]
                if values is not None:
                    return list(values)
            return headers._typed("via")  # type: ignore[return-value]
        index = headers._index
        if index is not None:
            lines = index.get("via")
            if lines is not None and len(lines) == 1:
                values = lines[0][4]
                if values is not None:
                    return list(values)
        return headers._typed("via")  # type: ignore[return-value]

    @property
    def top_via(self) -> Via:
        """The first Via value (``via[0]``) without parsing the others: the one
        transactions match on (§17.1.3, §17.2.3) and responses are routed by
        (§18.2.2).  ``ParseError`` when the message has no Via."""
        return self._one("via")  # type: ignore[return-value]

    @property
    def from_(self) -> NameAddr:
        return self._one("from")  # type: ignore[return-value]

    @property
    def to(self) -> NameAddr:
        return self._one("to")  # type: ignore[return-value]

    @property
    def contact(self) -> list[Contact]:
        """Contact values; ``[]`` when absent or ``*`` (see ``contact_star``)."""
        values: list[Contact] = self.headers.typed("contact")  # type: ignore[assignment]
        return [c for c in values if not c.star]

    @property
    def contact_star(self) -> bool:
        """True for ``Contact: *`` (§10.2.2)."""
        return any(c.star for c in self.headers.typed("contact"))  # type: ignore[attr-defined]

    @property
    def route(self) -> list[NameAddr]:
        return self.headers._typed("route")  # type: ignore[return-value]

    @property
    def record_route(self) -> list[NameAddr]:
        return self.headers._typed("record-route")  # type: ignore[return-value]

    @property
    def call_id(self) -> str:
        return self._one("call-id").value  # type: ignore[attr-defined, no-any-return]

    @property
    def cseq(self) -> CSeq:
        return self._one("cseq")  # type: ignore[return-value]

    @property
    def max_forwards(self) -> int | None:
        return self._int("max-forwards")

    @property
    def expires(self) -> int | None:
        return self._int("expires")

    @property
    def min_expires(self) -> int | None:
        return self._int("min-expires")

    @property
    def content_length(self) -> int | None:
        return self._int("content-length")

    @property
    def content_type(self) -> Any:
        """The Content-Type as a ``MediaType`` (.type .subtype .params), or None."""
        values = self.headers.typed("content-type")
        return values[0] if values else None

    def header(self, name: str) -> list[Field]:
        """Typed values of any registered header (``msg.header("Allow")``)."""
        return self.headers.typed(name)

    def _one(self, key: str) -> Field:
        # the parser's typed values, read directly: proxies and registrars
        # ask for From, To, Call-ID and CSeq of every message
        headers = self.headers
        pos = headers._pos
        if pos is not None:
            at = pos.get(key)
            if at is not None:
                if type(at) is not int:
                    at = at[0]  # type: ignore[index]
                values = headers._vals[at]  # type: ignore[index]
                if values is None:
                    values = headers._typed_at(at, key)
                if values:
                    found_value: Field = values[0]
                    return found_value
        index = headers._index
        if index is not None:
            lines = index.get(key)
            if lines:
                values = lines[0][4]
                if values:
                    found: Field = values[0]
                    return found
        value = headers._first(key)
        if value is None:
            raise ParseError("missing mandatory header", header=key.title(),
                             rfc="RFC 3261 §8.1.1")
        return value

    def _int(self, key: str) -> int | None:
        headers = self.headers
        pos = headers._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                return None
            if type(at) is not int:
                at = at[0]  # type: ignore[index]
            values = headers._vals[at]  # type: ignore[index]
            if values is None:
                values = headers._typed_at(at, key)
            found: int | None = values[0].value if values else None  # type: ignore[union-attr]
            return found
        index = headers._index
        if index is not None:
            lines = index.get(key)
            if lines is None:
                return None
            values = lines[0][4]
            if values:
                number: int = values[0].value
                return number
        value = headers._first(key)
        return value.value if value is not None else None  # type: ignore[attr-defined]

    # -- checking -------------------------------------------------------------------

    def parse_headers(self) -> None:
        """Parse the typed value of every header that has one, now.

        Reading a header parses it anyway; this is for who wants every value
        checked against its grammar without ``validate()``'s rules between
        headers.  Raises ``ParseError`` for the first malformed header.
        """
        headers = self.headers
        keys = headers._keys
        if keys is not None:
            vals: list[list[Field] | None] = headers._vals  # type: ignore[assignment]
            # the lines' text when the pure-Python scanner kept it, read directly
            texts: list[str] | None = headers._data if (  # type: ignore[assignment]
                headers._offs is None and headers._src is None) else None
            text_of = headers._line
            for i, key in enumerate(keys):
                if vals[i] is None:
                    cls = HEADER_TYPES.get(key)
                    if cls is not None:
                        raw = text_of(i) if texts is None else texts[i]
                        if "\n" in raw:
                            raw = _unfold(raw)
                        name, _, value = raw.partition(":")
                        vals[i] = _parse_value(cls, key, name, value)
            return
        for line in headers._all():
            if line[4] is None:
                cls = HEADER_TYPES.get(line[1])
                if cls is not None:
                    line[4] = _parse_line(cls, line[1], line)

    def validate(self) -> None:
        """Read every header and check the rules between them.

        Raises ``ParseError`` for the first problem found; ``lint()`` lists all,
        and also the deviations accepted here (its ``tolerated`` findings: no
        Max-Forwards, §8.1.1.6; no Via branch, §8.1.1.7; a body without
        Content-Type, §20.15; a three-colon IPv6 reference, RFC 5118 §4.10).
        """
        from .lint import lint_message

        for finding in lint_message(self):
            if not finding.tolerated:
                raise finding.error()

    def lint(self) -> list[Finding]:
        """Every problem found in this message (empty for a clean one)."""
        from .lint import lint_message

        return lint_message(self)

    # -- output ---------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        head = self.start_line() + "\r\n" + self.headers.serialize() + "\r\n"
        data = head.encode("utf-8", "surrogateescape") + self.body_bytes
        # _wire: the bytes received, or those of the last serialization
        self._wire = data
        return data

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")

    def copy(self) -> Any:
        """A deep enough copy to change headers without touching this message."""
        cls = type(self)
        new = cls.__new__(cls)
        for slot in _copied_slots(cls):
            setattr(new, slot, getattr(self, slot))
        new.headers = self.headers.copy()
        return new


class Request(Message):
    """A SIP request: ``method``, ``uri`` and the rest of ``Message``."""

    __slots__ = ("_start_uri", "_uri", "_uri_parts", "method", "version")

    is_request = True
    method: str
    version: str
    _uri: URI | None
    #: the Request-URI text of the start line (parsed into ``uri`` when read)
    _start_uri: str | None
    #: its parts, when the parser's pattern for the usual SIP URI matched it
    _uri_parts: UriParts | None

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Headers | HeaderItems = (),
        body: bytes = b"",
    ) -> None:
        self.method = method
        self._uri = URI.parse(uri) if isinstance(uri, str) else uri
        self.version = SIP_VERSION
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body_bytes = bytes(body)
        self._wire = None
        self._start = None
        self._start_uri = None
        self._uri_parts = None

    @property
    def uri(self) -> URI:
        """The Request-URI (§8.1.1.1)."""
        uri = self._uri
        if uri is None:
            text = self._start_uri or ""
            parts = self._uri_parts
            uri = self._uri = (URI.from_parts(text, parts) if parts is not None
                               else URI.parse(text))
        return uri

    @uri.setter
    def uri(self, value: URI | str) -> None:
        self._uri = URI.parse(value) if isinstance(value, str) else value

    def start_line(self) -> str:
        start = self._start
        uri = self._uri
        text = None if uri is None else str(uri)
        if start is not None:
            if (text is None or text == self._start_uri) and start.partition(" ")[0] == self.method:
                return start
            self._start = None
        return f"{self.method} {text if text is not None else self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    # -- building, RFC 3261 §8.1.1 ------------------------------------------------------

    @classmethod
    def build(
        cls,
        method: str,
        uri: URI | str,
        *,
        from_: NameAddr | URI | str,
        to: NameAddr | URI | str | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        via: Via | None = None,
        transport: str = "UDP",
        sent_by: tuple[str, int | None] = ("127.0.0.1", None),
        contact: NameAddr | URI | str | None = None,
        max_forwards: int = 70,
        body: bytes = b"",
        content_type: str | None = None,
        headers: HeaderItems = (),
    ) -> Request:
        """Build a request per §8.1.1.

        To defaults to the Request-URI (§8.1.1.2); From gets a new tag unless it
        has one (§8.1.1.3); Call-ID is new unless given (§8.1.1.4); CSeq is
        ``cseq method`` (§8.1.1.5); Max-Forwards is 70 (§8.1.1.6); the Via has a
        new branch with the z9hG4bK cookie (§8.1.1.7), its sent-by being
        rewritten by the transport that sends it (§18.1.1).
        """
        request_uri = URI.parse(uri) if isinstance(uri, str) else uri
        from_value = _name_addr(from_)
        if from_value.tag is None:
            from_value.tag = new_tag()
        to_value = _name_addr(to if to is not None else request_uri.copy(params={}))
        if via is None:
            via = Via(transport, sent_by[0], sent_by[1], branch=new_branch())
        lines: list[tuple[str, str | Field]] = [
            ("Via", via),
            ("Max-Forwards", str(max_forwards)),
            ("From", from_value),
            ("To", to_value),
            ("Call-ID", call_id or new_call_id()),
            ("CSeq", CSeq(cseq, method)),
        ]
        if contact is not None:
            lines.append(("Contact", _contact(contact)))
        lines.extend(headers)
        if content_type is not None:
            lines.append(("Content-Type", content_type))
        lines.append(("Content-Length", str(len(body))))
        return cls(method, request_uri, Headers(lines), body)

    # -- answering, RFC 3261 §8.2.6 -----------------------------------------------------

    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        contact: NameAddr | URI | str | None = None,
        headers: HeaderItems = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """Build a response to this request per §8.2.6.2.

        Via (all, in order), From, To, Call-ID, CSeq and Timestamp are copied
        byte for byte; To gets a tag (``to_tag`` or a new one) unless it has
        one or the status is 100; Record-Route is copied for responses that can
        create a dialog (§12.1.1).
        """
        if not 100 <= status <= 699:
            raise ValueError(f"status code {status} is outside 100-699 (RFC 3261 §7.2)")
        wanted = _REPLY_COPIES_DIALOG if (
            101 <= status < 300 and self.method in DIALOG_CREATING_METHODS) else _REPLY_COPIES
        source = self.headers
        if source._keys is not None:
            return self._reply_compact(status, reason, wanted, to_tag, contact, headers, body,
                                       content_type)
        lines: list[HeaderLine] = []
        tagged = True
        for line in source._all():
            key = line[1]
            if key not in wanted:
                continue
            if key == "from" or key == "to":
                # not shared: a change to the response's From/To must not reach the request
                copy: HeaderLine = [line[0], key, line[2], line[3], None]
                if key == "to":
                    to_line = copy
                    tagged = _tagged(line[2], line[4])
            else:
                copy = list(line)  # Via, CSeq ... typed values shared: they are read, not changed
            lines.append(copy)
        if status != 100 and not tagged:
            to_line[2] = to_line[2].rstrip(" \t") + ";tag=" + (to_tag or new_tag())
            to_line[3] = None
        copied = Headers._from_lines(lines)
        for name, value, new, at_end in _placed(headers, contact, wanted, copied):
            if at_end:
                lines.extend(new)
            else:
                copied.add(name, value)
        if content_type is not None:
            copied.set("Content-Type", content_type)
        lines.append(["Content-Length", "content-length", str(len(body)), None, None])
        copied._index = None
        phrase = reason if reason is not None else _phrase(status)
        return Response(status, phrase, copied, body)

    def _reply_compact(self, status: int, reason: str | None, wanted: frozenset[str],
                       to_tag: str | None, contact: NameAddr | URI | str | None,
                       headers: HeaderItems, body: bytes, content_type: str | None
                       ) -> Response:
        """``reply()`` of a parsed request: the response's header section is
        the compact form over the request's bytes, the copied lines taken as
        received (one slice of bytes when they are next to each other, as
        usual), the To with its new tag and the added lines written here."""
        source = self.headers
        source_src = source._src
        source_vals: list[list[Field] | None] = source._vals  # type: ignore[assignment]
        src: list[int | str] = []
        keys: list[str] = []
        vals: list[list[Field] | None] = []
        for i, key in enumerate(source._keys):  # type: ignore[arg-type]
            if key not in wanted:
                continue
            origin = i if source_src is None else source_src[i]
            values = source_vals[i]
            if key == "to":
                if status != 100 and not _tagged(source._value_at(i), values):
                    origin = (f"{source._name_at(i)}: {source._value_at(i)};tag="
                              f"{to_tag or new_tag()}")
                values = None  # not shared: the response's From and To may change
            elif key == "from":
                values = None
            src.append(origin)
            keys.append(key)
            vals.append(values)  # Via, CSeq ... shared: they are read, not changed
        copied: Headers | None = None
        for name, value, new, at_end in _placed(headers, contact, wanted, source):
            if copied is None:
                if at_end:
                    for line in new:
                        src.append(f"{line[0]}: {line[2]}")
                        keys.append(line[1])
                        vals.append(line[4])
                    continue
                copied = _compact_over(source, src, keys, vals)
            if at_end:
                copied._put(len(copied), new, 0)
            else:
                copied.add(name, value)
        if copied is None and content_type is None:
            src.append(f"Content-Length: {len(body)}")
            keys.append("content-length")
            vals.append(None)
            copied = _compact_over(source, src, keys, vals)
        else:
            if copied is None:
                copied = _compact_over(source, src, keys, vals)
            if content_type is not None:
                copied.set("Content-Type", content_type)
            copied.append("Content-Length", str(len(body)))
        phrase = reason if reason is not None else _phrase(status)
        return Response(status, phrase, copied, body)


_SLOTS: dict[type, tuple[str, ...]] = {}


def _placed(headers: HeaderItems, contact: NameAddr | URI | str | None,
            wanted: frozenset[str], maker: Headers
            ) -> list[tuple[str, str | Field, list[HeaderLine], bool]]:
    """The lines ``reply()`` adds (``contact`` first, then ``headers``), each
    as ``(name, value, lines, at_end)``: ``at_end`` when it goes at the end,
    as add() would put it (a header not yet present, or one more of the
    header just added), without a scan; else ``add(name, value)`` places it."""
    extra: list[tuple[str, str | Field]] = list(headers)
    if contact is not None:
        extra.insert(0, ("Contact", _contact(contact)))
    added: set[str] = set()
    last = None
    placed: list[tuple[str, str | Field, list[HeaderLine], bool]] = []
    for name, value in extra:
        if isinstance(value, str):  # the usual case, without _new_lines' calls
            if "\r" in value or "\n" in value:
                raise ValueError(f"{name}: a header value cannot contain CR or LF")
            key = header_key(name)
            new: list[HeaderLine] = [[name, key, value.strip(" \t"), None, None]]
        else:
            new = maker._new_lines(name, value)
            if not new:
                continue
            key = new[0][1]
        at_end = key == last or (key not in wanted and key not in added)
        if at_end:
            added.add(key)
            last = key
        else:
            last = None
        placed.append((name, value, new, at_end))
    return placed  # a list: a compiled generator costs more than the few lines it gives


def _compact_over(source: Headers, src: list[int | str], keys: list[str],
                  vals: list[list[Field] | None]) -> Headers:
    """A compact header section over the bytes of ``source``'s message."""
    headers = Headers._parsed(source._data, source._offs, keys,  # type: ignore[arg-type]
                              positions_of(keys))
    headers._src = src
    headers._vals = vals
    return headers


def _tagged(value: str, typed: list[Field] | None) -> bool:
    """True when a To value has a tag parameter (its typed value, when parsed)."""
    # no "tag" anywhere in the value: no tag parameter either
    return "tag" in value.lower() and (
        typed[0].tag if typed else NameAddr.parse(value).tag) is not None  # type: ignore[attr-defined]


def _copied_slots(cls: type) -> tuple[str, ...]:
    """Every slot of a message class but ``headers`` (copied apart)."""
    slots = _SLOTS.get(cls)
    if slots is None:
        names = [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]
        slots = _SLOTS[cls] = tuple(name for name in names if name != "headers")
    return slots


_REPLY_COPIES = frozenset({"via", "from", "to", "call-id", "cseq", "timestamp"})
_REPLY_COPIES_DIALOG = _REPLY_COPIES | {"record-route"}
_PHRASES: dict[int, str] = {}


def _phrase(status: int) -> str:
    phrase = _PHRASES.get(status)
    if phrase is None:
        phrase = _PHRASES[status] = Status(status).phrase
    return phrase


class Response(Message):
    """A SIP response: ``status`` (int) and ``reason`` (str)."""

    __slots__ = ("reason", "status", "version")

    is_request = False
    status: int
    reason: str
    version: str

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | HeaderItems = (),
        body: bytes = b"",
    ) -> None:
        self.status = int(status)
        self.reason = reason if reason is not None else Status(status).phrase
        self.version = SIP_VERSION
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body_bytes = bytes(body)
        self._wire = None
        self._start = None

    @property
    def status_class(self) -> int:
        """1 to 6, the response class of §7.2."""
        return self.status // 100

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    def start_line(self) -> str:
        start = self._start
        if start is not None:
            _, _, rest = start.partition(" ")
            code, _, reason = rest.lstrip(" ").partition(" ")
            if code == str(self.status) and reason == self.reason:
                return start
            self._start = None
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _name_addr(value: NameAddr | URI | str) -> NameAddr:
    if isinstance(value, NameAddr):
        return value
    if isinstance(value, URI):
        return NameAddr(value)
    return NameAddr.parse(value)


def _contact(value: NameAddr | URI | str) -> Contact:
    if isinstance(value, Contact):
        return value
    if isinstance(value, NameAddr):
        return Contact(value.uri, value.display_name, value.params)
    if isinstance(value, URI):
        return Contact(value)
    return Contact.parse(value)
