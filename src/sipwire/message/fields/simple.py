"""Single-value headers: Call-ID (§20.8), Content-Length (§20.14), Expires
(§20.19), Max-Forwards (§20.22) and Min-Expires (§20.23)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from ..abnf import WORD
from ..errors import ParseError
from .base import Field, parse_int, register

_scan_call_id: Callable[[str], str | None] | None
_scan_number: Callable[[str], int | None] | None
try:  # the compiled build's C twins of _CALLID_RE and of parse_int's usual case
    from ._cfields import scan_call_id as _scan_call_id
    from ._cfields import scan_number as _scan_number
except ImportError:  # the pure build: the pattern and parse_int
    _scan_call_id = _scan_number = None

__all__ = ["CallID", "ContentLength", "Expires", "MaxForwards", "MinExpires"]

# callid = word [ "@" word ]
_CALLID_RE = re.compile(rf"{WORD}(?:@{WORD})?", re.ASCII)
N = TypeVar("N", bound="_Number")
# §20.19: delta-seconds is 0 .. 2**32-1
DELTA_SECONDS_MAX = 2**32 - 1


def _parse_call_id(cls: type[CallID], text: str) -> CallID:
    """``CallID.parse``: a function, so that the compiled build knows ``self``
    is a CallID (simple.pxd)."""
    value = _scan_call_id(text) if _scan_call_id is not None else None
    if value is None:
        value = text.strip(" \t")
        if _CALLID_RE.fullmatch(value) is None:
            raise ParseError(f"malformed callid {value!r}", rfc=cls.RULE)
    self = CallID.__new__(cls)
    self._raw = text
    self.value = value
    return self


class CallID(Field):
    """``Call-ID: callid`` where callid = word ["@" word] (§20.8)."""

    __slots__ = ("value",)

    RULE = "RFC 3261 §20.8"

    def __init__(self, value: str) -> None:
        self._raw = None
        self.value = value

    parse = classmethod(_parse_call_id)

    def render(self) -> str:
        return self.value

    def _state(self) -> tuple[object, ...]:
        return (self.value,)

    @property
    def modified(self) -> bool:
        # compared with the kept text instead of parsing it again
        raw = self._raw
        return raw is None or raw.strip(" \t") != self.value


# a call, not a decorator: CallID is an extension type in the compiled build
register("Call-ID", "i")(CallID)


class _Number(Field):
    """A header whose value is 1*DIGIT."""

    __slots__ = ("value",)

    MAXIMUM = DELTA_SECONDS_MAX

    def __init__(self, value: int) -> None:
        self._raw = None
        self.value = value

    @classmethod
    def parse(cls: type[N], text: str) -> N:
        self = cls.__new__(cls)
        self._raw = text
        value = _scan_number(text) if _scan_number is not None else None
        if value is None or value > cls.MAXIMUM:  # parse_int says why not
            value = parse_int(text, cls.RULE, cls.MAXIMUM)
        self.value = value
        return self

    def render(self) -> str:
        return str(self.value)

    def _state(self) -> tuple[object, ...]:
        return (self.value,)

    @property
    def modified(self) -> bool:
        # compared with the kept text instead of parsing it again
        raw = self._raw
        if raw is None:
            return True
        digits = raw.strip(" \t")
        if len(digits) > 10:  # out of range and clamped (Expires): the slow way
            return type(self).parse(raw).value != self.value
        return int(digits) != self.value

    def __int__(self) -> int:
        return self.value


@register("Content-Length", "l")
class ContentLength(_Number):
    """``Content-Length: 1*DIGIT``, the body size in octets (§20.14)."""

    __slots__ = ()
    RULE = "RFC 3261 §20.14"


@register("Max-Forwards")
class MaxForwards(_Number):
    """``Max-Forwards: 1*DIGIT``, "an integer in the range 0-255" (§20.22)."""

    __slots__ = ()
    RULE = "RFC 3261 §20.22"
    MAXIMUM = 255


@register("Expires")
class Expires(_Number):
    """``Expires: delta-seconds`` (§20.19)."""

    __slots__ = ()
    RULE = "RFC 3261 §20.19"

    @classmethod
    def parse(cls: type[N], text: str) -> N:
        # §20.19 / §10.2.1: a value above 2**32-1 is taken as 2**32-1.
        digits = text.strip(" \t")
        if len(digits) > 9 and digits.isdigit() and digits.isascii() and (
                len(digits.lstrip("0")) > 10 or int(digits) > DELTA_SECONDS_MAX):
            self = cls.__new__(cls)
            self._raw = text
            self.value = DELTA_SECONDS_MAX
            return self
        return super().parse(text)


@register("Min-Expires")
class MinExpires(Expires):
    """``Min-Expires: delta-seconds`` (§20.23)."""

    __slots__ = ()
    RULE = "RFC 3261 §20.23"
