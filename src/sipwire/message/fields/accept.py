"""Accept, Accept-Encoding and Accept-Language (RFC 3261 §20.1-§20.3).

Each element of these lists is a range with parameters, one of which may be
the quality value ``q`` (RFC 3261 §25.1 ``accept-param``).  Every parameter,
``q`` included, stays in ``params`` in the order it was written, so that a
value renders back the way it came; ``q`` is also offered as a float.

The three headers may be empty (``Accept:`` means "no body is acceptable",
§20.1); an empty header has no elements, so it never reaches ``parse``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import SWS, TOKEN
from ..errors import ParseError
from .base import Field, register
from .params import Params, format_params, parse_params

__all__ = ["AcceptEncoding", "AcceptLanguage", "AcceptRange", "format_qvalue"]

# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# media-range = ( "*/*" / ( m-type SLASH "*" ) / ( m-type SLASH m-subtype ) ); "*" is a
# token character, so one pattern covers all three forms.
_MEDIA_RANGE_RE = re.compile(rf"({TOKEN}){SWS}/{SWS}({TOKEN})")
# codings = content-coding / "*"; content-coding = token (and "*" is a token)
_CODING_RE = re.compile(TOKEN)
# language-range = ( ( 1*8ALPHA *( "-" 1*8ALPHA ) ) / "*" )
_LANGUAGE_RANGE_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z]{1,8})*|\*")


def format_qvalue(q: float) -> str:
    """The shortest ``qvalue`` text for ``q`` (``1``, ``0.5``, ``0.125``)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, not {q!r}")
    return f"{q:.3f}".rstrip("0").rstrip(".")


class _Weighted(Field):
    """A list element whose ``params`` may carry the quality value ``q``."""

    __slots__ = ("params",)

    params: Params
    RULE: ClassVar[str] = "RFC 3261 §25.1 accept-param"

    @classmethod
    def _tail(cls, text: str) -> Params:
        """Parse the ``*(SEMI accept-param)`` tail and check its ``q``."""
        params = parse_params(text, cls.RULE)
        if "q" in params:
            q = params["q"]
            if q is None or QVALUE_RE.fullmatch(q) is None:
                raise ParseError(f"bad qvalue {q!r}", rfc="RFC 3261 §25.1 qvalue")
        return params

    @property
    def q(self) -> float:
        """The quality value; 1.0 when absent (RFC 2616 §3.9, cited by §20.1)."""
        q = self.params.get("q")
        return 1.0 if q is None else float(q)

    @q.setter
    def q(self, value: float | None) -> None:
        if value is None:
            self.params.pop("q", None)
        else:
            self.params["q"] = format_qvalue(value)


@register("Accept", multi=True)
class AcceptRange(_Weighted):
    """One ``accept-range`` of Accept (RFC 3261 §20.1): ``type/subtype;params``.

    ``type`` and ``subtype`` keep their case as written (they compare
    case-insensitively, see ``mime`` and ``matches``); ``*`` is a wildcard.
    ``params`` holds the media-type parameters and the accept-params, ``q``
    among them.
    """

    __slots__ = ("subtype", "type")

    type: str
    subtype: str
    RULE: ClassVar[str] = "RFC 3261 §20.1 accept-range"

    def __init__(
        self, type: str = "*", subtype: str = "*", params: Params | None = None,
        *, q: float | None = None,
    ) -> None:
        self._raw = None
        self.type = type
        self.subtype = subtype
        self.params = dict(params) if params else {}
        if q is not None:
            self.q = q

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _MEDIA_RANGE_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} is not a media-range", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.type, self.subtype = m.groups()
        end = m.end()
        self.params = cls._tail(value[end:]) if end < len(value) else {}
        return self

    @property
    def mime(self) -> str:
        """``type/subtype`` lower-cased, for comparison."""
        return f"{self.type}/{self.subtype}".lower()

    def matches(self, mime: str) -> bool:
        """True if the media type ``mime`` (``"application/sdp"``) is in this range."""
        mtype, _, msub = mime.lower().partition("/")
        rtype = self.type.lower()
        if rtype == "*":
            return True
        return rtype == mtype and self.subtype.lower() in ("*", msub)

    def render(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.type, self.subtype, self.params)


@register("Accept-Encoding", multi=True)
class AcceptEncoding(_Weighted):
    """One ``encoding`` of Accept-Encoding (RFC 3261 §20.2): ``coding;q=...``.

    ``coding`` is a content-coding token (``gzip``, ``identity``) or ``*``.
    """

    __slots__ = ("coding",)

    coding: str
    RULE: ClassVar[str] = "RFC 3261 §20.2 encoding"

    def __init__(
        self, coding: str = "*", params: Params | None = None, *, q: float | None = None,
    ) -> None:
        self._raw = None
        self.coding = coding
        self.params = dict(params) if params else {}
        if q is not None:
            self.q = q

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _CODING_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} is not a content-coding", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.coding = m.group()
        end = m.end()
        self.params = cls._tail(value[end:]) if end < len(value) else {}
        return self

    def render(self) -> str:
        return f"{self.coding}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.coding, self.params)


@register("Accept-Language", multi=True)
class AcceptLanguage(_Weighted):
    """One ``language`` of Accept-Language (RFC 3261 §20.3): ``en-gb;q=0.8``.

    ``language`` is a language-range (``1*8ALPHA *("-" 1*8ALPHA)``) or ``*``.
    """

    __slots__ = ("language",)

    language: str
    RULE: ClassVar[str] = "RFC 3261 §20.3 language"

    def __init__(
        self, language: str = "*", params: Params | None = None, *, q: float | None = None,
    ) -> None:
        self._raw = None
        self.language = language
        self.params = dict(params) if params else {}
        if q is not None:
            self.q = q

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _LANGUAGE_RANGE_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} is not a language-range", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.language = m.group()
        end = m.end()
        if end < len(value) and value[end] not in " \t;":
            # "en-gb1" or a 9-letter subtag: the range pattern stopped inside a word.
            raise ParseError(f"{value!r} is not a language-range", rfc=cls.RULE)
        self.params = cls._tail(value[end:]) if end < len(value) else {}
        return self

    def render(self) -> str:
        return f"{self.language}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.language, self.params)
