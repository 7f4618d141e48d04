"""The header section scanner: one received message's bytes to its lines.

``scan()`` finds the start line and the header lines of a message, checks
what makes a header section unreadable (RFC 3261 §7: no empty line, bare CR or
LF, too many or too long lines; §25.1: bytes that are not UTF-8) and maps
each header name to its lookup key.  It makes no object per line but the
line's text (the split of the decoded header section) and, for a folded
header (§7.3.1), the join of its continuation lines; the typed values are
parsed later, when read (see ``Headers``).

This is the pure-Python scanner; the compiled build has a C twin,
``_cscanner.pyx``, which hands it every message it does not handle itself.
"""

from __future__ import annotations

from array import array

from .abnf import TOKEN_RE
from .errors import MessageTooLarge, ParseError
from .fields.base import HEADER_TYPES
from .headers import COMPACT_FORMS, Positions, canonical_name, positions_of

__all__ = ["KEYS", "Positions", "not_utf8", "positions_of", "scan"]


def scan(data: bytes, max_headers: int, max_line_length: int
         ) -> tuple[int, int, str, array[int] | None, list[str], Positions, bool,
                    list[str] | None]:
    """Scan a framed message:
    ``(start, end, start_line, offsets, keys, positions, nul, lines)``.

    ``start`` is the offset of the start line (CRLFs before it are skipped,
    §7.5), ``end`` that of the CRLFCRLF ending the header section; each
    header line is given either by ``offsets``, its offset in ``data`` (then
    ``end + 2`` last), as the C scanner does, or by ``lines``, its text, as
    this one does (cheaper in pure Python than counting offsets): the other
    is None.  A folded header's line runs to the end of its last continuation
    line.  ``keys`` holds each line's lookup key and ``positions`` where each
    key's lines are; ``nul`` is True when a NUL byte is somewhere in the
    header section (the caller checks where).
    """
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
        raise not_utf8(data, start, start + exc.start) from None
    lines = head.split("\r\n")
    # once the CRLFs are gone no CR or LF is left: a copy and two memchr
    # cost less than counting each character of the section twice
    joined = "".join(lines)
    if "\r" in joined or "\n" in joined:
        raise ParseError("bare CR or LF inside the header section", rfc="RFC 3261 §7")
    if len(lines) - 1 > max_headers:
        raise MessageTooLarge(f"more than {max_headers} header lines",
                              rfc="RFC 3261 §21.5.11")
    if end - start > max_line_length:
        # only a header section longer than the limit can hold a line that is
        longest = max(map(len, lines))
        if longest > max_line_length:
            raise MessageTooLarge(f"a line of {longest} characters is over the limit of "
                                  f"{max_line_length}", rfc="RFC 3261 §21.5.11")
    nul = "\x00" in joined
    start_line = lines[0]
    del lines[0]
    keys: list[str] = []
    append = keys.append
    get = KEYS.get
    positions: Positions = {}
    for i, raw in enumerate(lines):
        name, colon, _ = raw.partition(":")
        key = get(name)
        if key is None or not colon:
            if raw[:1] in (" ", "\t"):
                lines, keys = _folded(lines, max_line_length)
                return start, end, start_line, None, keys, positions_of(keys), nul, lines
            key = _new_key(raw, len(name) if colon else -1)
        append(key)
        if key in positions:
            found = positions[key]
            if type(found) is int:
                positions[key] = [found, i]
            else:
                found.append(i)  # type: ignore[union-attr]
        else:
            positions[key] = i
    return start, end, start_line, None, keys, positions, nul, lines


def _folded(lines: list[str], max_line_length: int) -> tuple[list[str], list[str]]:
    """The slow path: some lines continue the previous one (§7.3.1 folding)."""
    merged: list[str] = []
    texts: list[str] = []  # the unfolded text of each merged line
    for raw in lines:
        if not raw:
            raise ParseError("empty header line", rfc="RFC 3261 §7.3")
        if raw[0] == " " or raw[0] == "\t":
            if not merged:
                raise ParseError("continuation line before any header", rfc="RFC 3261 §7.3.1")
            merged[-1] = merged[-1] + "\r\n" + raw
            texts[-1] = texts[-1].rstrip(" \t") + " " + raw.strip(" \t")
        else:
            merged.append(raw)
            texts.append(raw)
    keys: list[str] = []
    for raw, text in zip(merged, texts, strict=True):
        name, colon, _ = text.partition(":")
        key = KEYS.get(name)
        if key is None or not colon:
            key = _new_key(text, len(name) if colon else -1)
        if len(raw) > max_line_length:
            raise MessageTooLarge("header line too long", header=name.strip(),
                                  rfc="RFC 3261 §21.5.11")
        keys.append(key)
    return merged, keys


def _new_key(raw: str, colon: int) -> str:
    """Check a header name not seen before (``token``, §25.1) and cache its key."""
    if not raw:
        raise ParseError("empty header line", rfc="RFC 3261 §7.3")
    if colon < 0:
        raise ParseError(f"header line without a colon: {raw[:40]!r}", rfc="RFC 3261 §7.3")
    name = raw[:colon]
    stripped = name.rstrip(" \t")
    if TOKEN_RE.fullmatch(stripped) is None:
        raise ParseError(f"bad header name {stripped!r}", rfc="RFC 3261 §25.1 header-name")
    key = stripped.lower()
    key = COMPACT_FORMS.get(key, key)
    if len(KEYS) < 4096:
        KEYS[name] = key
    return key


def not_utf8(data: bytes, start: int, offset: int) -> ParseError:
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


#: header name as written -> lookup key, for names already checked once
KEYS: dict[str, str] = {}
for _key in frozenset(HEADER_TYPES) | frozenset(COMPACT_FORMS):
    for _name in {_key, canonical_name(_key), _key.upper(), _key.title()}:
        KEYS[_name] = COMPACT_FORMS.get(_key, _key)
