"""Headers of SIP events (RFC 6665 §8.2): Event, Allow-Events and
Subscription-State.

``Event = ("Event" / "o") HCOLON event-type *(SEMI event-param)``,
``event-type = event-package *("." event-template)`` where both are
``token-nodot``, and ``event-param = generic-param / ("id" EQUAL token)``.
``Allow-Events = ("Allow-Events" / "u") HCOLON event-type *(COMMA event-type)``.
``Subscription-State = "Subscription-State" HCOLON substate-value
*(SEMI subexp-params)`` with ``reason``, ``expires`` and ``retry-after``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import TOKEN
from ..errors import ParseError
from .base import Field, parse_int, register
from .params import Params, format_params, parse_params

__all__ = ["AllowEvents", "Event", "EventType", "SubscriptionState"]

# token-nodot = 1*( alphanum / "-" / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN_NODOT = r"[A-Za-z0-9\-!%*_+`'~]+"
# event-type = event-package *( "." event-template )
_EVENT_TYPE_RE = re.compile(rf"{TOKEN_NODOT}(?:\.{TOKEN_NODOT})*", re.ASCII)
_TOKEN_RE = re.compile(TOKEN, re.ASCII)

#: the substate-values RFC 6665 §8.2.3 names (others are extension-substates)
SUBSTATES = ("active", "pending", "terminated")
#: the event-reason-values RFC 6665 §8.2.3 names (others are extensions)
REASONS = ("deactivated", "probation", "rejected", "timeout", "giveup", "noresource",
           "invariant")


def _event_type(text: str, rule: str) -> str:
    value = text.strip(" \t")
    if _EVENT_TYPE_RE.fullmatch(value) is None:
        raise ParseError(f"{value!r} is not an event-type", rfc=rule)
    return value


class _EventType(Field):
    """An ``event-type`` and its parameters."""

    __slots__ = ("package", "params")

    package: str
    params: Params
    RULE: ClassVar[str] = "RFC 6665 §8.2.1"

    def __init__(self, package: str, params: Params | None = None) -> None:
        self._raw = None
        self.package = package
        self.params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        name, semi, tail = value.partition(";")
        self = cls.__new__(cls)
        self._raw = text
        self.package = _event_type(name, cls.RULE)
        self.params = parse_params(semi + tail, cls.RULE) if semi else {}
        return self

    @property
    def templates(self) -> tuple[str, ...]:
        """The event-templates after the package: ``("winfo",)`` of ``presence.winfo``."""
        return tuple(self.package.split(".")[1:])

    def render(self) -> str:
        return f"{self.package}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.package, self.params)


@register("Event", "o")
class Event(_EventType):
    """``Event: refer;id=93809824`` (RFC 6665 §8.2.1).

    ``package`` is the whole event-type (``presence.winfo``), ``id`` the
    ``id`` parameter or None.  ``key`` is what matching compares: the
    event-type and the id byte by byte, other parameters ignored.
    """

    __slots__ = ()

    def __init__(self, package: str, params: Params | None = None, *,
                 id: str | None = None) -> None:
        super().__init__(package, params)
        if id is not None:
            self.params["id"] = id

    @classmethod
    def parse(cls, text: str) -> Self:
        self = super().parse(text)
        if "id" in self.params:
            ident = self.params["id"]
            if ident is None or _TOKEN_RE.fullmatch(ident) is None:
                raise ParseError(f"the id parameter must be a token, not {ident!r}",
                                 rfc=cls.RULE)
        return self

    @property
    def id(self) -> str | None:
        return self.params.get("id")

    @property
    def key(self) -> tuple[str, str | None]:
        """(event-type, id): equal keys name the same subscription (§8.2.1)."""
        return (self.package, self.params.get("id"))


@register("Allow-Events", "u", multi=True)
class AllowEvents(_EventType):
    """One ``event-type`` of Allow-Events (RFC 6665 §8.2.2)."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 6665 §8.2.2"

    @classmethod
    def parse(cls, text: str) -> Self:
        self = super().parse(text)
        if self.params:
            raise ParseError("Allow-Events lists event-types without parameters",
                             rfc=cls.RULE)
        return self


EventType = AllowEvents


@register("Subscription-State")
class SubscriptionState(Field):
    """``Subscription-State: terminated;reason=noresource`` (RFC 6665 §8.2.3).

    ``state`` is the substate-value, lower-cased (``active``, ``pending``,
    ``terminated`` or an extension); ``reason``, ``expires`` and
    ``retry_after`` read their parameters (None when absent).
    """

    __slots__ = ("params", "state")

    RULE: ClassVar[str] = "RFC 6665 §8.2.3"

    def __init__(self, state: str, *, reason: str | None = None, expires: int | None = None,
                 retry_after: int | None = None, params: Params | None = None) -> None:
        self._raw = None
        self.state = state.lower()
        self.params: Params = dict(params) if params else {}
        if reason is not None:
            self.params["reason"] = reason
        if expires is not None:
            self.params["expires"] = str(expires)
        if retry_after is not None:
            self.params["retry-after"] = str(retry_after)

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        state, semi, tail = value.partition(";")
        state = state.strip(" \t")
        if _TOKEN_RE.fullmatch(state) is None:
            raise ParseError(f"{state!r} is not a substate-value", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.state = state.lower()
        self.params = parse_params(semi + tail, cls.RULE) if semi else {}
        for name in ("expires", "retry-after"):
            if name in self.params:
                parse_int(self.params[name] or "", cls.RULE)
        if "reason" in self.params:
            reason = self.params["reason"]
            if reason is None or _TOKEN_RE.fullmatch(reason) is None:
                raise ParseError(f"reason must be a token, not {reason!r}", rfc=cls.RULE)
        return self

    def _number(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None or not value.isdigit() or not value.isascii():
            return None
        return min(int(value), 2**32 - 1)

    @property
    def reason(self) -> str | None:
        value = self.params.get("reason")
        return value.lower() if value else None

    @property
    def expires(self) -> int | None:
        return self._number("expires")

    @property
    def retry_after(self) -> int | None:
        return self._number("retry-after")

    def render(self) -> str:
        return f"{self.state}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.state, self.params)
