"""URIs of SIP: ``sip:``, ``sips:`` (RFC 3261 §19.1), ``tel:`` (RFC 3966) and
any other ``absoluteURI`` (§25.1), with escaping and §19.1.4 comparison.

A URI keeps the text it was parsed from; ``str(uri)`` returns that text until a
component is changed, then the canonical form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import quote as _pct_quote
from urllib.parse import unquote as _pct_unquote

from .abnf import ESCAPED, HOSTNAME_RE, IPV4ADDRESS_RE, UNRESERVED
from .errors import ParseError

__all__ = ["SIP_URI_FAST", "URI", "UriParts", "check_fast", "check_host", "check_port", "escape",
           "three_colon_ipv6", "unescape"]

_RULE = "RFC 3261 §19.1.1"

# user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = & = + $ , ; ? /
_USER_RE = re.compile(rf"(?:[{UNRESERVED}&=+$,;?/]|{ESCAPED})+", re.ASCII)
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_RE = re.compile(rf"(?:[{UNRESERVED}&=+$,]|{ESCAPED})*", re.ASCII)
# pname / pvalue = 1*paramchar; paramchar = param-unreserved / unreserved / escaped
_PARAMCHARS_RE = re.compile(rf"(?:[\[\]/:&+${UNRESERVED}]|{ESCAPED})+", re.ASCII)
# hname / hvalue: hnv-unreserved / unreserved / escaped (hvalue may be empty)
_HNVCHARS_RE = re.compile(rf"(?:[\[\]/?:+${UNRESERVED}]|{ESCAPED})*", re.ASCII)
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*", re.ASCII)
# SIP-URI after "sip:" in one pattern (§25.1): [userinfo] hostport uri-parameters
# [headers].  Escapes are matched as '%' and checked apart (rarely present), and
# the host loosely then checked apart, which keeps the pattern free of
# backtracking on the common path.
_P = rf"[\[\]/:&+${UNRESERVED}%]"
_H = rf"[\[\]/?:+${UNRESERVED}%]"
_SIP_FAST_RE = re.compile(
    rf"(?:([{UNRESERVED}&=+$,;?/%]++)(?::([{UNRESERVED}&=+$,%]*+))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*)(?::([0-9]{1,5}))?"
    rf"((?:;{_P}+(?:={_P}+)?)*)"
    rf"(?:\?({_H}+={_H}*(?:&{_H}+={_H}*)*))?",
    re.ASCII,
)
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: a whole SIP or SIPS URI in the usual spelling, for embedding in the fast
#: patterns of header values; see ``check_fast()``.  Its six groups are the
#: parts ``URI.from_parts()`` takes: user, password, host, port, parameters
#: and headers.
SIP_URI_FAST = (
    rf"[Ss][Ii][Pp][Ss]?:(?:([{UNRESERVED}&=+$,;?/%]++)(?::([{UNRESERVED}&=+$,%]*+))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*)(?::([0-9]{1,5}))?"
    rf"((?:;{_P}+(?:={_P}+)?)*)"
    rf"(?:\?({_H}+={_H}*(?:&{_H}+={_H}*)*))?"
)
#: the groups of SIP_URI_FAST, as ``URI.from_parts()`` takes them
UriParts = tuple[str | None, str | None, str, str | None, str, str | None]
# the shape of a SIP-URI, for explaining what is wrong when the pattern fails
_SIP_RE = re.compile(
    r"(?:([^@]*)@)?(\[[^\]]*\]|[^:;?\[\]]*)(?::([^;?]*))?(;[^?]*)?(?:\?(.*))?",
    re.ASCII | re.DOTALL,
)
# absoluteURI's opaque part: uric characters (§25.1) and escapes
_URIC_RE = re.compile(rf"(?:[{UNRESERVED};/?:@&=+$,\[\]#]|{ESCAPED})*", re.ASCII)
# RFC 3966: a telephone-subscriber is digits and visual separators plus parameters
_TEL_RE = re.compile(r"(\+?[0-9A-Fa-f*#().\-]+)((?:;[^;]+)*)", re.ASCII)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_STRICT_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)

_COMPARED_IF_PRESENT = ("user", "ttl", "method", "maddr", "transport")


def unescape(text: str) -> str:
    """Resolve ``%HH`` escapes (§19.1.2), decoding the octets as UTF-8."""
    return _pct_unquote(text, errors="surrogateescape") if "%" in text else text


def escape(text: str, safe: str = "") -> str:
    """Escape characters outside ``unreserved`` (and ``safe``) as ``%HH``."""
    return _pct_quote(text, safe="-_.!~*'()" + safe)


#: hosts already found valid (peers' addresses and names recur in every message)
_VALID_HOSTS: set[str] = set()


def check_host(host: str, rule: str = _RULE) -> str:
    """Validate ``host = hostname / IPv4address / IPv6reference``; return it."""
    if host in _VALID_HOSTS:
        return host
    _check_host(host, rule)
    if len(_VALID_HOSTS) >= 4096:  # bounded: start again
        _VALID_HOSTS.clear()
    _VALID_HOSTS.add(host)
    return host


def _check_host(host: str, rule: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise ParseError(f"bad IPv6 reference {host!r}", rfc=rule)
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            if not three_colon_ipv6(host):
                raise ParseError(f"bad IPv6 reference {host!r}", rfc=rule) from None
        return host
    if _IPV4_STRICT_RE.fullmatch(host):
        return host
    if IPV4ADDRESS_RE.fullmatch(host):
        raise ParseError(f"bad IPv4 address {host!r}", rfc=rule)
    if HOSTNAME_RE.fullmatch(host) is None:
        raise ParseError(f"bad host {host!r}", rfc=rule)
    return host


# RFC 3261's IPv6address = hexpart [ ":" IPv4address ] lets a hexpart ending in
# "::" be followed by ":" and an IPv4 address (RFC 5954 §3.1)
_THREE_COLON_RE = re.compile(r"\[?([0-9A-Fa-f:]*::):([0-9]{1,3}(?:\.[0-9]{1,3}){3})\]?",
                             re.ASCII)


def three_colon_ipv6(host: str) -> bool:
    """True for an IPv6 address written with three colons before its IPv4 part,
    ``[2001:db8:::192.0.2.1]`` (brackets optional).

    RFC 3261's own IPv6address rule produces it; RFC 5954 §4.1 replaced that
    rule with RFC 3986's, which does not, and RFC 5118 §4.10 shows the form
    still sent.  It is accepted as the address with two colons
    (``2001:db8::192.0.2.1``); ``sipwire.lint()`` reports it.
    """
    if ":::" not in host:
        return False
    m = _THREE_COLON_RE.fullmatch(host)
    if m is None or host.startswith("[") != host.endswith("]"):
        return False
    try:
        ipaddress.IPv6Address(m.group(1) + m.group(2))
    except ValueError:
        return False
    return True


def check_port(text: str, rule: str = _RULE) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 5 or int(text) > 65535:
        raise ParseError(f"bad port {text!r}", rfc=rule)
    return int(text)


class URI:
    """A SIP, SIPS, tel or other absolute URI.

    For ``sip``/``sips``: ``user``, ``password``, ``host`` (an IPv6 reference
    keeps its brackets, as in the grammar), ``port``, ``params`` (names
    lower-cased, flag parameters map to ``None``) and ``headers``.  User and
    password are kept as written (escaped); ``unescape()`` them to read.  For
    ``tel``: ``user`` is the telephone-subscriber number and ``params`` its
    parameters.  For any other scheme only ``opaque`` (the part after the
    colon) is set.
    """

    __slots__ = ("_headers_text", "_host", "_opaque", "_params", "_params0", "_params_text",
                 "_password", "_port", "_scheme", "_text", "_user")

    _scheme: str
    _user: str | None
    _password: str | None
    _host: str
    _port: int | None
    _opaque: str

    def __init__(
        self,
        scheme: str = "sip",
        user: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
        password: str | None = None,
        opaque: str = "",
    ) -> None:
        self._scheme = scheme.lower()
        self._user = user
        self._password = password
        self._host = host
        self._port = port
        self._opaque = opaque
        self._params: dict[str, str | None] | None = dict(params or {})
        self._params0: dict[str, str | None] | None = None
        self._params_text = ""
        self._headers_text = ""
        if headers:
            self._headers_text = "&".join(f"{k}={v}" for k, v in headers.items())
        self._text: str | None = None

    # -- parsing ---------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> URI:
        """Parse a URI (``SIP-URI / SIPS-URI / absoluteURI``, RFC 3261 §25.1)."""
        scheme, colon, rest = text.partition(":")
        if scheme == "sip" and colon:
            lscheme = scheme
        elif not colon or _SCHEME_RE.fullmatch(scheme) is None:
            raise ParseError(f"not a URI: {text!r} (no scheme)", rfc="RFC 3261 §19.1.1")
        else:
            lscheme = scheme.lower()
        self = cls.__new__(cls)
        self._scheme = lscheme
        self._text = text
        self._user = self._password = None
        self._host = ""
        self._port = None
        self._opaque = rest
        self._params = None
        self._params0 = None
        self._params_text = ""
        self._headers_text = ""
        if lscheme == "sip" or lscheme == "sips":
            self._parse_sip(rest)
        elif lscheme == "tel":
            self._parse_tel(rest)
        elif not rest or _URIC_RE.fullmatch(rest) is None:
            raise ParseError(f"bad absolute URI {text!r}", rfc="RFC 3261 §25.1 absoluteURI")
        return self

    @classmethod
    def from_parts(cls, text: str, parts: UriParts) -> URI:
        """The URI ``text`` that ``SIP_URI_FAST`` matched, built from its
        groups without matching it again; ``check_fast()`` must have passed."""
        self = cls.__new__(cls)
        user, password, host, port, params, headers = parts
        colon = 3 if text[3] == ":" else 4
        self._scheme = "sip" if colon == 3 else "sips"
        self._text = text
        self._user = user
        self._password = password
        self._host = host
        self._port = int(port) if port is not None else None
        self._opaque = text[colon + 1:]
        self._params = None
        self._params0 = None
        self._params_text = params or ""
        self._headers_text = headers or ""
        return self

    def _parse_sip(self, rest: str) -> None:
        user, password, host, port, params, headers = _match_sip(rest, self._text or rest)
        self._user = user
        self._password = password
        self._host = host or ""
        self._port = int(port) if port is not None else None
        self._params_text = params or ""
        self._headers_text = headers or ""

    @staticmethod
    def check(text: str) -> None:
        """Raise ``ParseError`` unless ``text`` is a valid URI; build nothing.

        Cheaper than ``parse()``: what the parser calls for URIs that are only
        read when asked for (those of From and To, for instance).
        """
        scheme = text[:5].lower()
        if scheme.startswith("sip:"):
            _match_sip(text[4:], text)
        elif scheme == "sips:":
            _match_sip(text[5:], text)
        else:
            URI.parse(text)

    def _explain(self, rest: str) -> None:
        """Raise the precise error for a SIP URI that the fast pattern refused."""
        m = _SIP_RE.fullmatch(rest)
        if m is None:
            raise ParseError(f"malformed SIP URI {self._text!r}", rfc=_RULE)
        userinfo, host, port, params, headers = m.groups()
        if userinfo is not None:
            user, colon, password = userinfo.partition(":")
            if _USER_RE.fullmatch(user) is None:
                raise ParseError(f"bad user part in {self._text!r}", rfc=_RULE)
            if colon and _PASSWORD_RE.fullmatch(password) is None:
                raise ParseError(f"bad password in {self._text!r}", rfc=_RULE)
        if not host:
            raise ParseError(f"missing host in {self._text!r}", rfc=_RULE)
        check_host(host)
        if port is not None:
            check_port(port)
        for part in (params or ";")[1:].split(";") if params else ():
            name, eq, value = part.partition("=")
            if _PARAMCHARS_RE.fullmatch(name) is None or (
                eq and _PARAMCHARS_RE.fullmatch(value) is None
            ):
                raise ParseError(f"bad URI parameter {part!r} in {self._text!r}", rfc=_RULE)
        if headers is not None:
            for part in headers.split("&"):
                name, eq, value = part.partition("=")
                if not eq or not name or _HNVCHARS_RE.fullmatch(name) is None or (
                    _HNVCHARS_RE.fullmatch(value) is None
                ):
                    raise ParseError(f"bad URI header {part!r} in {self._text!r}", rfc=_RULE)
        raise ParseError(f"malformed SIP URI {self._text!r}", rfc=_RULE)

    def _parse_tel(self, rest: str) -> None:
        m = _TEL_RE.fullmatch(rest)
        if m is None:
            raise ParseError(f"malformed tel URI {self._text!r}", rfc="RFC 3966 §3")
        self._user = m.group(1)
        self._params_text = m.group(2) or ""
        if not self._user.startswith("+") and ";phone-context=" not in self._params_text.lower():
            # RFC 3966 §5.1.5: a local number needs its phone-context.
            raise ParseError(f"local number without phone-context in {self._text!r}",
                             rfc="RFC 3966 §5.1.5")

    # -- components ------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """The scheme, lower-cased: 'sip', 'sips', 'tel', ..."""
        return self._scheme

    @scheme.setter
    def scheme(self, value: str) -> None:
        self._scheme = value.lower()
        self._text = None

    @property
    def user(self) -> str | None:
        """The user part as written (escaped), or None; a tel URI's number."""
        return self._user

    @user.setter
    def user(self, value: str | None) -> None:
        self._user = value
        self._text = None

    @property
    def password(self) -> str | None:
        """The password of ``user:password@``, or None."""
        return self._password

    @password.setter
    def password(self, value: str | None) -> None:
        self._password = value
        self._text = None

    @property
    def host(self) -> str:
        """``hostname / IPv4address / IPv6reference`` (an IPv6 reference keeps its brackets)."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        self._host = value
        self._text = None

    @property
    def port(self) -> int | None:
        """The port, or None when the URI has none (never defaulted, §19.1.4)."""
        return self._port

    @port.setter
    def port(self, value: int | None) -> None:
        self._port = value
        self._text = None

    @property
    def opaque(self) -> str:
        """Everything after ``scheme:``, for schemes other than sip, sips and tel."""
        return self._opaque

    @opaque.setter
    def opaque(self, value: str) -> None:
        self._opaque = value
        self._text = None

    @property
    def params(self) -> dict[str, str | None]:
        """URI parameters, names lower-cased; changing the dict changes the URI."""
        params = self._params
        if params is None:
            params = self._params = _split_params(self._params_text)
            self._params0 = dict(params)  # what modified compares with
        return params

    @property
    def headers(self) -> dict[str, str]:
        """The ``?name=value&...`` headers of a SIP URI (escaped as written)."""
        out: dict[str, str] = {}
        if self._headers_text:
            for part in self._headers_text.split("&"):
                name, _, value = part.partition("=")
                out[name] = value
        return out

    def param(self, name: str) -> str | None:
        """A parameter's value ('' for a flag parameter, None when absent)."""
        value = self.params.get(name.lower(), _MISSING)
        if value is _MISSING:
            return None
        return "" if value is None else value  # type: ignore[return-value]

    def has_param(self, name: str) -> bool:
        return name.lower() in self.params

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True for a loose-routing URI (``;lr``, RFC 3261 §19.1.1)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr") or None

    @property
    def is_sip(self) -> bool:
        """True for ``sip:`` and ``sips:`` URIs."""
        scheme = self._scheme
        return scheme == "sip" or scheme == "sips"

    @property
    def host_address(self) -> str:
        """The host without IPv6 brackets, as a socket wants it."""
        host = self.host
        return host[1:-1] if host.startswith("[") else host

    @property
    def aor(self) -> str:
        """``scheme:user@host`` lower-cased host, no port/params (§10.3 address-of-record)."""
        if not self.is_sip:
            return str(self)
        user = unescape(self.user) + "@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"

    def copy(self, **changes: Any) -> URI:
        """A new URI with some components replaced (``host=``, ``port=``, ``params=`` ...)."""
        # the slots, not the properties: a proxy copies a URI per forwarded request
        new = URI(
            self._scheme, self._user, self._host, self._port, dict(self.params),
            None, self._password, self._opaque,
        )
        new._headers_text = self._headers_text
        for name, value in changes.items():
            if name == "params":
                new._params = dict(value)
            elif name == "headers":
                new._headers_text = "&".join(f"{k}={v}" for k, v in value.items())
            else:
                setattr(new, name, value)
        return new

    # -- output ----------------------------------------------------------------

    def _state(self) -> tuple[Any, ...]:
        return (self.scheme, self.user, self.password, self.host, self.port, self.opaque,
                self.params, self._headers_text)

    @property
    def modified(self) -> bool:
        """True once a component differs from the text the URI was parsed from."""
        if self._text is None:
            return True
        params = self._params
        if params is None:
            return False
        clean = self._params0
        return params != (clean if clean is not None else _split_params(self._params_text))

    def __str__(self) -> str:
        # the slots, not the properties: written for every forwarded request
        text = self._text
        if text is not None:
            params = self._params
            if params is None:
                return text
            clean = self._params0
            if params == (clean if clean is not None else _split_params(self._params_text)):
                return text  # not modified (see ``modified``)
            self._text = None
        scheme = self._scheme
        if scheme == "sip" or scheme == "sips":
            out = [scheme, ":"]
            user = self._user
            if user is not None:
                out.append(user)
                if self._password is not None:
                    out += [":", self._password]
                out.append("@")
            out.append(self._host)
            if self._port is not None:
                out.append(f":{self._port}")
        elif scheme == "tel":
            out = ["tel:", self._user or ""]
        else:
            return f"{scheme}:{self._opaque}"
        params = self.params
        out.extend([f";{k}" if v is None else f";{k}={v}" for k, v in params.items()])
        if self._headers_text:
            out += ["?", self._headers_text]
        return "".join(out)

    def __repr__(self) -> str:
        return f"URI({str(self)!r})"

    # -- comparison, RFC 3261 §19.1.4 --------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        if self.scheme in ("sip", "sips"):
            return (
                self.scheme,
                unescape(self.user) if self.user is not None else None,
                unescape(self.password) if self.password is not None else None,
                self.host.lower(),
                self.port,
            )
        if self.scheme == "tel":
            # RFC 3966 §4: visual separators are not significant.
            number = re.sub(r"[\-.()]", "", self.user or "").lower()
            return ("tel", number)
        return (self.scheme, unescape(self.opaque).lower())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = URI.parse(other)
            except ParseError:
                return False
        if not isinstance(other, URI):
            return NotImplemented
        if self._key() != other._key():
            return False
        if self.scheme not in ("sip", "sips", "tel"):
            return True
        mine = {k: _fold(v) for k, v in self.params.items()}
        theirs = {k: _fold(v) for k, v in other.params.items()}
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                if mine[name] != theirs[name]:
                    return False
            elif name in _COMPARED_IF_PRESENT or self.scheme == "tel":
                return False
        mine_h = {unescape(k).lower(): unescape(v) for k, v in self.headers.items()}
        theirs_h = {unescape(k).lower(): unescape(v) for k, v in other.headers.items()}
        return mine_h == theirs_h

    def __hash__(self) -> int:
        return hash(self._key())


