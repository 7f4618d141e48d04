"""Headers of free text, numbers and product names (RFC 3261 §20).

Subject and Organization (TEXT-UTF8-TRIM), MIME-Version, Priority, Server and
User-Agent (products and comments), Timestamp, Retry-After and Warning.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import ClassVar, NamedTuple, Self

from ..abnf import CTEXT, HOST, QUOTED_STRING, SWS, TOKEN, UTF8_NONASCII, is_token, quote, unquote
from ..errors import ParseError
from ..uri import check_host, check_port
from .base import Field, register
from .params import Params, format_params, parse_params

__all__ = [
    "Comment", "MIMEVersion", "Organization", "Priority", "Product", "RetryAfter", "Server",
    "Subject", "Text", "Timestamp", "UserAgent", "WarningValue",
]

# TEXT-UTF8-TRIM = 1*TEXT-UTF8char *(*LWS TEXT-UTF8char), TEXT-UTF8char = %x21-7E /
# UTF8-NONASCII; once the ends are trimmed that is any run of these and LWS.
_TEXT_RE = re.compile(rf"[\x21-\x7e \t{UTF8_NONASCII}]*")
# MIME-Version: 1*DIGIT "." 1*DIGIT
_MIME_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+", re.ASCII)
# product = token [SLASH product-version]; product-version = token
_PRODUCT_RE = re.compile(rf"({TOKEN})(?:{SWS}/{SWS}({TOKEN}))?")
# products only, single spaces: "Softphone Beta1.5", "sipwire/0.1 libfoo/2"
_SIMPLE_PRODUCTS_RE = re.compile(rf"{TOKEN}(?:/{TOKEN})?(?: {TOKEN}(?:/{TOKEN})?)*")
# inside a comment: ctext runs, quoted-pairs and the parentheses that nest
_COMMENT_PART_RE = re.compile(rf"{CTEXT}+|\\[\x00-\x09\x0b\x0c\x0e-\x7f]|[()]")
# Timestamp: 1*(DIGIT) [ "." *(DIGIT) ] [ LWS delay ]; delay = *(DIGIT) [ "." *(DIGIT) ]
_TIMESTAMP_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?)(?:[ \t]+([0-9]*(?:\.[0-9]*)?))?", re.ASCII)
_TIMESTAMP_VALUE_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?", re.ASCII)
_DELAY_RE = re.compile(r"[0-9]*(?:\.[0-9]*)?", re.ASCII)
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
# warning-value = warn-code SP warn-agent SP warn-text
_WARNING_RE = re.compile(rf"([0-9]{{3}})[ \t]+([^ \t\"]+)[ \t]+({QUOTED_STRING})", re.DOTALL)
# hostport = host [ ":" port ]
_HOSTPORT_RE = re.compile(rf"({HOST})(?::([0-9]+))?")

_MAX_DELTA_SECONDS = 2**32 - 1


def _delta_seconds(text: str, rule: str) -> int:
    """``delta-seconds = 1*DIGIT`` (already matched), bounded like every 32-bit count."""
    if len(text.lstrip("0")) > 10 or int(text) > _MAX_DELTA_SECONDS:
        raise ParseError(f"{text} is out of range (at most {_MAX_DELTA_SECONDS})", rfc=rule)
    return int(text)


def _scan_comment(text: str, pos: int, rule: str) -> int:
    """The index just past the ``comment`` that opens at ``text[pos]`` (RFC 3261 §25.1).

    ``comment = LPAREN *(ctext / quoted-pair / comment) RPAREN``; nesting is
    counted, not recursed, so deep nesting cannot exhaust the stack.
    """
    depth = 0
    match = _COMMENT_PART_RE.match
    while True:
        m = match(text, pos)
        if m is None:
            if pos >= len(text):
                raise ParseError("unterminated comment", rfc=rule)
            raise ParseError(f"bad character {text[pos]!r} in comment", rfc=rule)
        part = m.group()
        pos = m.end()
        if part == "(":
            depth += 1
        elif part == ")":
            depth -= 1
            if depth == 0:
                return pos


class Text(Field):
    """``[TEXT-UTF8-TRIM]`` (RFC 3261 §25.1): free text, possibly empty."""

    __slots__ = ("value",)

    value: str
    RULE: ClassVar[str] = "RFC 3261 §25.1 TEXT-UTF8-TRIM"

    def __init__(self, value: str = "") -> None:
        self._raw = None
        self.value = value

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        if _TEXT_RE.fullmatch(value) is None:
            raise ParseError(f"control character in {value!r}", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.value = value
        return self

    def render(self) -> str:
        return self.value

    def _state(self) -> tuple[object, ...]:
        return (self.value,)


@register("Subject", "s")
class Subject(Text):
    """Subject (RFC 3261 §20.36): a summary of the call; may be empty."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.36 Subject"


