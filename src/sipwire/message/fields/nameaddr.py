"""Name-addr headers: From (§20.20), To (§20.39), Contact (§20.10), Route
(§20.34), Record-Route (§20.30) and Reply-To (§20.31).

``name-addr = [ display-name ] LAQUOT addr-spec RAQUOT`` and, where the
grammar allows it, a bare ``addr-spec``.  A bare addr-spec cannot carry URI
parameters: a ``;`` after it starts the header's own parameters (§20.10).

Parsing checks the whole value but builds the URI and the parameter dict only
when they are read: a proxy reading the From tag never pays for the URI.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..abnf import FAST_PARAMS, PARAMS_RE, QUOTED_STRING, TOKEN, TOKEN_CHARS, quote, unquote
from ..errors import ParseError
from ..uri import SIP_URI_FAST, URI, UriParts, check_fast
from .base import Field, register
from .params import Params, format_params, parse_params, split_params

_scan_name_addr: Callable[[str], tuple[str | None, str, UriParts, str, bool] | None] | None
try:  # the compiled build's C twin of _FAST_RE and check_fast
    from ._cfields import scan_name_addr as _scan_name_addr
except ImportError:  # the pure build: the patterns below
    _scan_name_addr = None

__all__ = ["Contact", "NameAddr", "RouteAddr"]

# display-name = *(token LWS) / quoted-string
_TOKENS_RE = re.compile(rf"{TOKEN}(?:[ \t]+{TOKEN})*", re.ASCII)
# [ display-name ] LAQUOT addr-spec RAQUOT tail
_BRACKETED_RE = re.compile(
    rf"[ \t]*(?:({QUOTED_STRING})[ \t]*|({TOKEN}(?:[ \t]+{TOKEN})*)[ \t]*)?<([^<>]*)>(.*)",
    re.DOTALL,
)
# the usual spelling: [tokens] <uri>;params, with no quotes and no odd spaces
_FAST_RE = re.compile(
    rf'[ \t]*(?:"([^"\\\x00-\x08\x0a-\x1f\x7f]*)"[ \t]*|([{TOKEN_CHARS} ]*))'
    rf"<({SIP_URI_FAST})>({FAST_PARAMS})[ \t]*"
)
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?", re.ASCII)


def _parse_name_addr(cls: type[NameAddr], text: str) -> NameAddr:
    """``NameAddr.parse``: a function, so that the compiled build knows
    ``self`` is a NameAddr (nameaddr.pxd) and sets its attributes in the
    object's struct."""
    self = NameAddr.__new__(cls)
    self._raw = text
    self._uri = None
    self._params = self._params0 = None
    rule = cls.RULE
    if _scan_name_addr is not None:
        scanned = _scan_name_addr(text)
        if scanned is not None:
            # the C twin of the fast path below: same parts, port and
            # escapes checked
            display_name, uri_text, uri_parts, self._params_text, unusual = scanned
            self._uri_parts = uri_parts
            self.display_name = self._display0 = display_name
            self._uri_text = uri_text
            if unusual:
                try:
                    check_fast(uri_text, uri_parts[2], uri_parts[3])
                except ParseError as exc:
                    raise ParseError(exc.reason, rfc=exc.rfc or rule) from None
            return self
    m = _FAST_RE.fullmatch(text)
    if m is not None:
        groups = m.groups()
        quoted, display, uri_text = groups[:3]
        parts: UriParts = groups[3:9]  # type: ignore[assignment]
        self._uri_parts = parts
        host, port = parts[2], parts[3]
        self._params_text = groups[9]
        if quoted is not None:
            self.display_name = quoted
        else:
            # only token characters and spaces: always *(token LWS)
            self.display_name = display.rstrip(" ") or None
        self._uri_text = uri_text
        self._display0 = self.display_name
        try:
            check_fast(uri_text, host, port)
        except ParseError as exc:
            raise ParseError(exc.reason, rfc=exc.rfc or rule) from None
        return self
    self._uri_parts = None
    uri_text, self._params_text = self._parse_slow(text)
    self._display0 = self.display_name
    try:
        URI.check(uri_text)
    except ParseError as exc:
        raise ParseError(exc.reason, rfc=exc.rfc or rule) from None
    self._uri_text = uri_text
    return self