_MISSING = object()


def check_fast(uri: str, host: str, port: str | None) -> None:
    """The checks ``SIP_URI_FAST`` leaves out: host labels, port range, escapes."""
    if not host[-1].isalpha() or "-" in host or ".." in host:
        check_host(host)
    if port is not None and int(port) > 65535:
        raise ParseError(f"bad port {port!r}", rfc=_RULE)
    if "%" in uri and _BAD_ESCAPE_RE.search(uri):
        raise ParseError(f"bad escape in {uri!r}", rfc="RFC 3261 §25.1 escaped")


def _match_sip(rest: str, text: str) -> tuple[str | None, ...]:
    """Match the part of a SIP URI after the scheme; raise the precise error."""
    m = _SIP_FAST_RE.fullmatch(rest)
    if m is None or ("%" in rest and _BAD_ESCAPE_RE.search(rest)):
        probe = URI.__new__(URI)
        probe._text = text
        probe._explain(rest)
    assert m is not None
    groups = m.groups()
    host: str = groups[2]
    if not host[-1].isalpha() or "-" in host or ".." in host:
        check_host(host)
    port = groups[3]
    if port is not None and int(port) > 65535:
        raise ParseError(f"bad port {port!r}", rfc=_RULE)
    return groups


def _split_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if text:
        for part in text[1:].split(";"):
            name, eq, value = part.partition("=")
            params[name.lower()] = value if eq else None
    return params


def _fold(value: str | None) -> str | None:
    return unescape(value).lower() if value is not None else None
