"""Authentication headers (RFC 3261 §20.6, §20.7, §20.27, §20.28, §20.44, §22).

* WWW-Authenticate and Proxy-Authenticate carry a :class:`Challenge`,
* Authorization and Proxy-Authorization carry :class:`Credentials`,
* Authentication-Info carries an :class:`AuthenticationInfo`.

Their parameters are comma-separated ``name=value`` pairs, so these headers
are not comma-split lists: each header line is one value.

``params`` maps each lower-cased parameter name to its value *as written*,
quotes included, so a value renders back with the quoting it came with.  Read
values through the properties (or :meth:`param`), which remove the quotes;
set them through the properties (or :meth:`set_param`), which quote the way
RFC 3261 §25 requires: ``realm``, ``nonce``, ``uri``, ``response`` ... as
quoted-strings, ``algorithm``, ``stale``, ``nc`` and a credential's ``qop``
as tokens.  The RFC 3261 grammar lets any of these also match ``auth-param``
(``token / quoted-string``), and RFC 7235 §2.1 asks recipients to accept both
forms, so parsing checks the structure and leaves value checks (32 hex digits
in ``response``, 8 in ``nc``) to the digest code: RFC 3261's own examples
(§20.7, §20.28) carry responses of 35 and 27 digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, NoReturn, Self, overload

from ..abnf import SWS, TOKEN, UTF8_NONASCII, is_token, quote, unquote
from ..errors import ParseError
from .base import Field, register

_scan_auth_params: Callable[[str, int], dict[str, str] | None] | None
try:  # the compiled build's C twin of the usual case of _parse_auth_params
    from ._cfields import scan_auth_params as _scan_auth_params
except ImportError:  # the pure build: the patterns below
    _scan_auth_params = None

__all__ = ["AuthenticationInfo", "Challenge", "Credentials"]

# quoted-string, written as runs of qdtext between quoted-pairs: the same language
# as abnf.QUOTED_STRING, matched about twice as fast (no alternation per character).
_QDTEXT = rf"[ \t!#-\[\]-~{UTF8_NONASCII}]"
_QUOTED_STRING = rf'"{_QDTEXT}*(?:\\[\x00-\x09\x0b\x0c\x0e-\x7f]{_QDTEXT}*)*"'
# auth-param = auth-param-name EQUAL ( token / quoted-string )
_AUTH_PARAM = rf"({TOKEN}){SWS}={SWS}({TOKEN}|{_QUOTED_STRING})"
_AUTH_PARAM_RE = re.compile(_AUTH_PARAM)
# auth-param *(COMMA auth-param); atomic groups keep a failing match linear.
_AUTH_PARAMS_RE = re.compile(
    rf"(?>{TOKEN}{SWS}={SWS}(?:{TOKEN}|{_QUOTED_STRING}))"
    rf"(?>{SWS},{SWS}{TOKEN}{SWS}={SWS}(?:{TOKEN}|{_QUOTED_STRING}))*"
)
# one auth-param and the COMMA after it, to say where a malformed list goes wrong
_AUTH_PARAM_STEP_RE = re.compile(rf"{_AUTH_PARAM}({SWS},{SWS})?")
# auth-scheme LWS; a scheme alone is an RFC 7235 challenge (``Negotiate``).
_SCHEME_RE = re.compile(rf"({TOKEN})(?:[ \t]+|\Z)")
# token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235 §2.1)
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _parse_auth_params(text: str, pos: int, rule: str) -> dict[str, str]:
    """Parse ``auth-param *(COMMA auth-param)`` from ``text[pos:]`` to its end."""
    if _scan_auth_params is not None:
        found = _scan_auth_params(text, pos)
        if found is not None:
            return found
    if _AUTH_PARAMS_RE.fullmatch(text, pos) is None:
        _explain(text, pos, rule)
    # The list is well-formed, so findall meets exactly its auth-params, in order.
    pairs = _AUTH_PARAM_RE.findall(text, pos)
    params = {name.lower(): value for name, value in pairs}
    if len(params) != len(pairs):
        # Two values for one name would let two elements disagree on what was sent;
        # RFC 7235 §2.1 forbids it.
        seen: set[str] = set()
        for name, _ in pairs:
            key = name.lower()
            if key in seen:
                raise ParseError(f"parameter {key!r} appears twice", rfc="RFC 7235 §2.1")
            seen.add(key)
    return params


def _explain(text: str, pos: int, rule: str) -> NoReturn:
    """Raise the ParseError that says where an auth-param list goes wrong."""
    end = len(text)
    while True:
        m = _AUTH_PARAM_STEP_RE.match(text, pos)
        if m is None:
            raise ParseError(f"malformed auth-param at {text[pos:]!r}", rfc=rule)
        pos = m.end()
        if m.group(3) is None:
            raise ParseError(f"expected ',' before {text[pos:]!r}", rfc=rule)
        if pos == end:
            raise ParseError("trailing ',' after the last auth-param", rfc=rule)


class _Param:
    """A parameter read unquoted and written in its RFC 3261 §25 form."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type[object]) -> _Param: ...
    @overload
    def __get__(self, obj: _AuthParams, owner: type[object]) -> str | None: ...
    def __get__(self, obj: _AuthParams | None, owner: type[object]) -> _Param | str | None:
        if obj is None:
            return self
        return obj.param(self.name)

    def __set__(self, obj: _AuthParams, value: str | None) -> None:
        obj.set_param(self.name, value)


