"""Headers that are plain lists of one word each (RFC 3261 §20).

Allow (Method), Require, Proxy-Require, Supported and Unsupported
(option-tag), Content-Encoding (content-coding), Content-Language
(language-tag) and In-Reply-To (callid).  Each element is one class whose
``value`` is the word as written; the class decides which words its header
admits.

Allow and Supported may be empty (``[ x *(COMMA x) ]``); an empty header has
no elements, so it never reaches ``parse``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from ..abnf import TOKEN, WORD
from ..errors import ParseError
from .base import Field, register

__all__ = ["ContentCoding", "InReplyTo", "LanguageTag", "Method", "OptionTag", "Token"]

_TOKEN_RE = re.compile(TOKEN)
#: texts already found to be tokens, each with its value (stripped): the same
#: few methods and option-tags recur in every message, and a lookup is cheaper
#: than a strip and a match
_TOKENS: dict[str, str] = {}


class Token(Field):
    """One ``token`` of a comma-separated list (RFC 3261 §25.1).

    Subclasses narrow the grammar by setting ``PATTERN``.  Tokens compare
    case-insensitively in SIP (§7.3.1) except where a header says otherwise
    (methods, §7.1; Call-IDs, §8.1.1.4); equality here is exact, so compare
    ``value.lower()`` where the RFC asks for it.
    """

    __slots__ = ("value",)

    value: str
    PATTERN: ClassVar[re.Pattern[str]] = _TOKEN_RE
    WHAT: ClassVar[str] = "token"
    RULE: ClassVar[str] = "RFC 3261 §25.1 token"

    def __init__(self, value: str) -> None:
        self._raw = None
        self.value = value

    @classmethod
    def parse(cls, text: str) -> Self:
        pattern = cls.PATTERN
        value = _TOKENS.get(text) if pattern is _TOKEN_RE else None
        if value is None:
            value = text.strip(" \t")
            if pattern.fullmatch(value) is None:
                raise ParseError(f"{value!r} is not a {cls.WHAT}", rfc=cls.RULE)
            if pattern is _TOKEN_RE and len(text) <= 64:
                if len(_TOKENS) >= 1024:  # bounded: start again
                    _TOKENS.clear()
                _TOKENS[text] = value
        self = cls.__new__(cls)
        self._raw = text
        self.value = value
        return self

    def render(self) -> str:
        return self.value

    def _state(self) -> tuple[object, ...]:
        return (self.value,)


@register("Allow", multi=True)
class Method(Token):
    """One ``Method`` of Allow (RFC 3261 §20.5); methods are case-sensitive (§7.1)."""

    __slots__ = ()

    WHAT: ClassVar[str] = "Method"
    RULE: ClassVar[str] = "RFC 3261 §20.5 Method"


@register("Require", multi=True)
@register("Proxy-Require", multi=True)
@register("Supported", "k", multi=True)
@register("Unsupported", multi=True)
class OptionTag(Token):
    """One ``option-tag`` (RFC 3261 §19.2, §20.29, §20.32, §20.37, §20.40): ``100rel``."""

    __slots__ = ()

    WHAT: ClassVar[str] = "option-tag"
    RULE: ClassVar[str] = "RFC 3261 §19.2 option-tag"


@register("Content-Encoding", "e", multi=True)
class ContentCoding(Token):
    """One ``content-coding`` of Content-Encoding (RFC 3261 §20.12): ``gzip``."""

    __slots__ = ()

    WHAT: ClassVar[str] = "content-coding"
    RULE: ClassVar[str] = "RFC 3261 §20.12 content-coding"


@register("Content-Language", multi=True)
class LanguageTag(Token):
    """One ``language-tag`` of Content-Language (RFC 3261 §20.13): ``en-US``.

    ``language-tag = primary-tag *( "-" subtag )``, each ``1*8ALPHA``.
    """

    __slots__ = ()

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z]{1,8})*")
    WHAT: ClassVar[str] = "language-tag"
    RULE: ClassVar[str] = "RFC 3261 §20.13 language-tag"


@register("In-Reply-To", multi=True)
class InReplyTo(Token):
    """One ``callid`` of In-Reply-To (RFC 3261 §20.21): ``word [ "@" word ]``.

    Call-IDs compare case-sensitively (§8.1.1.4).
    """

    __slots__ = ()

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(rf"{WORD}(?:@{WORD})?")
    WHAT: ClassVar[str] = "callid"
    RULE: ClassVar[str] = "RFC 3261 §20.21 callid"
