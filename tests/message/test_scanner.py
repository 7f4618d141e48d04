"""The header section scanner: the C scanner of the compiled build
(``_cscanner.pyx``) and its pure-Python twin (``scanner.py``) give the same
lines, keys and positions, or the same error, for every input."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwire import ParseError
from sipwire.message import scanner

from .test_parsed_headers import INVITE
from .test_properties import SEEDS

_BYTES = [b"\r\n", b"\r", b"\n", b"\x00", b":", b" ", b"\t", b"\r\n ", b"\r\n\t", b"\xff",
          b"\xc3\xa9", b"X-New-Header", b"l", b"Via", b"\r\n\r\n", b"\\"]


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([INVITE, *SEEDS])))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            data[pos:pos] = draw(st.sampled_from(_BYTES))
        elif kind == 1 and data:
            data[pos] = draw(st.integers(0, 255))
        else:
            del data[pos:pos + draw(st.integers(1, 8))]
    return bytes(data)


def _outcome(scan: Any, data: bytes, max_headers: int, max_line: int) -> object:
    """The scanner's result with its lines as text (the C scanner gives their
    offsets, the pure one their text), or its error."""
    try:
        start, end, first, offsets, keys, positions, nul, lines = scan(
            data, max_headers, max_line)
    except ParseError as exc:
        return (type(exc), str(exc), exc.header, exc.offset, exc.status_code)
    if offsets is not None:
        assert lines is None
        lines = [data[a:b - 2].decode() for a, b in pairwise(offsets)]
        assert offsets[-1] == end + 2
    return start, end, first, lines, keys, positions, nul


def test_the_pure_scanner_finds_lines_keys_and_positions() -> None:
    data = b"OPTIONS sip:a@b.c SIP/2.0\r\nVia: v1\r\nl : 0\r\nv: v2\r\n  v3\r\nX-A:\x00\r\n\r\nbody"
    start, end, first, offsets, keys, positions, nul, lines = scanner.scan(data, 256, 16384)
    assert (start, end, first) == (0, data.index(b"\r\n\r\n"), "OPTIONS sip:a@b.c SIP/2.0")
    assert offsets is None
    assert lines == ["Via: v1", "l : 0", "v: v2\r\n  v3", "X-A:\x00"]
    assert keys == ["via", "content-length", "via", "x-a"]
    assert positions == {"via": [0, 2], "content-length": 1, "x-a": 3}
    assert nul


def test_the_pure_scanner_skips_crlfs_before_the_start_line() -> None:
    data = b"\r\n\r\nOPTIONS sip:a@b.c SIP/2.0\r\nVia: v1\r\n\r\n"
    start, end, first, _, _, _, nul, lines = scanner.scan(data, 256, 16384)
    assert (start, end, first, lines, nul) == (
        4, data.index(b"\r\n\r\n", 4), "OPTIONS sip:a@b.c SIP/2.0", ["Via: v1"], False)


@pytest.mark.parametrize("section", [
    b"Via: v1\nX-A: 1",  # a bare LF between two lines
    b"Via: v1\r\r\nX-A: 1",  # a CR before a line's CRLF
    b"Via: v1\r\n\nX-A: 1",  # a bare LF starting a line
    b"Via: v\r1",  # a bare CR inside a value
    b"Via: v1\r\nX-A: 1\r",  # a CR before the CRLFCRLF that ends the section
])
def test_the_pure_scanner_refuses_a_bare_cr_or_lf(section: bytes) -> None:
    data = b"OPTIONS sip:a@b.c SIP/2.0\r\n" + section + b"\r\n\r\n"
    with pytest.raises(ParseError, match=r"bare CR or LF .*RFC 3261 §7"):
        scanner.scan(data, 256, 16384)


@pytest.mark.parametrize("data", [
    b"OPTIONS sip:a@b.c SIP/2.0\r\nVia: v1\r\nl : 0\r\n\r\n",
    "OPTIONS sip:é@b.c SIP/2.0\r\nSubject: ça\r\nVia: v1\r\n\r\n".encode(),
    b"\r\nOPTIONS sip:a@b.c SIP/2.0\r\n\r\n",
])
def test_the_c_scanner_gives_the_offsets_of_the_lines(data: bytes) -> None:
    cscanner = pytest.importorskip("sipwire.message._cscanner")
    assert _outcome(cscanner.scan, data, 256, 16384) == _outcome(scanner.scan, data, 256, 16384)


@given(_messages(), st.sampled_from([256, 3]), st.sampled_from([16384, 60]))
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_the_c_scanner_agrees_with_the_pure_one(data: bytes, max_headers: int,
                                                 max_line: int) -> None:
    cscanner = pytest.importorskip("sipwire.message._cscanner")
    compiled = _outcome(cscanner.scan, data, max_headers, max_line)
    pure = _outcome(scanner.scan, data, max_headers, max_line)
    assert compiled == pure


def test_the_c_scanner_learns_a_name_the_pure_one_checked() -> None:
    """A header name seen for the first time goes to the pure scanner, which
    checks it and adds it to ``KEYS``; from then on the C scanner knows it."""
    cscanner = pytest.importorskip("sipwire.message._cscanner")
    data = b"OPTIONS sip:a@b.c SIP/2.0\r\nVia: v1\r\nX-Learnt-Once : 1\r\n\r\n"
    assert "X-Learnt-Once " not in scanner.KEYS
    first = cscanner.scan(data, 256, 16384)
    assert first[3] is None and first[7] == ["Via: v1", "X-Learnt-Once : 1"]  # the pure one's
    assert scanner.KEYS["X-Learnt-Once "] == "x-learnt-once"
    again = cscanner.scan(data, 256, 16384)
    assert again[3] is not None and again[7] is None  # offsets: the C one's
    assert again[4] == ["via", "x-learnt-once"]
    assert _outcome(cscanner.scan, data, 256, 16384) == _outcome(scanner.scan, data, 256, 16384)
