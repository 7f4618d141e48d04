"""The SDP model (RFC 4566 §5): a session description and its media descriptions.

A description is frozen data: ``SessionDescription`` holds the session-level
lines, ``MediaDescription`` one ``m=`` section each.  Change one with
``dataclasses.replace`` (or the ``with_*`` helpers), which gives a new value.

**Lossless.**  ``SessionDescription.parse(data)`` keeps, for each section, the
lines exactly as received (unknown line types, blank lines, the order, trailing
spaces and the line ending, CRLF or bare LF).  ``bytes()`` / ``str()`` of a
section whose lines are unchanged gives those lines back byte for byte.  When a
section was modified its lines are written in the RFC 4566 §5 order, each line
whose value is unchanged keeping its received text, the others written
canonically (single spaces, lower-case type letters) with the description's
line ending.  A description built in code is written with CRLF.

**Liberal in what it reads** (RFC 4566 §5 says parsers SHOULD be tolerant,
and real phones deviate): no ``t=`` line, trailing white space, upper-case type
letters, lines out of order, unknown line types (kept, as §5 requires them to
be ignored), and attribute or bandwidth lines whose value is not what their
definition says (kept as written).  What cannot be worked with is an
``SdpError`` naming the line: no ``v=`` first, a second description, or a bad
``o=``, ``c=``, ``t=`` or ``m=``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Self

from .attributes import DIRECTIONS, STATIC_PAYLOAD_TYPES, Direction, Fmtp, RtpMap
from .errors import SdpError

__all__ = [
    "Attribute",
    "Bandwidth",
    "Connection",
    "MediaDescription",
    "Origin",
    "OtherLine",
    "RepeatTime",
    "SessionDescription",
    "Timing",
    "ZoneAdjustment",
]

CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`` (§5.2)."""

    username: str
    sess_id: int
    sess_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str, line: int | None = None) -> Self:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(f"o= needs 6 fields, got {len(parts)}", line=line,
                           rfc="RFC 4566 §5.2 origin-field")
        username, sess_id, sess_version, nettype, addrtype, address = parts
        if not (sess_id.isdigit() and sess_version.isdigit()):
            raise SdpError("o= sess-id and sess-version must be digits", line=line,
                           rfc="RFC 4566 §5.2 origin-field")
        return cls(username, int(sess_id), int(sess_version), nettype, addrtype, address)

    def __str__(self) -> str:
        return (f"{self.username} {self.sess_id} {self.sess_version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (§5.7).

    ``ttl`` and ``count`` are the multicast suffixes (``224.2.1.1/127/3``;
    IPv6 multicast has a count and no TTL).
    """

    nettype: str
    addrtype: str
    address: str
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def for_address(cls, address: str) -> Self:
        """``IN IP4 address`` or, for an IPv6 address, ``IN IP6 address``."""
        return cls("IN", "IP6" if ":" in address else "IP4", address.strip("[]"))

    @classmethod
    def parse(cls, value: str, line: int | None = None) -> Self:
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(f"c= needs 3 fields, got {len(parts)}", line=line,
                           rfc="RFC 4566 §5.7 connection-field")
        nettype, addrtype, address = parts
        ttl = count = None
        if "/" in address and addrtype.upper() in ("IP4", "IP6"):
            address, *suffix = address.split("/")
            if not suffix or len(suffix) > 2 or not all(s.isdigit() for s in suffix):
                raise SdpError(f"bad multicast suffix in {value!r}", line=line,
                               rfc="RFC 4566 §5.7 connection-address")
            if addrtype.upper() == "IP6":
                if len(suffix) != 1:
                    raise SdpError("IPv6 multicast takes no TTL", line=line,
                                   rfc="RFC 4566 §5.7 IP6-multicast")
                count = int(suffix[0])
            else:
                ttl = int(suffix[0])
                count = int(suffix[1]) if len(suffix) == 2 else None
        return cls(nettype, addrtype, address, ttl, count)

    @property
    def is_multicast(self) -> bool:
        """An IPv4 multicast group (224.0.0.0/4, with its TTL) or an IPv6 one (ff00::/8)."""
        if self.addrtype.upper() == "IP6":
            return self.address.lower().startswith("ff")
        first = self.address.split(".", 1)[0]
        return self.ttl is not None or (first.isdigit() and 224 <= int(first) <= 239)

    @property
    def is_null(self) -> bool:
        """The RFC 2543 hold address 0.0.0.0 (or ::): send neither RTP nor RTCP (RFC 3264 §8.4)."""
        return self.address in ("0.0.0.0", "::")

    def __str__(self) -> str:
        address = self.address
        if self.ttl is not None:
            address += f"/{self.ttl}"
        if self.count is not None:
            address += f"/{self.count}"
        return f"{self.nettype} {self.addrtype} {address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (§5.8), kilobits per second for CT and AS."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True)
class RepeatTime:
    """``r=<repeat interval> <active duration> <offsets from start-time>`` (§5.10).

    The values are kept as typed-times (``7d``, ``3600``), as written.
    """

    interval: str
    duration: str
    offsets: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join((self.interval, self.duration, *self.offsets))


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start-time> <stop-time>`` (§5.9) and its ``r=`` lines; ``0 0`` is unbounded."""

    start: int = 0
    stop: int = 0
    repeats: tuple[RepeatTime, ...] = ()

    def __str__(self) -> str:
        return f"{self.start} {self.stop}"


@dataclass(frozen=True, slots=True)
class ZoneAdjustment:
    """One ``<adjustment time> <offset>`` pair of a ``z=`` line (§5.11)."""

    time: int
    offset: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<attribute>`` or ``a=<attribute>:<value>`` (§5.13); ``value`` is None for a flag."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class OtherLine:
    """A line this model does not interpret: an unknown type letter, or a known
    one whose value could not be read.  Kept, in place, so nothing is lost."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


@dataclass(frozen=True, slots=True, eq=False)
class _Source:
    """A section's lines as received: (canonical text or None for a blank line, raw text
    with its line ending).  ``eol`` is the description's line ending."""

    lines: tuple[tuple[str | None, str], ...]
    eol: str

    def counts(self) -> Counter[str]:
        return Counter(text for text, _ in self.lines if text is not None)


