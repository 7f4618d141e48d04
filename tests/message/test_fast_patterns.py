"""The fast patterns of SIP URIs do not backtrack over the user part.

A URI with no user part (``<sip:proxy.example.com;lr>``, the usual Route and
Record-Route) first lets the optional ``user [":" password] "@"`` group try:
its character set takes the whole host and parameters before finding no
``@``.  A greedy repeat then gives back one character at a time, trying ``:``
and ``@`` after each, which made such a URI 2.5 times slower to match than
one with a user part.  Neither the user nor the password set contains ``:`` or
``@``, so the repeats are possessive: the group fails at once and the host is
matched.  Python's ``re`` counts no steps, so these tests look at the
compiled structure of the patterns, which is what decides the backtracking.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from typing import Any

import pytest

from sipwire.message import parser, uri
from sipwire.message.fields import nameaddr
from sipwire.message.fields.nameaddr import NameAddr
from sipwire.message.uri import URI


def _groups(pattern: str) -> dict[int, Any]:
    """Each capturing group's parsed body, by group number."""
    found: dict[int, Any] = {}

    def walk(items: Any) -> None:
        for op, av in items:
            if op is sre.SUBPATTERN:
                if av[0] is not None:
                    found[av[0]] = av[3]
                walk(av[3])
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                walk(av[2])
            elif op is sre.BRANCH:
                for branch in av[1]:
                    walk(branch)
            elif op is sre.ATOMIC_GROUP:
                walk(av)

    walk(sre_parse.parse(pattern))
    return found


def _charset(items: Any) -> set[str]:
    """The characters one ``[...]`` element matches (ASCII range only)."""
    ((op, av),) = list(items)
    assert op is sre.IN
    chars: set[str] = set()
    for kind, value in av:
        if kind is sre.LITERAL:
            chars.add(chr(value))
        elif kind is sre.RANGE:
            chars.update(chr(c) for c in range(value[0], value[1] + 1))
        else:  # pragma: no cover - the sets are plain lists and ranges
            raise AssertionError(f"unexpected set element {kind}")
    return chars


@pytest.mark.parametrize("pattern", [uri.SIP_URI_FAST, uri._SIP_FAST_RE.pattern])
def test_user_and_password_repeats_are_possessive(pattern: str) -> None:
    groups = _groups(pattern)
    for number in (1, 2):  # user, password
        ((op, av),) = list(groups[number])
        assert op is sre.POSSESSIVE_REPEAT, f"group {number} may backtrack"
        # possessive is exact only because the set cannot take what ends it
        assert not _charset(av[2]) & {":", "@"}


def test_the_header_and_request_line_patterns_embed_the_fast_uri() -> None:
    # they use SIP_URI_FAST as it is, so the test above covers them
    assert uri.SIP_URI_FAST in nameaddr._FAST_RE.pattern
    assert uri.SIP_URI_FAST in parser._REQUEST_LINE_FAST_RE.pattern


@pytest.mark.parametrize(("text", "user", "password", "host", "port"), [
    ("<sip:proxy.example.com;lr>", None, None, "proxy.example.com", None),
    ("<sip:proxy.example.com:5060;transport=tcp;lr>", None, None, "proxy.example.com", 5060),
    ("<sip:alice@example.com>", "alice", None, "example.com", None),
    ("<sip:alice:secret@example.com:5070>", "alice", "secret", "example.com", 5070),
    ("<sip:a;b?c/d@example.com>", "a;b?c/d", None, "example.com", None),
    ("<sip:alice:@example.com>", "alice", "", "example.com", None),
])
def test_uris_with_and_without_a_user_part_take_the_fast_path(
        text: str, user: str | None, password: str | None, host: str, port: int | None) -> None:
    assert nameaddr._FAST_RE.fullmatch(text) is not None
    value = NameAddr.parse(text)
    assert (value.uri.user, value.uri.password, value.uri.host, value.uri.port) == (
        user, password, host, port)
    assert value.uri == URI.parse(text[1:-1])


def test_a_long_hostname_without_user_matches_once() -> None:
    # 4,000 characters the user set accepts and no '@': the possessive repeat
    # fails the user group in one pass instead of 4,000 give-backs
    host = "a" * 2000 + "." + "b" * 1999
    m = re.fullmatch(uri.SIP_URI_FAST, f"sip:{host};lr")
    assert m is not None and m.group(1) is None and m.group(3) == host
