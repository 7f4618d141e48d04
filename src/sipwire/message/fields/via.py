"""Via (RFC 3261 §20.42, §25.1 via-parm; RFC 3581 rport)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from ..abnf import FAST_HOST, FAST_PARAMS, HOST, PARAMS, SWS, TOKEN
from ..errors import ParseError
from ..uri import check_host, check_port, three_colon_ipv6
from .base import Field, register
from .params import Params, format_params, parse_params, split_params

_scan_via: Callable[[str], tuple[str, str, int | None, str, bool] | None] | None
try:  # the compiled build's C twin of _VIA_FAST_RE and the checks after it
    from ._cfields import scan_via as _scan_via
except ImportError:  # the pure build: the patterns below
    _scan_via = None

__all__ = ["BRANCH_MAGIC_COOKIE", "Via"]

#: §8.1.1.7: a branch starting with this was made by an RFC 3261 element
BRANCH_MAGIC_COOKIE = "z9hG4bK"

_RULE = "RFC 3261 §20.42"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)
# via-parm = sent-protocol LWS sent-by *( SEMI via-params ); SLASH and COLON allow SWS
_VIA_RE = re.compile(
    rf"{SWS}({TOKEN}){SWS}/{SWS}({TOKEN}){SWS}/{SWS}({TOKEN})[ \t]+({HOST})"
    rf"(?:{SWS}:{SWS}([0-9]+))?({PARAMS}){SWS}",
    re.ASCII,
)
# the usual spelling: "SIP/2.0/UDP host:port;params", no odd spaces or quotes
_VIA_FAST_RE = re.compile(
    rf"[ \t]*SIP/2\.0/({TOKEN}) ({FAST_HOST})(?::([0-9]+))?({FAST_PARAMS})[ \t]*", re.ASCII
)


def _parse_via(cls: type[Via], text: str) -> Via:
    """``Via.parse``: a function, so that the compiled build knows ``self``
    is a Via (via.pxd) and sets its attributes in the object's struct."""
    self = Via.__new__(cls)
    self._raw = text
    if _scan_via is not None:
        scanned = _scan_via(text)
        if scanned is not None:
            # the C twin of the fast path below: same parts, port checked
            self.protocol = "SIP"
            self.version = "2.0"
            self._params = self._params0 = None
            self.transport, host, self.port, self._params_text, unusual = scanned
            if unusual:
                host = check_host(host, _RULE)
            self.host = host
            self._orig = ("SIP", "2.0", self.transport, host, self.port)
            return self
    m = _VIA_FAST_RE.fullmatch(text)
    if m is not None:
        transport, host, port, tail = m.groups()
        self.protocol = "SIP"
        self.version = "2.0"
        self._params = self._params0 = None
    else:
        m = _VIA_RE.fullmatch(text)
        if m is None:
            raise ParseError(f"malformed via-parm {text.strip()!r}", rfc=_RULE)
        self.protocol, self.version, transport, host, port, tail = m.groups()
        self._params = parse_params(tail, _RULE)
        self._params0 = dict(self._params)
        if self._params.get("branch", "x") in ("", '""'):
            raise ParseError("empty branch parameter", rfc="RFC 3261 §8.1.1.7")
    self.transport = transport.upper()
    if not host[-1].isalpha() or "-" in host or ".." in host:
        host = check_host(host, _RULE)
    self.host = host
    if port is None:
        self.port = None
    else:
        if len(port) > 5:
            check_port(port, _RULE)
        self.port = int(port)
        if self.port > 65535:
            check_port(port, _RULE)
    self._params_text = tail
    self._orig = (self.protocol, self.version, self.transport, host, self.port)
    return self