def _render(lines: list[str], source: _Source | None, eol: str, out: list[str]) -> None:
    """Append a section's lines to ``out``, keeping received text where it still applies."""
    if source is not None and Counter(lines) == source.counts():
        out.extend(raw for _, raw in source.lines)
        return
    spare: dict[str, list[str]] = {}
    if source is not None:
        for text, raw in reversed(source.lines):
            if text is not None:
                spare.setdefault(text, []).append(raw)
    for text in lines:
        raws = spare.get(text)
        if raws:
            out.append(raws.pop())
            continue
        if "\n" in text or "\r" in text:
            raise SdpError(f"a value holds a line break: {text[:40]!r}",
                           rfc="RFC 4566 §9 byte-string")
        out.append(text + eol)


class _Attributes:
    """Attribute lookups shared by the session and media levels."""

    __slots__ = ()
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name`` (case-insensitive): ``""`` for a flag,
        None if absent."""
        name = name.lower()
        for a in self.attributes:
            if a.name.lower() == name:
                return "" if a.value is None else a.value
        return None

    def attribute_values(self, name: str) -> list[str]:
        """The values of every ``a=name``, in order (``""`` for flags)."""
        name = name.lower()
        return ["" if a.value is None else a.value
                for a in self.attributes if a.name.lower() == name]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute at this level, or None (the last one wins if several)."""
        found = None
        for a in self.attributes:
            if a.value is None and a.name.lower() in DIRECTIONS:
                found = Direction(a.name.lower())
        return found


