"""CSeq (RFC 3261 §20.16, §8.1.1.5)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..abnf import TOKEN
from ..errors import ParseError
from .base import Field, register

_scan_cseq: Callable[[str], tuple[int, str] | None] | None
try:  # the compiled build's C twin of _CSEQ_RE and the range check
    from ._cfields import scan_cseq as _scan_cseq
except ImportError:  # the pure build: the pattern
    _scan_cseq = None

__all__ = ["CSeq"]

_RULE = "RFC 3261 §20.16"
# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
_CSEQ_RE = re.compile(rf"[ \t]*([0-9]+)[ \t]+({TOKEN})[ \t]*", re.ASCII)


def _parse_cseq(cls: type[CSeq], text: str) -> CSeq:
    """``CSeq.parse``: a function, so that the compiled build knows ``self``
    is a CSeq (cseq.pxd)."""
    if _scan_cseq is not None:
        scanned = _scan_cseq(text)
        if scanned is not None:
            self = CSeq.__new__(cls)
            self._raw = text
            self.seq, self.method = scanned
            return self
    m = _CSEQ_RE.fullmatch(text)
    if m is None:
        raise ParseError(f"malformed CSeq {text.strip()!r}", rfc=_RULE)
    digits = m.group(1)
    seq = int(digits) if len(digits) <= 10 else 2**31
    if seq >= 2**31:
        raise ParseError(f"sequence number {seq} is not below 2**31",
                         rfc="RFC 3261 §8.1.1.5")
    self = CSeq.__new__(cls)
    self._raw = text
    self.seq = seq
    self.method = m.group(2)
    return self


class CSeq(Field):
    """``CSeq: 4711 INVITE``: ``seq`` below 2**31 (§8.1.1.5) and ``method``."""

    __slots__ = ("method", "seq")

    RULE = _RULE

    def __init__(self, seq: int, method: str) -> None:
        self._raw = None
        self.seq = seq
        self.method = method

    parse = classmethod(_parse_cseq)

    def render(self) -> str:
        return f"{self.seq} {self.method}"

    def _state(self) -> tuple[object, ...]:
        return (self.seq, self.method)

    @property
    def modified(self) -> bool:
        # compared with the kept text (already checked) instead of parsing it again
        raw = self._raw
        if raw is None:
            return True
        seq, method = raw.split()
        return int(seq) != self.seq or method != self.method


# a call, not a decorator: CSeq is an extension type in the compiled build
register("CSeq")(CSeq)
