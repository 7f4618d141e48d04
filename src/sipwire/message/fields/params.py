"""``*( SEMI generic-param )``: the parameter tail most header values carry.

Parameter names are case-insensitive (RFC 3261 §7.3.1), so they are kept
lower-cased; values keep their case (a ``tag`` or ``branch`` is compared
case-sensitively) and quoted values keep their quotes.
"""

from __future__ import annotations

from collections.abc import Callable

from ..abnf import PARAM_STEP_RE, PARAMS_RE
from ..errors import ParseError

__all__ = ["Params", "format_params", "parse_params", "split_params"]

Params = dict[str, str | None]

_csplit_params: Callable[[str], Params | None] | None
try:  # the compiled build's C twin of split_params for ASCII text without quotes
    from ._cfields import split_params as _csplit_params
except ImportError:  # the pure build
    _csplit_params = None


def parse_params(text: str, rule: str = "RFC 3261 §25.1 generic-param") -> Params:
    """Parse ``;name=value;flag`` (leading whitespace allowed) into a dict.

    Raises ``ParseError`` when ``text`` is not exactly a run of generic-params.
    """
    params: Params = {}
    if not text:
        return params
    if '"' not in text:
        # Fast path: no quoted value can hide a ';' or '=' here.
        if PARAMS_RE.fullmatch(text) is None:
            raise ParseError(f"malformed parameters {text.strip()!r}", rfc=rule)
        for part in text.split(";")[1:]:
            name, eq, value = part.partition("=")
            params[name.strip().lower()] = value.strip() if eq else None
        return params
    pos = 0
    end = len(text)
    while pos < end:
        m = PARAM_STEP_RE.match(text, pos)
        if m is None:
            if text[pos:].strip(" \t") == "":
                break
            raise ParseError(f"malformed parameters {text.strip()!r}", rfc=rule)
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def split_params(text: str, rule: str = "RFC 3261 §25.1 generic-param") -> Params:
    """The parameters of a tail that was already checked against the grammar."""
    if _csplit_params is not None:
        found = _csplit_params(text)
        if found is not None:
            return found
    if '"' in text:
        return parse_params(text, rule)
    params: Params = {}
    if text:
        for part in text.split(";")[1:]:
            name, eq, value = part.partition("=")
            params[name.strip(" \t").lower()] = value.strip(" \t") if eq else None
    return params


def format_params(params: Params) -> str:
    """Canonical wire form of a parameter dict: ``;name=value;flag``."""
    return "".join([f";{k}" if v is None else f";{k}={v}" for k, v in params.items()])
