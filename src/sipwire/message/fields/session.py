"""Headers of reliable provisionals and session timers: RSeq and RAck
(RFC 3262 §7), Session-Expires and Min-SE (RFC 4028 §4, §5).

``RSeq = "RSeq" HCOLON response-num``;
``RAck = "RAck" HCOLON response-num LWS CSeq-num LWS Method``;
``Session-Expires = ("Session-Expires" / "x") HCOLON delta-seconds *(SEMI se-params)``
with ``se-params = refresher-param / generic-param`` and
``refresher-param = "refresher" EQUAL ("uas" / "uac")``;
``Min-SE = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import TOKEN
from ..errors import ParseError
from .base import Field, parse_int, register
from .params import Params, format_params, parse_params

__all__ = ["MinSE", "RAck", "RSeq", "SessionExpires"]

#: response-num is 1*DIGIT; a UAS starts it below 2**31 and adds one per response (RFC 3262 §3)
RESPONSE_NUM_MAX = 2**32 - 1
# RAck = response-num LWS CSeq-num LWS Method
_RACK_RE = re.compile(rf"[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+({TOKEN})[ \t]*", re.ASCII)


@register("RSeq")
class RSeq(Field):
    """``RSeq: 988789``: the sequence number of a reliable provisional (RFC 3262 §7.1)."""

    __slots__ = ("value",)

    RULE: ClassVar[str] = "RFC 3262 §7.1"

    def __init__(self, value: int) -> None:
        self._raw = None
        self.value = value

    @classmethod
    def parse(cls, text: str) -> Self:
        self = cls.__new__(cls)
        self._raw = text
        self.value = parse_int(text, cls.RULE, RESPONSE_NUM_MAX)
        return self

    def render(self) -> str:
        return str(self.value)

    def _state(self) -> tuple[object, ...]:
        return (self.value,)

    def __int__(self) -> int:
        return self.value


@register("RAck")
class RAck(Field):
    """``RAck: 776656 1 INVITE``: the RSeq, CSeq number and method that a PRACK
    acknowledges (RFC 3262 §7.2)."""

    __slots__ = ("cseq", "method", "rseq")

    RULE: ClassVar[str] = "RFC 3262 §7.2"

    def __init__(self, rseq: int, cseq: int, method: str) -> None:
        self._raw = None
        self.rseq = rseq
        self.cseq = cseq
        self.method = method

    @classmethod
    def parse(cls, text: str) -> Self:
        m = _RACK_RE.fullmatch(text)
        if m is None:
            raise ParseError(f"malformed RAck {text.strip()!r} (want 'rseq cseq method')",
                             rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.rseq = parse_int(m.group(1), cls.RULE, RESPONSE_NUM_MAX)
        self.cseq = parse_int(m.group(2), cls.RULE, 2**31 - 1)
        self.method = m.group(3)
        return self

    def render(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"

    def _state(self) -> tuple[object, ...]:
        return (self.rseq, self.cseq, self.method)


class _DeltaWithParams(Field):
    """``delta-seconds *(SEMI generic-param)``."""

    __slots__ = ("params", "value")

    value: int
    params: Params

    def __init__(self, value: int, params: Params | None = None) -> None:
        self._raw = None
        self.value = value
        self.params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> Self:
        number, semi, tail = text.strip(" \t").partition(";")
        self = cls.__new__(cls)
        self._raw = text
        self.value = parse_int(number, cls.RULE)
        self.params = parse_params(semi + tail, cls.RULE) if semi else {}
        cls._check(self.params)
        return self

    @classmethod
    def _check(cls, params: Params) -> None:
        """Check the parameters a subclass gives a grammar of its own."""

    def render(self) -> str:
        return f"{self.value}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.value, self.params)

    def __int__(self) -> int:
        return self.value


@register("Session-Expires", "x")
class SessionExpires(_DeltaWithParams):
    """``Session-Expires: 1800;refresher=uac`` (RFC 4028 §4).

    ``value`` is the session interval in seconds; ``refresher`` is ``"uac"``,
    ``"uas"`` or None when the parameter is absent (it is compared
    case-insensitively and written lower-case).
    """

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 4028 §4"

    def __init__(self, value: int, refresher: str | None = None,
                 params: Params | None = None) -> None:
        super().__init__(value, params)
        if refresher is not None:
            self.refresher = refresher

    @classmethod
    def _check(cls, params: Params) -> None:
        refresher = params.get("refresher", "uac")
        if refresher is None or refresher.lower() not in ("uac", "uas"):
            raise ParseError(f"refresher must be uac or uas, not {refresher!r}", rfc=cls.RULE)

    @property
    def refresher(self) -> str | None:
        value = self.params.get("refresher")
        return value.lower() if value else None

    @refresher.setter
    def refresher(self, value: str | None) -> None:
        if value is None:
            self.params.pop("refresher", None)
            return
        if value.lower() not in ("uac", "uas"):
            raise ValueError(f"refresher must be 'uac' or 'uas', not {value!r} (RFC 4028 §4)")
        self.params["refresher"] = value.lower()


@register("Min-SE")
class MinSE(_DeltaWithParams):
    """``Min-SE: 90``: the smallest session interval an element accepts (RFC 4028 §5)."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 4028 §5"