@register("Organization")
class Organization(Text):
    """Organization (RFC 3261 §20.25): the sender's organization; may be empty."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.25 Organization"


@register("MIME-Version")
class MIMEVersion(Field):
    """MIME-Version (RFC 3261 §20.24): ``1*DIGIT "." 1*DIGIT``, kept as text (``"1.0"``)."""

    __slots__ = ("version",)

    version: str
    RULE: ClassVar[str] = "RFC 3261 §20.24 MIME-Version"

    def __init__(self, version: str = "1.0") -> None:
        self._raw = None
        self.version = version

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        if _MIME_VERSION_RE.fullmatch(value) is None:
            raise ParseError(f"{value!r} is not DIGITS.DIGITS", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.version = value
        return self

    def render(self) -> str:
        return self.version

    def _state(self) -> tuple[object, ...]:
        return (self.version,)


@register("Priority")
class Priority(Field):
    """Priority (RFC 3261 §20.26): ``emergency``, ``urgent``, ``normal``, ``non-urgent``
    or another token, as written (compare ``value.lower()``)."""

    __slots__ = ("value",)

    value: str
    RULE: ClassVar[str] = "RFC 3261 §20.26 priority-value"

    def __init__(self, value: str = "normal") -> None:
        self._raw = None
        self.value = value

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        if not is_token(value):
            raise ParseError(f"{value!r} is not a priority-value", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.value = value
        return self

    def render(self) -> str:
        return self.value

    def _state(self) -> tuple[object, ...]:
        return (self.value,)


class Product(NamedTuple):
    """``product = token [SLASH product-version]`` (RFC 3261 §20.35): ``sipwire/0.1``."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}/{self.version}"


class Comment(NamedTuple):
    """A ``comment`` (RFC 3261 §25.1); ``text`` is what is inside the outer
    parentheses, as written (nested comments and quoted-pairs included)."""

    text: str

    def __str__(self) -> str:
        return f"({self.text})"


#: the items of Server and User-Agent values already parsed, by value: a peer
#: sends the same one in every message.  Product and Comment are immutable;
#: each parsed value gets a list of its own.
_PRODUCTS: dict[str, tuple[Product | Comment, ...]] = {}


@register("Server")
class Server(Field):
    """``server-val *(LWS server-val)`` (RFC 3261 §20.35); ``server-val = product / comment``.

    ``products`` lists :class:`Product` and :class:`Comment` items in order.
    """

    __slots__ = ("products",)

    products: list[Product | Comment]
    RULE: ClassVar[str] = "RFC 3261 §20.35 server-val"

    def __init__(self, products: list[Product | Comment] | None = None) -> None:
        self._raw = None
        self.products = list(products) if products else []

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        self = cls.__new__(cls)
        self._raw = text
        known = _PRODUCTS.get(value)
        if known is not None:
            self.products = list(known)
            return self
        products: list[Product | Comment]
        if _SIMPLE_PRODUCTS_RE.fullmatch(value) is not None:
            products = [
                Product(name, version if slash else None)
                for name, slash, version in (p.partition("/") for p in value.split(" "))
            ]
        elif not value:
            raise ParseError("no product or comment", rfc=cls.RULE)
        else:
            products = cls._scan(value)
        if len(value) <= 256:
            if len(_PRODUCTS) >= 256:  # bounded: start again
                _PRODUCTS.clear()
            _PRODUCTS[value] = tuple(products)
        self.products = products
        return self

    @classmethod
    def _scan(cls, value: str) -> list[Product | Comment]:
        items: list[Product | Comment] = []
        pos = 0
        end = len(value)
        while pos < end:
            if value[pos] == "(":
                # LPAREN and RPAREN carry their own SWS, so a comment may touch its
                # neighbours ("foo(bar)").
                close = _scan_comment(value, pos, cls.RULE)
                items.append(Comment(value[pos + 1:close - 1]))
                pos = close
            else:
                m = _PRODUCT_RE.match(value, pos)
                if m is None:
                    raise ParseError(f"bad product at {value[pos:]!r}", rfc=cls.RULE)
                items.append(Product(m.group(1), m.group(2)))
                pos = m.end()
            while pos < end and value[pos] in " \t":
                pos += 1
        return items

    def render(self) -> str:
        return " ".join(str(item) for item in self.products)

    def _state(self) -> tuple[object, ...]:
        return (self.products,)


@register("User-Agent")
class UserAgent(Server):
    """User-Agent (RFC 3261 §20.41): the same grammar as Server."""

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.41 server-val"