class Via(Field):
    """One via-parm: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``.

    ``host`` keeps IPv6 brackets; ``port`` is None when sent-by has none;
    ``params`` holds every via-param with lower-cased names.
    """

    __slots__ = ("_orig", "_params", "_params0", "_params_text", "host", "port", "protocol",
                 "transport", "version")

    RULE = _RULE

    def __init__(
        self,
        transport: str = "UDP",
        host: str = "",
        port: int | None = None,
        params: Params | None = None,
        *,
        branch: str | None = None,
        protocol: str = "SIP",
        version: str = "2.0",
    ) -> None:
        self._raw = None
        self.protocol = protocol
        self.version = version
        self.transport = transport.upper()
        # sent-by writes an IPv6 address in brackets (§20.42, §25.1)
        self.host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.port = port
        self._params: Params | None = dict(params or {})
        self._params0: Params | None = None
        self._params_text = ""
        self._orig: tuple[object, ...] = ()
        if branch is not None:
            self._params = {"branch": branch, **self._params}

    parse = classmethod(_parse_via)

    @property
    def params(self) -> Params:
        """Every via-param, names lower-cased; flag parameters map to None."""
        params = self._params
        if params is None:
            params = self._params = split_params(self._params_text, _RULE)
            self._params0 = dict(params)  # what modified compares with
        return params

    @params.setter
    def params(self, value: Params) -> None:
        self._params = dict(value)

    @property
    def modified(self) -> bool:
        # Compared with what was parsed, not by parsing again (proxies ask this
        # of every Via they forward).
        if self._raw is None or self._orig != (self.protocol, self.version, self.transport,
                                               self.host, self.port):
            return True
        params = self._params
        if params is None:
            return False
        clean = self._params0
        return params != (clean if clean is not None else split_params(self._params_text, _RULE))

    def check(self) -> None:
        """Check the values of ttl, maddr, received and rport (§20.42, RFC 3581).

        An IPv6 address with three colons before its IPv4 part passes, as in
        sent-by (RFC 5118 §4.10; ``three_colon_ipv6``).
        """
        params = self.params
        ttl = params.get("ttl", "0")
        if ttl is None or not ttl.isdigit() or len(ttl) > 3 or int(ttl) > 255:
            raise ParseError(f"bad ttl {ttl!r}", rfc=_RULE)
        if "maddr" in params:
            check_host(params["maddr"] or "", _RULE)
        if "received" in params:
            received = (params["received"] or "").strip("[]")
            if _IPV4_RE.fullmatch(received) is None and not three_colon_ipv6(received):
                try:
                    ipaddress.ip_address(received)
                except ValueError:
                    raise ParseError(f"received is not an IP address: {received!r}",
                                     rfc=_RULE) from None
        rport = params.get("rport")
        if rport is not None and (not rport.isdigit() or len(rport) > 5 or int(rport) > 65535):
            raise ParseError(f"bad rport {rport!r}", rfc="RFC 3581 §3")

    def render(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return (f"{self.protocol}/{self.version}/{self.transport} {self.host}{port}"
                f"{format_params(self.params)}")

    def _state(self) -> tuple[object, ...]:
        return (self.protocol, self.version, self.transport, self.host, self.port, self.params)

    # -- named parameters ---------------------------------------------------------

    @property
    def branch(self) -> str | None:
        params = self._params  # read on every message: no second property call once split
        return (self.params if params is None else params).get("branch")

    @branch.setter
    def branch(self, value: str | None) -> None:
        self._put("branch", value)

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @received.setter
    def received(self, value: str | None) -> None:
        self._put("received", value)

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @maddr.setter
    def maddr(self, value: str | None) -> None:
        self._put("maddr", value)

    @property
    def ttl(self) -> int | None:
        value = self.params.get("ttl")
        return int(value) if value and value.isdigit() and len(value) <= 3 else None

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581: None if absent, True if present without a value, else the port."""
        if "rport" not in self.params:
            return None
        value = self.params["rport"]
        if value is None:
            return True
        return int(value) if value.isdigit() and len(value) <= 5 else None

    @rport.setter
    def rport(self, value: int | bool | None) -> None:
        if value is None or value is False:
            self.params.pop("rport", None)
        elif value is True:
            self.params["rport"] = None
        else:
            self.params["rport"] = str(int(value))

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def has_magic_cookie(self) -> bool:
        """True when the branch was made by an RFC 3261 element (§8.1.1.7)."""
        branch = self.params.get("branch")
        return branch is not None and branch.startswith(BRANCH_MAGIC_COOKIE)

    def _put(self, name: str, value: str | None) -> None:
        if value is None:
            self.params.pop(name, None)
        else:
            self.params[name] = value


# a call, not a decorator: Via is an extension type in the compiled build
register("Via", "v", multi=True)(Via)
