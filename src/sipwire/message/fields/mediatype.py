"""Content-Type and Content-Disposition (RFC 3261 §20.15, §20.11).

A ``media-type`` is ``m-type SLASH m-subtype *(SEMI m-parameter)``; a
disposition is ``disp-type *( SEMI disp-param )``.  Parameter names are
lower-cased, values keep their case and, when quoted, their quotes.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import SWS, TOKEN, is_token, unquote
from ..errors import ParseError
from .base import Field, register
from .params import Params, format_params, parse_params

__all__ = ["ContentDisposition", "MediaType"]

# m-type SLASH m-subtype; every m-type and m-subtype alternative is a token
_MEDIA_TYPE_RE = re.compile(rf"({TOKEN}){SWS}/{SWS}({TOKEN})")
# the shape nearly every Content-Type has: "application/sdp"
_SIMPLE_RE = re.compile(rf"({TOKEN})/({TOKEN})")
_DISP_TYPE_RE = re.compile(TOKEN)
#: type and subtype of the values of that shape already parsed: a peer sends
#: the same one or two in every message
_SIMPLE_TYPES: dict[str, tuple[str, ...]] = {}


@register("Content-Type", "c")
class MediaType(Field):
    """A ``media-type`` (RFC 3261 §20.15): ``application/sdp``, ``text/html; charset=x``.

    ``type`` and ``subtype`` keep their case as written; ``mime`` is the
    lower-cased ``type/subtype`` to compare with.  ``params`` holds the
    m-parameters, which always have a value (``m-attribute EQUAL m-value``,
    ``m-value = token / quoted-string``).
    """

    __slots__ = ("params", "subtype", "type")

    type: str
    subtype: str
    params: Params
    RULE: ClassVar[str] = "RFC 3261 §20.15 media-type"

    def __init__(self, type: str, subtype: str, params: Params | None = None) -> None:
        self._raw = None
        self.type = type
        self.subtype = subtype
        self.params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        self = cls.__new__(cls)
        self._raw = text
        known = _SIMPLE_TYPES.get(value)
        if known is None:
            m = _SIMPLE_RE.fullmatch(value)
            if m is not None:
                known = m.groups()
                if len(value) <= 128:
                    if len(_SIMPLE_TYPES) >= 256:  # bounded: start again
                        _SIMPLE_TYPES.clear()
                    _SIMPLE_TYPES[value] = known
        if known is not None:
            self.type, self.subtype = known
            self.params = {}
            return self
        m = _MEDIA_TYPE_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} is not a media-type", rfc=cls.RULE)
        self.type, self.subtype = m.groups()
        self.params = params = parse_params(value[m.end():], cls.RULE)
        for name, pvalue in params.items():
            # generic-param also admits flags and host values; m-value does not.
            if pvalue is None or (pvalue[0] != '"' and not is_token(pvalue)):
                raise ParseError(f"bad m-parameter {name}={pvalue!r}",
                                 rfc="RFC 3261 §20.15 m-parameter")
        return self

    @property
    def mime(self) -> str:
        """``type/subtype`` lower-cased (media types compare case-insensitively)."""
        return f"{self.type}/{self.subtype}".lower()

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` with quotes removed, or None when absent."""
        value = self.params.get(name.lower())
        return None if value is None else unquote(value)

    def render(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.type, self.subtype, self.params)


@register("Content-Disposition")
class ContentDisposition(Field):
    """``disp-type *( SEMI disp-param )`` (RFC 3261 §20.11): ``session;handling=optional``.

    ``disposition`` is ``render``, ``session``, ``icon``, ``alert`` or another
    token, as written; ``params`` the disp-params.  ``handling`` (a token) says
    whether a body the UAS does not understand may be ignored.
    """

    __slots__ = ("disposition", "params")

    disposition: str
    params: Params
    RULE: ClassVar[str] = "RFC 3261 §20.11 Content-Disposition"

    def __init__(
        self, disposition: str, params: Params | None = None, *, handling: str | None = None,
    ) -> None:
        self._raw = None
        self.disposition = disposition
        self.params = dict(params) if params else {}
        if handling is not None:
            self.params["handling"] = handling

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _DISP_TYPE_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} is not a disp-type", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.disposition = m.group()
        end = m.end()
        self.params = params = parse_params(value[end:], cls.RULE) if end < len(value) else {}
        if "handling" in params:
            handling = params["handling"]
            if handling is None or not is_token(handling):
                raise ParseError(f"bad handling {handling!r}",
                                 rfc="RFC 3261 §20.11 handling-param")
        return self

    @property
    def handling(self) -> str:
        """``required`` (assumed when absent, §20.11), ``optional`` or another token."""
        return self.params.get("handling") or "required"

    @handling.setter
    def handling(self, value: str | None) -> None:
        if value is None:
            self.params.pop("handling", None)
        else:
            self.params["handling"] = value

    @property
    def required(self) -> bool:
        """False only for ``handling=optional``: a UAS may then ignore the body."""
        return self.handling.lower() != "optional"

    def render(self) -> str:
        return f"{self.disposition}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.disposition, self.params)
