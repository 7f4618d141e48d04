"""Headers of call transfer: Refer-To (RFC 3515 §2.1), Referred-By (RFC 3892
§3) and Replaces (RFC 3891 §6.1).

``Refer-To = ("Refer-To" / "r") HCOLON (name-addr / addr-spec) *(SEMI generic-param)``;
``Referred-By = ("Referred-By" / "b") HCOLON referrer-uri
*(SEMI (referredby-id-param / generic-param))`` with ``referredby-id-param =
"cid" EQUAL sip-clean-msg-id``;
``Replaces = "Replaces" HCOLON callid *(SEMI replaces-param)`` with
``replaces-param = to-tag / from-tag / early-flag / generic-param``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import WORD
from ..errors import ParseError
from .base import Field, register
from .nameaddr import NameAddr
from .params import Params, format_params, parse_params

__all__ = ["ReferTo", "ReferredBy", "Replaces"]

_CALLID_RE = re.compile(rf"{WORD}(?:@{WORD})?", re.ASCII)


@register("Refer-To", "r")
class ReferTo(NameAddr):
    """``Refer-To: <sip:carol@example.com?Replaces=...>`` (RFC 3515 §2.1).

    The URI may carry a ``method`` parameter and embedded headers
    (``?Replaces=...``); a URI with ``?`` or ``;`` of its own must be in
    angle brackets, as for Contact (RFC 3261 §20.10).
    """

    __slots__ = ()

    RULE = "RFC 3515 §2.1"

    @classmethod
    def parse(cls, text: str) -> Self:
        value = super().parse(text)
        assert isinstance(value, cls)
        return value


@register("Referred-By", "b")
class ReferredBy(NameAddr):
    """``Referred-By: <sip:alice@example.com>;cid="20398823.2UWQFN309shb3@example.com"``
    (RFC 3892 §3); ``cid`` names the body part holding a signed token."""

    __slots__ = ()

    RULE = "RFC 3892 §3"

    @classmethod
    def parse(cls, text: str) -> Self:
        value = super().parse(text)
        assert isinstance(value, cls)
        return value

    @property
    def cid(self) -> str | None:
        """The ``cid`` parameter, its quotes removed."""
        value = self.params.get("cid")
        if value is None:
            return None
        return value[1:-1] if len(value) >= 2 and value[0] == '"' == value[-1] else value


@register("Replaces")
class Replaces(Field):
    """``Replaces: 98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff`` (RFC 3891 §6.1).

    ``call_id``, ``to_tag`` and ``from_tag`` name the dialog to replace, from the
    point of view of the party that sent it: ``to_tag`` is the tag of the
    recipient's side of that dialog.  ``early_only`` is the ``early-only`` flag.
    """

    __slots__ = ("call_id", "params")

    RULE: ClassVar[str] = "RFC 3891 §6.1"

    def __init__(self, call_id: str, to_tag: str, from_tag: str, *, early_only: bool = False,
                 params: Params | None = None) -> None:
        self._raw = None
        self.call_id = call_id
        self.params: Params = {"to-tag": to_tag, "from-tag": from_tag}
        if early_only:
            self.params["early-only"] = None
        if params:
            self.params.update(params)

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        call_id, semi, tail = value.partition(";")
        call_id = call_id.strip(" \t")
        if _CALLID_RE.fullmatch(call_id) is None:
            raise ParseError(f"malformed callid {call_id!r}", rfc=cls.RULE)
        params = parse_params(semi + tail, cls.RULE) if semi else {}
        for name in ("to-tag", "from-tag"):
            if not params.get(name):
                raise ParseError(f"Replaces needs a {name} parameter", rfc="RFC 3891 §6.1")
        if "early-only" in params and params["early-only"] is not None:
            raise ParseError("early-only is a flag without a value", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.call_id = call_id
        self.params = params
        return self

    @property
    def to_tag(self) -> str:
        return self.params.get("to-tag") or ""

    @property
    def from_tag(self) -> str:
        return self.params.get("from-tag") or ""

    @property
    def early_only(self) -> bool:
        return "early-only" in self.params

    def render(self) -> str:
        return f"{self.call_id}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.call_id, self.params)