class _AuthParams(Field):
    """A value made of ``auth-param``s: the quoting rules and the accessors."""

    __slots__ = ("params",)

    params: dict[str, str]
    #: parameters RFC 3261 §25 writes as quoted-strings; any other is written as a
    #: token when it is one
    QUOTED: ClassVar[frozenset[str]] = frozenset()

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` with quotes removed, or None when absent."""
        value = self.params.get(name.lower())
        return None if value is None else unquote(value)

    def set_param(self, name: str, value: str | None, *, quoted: bool | None = None) -> None:
        """Set parameter ``name`` (None removes it), quoting it as §25 requires.

        ``quoted`` forces the quoting either way; a value that is not a token is
        always quoted.
        """
        key = name.lower()
        if not is_token(key):
            raise ValueError(f"{name!r} is not a parameter name (token)")
        if value is None:
            self.params.pop(key, None)
            return
        if "\r" in value or "\n" in value:
            # No quoted-pair escapes CR or LF (§25.1): they would end the header line.
            raise ValueError(f"{name}: a parameter value cannot contain CR or LF")
        if quoted is None:
            quoted = key in self.QUOTED
        self.params[key] = quote(value) if quoted or not is_token(value) else value

    def _render_params(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in self.params.items())


class _SchemeAuth(_AuthParams):
    """``auth-scheme LWS auth-param *(COMMA auth-param)``, or a token68 (RFC 7235)."""

    __slots__ = ("scheme", "token68")

    scheme: str
    token68: str | None
    RULE: ClassVar[str] = "RFC 3261 §25.1 challenge / credentials"

    def __init__(
        self, scheme: str = "Digest", params: Mapping[str, str] | None = None, *,
        token68: str | None = None,
    ) -> None:
        """``params`` are in wire form: a quoted-string value keeps its quotes."""
        self._raw = None
        self.scheme = scheme
        self.params = {k.lower(): v for k, v in params.items()} if params else {}
        self.token68 = token68

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _SCHEME_RE.match(value)
        if m is None:
            raise ParseError(f"{value!r} does not start with an auth-scheme", rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.scheme = scheme = m.group(1)
        self.token68 = None
        pos = m.end()
        digest = scheme.lower() == "digest"
        if pos == len(value):
            if digest:
                raise ParseError("Digest without parameters", rfc=cls.RULE)
            self.params = {}
        elif not digest and _TOKEN68_RE.fullmatch(value, pos):
            self.token68 = value[pos:]
            self.params = {}
        else:
            self.params = _parse_auth_params(value, pos, cls.RULE)
        return self

    @property
    def is_digest(self) -> bool:
        """True for the Digest scheme (compared case-insensitively)."""
        return self.scheme.lower() == "digest"

    def render(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        if not self.params:
            return self.scheme
        return f"{self.scheme} {self._render_params()}"

    def _state(self) -> tuple[object, ...]:
        return (self.scheme, self.params, self.token68)

    realm = _Param("realm", "The protection space, unquoted (RFC 3261 §22.1).")
    nonce = _Param("nonce", "The server nonce, unquoted.")
    opaque = _Param("opaque", "Opaque data the client returns unchanged, unquoted.")
    algorithm = _Param("algorithm", "``MD5``, ``MD5-sess``, ``SHA-256`` ...; None means MD5.")


@register("WWW-Authenticate")
@register("Proxy-Authenticate")
class Challenge(_SchemeAuth):
    """A ``challenge`` (RFC 3261 §20.27, §20.44, §25.1).

    ``scheme`` (``Digest``), ``params`` (wire form, see the module docs) and
    ``token68`` for schemes that send one instead of parameters.  Digest
    parameters: ``realm``, ``nonce``, ``opaque``, ``algorithm`` (str),
    ``stale`` (bool), ``qop`` and ``domain`` (lists).
    """

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §25.1 challenge"
    QUOTED: ClassVar[frozenset[str]] = frozenset({"realm", "domain", "nonce", "opaque", "qop"})

    @classmethod
    def digest(
        cls, realm: str, nonce: str, *, domain: Iterable[str] | None = None,
        qop: Iterable[str] | None = None, opaque: str | None = None,
        stale: bool | None = None, algorithm: str | None = None, **extra: str,
    ) -> Self:
        """A Digest challenge, each parameter written as RFC 3261 §25.1 requires."""
        self = cls("Digest")
        self.realm = realm
        if domain is not None:
            self.domain = list(domain)
        if qop is not None:
            self.qop = list(qop)
        self.nonce = nonce
        self.opaque = opaque
        self.stale = stale
        self.algorithm = algorithm
        for name, value in extra.items():
            self.set_param(name, value)
        return self

    @property
    def stale(self) -> bool:
        """True when the nonce was stale and the credentials otherwise good (§22.1)."""
        value = self.param("stale")
        return value is not None and value.lower() == "true"

    @stale.setter
    def stale(self, value: bool | None) -> None:
        self.set_param("stale", None if value is None else ("true" if value else "false"))

    @property
    def qop(self) -> list[str]:
        """The ``qop-options`` offered (``["auth", "auth-int"]``); [] when absent."""
        value = self.param("qop")
        if not value:
            return []
        return [q.strip(" \t") for q in value.split(",") if q.strip(" \t")]

    @qop.setter
    def qop(self, value: Iterable[str] | None) -> None:
        values = list(value) if value is not None else []
        self.set_param("qop", ",".join(values) if values else None)

    @property
    def domain(self) -> list[str]:
        """The URIs of the protection space (``domain``), [] when absent."""
        value = self.param("domain")
        return value.split() if value else []

    @domain.setter
    def domain(self, value: Iterable[str] | None) -> None:
        values = list(value) if value is not None else []
        self.set_param("domain", " ".join(values) if values else None)


@register("Authorization")
@register("Proxy-Authorization")
class Credentials(_SchemeAuth):
    """``credentials`` (RFC 3261 §20.7, §20.28, §25.1).

    ``scheme``, ``params`` (wire form, see the module docs) and ``token68``.
    Digest parameters, unquoted: ``username``, ``realm``, ``nonce``, ``uri``,
    ``response``, ``algorithm``, ``cnonce``, ``opaque``, ``qop`` (one
    qop-value) and ``nc`` (the 8-hex-digit nonce count as written).
    """

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §25.1 credentials"
    QUOTED: ClassVar[frozenset[str]] = frozenset(
        {"username", "realm", "nonce", "uri", "response", "cnonce", "opaque"}
    )

    @classmethod
    def digest(
        cls, username: str, realm: str, nonce: str, uri: str, response: str, *,
        algorithm: str | None = None, cnonce: str | None = None, opaque: str | None = None,
        qop: str | None = None, nc: int | str | None = None, **extra: str,
    ) -> Self:
        """Digest credentials, each parameter written as RFC 3261 §25.1 requires."""
        self = cls("Digest")
        self.username = username
        self.realm = realm
        self.nonce = nonce
        self.uri = uri
        self.response = response
        self.algorithm = algorithm
        self.cnonce = cnonce
        self.opaque = opaque
        self.qop = qop
        self.nc = nc
        for name, value in extra.items():
            self.set_param(name, value)
        return self

    username = _Param("username", "The user name in the realm, unquoted.")
    uri = _Param("uri", "The digest-uri: the Request-URI the credentials are for.")
    response = _Param("response", "The request-digest (hex), unquoted.")
    cnonce = _Param("cnonce", "The client nonce, unquoted.")
    qop = _Param("qop", "The quality of protection chosen (``auth``, ``auth-int``).")

    @property
    def nc(self) -> str | None:
        """The nonce count as written (``00000001``): the digest hashes this text."""
        return self.param("nc")

    @nc.setter
    def nc(self, value: int | str | None) -> None:
        self.set_param("nc", f"{value:08x}" if isinstance(value, int) else value)


@register("Authentication-Info")
class AuthenticationInfo(_AuthParams):
    """``ainfo *(COMMA ainfo)`` of Authentication-Info (RFC 3261 §20.6, §25.1).

    Unquoted values: ``nextnonce``, ``qop``, ``rspauth``, ``cnonce``, ``nc``.
    """

    __slots__ = ()

    RULE: ClassVar[str] = "RFC 3261 §20.6 ainfo"
    QUOTED: ClassVar[frozenset[str]] = frozenset({"nextnonce", "rspauth", "cnonce"})

    def __init__(
        self, params: Mapping[str, str] | None = None, *, nextnonce: str | None = None,
        qop: str | None = None, rspauth: str | None = None, cnonce: str | None = None,
        nc: int | str | None = None,
    ) -> None:
        """``params`` are in wire form; the keywords are plain values, quoted as needed."""
        self._raw = None
        self.params = {k.lower(): v for k, v in params.items()} if params else {}
        for name, value in (("nextnonce", nextnonce), ("qop", qop), ("rspauth", rspauth),
                            ("cnonce", cnonce)):
            if value is not None:
                self.set_param(name, value)
        if nc is not None:
            self.nc = nc

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        self = cls.__new__(cls)
        self._raw = text
        self.params = _parse_auth_params(value, 0, cls.RULE)
        return self

    def render(self) -> str:
        return self._render_params()

    def _state(self) -> tuple[object, ...]:
        return (self.params,)

    nextnonce = _Param("nextnonce", "The nonce the client is to use next, unquoted.")
    qop = _Param("qop", "The quality of protection the server applied.")
    rspauth = _Param("rspauth", "The response-digest proving the server knows the secret.")
    cnonce = _Param("cnonce", "The client nonce echoed back, unquoted.")

    @property
    def nc(self) -> str | None:
        """The nonce count echoed back, as written."""
        return self.param("nc")

    @nc.setter
    def nc(self, value: int | str | None) -> None:
        self.set_param("nc", f"{value:08x}" if isinstance(value, int) else value)