class NameAddr(Field):
    """An address with optional display name and header parameters.

    ``display_name`` is unquoted (None when absent), ``uri`` a ``URI``,
    ``params`` the header parameters (``tag``, ``q``, ``expires`` ...).
    """

    __slots__ = ("_display0", "_params", "_params0", "_params_text", "_uri", "_uri_parts",
                 "_uri_text", "display_name")

    RULE = "RFC 3261 §20.20"
    #: whether the bare addr-spec form (no angle brackets) is allowed
    ADDR_SPEC_ALLOWED = True

    def __init__(
        self,
        uri: URI | str,
        display_name: str | None = None,
        params: Params | None = None,
        *,
        tag: str | None = None,
    ) -> None:
        self._raw = None
        self._uri: URI | None = URI.parse(uri) if isinstance(uri, str) else uri
        self._uri_text = ""
        self._uri_parts: UriParts | None = None
        self.display_name = self._display0 = display_name
        self._params: Params | None = dict(params or {})
        self._params0: Params | None = None
        self._params_text = ""
        if tag is not None:
            self._params["tag"] = tag

    parse = classmethod(_parse_name_addr)

    def _parse_slow(self, text: str) -> tuple[str, str]:
        """Every spelling the grammar allows: quoted names, bare URIs, LWS."""
        rule = self.RULE
        m = _BRACKETED_RE.fullmatch(text)
        if m is not None:
            quoted, tokens, uri_text, tail = m.groups()
            self.display_name = unquote(quoted) if quoted is not None else tokens
        else:
            value = text.strip(" \t")
            if "<" in value or '"' in value:
                raise ParseError(_explain(value), rfc=rule)
            if not self.ADDR_SPEC_ALLOWED:
                raise ParseError("name-addr needs <angle brackets>", rfc=rule)
            if not value:
                raise ParseError("empty address", rfc=rule)
            uri_text, semi, tail = value.partition(";")
            uri_text = uri_text.rstrip(" \t")
            tail = semi + tail
            if " " in uri_text or "\t" in uri_text or ">" in uri_text:
                raise ParseError(f"display name or space without <angle brackets>: {value!r}",
                                 rfc=rule)
            if "?" in uri_text:
                # §20.10: a URI with a comma, question mark or semicolon must be
                # enclosed in angle brackets, or its parts read as header params.
                raise ParseError(f"URI with '?' must be in <angle brackets>: {value!r}",
                                 rfc="RFC 3261 §20.10")
            self.display_name = None
        if tail:
            tail = tail.rstrip(" \t")
            if '"' in tail:
                self._params = parse_params(tail, rule)
                self._params0 = dict(self._params)
            elif PARAMS_RE.fullmatch(tail) is None:
                raise ParseError(f"malformed parameters {tail.strip()!r}", rfc=rule)
        return uri_text, tail

    @property
    def uri(self) -> URI:
        uri = self._uri
        if uri is None:
            parts = self._uri_parts
            uri = self._uri = (URI.from_parts(self._uri_text, parts) if parts is not None
                               else URI.parse(self._uri_text))
        return uri

    @uri.setter
    def uri(self, value: URI | str) -> None:
        self._uri = URI.parse(value) if isinstance(value, str) else value

    @property
    def params(self) -> Params:
        """Header parameters, names lower-cased (``tag``, ``q``, ``expires`` ...)."""
        params = self._params
        if params is None:
            params = self._params = split_params(self._params_text, self.RULE)
            self._params0 = dict(params)  # what modified compares with
        return params

    @params.setter
    def params(self, value: Params) -> None:
        self._params = dict(value)

    def check(self) -> None:
        """Check parameter values that the grammar constrains (q, expires)."""
        q = self.params.get("q", "1")
        if q is None or QVALUE_RE.fullmatch(q) is None:
            raise ParseError(f"bad q value {q!r}", rfc="RFC 3261 §20.10 qvalue")
        expires = self.params.get("expires", "0")
        if expires is None or not expires.isdigit() or not expires.isascii():
            raise ParseError(f"bad expires parameter {expires!r}", rfc="RFC 3261 §20.10")

    def render(self) -> str:
        # A display name is always written quoted: that form takes any text.
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"

    def _state(self) -> tuple[object, ...]:
        return (self.display_name, self.uri._state(), self.params)

    @property
    def modified(self) -> bool:
        # Cheap, because a proxy asks this of every From and To it forwards:
        # compare with what was parsed instead of parsing the text again.
        if self._raw is None or self.display_name != self._display0:
            return True
        uri = self._uri
        if uri is not None and str(uri) != self._uri_text:
            return True
        params = self._params
        if params is None:
            return False
        clean = self._params0
        if clean is None:
            clean = split_params(self._params_text, self.RULE)
        return params != clean

    # -- named parameters -----------------------------------------------------------

    @property
    def tag(self) -> str | None:
        """The dialog tag of From and To (§19.3)."""
        params = self._params  # read on every message: no second property call once split
        return (self.params if params is None else params).get("tag")

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is None:
            self.params.pop("tag", None)
        else:
            self.params["tag"] = value

    @property
    def q(self) -> float | None:
        """The ``q`` preference of a Contact (§20.10), None when absent."""
        value = self.params.get("q")
        if value is None or QVALUE_RE.fullmatch(value) is None:
            return None
        return float(value)

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter of a Contact in seconds, None when absent."""
        value = self.params.get("expires")
        if value is None or not value.isdigit() or not value.isascii():
            return None
        return min(int(value), 2**32 - 1) if len(value) <= 10 else 2**32 - 1


def _explain(value: str) -> str:
    if value.startswith('"'):
        if value.count('"') - value.count('\\"') < 2:
            return "unterminated quoted display name"
        return "display name without <addr-spec>"
    if "<" in value and ">" not in value:
        return "missing '>' after addr-spec"
    if value.count("<") > 1 or value.count(">") > 1:
        return "unbalanced angle brackets"
    if "<" in value:
        return f"bad display name {value[:value.index('<')].strip()!r}"
    return f"malformed address {value!r}"


register("From", "f")(NameAddr)
register("To", "t")(NameAddr)
register("Reply-To")(NameAddr)


@register("Contact", "m", multi=True)
class Contact(NameAddr):
    """A Contact value (§20.10); ``star`` is True for ``Contact: *``."""

    __slots__ = ("star",)

    RULE = "RFC 3261 §20.10"

    def __init__(self, uri: URI | str, display_name: str | None = None,
                 params: Params | None = None, *, tag: str | None = None) -> None:
        super().__init__(uri, display_name, params, tag=tag)
        self.star = False

    @classmethod
    def parse(cls, text: str) -> Contact:
        if text.strip(" \t") == "*":
            self = cls.__new__(cls)
            self._raw = text
            self.star = True
            self.display_name = self._display0 = None
            self._uri = URI("sip")
            self._uri_text = ""
            self._uri_parts = None
            self._params = {}
            self._params0 = None
            self._params_text = ""
            return self
        value = super().parse(text)
        assert isinstance(value, Contact)
        value.star = False
        return value

    def render(self) -> str:
        return "*" if self.star else super().render()

    def _state(self) -> tuple[object, ...]:
        if self.star:
            return (True,)
        return (False, *super()._state())


@register("Route", multi=True)
@register("Record-Route", multi=True)
@register("Path", multi=True)
@register("Service-Route", multi=True)
class RouteAddr(NameAddr):
    """A Route / Record-Route value: name-addr only, never a bare URI (§20.30, §20.34)."""

    __slots__ = ()

    RULE = "RFC 3261 §20.34"
    ADDR_SPEC_ALLOWED = False
