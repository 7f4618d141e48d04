"""The header section of a SIP message: an ordered, case-insensitive multimap.

Names compare case-insensitively and compact forms equal long forms (RFC 3261
§7.3.1, §7.3.3): ``headers.get("i")`` is ``headers.get("Call-ID")``.  Each header
line keeps the exact text it arrived with, so an untouched line serializes to
the same bytes (folding and odd spacing included); a line that is set, added
or whose typed value was changed is written in canonical form.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .errors import ParseError
from .fields.base import EMPTY_LISTS, HEADER_TYPES, LIST_HEADERS, Field

__all__ = ["COMPACT_FORMS", "LIST_HEADERS", "HeaderLine", "Headers", "canonical_name",
           "header_key", "split_list"]

#: one header line: [name as written, key, value, raw text or None, typed values or None]
HeaderLine = list[Any]
#: the position of each key's line in a parsed header section (a list when it repeats)
Positions = dict[str, "int | list[int]"]

#: compact form -> long form: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 3265/6665
#: (o u), RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 4474 (y), RFC 3841 (a j d)
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "x": "session-expires", "y": "identity", "a": "accept-contact", "j": "reject-contact",
    "d": "request-disposition",
}

_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
        "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
        "Content-Type", "CSeq", "Date", "Error-Info", "Expires", "From", "In-Reply-To",
        "Max-Forwards", "MIME-Version", "Min-Expires", "Organization", "Priority",
        "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Record-Route",
        "Reply-To", "Require", "Retry-After", "Route", "Server", "Subject", "Supported",
        "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
        "Event", "Allow-Events", "Refer-To", "Referred-By", "Session-Expires", "Identity",
        "Accept-Contact", "Reject-Contact", "Request-Disposition", "RAck", "RSeq", "Path",
        "Service-Route", "Subscription-State", "Min-SE", "Replaces", "P-Asserted-Identity",
        "Privacy", "SIP-ETag", "SIP-If-Match", "Flow-Timer", "Reason",
    )
}

# Lists whose grammar is ``x *(COMMA x)`` in extensions we know of.
LIST_HEADERS.update({"path", "service-route", "allow-events", "accept-contact",
                     "reject-contact", "p-asserted-identity"})


def header_key(name: str) -> str:
    """The lookup key of a header name: lower-case long form."""
    keys = _KEYS  # a dict the compiled build knows as one (headers.pxd)
    key = keys.get(name)
    if key is None:
        key = name.lower()
        key = COMPACT_FORMS.get(key, key)
        if len(keys) < 4096:  # names a program asks for, and a few a peer made up
            keys[name] = key
    return key


#: header_key of the names asked for so far
_KEYS: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """The usual spelling of a header name (``call-id`` -> ``Call-ID``)."""
    key = header_key(name)
    return _CANONICAL.get(key) or "-".join(p[:1].upper() + p[1:] for p in key.split("-"))


def split_list(value: str) -> list[str]:
    """Split ``x *(COMMA x)`` on commas outside quoted strings and ``<...>`` (§7.3.1)."""
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:
        return [part.strip(" \t") for part in value.split(",")]
    parts: list[str] = []
    start = 0
    depth = 0
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1 if depth else 0
        elif ch == "," and depth == 0:
            parts.append(value[start:i].strip(" \t"))
            start = i + 1
        i += 1
    parts.append(value[start:].strip(" \t"))
    return parts


def compact_headers(cls: type[Headers], data: bytes | list[str], offsets: Sequence[int] | None,
                    keys: list[str], positions: dict[str, int | list[int]]) -> Headers:
    """``Headers._parsed``: the compact form of a parsed header section, the
    message's bytes, the offsets of its lines, their lookup keys and the
    positions of each key (the scanner's output).  A function, so that the
    compiled build knows ``self`` is a Headers (headers.pxd) and the parser
    calls it with no class attribute lookup."""
    self = Headers.__new__(cls)
    self._lines = None
    self._index = None
    self._data = data
    self._offs = offsets
    self._keys = keys
    self._pos = positions
    self._vals = [None] * len(keys)
    self._src = None
    return self


class Headers:
    """Ordered header lines of a message.

    A parsed message's headers start in a compact, read-only form: the
    message's bytes ``_data`` and ``_offs``, the offset in them of each header
    line and, last, of the end of the header section plus 2 (line ``i`` is
    ``_data[_offs[i]:_offs[i + 1] - 2]``, a folded header's continuation lines
    included), from the C scanner; or, from the pure-Python one, ``_data`` the
    list of the lines' text and ``_offs`` None; ``_keys`` holds each line's
    lookup key, ``_vals`` its typed values once parsed (None before) and
    ``_pos`` maps each key to the position of its line (an int) or lines (a
    list).  Reads work from those; from offsets, no object is made per line
    until its text or value is asked for.

    The usual changes keep the compact form: adding, setting, removing and
    popping lines are edits (Kamailio calls them lumps) recorded in ``_src``,
    None while the lines are those received, else the source of each line:
    an int, the received line of that number, or a str, the text of a line
    written here (``"Max-Forwards: 69"``; the typed values in ``_vals``, when
    set, are what it serializes to, as for a changed received line).  A
    forwarded request is then written as its received bytes with a few lines
    put in, replaced or left out, each untouched run of lines copied whole.
    ``_data``, ``_offs``, ``_keys`` and ``_pos`` may be shared with copies and
    are never changed in place; ``_src`` and ``_vals`` are this object's own.

    Iteration, ``items()``, comparison and lint turn them into ``_lines``,
    whose every line is ``[name, key, value, raw, typed]``: the name as
    written, the lookup key, the unfolded value (surrounding whitespace not
    yet stripped), the exact original text of the line (or ``None`` once it
    is rewritten) and the typed values once parsed; a header section built
    by hand has that form from the start.  ``_lines`` is None exactly while
    the compact form is in use.  ``_index`` maps keys to their lines; it is
    dropped by every change and rebuilt when
    next needed.
    """

    __slots__ = ("_data", "_index", "_keys", "_lines", "_offs", "_pos", "_src", "_vals")

    def __init__(self, items: Iterable[tuple[str, str | Field]] = ()) -> None:
        self._lines: list[HeaderLine] | None = []
        self._index: dict[str, list[HeaderLine]] | None = None
        self._data: bytes | list[str] | None = None
        self._offs: Sequence[int] | None = None
        self._keys: list[str] | None = None
        self._vals: list[list[Field] | None] | None = None
        self._pos: dict[str, int | list[int]] | None = None
        self._src: list[int | str] | None = None
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_lines(cls, lines: list[HeaderLine]) -> Headers:
        self = cls.__new__(cls)
        self._lines = lines
        self._index = None
        self._data = self._offs = self._keys = self._vals = self._pos = self._src = None
        return self

    _parsed = classmethod(compact_headers)

    def _all(self) -> list[HeaderLine]:
        """The lines as ``[name, key, value, raw, typed]`` lists, made from the
        compact form the first time (which is then given up)."""
        lines = self._lines
        if lines is None:
            lines = []
            append = lines.append
            line = self._line
            src = self._src
            for i, (key, values) in enumerate(zip(self._keys, self._vals, strict=True)):  # type: ignore[arg-type]
                raw = line(i)
                name, _, value = (_unfold(raw) if "\n" in raw else raw).partition(":")
                if src is not None and type(src[i]) is str:
                    # a line written here: no received text, as add() makes it
                    append([name, key, value.strip(" \t"), None, values])
                else:
                    append([name, key, value, raw, values])
            self._lines = lines
            self._data = self._offs = self._keys = self._vals = self._pos = self._src = None
            self._index = None
        return lines

    def _line(self, i: int) -> str:
        """The text of compact line ``i``: as received (a folded one with its
        CRLFs), or as written here."""
        src = self._src
        if src is not None:
            source = src[i]
            if type(source) is str:
                return source
            i = source  # type: ignore[assignment]
        offs = self._offs
        if offs is None:
            lines: list[str] = self._data  # type: ignore[assignment]
            return lines[i]
        data: bytes = self._data  # type: ignore[assignment]
        start = offs[i]
        end = offs[i + 1] - 2
        return data[start:end].decode("utf-8")

    def _value_at(self, i: int) -> str:
        """The value of compact line ``i``, unfolded, whitespace stripped."""
        raw = self._line(i)
        if "\n" in raw:
            raw = _unfold(raw)
        return raw.partition(":")[2].strip(" \t")

    def _typed_at(self, i: int, key: str) -> list[Field]:
        """The typed values of compact line ``i``, parsed once and cached."""
        vals: list[list[Field] | None] = self._vals  # type: ignore[assignment]
        values = vals[i]
        if values is None:
            raw = self._line(i)
            if "\n" in raw:
                raw = _unfold(raw)
            name, _, value = raw.partition(":")
            values = vals[i] = _parse_value(HEADER_TYPES[key], key, name, value)
        return values

    def _find(self, key: str) -> list[HeaderLine]:
        index = self._index
        if index is None:
            index = {}
            for line in self._all():
                found = index.get(line[1])
                if found is None:
                    index[line[1]] = [line]
                else:
                    found.append(line)
            self._index = index
        return index.get(key, _NONE)

    # -- reading ----------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` as text (first list element for list headers)."""
        key = header_key(name)
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                return default
            text = self._value_at(at if type(at) is int else at[0])  # type: ignore[index]
            return split_list(text)[0] if key in LIST_HEADERS else text
        for line in self._find(key):
            value: str = line[2].strip(" \t")
            if key in LIST_HEADERS:
                return split_list(value)[0]
            return value
        return default

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``, comma-separated lists split per the grammar."""
        key = header_key(name)
        split = key in LIST_HEADERS
        out: list[str] = []
        pos = self._pos
        if pos is not None:
            for i in _where(pos, key):
                text = self._value_at(i)
                if split:
                    out.extend([p for p in split_list(text) if p])
                else:
                    out.append(text)
            return out
        for line in self._find(key):
            value: str = line[2].strip(" \t")
            if split:
                out.extend(p for p in split_list(value) if p)
            else:
                out.append(value)
        return out

    def texts(self, name: str) -> list[str]:
        """The value of every ``name`` line as text, a comma-separated list left
        whole: for counting or scanning values without splitting them all."""
        key = header_key(name)
        pos = self._pos
        if pos is not None:
            return [self._value_at(i) for i in _where(pos, key)]
        lines = self._find(key)
        if len(lines) == 1:
            return [lines[0][2].strip(" \t")]
        return [line[2].strip(" \t") for line in lines]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        pos = self._pos
        if pos is not None:
            return header_key(name) in pos
        return bool(self._find(header_key(name)))

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __len__(self) -> int:
        keys = self._keys
        return len(keys) if keys is not None else len(self._lines)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as written, value) for every header line, in order."""
        for line in self._all():
            yield line[0], self._text_of(line)

    def items(self) -> list[tuple[str, str]]:
        return list(self)

    def keys(self) -> list[str]:
        """Distinct lookup keys (lower-case long forms) in order of first appearance."""
        keys = self._keys
        if keys is not None:
            return list(dict.fromkeys(keys))
        return list(dict.fromkeys(line[1] for line in self._all()))

    def typed(self, name: str) -> list[Field]:
        """Every value of ``name`` as its typed class, parsed once and cached.

        Raises ``ParseError`` (with the header name) if a value is malformed,
        and ``KeyError`` if the header has no typed class.
        """
        return self._typed(header_key(name))

    def _typed(self, key: str) -> list[Field]:
        """``typed()`` for a key already in lookup form (the accessors' fast path)."""
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if type(at) is int:
                return list(self._typed_at(at, key))
            found: list[Field] = []
            if at is None:
                if key not in HEADER_TYPES:
                    raise KeyError(key)
                return found
            for i in at:  # type: ignore[union-attr]
                found.extend(self._typed_at(i, key))
            return found
        lines = self._find(key)
        if len(lines) == 1:
            values = lines[0][4]
            if values is not None:
                return list(values)
        cls = HEADER_TYPES[key]
        out: list[Field] = []
        for line in lines:
            values = line[4]
            if values is None:
                values = line[4] = _parse_line(cls, key, line)
            out.extend(values)
        return out

    def first(self, name: str) -> Field | None:
        """The first typed value of ``name``, or None when absent."""
        return self._first(header_key(name))

    def _first(self, key: str) -> Field | None:
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                return None
            values = self._typed_at(at if type(at) is int else at[0], key)  # type: ignore[index]
            return values[0] if values else None
        index = self._index
        # without an index (a message just built), scanning to the first line
        # of the name is cheaper than building one: Via is at the top
        for line in self._lines if index is None else index.get(key, _NONE):  # type: ignore[union-attr]
            if line[1] != key:
                continue
            values = line[4]
            if values is None:
                values = line[4] = _parse_line(HEADER_TYPES[key], key, line)
            first: Field | None = values[0] if values else None
            return first
        return None

    @staticmethod
    def _text_of(line: HeaderLine) -> str:
        values = line[4]
        if values is not None:
            return ", ".join(str(v) for v in values)
        text: str = line[2].strip(" \t")
        return text

    # -- writing ----------------------------------------------------------------

    def _new_lines(self, name: str, value: str | Field | Iterable[Field]) -> list[HeaderLine]:
        """One line, or one per value for a header that is not a comma list
        (WWW-Authenticate and the like may repeat but never combine, §7.3.1)."""
        key = header_key(name)
        if isinstance(value, (str, Field)) or key in LIST_HEADERS:
            return [_new_line(name, key, value)]
        return [_new_line(name, key, v) for v in value]

    def _new_line(self, name: str, value: str | Field | Iterable[Field]) -> HeaderLine:
        return _new_line(name, header_key(name), value)

    def add(self, name: str, value: str | Field | Iterable[Field], *, top: bool = False,
            before: str | None = None) -> None:
        """Add a header line after the last one of its name (or at the end).

        With ``top=True`` it goes before the first line of its name instead
        (or at the very top): how a proxy adds its Via and Record-Route.  With
        ``before="Content-Length"`` a new header goes before that header.
        """
        lines = self._new_lines(name, value)
        if not lines:
            return
        key = lines[0][1]
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                if before is not None:
                    anchor = pos.get(header_key(before))
                    where = len(self._keys) if anchor is None else (  # type: ignore[arg-type]
                        anchor if type(anchor) is int else anchor[0])  # type: ignore[index]
                else:
                    where = 0 if top else len(self._keys)  # type: ignore[arg-type]
            elif top:
                where = at if type(at) is int else at[0]  # type: ignore[index]
            else:
                where = (at if type(at) is int else at[-1]) + 1  # type: ignore[index]
            self._put(where, lines, 0)
            return
        current = self._all()
        self._index = None
        positions = [i for i, existing in enumerate(current) if existing[1] == key]
        if before is not None and not positions:
            anchor_key = header_key(before)
            at = next((i for i, x in enumerate(current) if x[1] == anchor_key), len(current))
            current[at:at] = lines
            return
        if top:
            at = positions[0] if positions else 0
        else:
            at = positions[-1] + 1 if positions else len(current)
        current[at:at] = lines

    def append(self, name: str, value: str | Field | Iterable[Field]) -> None:
        """Add a header line at the very end of the header section."""
        lines = self._new_lines(name, value)
        if self._pos is not None:
            if lines:
                self._put(len(self._keys), lines, 0)  # type: ignore[arg-type]
            return
        current = self._all()
        self._index = None
        current.extend(lines)

    def set(self, name: str, value: str | Field | Iterable[Field]) -> None:
        """Replace every line of ``name`` with one line (placed where the first was)."""
        lines = self._new_lines(name, value)
        if not lines:
            self.remove(name)
            return
        key = lines[0][1]
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                self._put(len(self._keys), lines, 0)  # type: ignore[arg-type]
            elif type(at) is int:
                self._put(at, lines, 1)
            else:
                self._cut(at[1:])  # type: ignore[index]
                self._put(at[0], lines, 1)  # type: ignore[index]
            return
        current = self._all()
        self._index = None
        for i, existing in enumerate(current):
            if existing[1] == key:
                rest = [x for x in current[i + 1:] if x[1] != key]
                current[i:] = lines + rest
                return
        current.extend(lines)

    def __setitem__(self, name: str, value: str | Field) -> None:
        self.set(name, value)

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; return how many were removed."""
        key = header_key(name)
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                return 0
            where: list[int] = [at] if type(at) is int else list(at)  # type: ignore[arg-type]
            self._cut(where)
            return len(where)
        current = self._all()
        self._index = None
        kept = [line for line in current if line[1] != key]
        self._lines = kept
        return len(current) - len(kept)

    def __delitem__(self, name: str) -> None:
        if not self.remove(name):
            raise KeyError(name)

    def pop(self, name: str) -> str | None:
        """Remove and return the first value of ``name`` (one list element).

        A line holding several comma-separated values keeps the others.  This is
        how a proxy strips its own Via from a response or a used Route (§16.4).
        """
        key = header_key(name)
        cls = HEADER_TYPES.get(key)
        typed = cls is not None and key in LIST_HEADERS
        pos = self._pos
        if pos is not None:
            at = pos.get(key)
            if at is None:
                return None
            i: int = at if type(at) is int else at[0]  # type: ignore[index]
            if typed:
                found = self._typed_at(i, key)
                if len(found) <= 1:
                    # the usual case (a response's top Via, a used Route)
                    self._cut([i])
                    return str(found[0]) if found else ""
                rest = found[1:]
                self._put(i, [[self._name_at(i), key, _joined(rest), None, rest]], 1)
                return str(found[0])
            text = self._value_at(i)
            parts = split_list(text) if key in LIST_HEADERS else [text]
            if len(parts) <= 1:
                self._cut([i])
            else:
                self._put(i, [[self._name_at(i), key, ", ".join(parts[1:]), None, None]], 1)
            return parts[0]
        current = self._all()
        self._index = None
        for i, line in enumerate(current):
            if line[1] != key:
                continue
            if typed:
                values: list[Field] = self.typed_line(i, cls)  # type: ignore[arg-type]
                if len(values) <= 1:
                    del current[i]
                    return str(values[0]) if values else ""
                current[i] = [line[0], key, _joined(values[1:]), None, values[1:]]
                return str(values[0])
            text = line[2].strip(" \t")
            parts = split_list(text) if key in LIST_HEADERS else [text]
            if len(parts) <= 1:
                del current[i]
            else:
                current[i] = [line[0], key, ", ".join(parts[1:]), None, None]
            return parts[0]
        return None

    # -- edits of the compact form (lumps) ---------------------------------------

    def _put(self, at: int, lines: list[HeaderLine], drop: int) -> None:
        """Compact form: ``lines`` (``_new_lines``' lists) in place of the
        ``drop`` lines from position ``at``, which are lines of the same
        header when there are any."""
        src = self._src
        if src is None:
            src = self._src = list(range(len(self._keys)))  # type: ignore[arg-type]
        vals: list[list[Field] | None] = self._vals  # type: ignore[assignment]
        keys: list[str] = self._keys  # type: ignore[assignment]
        if drop == 1 and len(lines) == 1:
            # a line of the same header in place of one (set, pop): the
            # keys and positions stay
            line = lines[0]
            src[at] = f"{line[0]}: {line[2]}"
            vals[at] = line[4]
            return
        src[at:at + drop] = [f"{line[0]}: {line[2]}" for line in lines]
        vals[at:at + drop] = [line[4] for line in lines]
        keys = keys[:at] + [line[1] for line in lines] + keys[at + drop:]
        self._keys = keys
        self._pos = positions_of(keys)

    def _cut(self, where: list[int]) -> None:
        """Compact form: the lines at positions ``where`` (ascending) removed."""
        src = self._src
        if src is None:
            src = self._src = list(range(len(self._keys)))  # type: ignore[arg-type]
        vals: list[list[Field] | None] = self._vals  # type: ignore[assignment]
        keys: list[str] = self._keys  # type: ignore[assignment]
        if len(where) == 1:
            i = where[0]
            del src[i]
            del vals[i]
            keys = keys[:i] + keys[i + 1:]
        else:
            for i in reversed(where):
                del src[i]
                del vals[i]
            gone = set(where)
            keys = [key for j, key in enumerate(keys) if j not in gone]
        self._keys = keys
        self._pos = positions_of(keys)

    def _name_at(self, i: int) -> str:
        """The name, as written, of compact line ``i``."""
        return self._line(i).partition(":")[0]

    def _rendered(self, i: int, values: list[Field]) -> str:
        """Compact line ``i`` written from its typed values."""
        return f"{self._name_at(i)}: {_joined(values)}"

    def typed_line(self, index: int, cls: type[Field]) -> list[Field]:
        line = self._all()[index]
        values = line[4]
        if values is None:
            values = line[4] = _parse_line(cls, line[1], line)
        typed: list[Field] = values
        return typed

    def copy(self) -> Headers:
        """A copy whose lines and typed values can change without touching this one.

        Typed values are not shared: the copy parses them again when read, from
        the text (canonical text for values changed here).
        """
        keys = self._keys
        if keys is not None:
            # the compact form is never changed in place: the copy shares it,
            # with its own sources when a line was written or a value changed
            src = self._src
            copied: list[int | str] | None = None
            for i, values in enumerate(self._vals):  # type: ignore[arg-type]
                if values is not None and (
                        (src is not None and type(src[i]) is str) or _changed(values)):
                    if copied is None:
                        copied = list(range(len(keys))) if src is None else list(src)
                    copied[i] = self._rendered(i, values)
            new = Headers._parsed(self._data, self._offs, keys, self._pos)  # type: ignore[arg-type]
            new._src = copied if copied is not None else (None if src is None else list(src))
            return new
        lines: list[HeaderLine] = []
        append = lines.append
        for name, key, value, raw, typed in self._all():
            if typed is not None and (raw is None or _changed(typed)):
                value, raw = _joined(typed), None
            append([name, key, value, raw, None])
        return Headers._from_lines(lines)

    # -- output -----------------------------------------------------------------

    def serialize(self) -> str:
        """The header lines, each followed by CRLF, untouched lines byte-identical."""
        keys = self._keys
        if keys is not None:
            return self._serialize_compact()
        out: list[str] = []
        for line in self._all():
            raw = line[3]
            values = line[4]
            if raw is not None and (values is None or not _changed(values)):
                out.append(raw)
                continue
            out.append(f"{line[0]}: {self._text_of(line)}")
        out.append("")
        return "\r\n".join(out)

    def _serialize_compact(self) -> str:
        """``serialize()`` of the compact form: each run of received lines
        untouched is one slice of the received bytes; a line written here, or
        whose typed value changed, is written out."""
        vals: list[list[Field] | None] = self._vals  # type: ignore[assignment]
        src = self._src
        offs = self._offs
        data = self._data
        if src is None:
            for values in vals:
                if values is not None and _changed(values):
                    break
            else:  # every line as received, each followed by its CRLF
                if offs is not None:
                    return data[offs[0]:offs[-1]].decode("utf-8")  # type: ignore[index, union-attr]
                return "\r\n".join(data) + "\r\n" if vals else ""  # type: ignore[arg-type]
        out: list[str] = []
        first = last = -2  # the received lines of the run not yet written
        for i, values in enumerate(vals):
            source = i if src is None else src[i]
            if type(source) is str:
                text: str = source if values is None else self._rendered(i, values)
            elif values is not None and _changed(values):
                text = self._rendered(i, values)
            else:
                if source == last + 1:
                    last = source
                    continue
                if first >= 0:
                    out.append(_run(data, offs, first, last))  # type: ignore[arg-type]
                first = last = source  # type: ignore[assignment]
                continue
            if first >= 0:
                out.append(_run(data, offs, first, last))  # type: ignore[arg-type]
                first = last = -2
            out.append(text)
            out.append("\r\n")
        if first >= 0:
            out.append(_run(data, offs, first, last))  # type: ignore[arg-type]
        return "".join(out)

    def __str__(self) -> str:
        return self.serialize()

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, self._text_of(a)) for a in self._all() for k in (a[1],)] == [
            (k, other._text_of(b)) for b in other._all() for k in (b[1],)
        ]

    __hash__ = None  # type: ignore[assignment]


_NONE: list[HeaderLine] = []


def positions_of(keys: list[str]) -> Positions:
    """The positions of each key's lines."""
    positions: Positions = {}
    for i, key in enumerate(keys):
        found = positions.setdefault(key, i)
        if type(found) is not int:
            found.append(i)  # type: ignore[union-attr]
        elif found != i:
            positions[key] = [found, i]
    return positions


def _new_line(name: str, key: str, value: str | Field | Iterable[Field]) -> HeaderLine:
    """A line written here: ``[name, key, text, None, typed values or None]``."""
    if isinstance(value, str):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name}: a header value cannot contain CR or LF")
        return [name, key, value.strip(" \t"), None, None]
    if isinstance(value, Field):
        values = [value]
        text = str(value)
    else:
        values = list(value)
        text = _joined(values)
    if "\r" in text or "\n" in text:
        raise ValueError(f"{name}: a header value cannot contain CR or LF")
    return [name, key, text, None, values]


def _joined(values: list[Field]) -> str:
    """A line's typed values as its text (§7.3.1: comma-separated)."""
    return ", ".join([str(value) for value in values])


def _run(data: bytes | list[str], offs: Sequence[int] | None, first: int, last: int) -> str:
    """Received lines ``first`` to ``last`` of a compact form, each followed by
    its CRLF."""
    if offs is not None:
        return data[offs[first]:offs[last + 1]].decode("utf-8")  # type: ignore[union-attr]
    return "\r\n".join(data[first:last + 1]) + "\r\n"  # type: ignore[arg-type]


def _changed(values: list[Field]) -> bool:
    """True when one of a line's typed values differs from the text it came from."""
    for value in values:  # noqa: SIM110 - a loop, not a generator frame per line
        if value.modified:
            return True
    return False


def _where(positions: dict[str, int | list[int]], key: str) -> list[int]:
    """The positions of the lines of ``key`` (compact form)."""
    at = positions.get(key)
    if at is None:
        return []
    if type(at) is int:
        return [at]
    return at  # type: ignore[return-value]


def _unfold(raw: str) -> str:
    """The text of a folded header line (continuation lines after CRLFs): each
    continuation joined to what precedes it by one space (§7.3.1)."""
    parts = raw.split("\r\n")
    text = parts[0]
    for part in parts[1:]:
        text = text.rstrip(" \t") + " " + part.strip(" \t")
    return text


def _split_raw(raw: str) -> tuple[str, str]:
    """(name as written, value) of a header line's exact text, unfolded."""
    if "\n" in raw:
        raw = _unfold(raw)
    name, _, value = raw.partition(":")
    return name, value


def _parse_line(cls: type[Field], key: str, line: HeaderLine) -> list[Field]:
    return _parse_value(cls, key, line[0], line[2])


def _parse_value(cls: type[Field], key: str, name: str, value: str) -> list[Field]:
    value = value.strip(" \t")
    try:
        if key in LIST_HEADERS:
            if not value:
                if key in EMPTY_LISTS:
                    return []
                raise ParseError("empty header value", rfc="RFC 3261 §25.1")
            parts = split_list(value)
            if "" in parts:
                raise ParseError("empty element in comma-separated list",
                                 rfc="RFC 3261 §7.3.1")
            return [cls.parse(p) for p in parts]
        return [cls.parse(value)]
    except ParseError as exc:
        raise exc.with_header(canonical_name(name)) from None