@dataclass(frozen=True, slots=True)
class MediaDescription(_Attributes):
    """An ``m=`` section (§5.14): ``m=<media> <port>[/<number of ports>] <proto> <fmt> ...``
    and its ``i=``, ``c=``, ``b=``, ``k=`` and ``a=`` lines.

    A port of 0 is a disabled or rejected stream (RFC 3264 §6, §8.2).
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    info: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    other: tuple[OtherLine, ...] = ()
    source: _Source | None = field(default=None, compare=False, repr=False)

    # ---- reading ---------------------------------------------------------
    @property
    def rejected(self) -> bool:
        """Port 0: the stream is disabled (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def is_rtp(self) -> bool:
        """An RTP profile (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF`` ...):
        the formats are payload types."""
        return "RTP/" in self.proto.upper() + "/"

    def rtpmap(self, fmt: str | int) -> RtpMap | None:
        """The codec of payload type ``fmt``: its ``a=rtpmap``, else the RFC 3551 static one.

        An rtpmap that cannot be read counts as absent.
        """
        fmt = str(fmt)
        for value in self.attribute_values("rtpmap"):
            head = value.lstrip().split(maxsplit=1)
            if head and head[0] == fmt:
                try:
                    return RtpMap.parse(value)
                except SdpError:
                    return None
        return STATIC_PAYLOAD_TYPES.get(fmt) if self.is_rtp else None

    def rtpmaps(self) -> dict[str, RtpMap]:
        """Each format of the ``m=`` line that has a codec, in order, to its RtpMap
        (so each key is a payload type number)."""
        result: dict[str, RtpMap] = {}
        for fmt in self.formats:
            codec = self.rtpmap(fmt)
            if codec is not None:
                result[fmt] = codec
        return result

    def fmtp(self, fmt: str | int) -> str | None:
        """The ``a=fmtp`` parameter text of ``fmt``, or None."""
        fmt = str(fmt)
        for value in self.attribute_values("fmtp"):
            try:
                parsed = Fmtp.parse(value)
            except SdpError:
                continue
            if parsed.format == fmt:
                return parsed.params
        return None

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds, or None (absent or not a number)."""
        return _int_or_none(self.attribute("ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime`` in milliseconds, or None."""
        return _int_or_none(self.attribute("maxptime"))

    # ---- changing --------------------------------------------------------
    def with_direction(self, direction: Direction | None) -> MediaDescription:
        """A copy whose only direction attribute is ``direction`` (None removes it),
        where the old one was, or last."""
        new = [] if direction is None else [Attribute(direction.value)]
        kept: list[Attribute] = []
        for a in self.attributes:
            if a.value is None and a.name.lower() in DIRECTIONS:
                kept.extend(new)
                new = []
            else:
                kept.append(a)
        kept.extend(new)
        return dataclasses.replace(self, attributes=tuple(kept))

    # ---- writing ---------------------------------------------------------
    def lines(self) -> list[str]:
        """The section's lines, canonical text, in the RFC 4566 §5 order (no line endings)."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        out = [" ".join(("m=" + self.media, port, self.proto, *self.formats))]
        if self.info is not None:
            out.append(f"i={self.info}")
        out.extend(f"c={c}" for c in self.connections)
        out.extend(f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a={a}" for a in self.attributes)
        out.extend(str(o) for o in self.other)
        return out

    def __str__(self) -> str:
        out: list[str] = []
        eol = self.source.eol if self.source is not None else CRLF
        _render(self.lines(), self.source, eol, out)
        return _join(out, eol)


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def _join(pieces: list[str], eol: str) -> str:
    """Concatenate lines, ending a received last line that had no line ending when more follow."""
    out: list[str] = []
    for piece in pieces:
        if out and not out[-1].endswith("\n"):
            out.append(eol)
        out.append(piece)
    return "".join(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription(_Attributes):
    """A session description (RFC 4566 §5): the session-level lines and the ``m=`` sections.

    Fields follow the §5 order: ``version`` (``v=``), ``origin`` (``o=``),
    ``session_name`` (``s=``), ``info`` (``i=``), ``uri`` (``u=``), ``emails``
    (``e=``), ``phones`` (``p=``), ``connection`` (``c=``), ``bandwidths``
    (``b=``), ``timings`` (``t=`` with its ``r=``), ``zone_adjustments``
    (``z=``), ``key`` (``k=``), ``attributes`` (``a=``), ``media`` (``m=``
    sections); ``other`` holds session-level lines of other types.
    """

    origin: Origin
    version: int = 0
    session_name: str = "-"
    info: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    zone_adjustments: tuple[ZoneAdjustment, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    other: tuple[OtherLine, ...] = ()
    source: _Source | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse one session description (bytes are UTF-8, RFC 4566 §5).

        Raises ``SdpError`` (status 400) for a description that cannot be used."""
        return _Parser(data).parse()

    # ---- reading ---------------------------------------------------------
    def direction_of(self, media: MediaDescription | int) -> Direction:
        """The stream's direction: its own attribute, else the session's, else
        sendrecv (RFC 3264 §5.1)."""
        m = self.media[media] if isinstance(media, int) else media
        return m.direction or self.direction or Direction.SENDRECV

    def connection_of(self, media: MediaDescription | int) -> Connection | None:
        """The stream's first ``c=``, else the session's (RFC 4566 §5.7)."""
        m = self.media[media] if isinstance(media, int) else media
        return m.connections[0] if m.connections else self.connection

    # ---- writing ---------------------------------------------------------
    @property
    def eol(self) -> str:
        """The line ending written: the received one, CRLF for descriptions built in code."""
        return self.source.eol if self.source is not None else CRLF

    def lines(self) -> list[str]:
        """The session-level lines, canonical text, in the RFC 4566 §5 order (no line endings)."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.info is not None:
            out.append(f"i={self.info}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        for t in self.timings:
            out.append(f"t={t}")
            out.extend(f"r={r}" for r in t.repeats)
        if self.zone_adjustments:
            out.append("z=" + " ".join(f"{z.time} {z.offset}" for z in self.zone_adjustments))
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a={a}" for a in self.attributes)
        out.extend(str(o) for o in self.other)
        return out

    def canonical(self) -> SessionDescription:
        """This description without its received text: written in canonical form, with CRLF."""
        return dataclasses.replace(
            self, source=None,
            media=tuple(dataclasses.replace(m, source=None) for m in self.media))

    def __str__(self) -> str:
        eol = self.eol
        out: list[str] = []
        _render(self.lines(), self.source, eol, out)
        for m in self.media:
            _render(m.lines(), m.source, eol, out)
        return _join(out, eol)

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def replace_media(self, index: int, media: MediaDescription) -> SessionDescription:
        """A copy with the ``index``-th ``m=`` section replaced."""
        sections = list(self.media)
        sections[index] = media
        return dataclasses.replace(self, media=tuple(sections))


# ---------------------------------------------------------------------------
# parsing

_SESSION_SINGLE = {"o", "s", "i", "u", "c", "k", "z"}


def _lines_of(text: str) -> Iterator[tuple[int, str, str]]:
    """Yield (line number, content, raw text with its ending); CRLF or LF ends a line."""
    pos = 0
    number = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl + 1
        raw = text[pos:end]
        content = raw[:-1] if raw.endswith("\n") else raw
        if content.endswith("\r"):
            content = content[:-1]
        number += 1
        yield number, content, raw
        pos = end


class _Section:
    """The lines of one section while it is being read."""

    def __init__(self) -> None:
        self.values: dict[str, list[object]] = {}
        self.source: list[tuple[str | None, str]] = []

    def add(self, kind: str, value: object, canonical: str, raw: str) -> None:
        self.values.setdefault(kind, []).append(value)
        self.source.append((canonical, raw))

    def all(self, kind: str) -> list[object]:
        return self.values.get(kind, [])

    def first(self, kind: str) -> object:
        found = self.values.get(kind)
        return found[0] if found else None


class _Parser:
    def __init__(self, data: bytes | str) -> None:
        self.text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data

    def parse(self) -> SessionDescription:
        eol = CRLF
        session = _Section()
        sections: list[tuple[_Section, tuple[str, int, int | None, str, tuple[str, ...]]]] = []
        current = session
        seen_version = False
        for number, content, raw in _lines_of(self.text):
            if not seen_version and raw.endswith("\n"):
                eol = "\r\n" if raw.endswith("\r\n") else "\n"
            if not content.strip():
                current.source.append((None, raw))
                continue
            if len(content) < 2 or content[1] != "=":
                raise SdpError(f"not a <type>=<value> line: {content[:40]!r}", line=number,
                               rfc="RFC 4566 §5")
            kind = content[0].lower()
            value = content[2:] if kind == "s" else content[2:].rstrip(" \t")
            if not seen_version:
                if kind != "v":
                    raise SdpError("a session description starts with v=", line=number,
                                   rfc="RFC 4566 §5.1 proto-version")
                if not value.strip().isdigit():
                    raise SdpError(f"v= must be a number, got {value!r}", line=number,
                                   rfc="RFC 4566 §5.1 proto-version")
                seen_version = True
                session.add("v", int(value), f"v={int(value)}", raw)
                continue
            if kind == "v":
                raise SdpError("a second v=: exactly one session description is allowed",
                               line=number, rfc="RFC 3264 §5")
            if kind == "m":
                current = _Section()
                sections.append((current, self._media_line(value, number)))
                current.source.append((None, raw))  # replaced once the section is built
                continue
            if current is session:
                self._session_line(session, kind, value, raw, number)
            else:
                self._media_attribute_line(current, kind, value, raw, number)
        if not seen_version:
            raise SdpError("empty session description", line=1, rfc="RFC 4566 §5.1")
        return self._build(session, sections, eol)

    # ---- one line --------------------------------------------------------
    def _session_line(self, s: _Section, kind: str, value: str, raw: str, number: int) -> None:
        if kind in _SESSION_SINGLE and s.first(kind) is not None:
            if kind in ("o", "s"):
                raise SdpError(f"a second {kind}= line", line=number, rfc="RFC 4566 §5")
            self._other(s, kind, value, raw)
            return
        if kind == "o":
            origin = Origin.parse(value, number)
            s.add("o", origin, f"o={origin}", raw)
        elif kind in ("s", "i", "u", "e", "p", "k"):
            s.add(kind, value, f"{kind}={value}", raw)
        elif kind == "c":
            connection = Connection.parse(value, number)
            s.add("c", connection, f"c={connection}", raw)
        elif kind == "b":
            self._bandwidth(s, value, raw)
        elif kind == "t":
            s.add("t", [self._timing(value, number), []], "", raw)
        elif kind == "r":
            # a repeat belongs to the t= line before it, wherever it was written
            if not s.all("t"):
                raise SdpError("r= before any t= line", line=number,
                               rfc="RFC 4566 §5.10 repeat-fields")
            repeat = self._repeat(value)
            if repeat is None:
                self._other(s, kind, value, raw)
            else:
                timing = s.all("t")[-1]
                assert isinstance(timing, list)
                timing[1].append(repeat)
                s.add("r", repeat, f"r={repeat}", raw)
        elif kind == "z":
            zones = self._zones(value)
            if zones is None:
                self._other(s, kind, value, raw)
            else:
                s.add("z", zones, "z=" + " ".join(f"{z.time} {z.offset}" for z in zones), raw)
        elif kind == "a":
            self._attribute(s, value, raw)
        else:
            self._other(s, kind, value, raw)

    def _media_attribute_line(self, s: _Section, kind: str, value: str, raw: str,
                              number: int) -> None:
        if kind in ("i", "k") and s.first(kind) is not None:
            self._other(s, kind, value, raw)
        elif kind in ("i", "k"):
            s.add(kind, value, f"{kind}={value}", raw)
        elif kind == "c":
            connection = Connection.parse(value, number)
            s.add("c", connection, f"c={connection}", raw)
        elif kind == "b":
            self._bandwidth(s, value, raw)
        elif kind == "a":
            self._attribute(s, value, raw)
        else:
            self._other(s, kind, value, raw)

    @staticmethod
    def _other(s: _Section, kind: str, value: str, raw: str) -> None:
        line = OtherLine(kind, value)
        s.add("other", line, str(line), raw)

    def _attribute(self, s: _Section, value: str, raw: str) -> None:
        name, colon, rest = value.partition(":")
        if not name or any(c in name for c in " \t"):
            self._other(s, "a", value, raw)
            return
        attribute = Attribute(name, rest if colon else None)
        s.add("a", attribute, f"a={attribute}", raw)

    def _bandwidth(self, s: _Section, value: str, raw: str) -> None:
        bwtype, colon, amount = value.partition(":")
        amount = amount.strip()
        if not colon or not bwtype or not amount.isdigit():
            self._other(s, "b", value, raw)
            return
        bandwidth = Bandwidth(bwtype.strip(), int(amount))
        s.add("b", bandwidth, f"b={bandwidth}", raw)

    @staticmethod
    def _timing(value: str, number: int) -> Timing:
        parts = value.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise SdpError(f"t= needs a start and a stop time, got {value!r}", line=number,
                           rfc="RFC 4566 §5.9 time-fields")
        return Timing(int(parts[0]), int(parts[1]))

    @staticmethod
    def _repeat(value: str) -> RepeatTime | None:
        parts = value.split()
        if len(parts) < 3 or not all(_is_typed_time(p) for p in parts):
            return None
        return RepeatTime(parts[0], parts[1], tuple(parts[2:]))

    @staticmethod
    def _zones(value: str) -> tuple[ZoneAdjustment, ...] | None:
        parts = value.split()
        if not parts or len(parts) % 2:
            return None
        zones = []
        for time, offset in zip(parts[::2], parts[1::2], strict=True):
            if not time.isdigit() or not _is_typed_time(offset.removeprefix("-")):
                return None
            zones.append(ZoneAdjustment(int(time), offset))
        return tuple(zones)

    @staticmethod
    def _media_line(value: str, number: int) -> tuple[str, int, int | None, str, tuple[str, ...]]:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(f"m= needs media, port and proto, got {value!r}", line=number,
                           rfc="RFC 4566 §5.14 media-field")
        media, port_text, proto, *formats = parts
        port_part, slash, count_part = port_text.partition("/")
        if not port_part.isdigit() or int(port_part) > 65535 or (
                slash and not count_part.isdigit()):
            raise SdpError(f"bad m= port {port_text!r}", line=number,
                           rfc="RFC 4566 §5.14 media-field")
        count = int(count_part) if slash else None
        return media, int(port_part), count, proto, tuple(formats)

    # ---- sections --------------------------------------------------------
    def _build(self, s: _Section, sections: list[tuple[_Section, tuple[
            str, int, int | None, str, tuple[str, ...]]]], eol: str) -> SessionDescription:
        origin = s.first("o")
        if not isinstance(origin, Origin):
            raise SdpError("no o= line", rfc="RFC 4566 §5.2 origin-field")
        name = s.first("s")
        if not isinstance(name, str):
            raise SdpError("no s= line", rfc="RFC 4566 §5.3 session-name-field")
        timings: list[Timing] = []
        source = []
        for text, raw in s.source:
            if text == "":  # a t= line: its canonical text is known once its r= lines are
                entry = s.all("t")[len(timings)]
                assert isinstance(entry, list)
                timing = dataclasses.replace(entry[0], repeats=tuple(entry[1]))
                timings.append(timing)
                text = f"t={timing}"
            source.append((text, raw))
        zones = s.first("z")
        media = tuple(self._media(section, mline, eol) for section, mline in sections)
        return SessionDescription(
            version=_one_int(s.first("v")),
            origin=origin,
            session_name=name,
            info=_str_or_none(s.first("i")),
            uri=_str_or_none(s.first("u")),
            emails=tuple(str(e) for e in s.all("e")),
            phones=tuple(str(p) for p in s.all("p")),
            connection=_connection_or_none(s.first("c")),
            bandwidths=tuple(b for b in s.all("b") if isinstance(b, Bandwidth)),
            timings=tuple(timings),
            zone_adjustments=zones if isinstance(zones, tuple) else (),
            key=_str_or_none(s.first("k")),
            attributes=tuple(a for a in s.all("a") if isinstance(a, Attribute)),
            media=media,
            other=tuple(o for o in s.all("other") if isinstance(o, OtherLine)),
            source=_Source(tuple(source), eol),
        )

    @staticmethod
    def _media(s: _Section, mline: tuple[str, int, int | None, str, tuple[str, ...]],
               eol: str) -> MediaDescription:
        media, port, count, proto, formats = mline
        m = MediaDescription(
            media, port, proto, formats, port_count=count,
            info=_str_or_none(s.first("i")),
            connections=tuple(c for c in s.all("c") if isinstance(c, Connection)),
            bandwidths=tuple(b for b in s.all("b") if isinstance(b, Bandwidth)),
            key=_str_or_none(s.first("k")),
            attributes=tuple(a for a in s.all("a") if isinstance(a, Attribute)),
            other=tuple(o for o in s.all("other") if isinstance(o, OtherLine)),
        )
        source = list(s.source)
        source[0] = (m.lines()[0], source[0][1])
        return dataclasses.replace(m, source=_Source(tuple(source), eol))


def _is_typed_time(text: str) -> bool:
    return text[:-1].isdigit() if text[-1:] in ("d", "h", "m", "s") else text.isdigit()


def _one_int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _connection_or_none(value: object) -> Connection | None:
    return value if isinstance(value, Connection) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
