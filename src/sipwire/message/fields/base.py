"""The base of typed header values, and the registry that maps names to them.

A typed value is parsed from the header text the first time it is read and
keeps that text.  ``str(value)`` gives the text back unchanged while the value
is unchanged, and the canonical form (``render()``) once an attribute has been
changed; this is what keeps untouched headers byte-identical on the wire
(the lossless rule of the message layer).  Whether a value changed is found by
comparing its state with the state of a fresh parse of the kept text, which
costs nothing until the message is serialized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from ..errors import ParseError

__all__ = ["EMPTY_LISTS", "HEADER_TYPES", "LIST_HEADERS", "Field", "parse_int", "register"]

F = TypeVar("F", bound="Field")


class Field:
    """Base class of typed header values."""

    __slots__ = ("_raw",)

    #: the grammar rule cited in errors, e.g. "RFC 3261 §20.42"
    RULE: ClassVar[str] = "RFC 3261 §25"

    _raw: str | None

    @classmethod
    def parse(cls: type[F], text: str) -> F:
        """Parse one header value (one element of a comma-separated list)."""
        raise NotImplementedError

    def render(self) -> str:
        """The canonical wire form of the value."""
        raise NotImplementedError

    def _state(self) -> tuple[Any, ...]:
        """Everything that defines the value; equal states mean equal values."""
        raise NotImplementedError

    @property
    def modified(self) -> bool:
        """True once the value differs from the text it was parsed from."""
        raw = self._raw
        if raw is None:
            return True
        return type(self).parse(raw)._state() != self._state()

    def __str__(self) -> str:
        raw = self._raw
        if raw is not None and not self.modified:
            return raw.strip(" \t")
        self._raw = None
        return self.render()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Field)
        return self._state() == other._state()

    def __hash__(self) -> int:
        return hash(repr(self._state()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.render()!r})"


#: lower-case header name (long and compact forms) -> typed value class
HEADER_TYPES: dict[str, type[Field]] = {}
#: long lower-case names whose values are comma-separated lists (RFC 3261 §7.3.1)
LIST_HEADERS: set[str] = set()
#: lists whose grammar allows no element at all (``Supported = "Supported" HCOLON
#: [option-tag *(COMMA option-tag)]``, §25.1): Accept, Accept-Encoding,
#: Accept-Language, Allow and Supported
EMPTY_LISTS: set[str] = {"accept", "accept-encoding", "accept-language", "allow", "supported"}


def register(*names: str, multi: bool = False) -> Callable[[type[F]], type[F]]:
    """Register a typed value class for header ``names`` (long name first).

    ``multi`` marks a header whose grammar is a comma-separated list, so that
    ``Headers.getall`` splits it (RFC 3261 §7.3.1).  Extensions call this for
    their own headers.
    """

    def deco(cls: type[F]) -> type[F]:
        for name in names:
            HEADER_TYPES[name.lower()] = cls
        if multi:
            LIST_HEADERS.add(names[0].lower())
        return cls

    return deco


def parse_int(text: str, rule: str, maximum: int = 2**32 - 1) -> int:
    """A header value made of 1*DIGIT (delta-seconds, Content-Length, ...)."""
    text = text.strip(" \t")
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"{text!r} is not a number", rfc=rule)
    if len(text) < 10:  # the usual few digits: at most 999,999,999
        value = int(text)
        if value > maximum:
            raise ParseError(f"{value} is out of range (at most {maximum})", rfc=rule)
        return value
    if len(text.lstrip("0")) > len(str(maximum)):
        raise ParseError(f"{text[:20]}... is out of range (at most {maximum})", rfc=rule)
    value = int(text)
    if value > maximum:
        raise ParseError(f"{value} is out of range (at most {maximum})", rfc=rule)
    return value