def _number_text(
    value: str | int | float | Decimal, what: str, pattern: re.Pattern[str],
) -> str:
    """Plain decimal text of a non-negative number (no exponent), for Timestamp."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    else:
        text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    if pattern.fullmatch(text) is None:
        raise ValueError(f"{what} must be a non-negative decimal number, not {value!r}")
    return text


@register("Timestamp")
class Timestamp(Field):
    """Timestamp (RFC 3261 §20.38): when the request was sent, and the delay.

    ``value`` and ``delay`` are kept as the decimal text written (the UAS
    echoes the value unchanged, §8.2.6.1); ``delay`` is None when absent.
    Numbers given to the constructor are turned into such text.
    """

    __slots__ = ("delay", "value")

    value: str
    delay: str | None
    RULE: ClassVar[str] = "RFC 3261 §20.38 Timestamp"

    def __init__(
        self, value: str | int | float | Decimal,
        delay: str | int | float | Decimal | None = None,
    ) -> None:
        self._raw = None
        self.value = _number_text(value, "value", _TIMESTAMP_VALUE_RE)
        self.delay = None if delay is None else _number_text(delay, "delay", _DELAY_RE)

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _TIMESTAMP_RE.fullmatch(value)
        if m is None:
            raise ParseError(f"{value!r} is not a timestamp [delay]", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.value, self.delay = m.groups()
        return self

    @property
    def seconds(self) -> Decimal:
        """``value`` as a number."""
        return Decimal(self.value)

    def render(self) -> str:
        return self.value if self.delay is None else f"{self.value} {self.delay}"

    def _state(self) -> tuple[object, ...]:
        return (self.value, self.delay)


@register("Retry-After")
class RetryAfter(Field):
    """Retry-After (RFC 3261 §20.33): ``delta-seconds [ comment ] *( SEMI retry-param )``.

    ``seconds`` (int), ``comment`` (the text inside the parentheses as
    written, or None), ``params`` (``duration`` among them) and ``duration``
    (int or None: how long the callee will be available).
    """

    __slots__ = ("comment", "params", "seconds")

    seconds: int
    comment: str | None
    params: Params
    RULE: ClassVar[str] = "RFC 3261 §20.33 Retry-After"

    def __init__(
        self, seconds: int, comment: str | None = None, params: Params | None = None, *,
        duration: int | None = None,
    ) -> None:
        self._raw = None
        self.seconds = seconds
        self.comment = comment
        self.params = dict(params) if params else {}
        if duration is not None:
            self.duration = duration

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _DIGITS_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} does not start with delta-seconds", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.seconds = _delta_seconds(m.group(), cls.RULE)
        self.comment = None
        pos = m.end()
        end = len(value)
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos < end and value[pos] == "(":
            close = _scan_comment(value, pos, cls.RULE)
            self.comment = value[pos + 1:close - 1]
            pos = close
        elif pos > m.end() and pos < end and value[pos] != ";":
            raise ParseError(f"unexpected {value[pos:]!r}", rfc=cls.RULE)
        self.params = params = parse_params(value[pos:], cls.RULE) if pos < end else {}
        if "duration" in params:
            duration = params["duration"]
            if duration is None or _DIGITS_RE.fullmatch(duration) is None:
                raise ParseError(f"bad duration {duration!r}",
                                 rfc="RFC 3261 §20.33 retry-param")
            _delta_seconds(duration, cls.RULE)
        return self

    @property
    def duration(self) -> int | None:
        """The ``duration`` parameter in seconds, or None when absent."""
        duration = self.params.get("duration")
        return None if duration is None else int(duration)

    @duration.setter
    def duration(self, value: int | None) -> None:
        if value is None:
            self.params.pop("duration", None)
        else:
            self.params["duration"] = str(int(value))

    def render(self) -> str:
        comment = f" ({self.comment})" if self.comment is not None else ""
        return f"{self.seconds}{comment}{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.seconds, self.comment, self.params)


@register("Warning", multi=True)
class WarningValue(Field):
    """One ``warning-value`` (RFC 3261 §20.43): ``307 isi.edu "Session parameter..."``.

    ``code`` (int, 3 digits), ``agent`` (hostport or pseudonym), ``text``
    (the warn-text without its quotes and escapes).
    """

    __slots__ = ("agent", "code", "text")

    code: int
    agent: str
    text: str
    RULE: ClassVar[str] = "RFC 3261 §20.43 warning-value"

    def __init__(self, code: int, agent: str, text: str) -> None:
        self._raw = None
        self.code = code
        self.agent = agent
        self.text = text

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _WARNING_RE.fullmatch(value)
        if m is None:
            raise ParseError(f"{value!r} is not warn-code warn-agent \"warn-text\"",
                             rfc=cls.RULE)
        code, agent, warn_text = m.groups()
        if not is_token(agent):
            # Not a pseudonym, so it must be a hostport ("[2001:db8::1]:5060").
            hp = _HOSTPORT_RE.fullmatch(agent)
            if hp is None:
                raise ParseError(f"bad warn-agent {agent!r}", rfc="RFC 3261 §20.43 warn-agent")
            check_host(hp.group(1), "RFC 3261 §20.43 warn-agent")
            if hp.group(2) is not None:
                check_port(hp.group(2), "RFC 3261 §20.43 warn-agent")
        self = cls.__new__(cls)
        self._raw = text
        self.code = int(code)
        self.agent = agent
        self.text = unquote(warn_text)
        return self

    def render(self) -> str:
        return f"{self.code:03d} {self.agent} {quote(self.text)}"

    def _state(self) -> tuple[object, ...]:
        return (self.code, self.agent, self.text)
