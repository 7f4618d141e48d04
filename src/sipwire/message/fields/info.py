"""Alert-Info, Call-Info and Error-Info (RFC 3261 §20.4, §20.9, §20.18).

All three are lists of ``LAQUOT absoluteURI RAQUOT *( SEMI generic-param )``:
a URI in angle brackets pointing at more information (a ring tone, a photo,
an error announcement), with parameters.
"""

from __future__ import annotations

from typing import ClassVar, Self

from ..abnf import is_token
from ..errors import ParseError
from ..uri import URI
from .base import Field, register
from .params import Params, format_params, parse_params

__all__ = ["AlertInfo", "CallInfo", "ErrorInfo", "InfoURI"]


class InfoURI(Field):
    """``"<" absoluteURI ">" *( SEMI generic-param )``, shared by the *-Info headers.

    ``uri`` is a :class:`~sipwire.message.uri.URI`; ``params`` the parameters
    (names lower-cased, flags map to ``None``, quoted values keep their quotes).
    """

    __slots__ = ("params", "uri")

    uri: URI
    params: Params
    RULE: ClassVar[str] = "RFC 3261 §25.1 alert-param / info / error-uri"

    def __init__(self, uri: URI | str, params: Params | None = None) -> None:
        self._raw = None
        self.uri = URI.parse(uri) if isinstance(uri, str) else uri
        self.params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        # LAQUOT = SWS "<", RAQUOT = ">" SWS: no space inside the brackets, and an
        # absoluteURI has no ">" in it, so the first ">" closes it.
        end = value.find(">")
        if not value.startswith("<") or end < 0:
            raise ParseError(f"{value!r} is not <absoluteURI>", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.uri = URI.parse(value[1:end])
        end += 1
        self.params = parse_params(value[end:], cls.RULE) if end < len(value) else {}
        cls._check(self.params)
        return self

    @classmethod
    def _check(cls, params: Params) -> None:
        """Check the parameters a subclass gives a grammar of its own."""

    def render(self) -> str:
        return f"<{self.uri}>{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (str(self.uri), self.params)


@register("Alert-Info", multi=True)
class AlertInfo(InfoURI):
    """One ``alert-param`` of Alert-Info (RFC 3261 §20.4): an alternative ring tone."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.4 alert-param"


@register("Call-Info", multi=True)
class CallInfo(InfoURI):
    """One ``info`` of Call-Info (RFC 3261 §20.9), with its ``purpose``.

    ``info-param = ( "purpose" EQUAL ( "icon" / "info" / "card" / token ) ) /
    generic-param``: a ``purpose`` must be a token.
    """

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.9 info"

    def __init__(
        self, uri: URI | str, params: Params | None = None, *, purpose: str | None = None,
    ) -> None:
        super().__init__(uri, params)
        if purpose is not None:
            self.purpose = purpose

    @classmethod
    def _check(cls, params: Params) -> None:
        if "purpose" in params:
            purpose = params["purpose"]
            if purpose is None or not is_token(purpose):
                raise ParseError(f"bad purpose {purpose!r}", rfc="RFC 3261 §20.9 info-param")

    @property
    def purpose(self) -> str | None:
        """``icon``, ``info``, ``card`` or another token; None when absent."""
        return self.params.get("purpose")

    @purpose.setter
    def purpose(self, value: str | None) -> None:
        if value is None:
            self.params.pop("purpose", None)
        else:
            self.params["purpose"] = value


@register("Error-Info", multi=True)
class ErrorInfo(InfoURI):
    """One ``error-uri`` of Error-Info (RFC 3261 §20.18): more about an error response."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.18 error-uri"
