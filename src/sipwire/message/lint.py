"""Checking a whole message: every header against its grammar, and the rules
between headers.  ``Message.validate()`` raises the first finding that is
not ``tolerated``; ``sipwire.lint()`` lists them all.

A tolerated finding is a rule broken by the sender that the receiver can live
with, so ``parse()`` and ``validate()`` accept the message (liberal in what
you accept): no Max-Forwards in a request (§8.1.1.6), no branch in its top
Via (§8.1.1.7), a body without Content-Type (§20.15), an IPv6 reference with
three colons before its IPv4 part (RFC 5954 §4.1, RFC 5118 §4.10).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ParseError
from .fields.base import HEADER_TYPES, LIST_HEADERS, Field
from .fields.nameaddr import Contact
from .fields.text import WarningValue
from .fields.via import Via
from .headers import _parse_line, canonical_name
from .message import Message, Request
from .parser import DEFAULT_LIMITS, Limits, check_nul, missing_branch, parse
from .uri import URI, three_colon_ipv6

__all__ = ["Finding", "lint", "lint_message"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what, which header, which RFC rule, and the answer it deserves.

    ``tolerated`` marks a deviation that ``parse()`` and ``validate()``
    accept; ``status_code`` is then the answer of an element that would not.
    """

    message: str
    rfc: str | None
    status_code: int = 400
    header: str | None = None
    tolerated: bool = False

    @classmethod
    def from_error(cls, error: ParseError) -> Finding:
        return cls(error.reason, error.rfc, error.status_code, error.header)

    def error(self) -> ParseError:
        return ParseError(self.message, header=self.header, rfc=self.rfc,
                          status_code=self.status_code)

    def __str__(self) -> str:
        where = f"{self.header}: " if self.header else ""
        rule = f" ({self.rfc})" if self.rfc else ""
        accepted = " [tolerated]" if self.tolerated else ""
        return f"{self.status_code} {where}{self.message}{rule}{accepted}"


#: not comma lists, yet allowed more than once (§7.3.1, the exception for these four)
_REPEATABLE = frozenset({"www-authenticate", "authorization", "proxy-authenticate",
                         "proxy-authorization"})


# an undecodable byte, in a header set in code from bytes decoded with
# surrogateescape: parse() refuses those (§25.1 UTF8-NONASCII)
_UNDECODED_RE = re.compile("[\udc80-\udcff]")


def lint(data: bytes | Message, limits: Limits = DEFAULT_LIMITS) -> list[Finding]:
    """Every problem in a message (bytes or parsed); empty for a clean one."""
    if isinstance(data, Message):
        return lint_message(data)
    try:
        msg = parse(data, limits)
    except ParseError as exc:
        problems: list[ParseError] = []
        try:
            msg = parse(data, limits, collect=problems)
        except ParseError:
            return [Finding.from_error(exc)]  # framing: nothing more can be read
        first = [Finding.from_error(problem) for problem in problems]
        seen = {(f.header, f.message) for f in first}
        return first + [f for f in lint_message(msg) if (f.header, f.message) not in seen]
    return lint_message(msg)


def lint_message(msg: Message) -> list[Finding]:
    """Every finding for a parsed message, in header order, then the rules
    between headers (only when every header is well-formed), then the
    tolerated deviations."""
    findings: list[Finding] = []
    add = findings.append
    counts: dict[str, int] = {}
    for line in msg.headers._all():
        key: str = line[1]
        counts[key] = counts.get(key, 0) + 1
        text: str = line[3] if line[3] is not None else line[2]
        if ("\r" in text or "\n" in text) and (
                "\r" in text.replace("\r\n", "") or "\n" in text.replace("\r\n", "")):
            add(Finding("bare CR or LF inside a header line", "RFC 3261 §7.3",
                        header=canonical_name(key)))
            continue
        if not text.isascii() and _UNDECODED_RE.search(text):
            add(Finding("bytes that are not UTF-8", "RFC 3261 §25.1 TEXT-UTF8",
                        header=canonical_name(key)))
            continue
        if "\x00" in text:  # a header set in code; parse() refuses these
            try:
                check_nul(line)
            except ParseError as exc:
                add(Finding.from_error(exc))
                continue
        cls = HEADER_TYPES.get(key)
        if cls is None:
            continue
        try:
            values = line[4]
            if values is None:
                values = line[4] = _parse_line(cls, key, line)
            if cls in _CHECKED:
                for value in values:
                    value.check()
        except ParseError as exc:
            add(Finding.from_error(exc.with_header(canonical_name(key))))
    for key, count in counts.items():
        if count > 1 and key in HEADER_TYPES and key not in LIST_HEADERS \
                and key not in _REPEATABLE:
            add(Finding("header appears more than once but is not a list",
                        "RFC 3261 §7.3.1", header=canonical_name(key)))
    if not findings:  # every header well-formed: their values can be read
        _between_headers(msg, add)
    _tolerated(msg, add)
    return findings


_CHECKED = frozenset(cls for cls in set(HEADER_TYPES.values()) if hasattr(cls, "check"))


def _between_headers(msg: Message, add: Callable[[Finding], None]) -> None:
    """Rules that tie headers to each other and to the start line."""
    headers = msg.headers
    contacts: list[Contact] = headers.typed("contact")  # type: ignore[assignment]
    if any(c.star for c in contacts):
        if len(contacts) > 1:
            add(Finding("Contact: * cannot be listed with other contacts",
                        "RFC 3261 §10.2.2", header="Contact"))
        if not isinstance(msg, Request) or msg.method != "REGISTER":
            add(Finding("Contact: * is only for REGISTER", "RFC 3261 §20.10", header="Contact"))
        elif msg.expires != 0:
            add(Finding("Contact: * needs Expires: 0", "RFC 3261 §10.2.2", header="Contact"))
    if isinstance(msg, Request) and msg.method == "INVITE" and len(contacts) > 1:
        add(Finding("a dialog-creating request needs exactly one Contact",
                    "RFC 3261 §8.1.1.8", header="Contact"))


def _tolerated(msg: Message, add: Callable[[Finding], None]) -> None:
    """Rules a sender broke that ``parse()`` and ``validate()`` accept: listed
    whatever else is wrong, as none needs the other headers well-formed."""
    if msg.body and "content-type" not in msg.headers:
        # a body of no declared type is one the UAS does not understand: its
        # answer is 415 (§8.2.3), not a parse error
        add(Finding("a message with a body needs Content-Type", "RFC 3261 §20.15",
                    header="Content-Type", tolerated=True))
    _tags_and_contact(msg, add)
    if isinstance(msg, Request):
        if "max-forwards" not in msg.headers:
            # §16.3 step 3: "If the request does not contain a Max-Forwards
            # header field, this check is passed"; §16.6 step 3 adds one
            add(Finding("missing Max-Forwards, which a UAC MUST insert", "RFC 3261 §8.1.1.6",
                        header="Max-Forwards", tolerated=True))
        if "via" in msg.headers and _top_via_parses(msg) and missing_branch(msg):
            # an RFC 2543 element's request, matched by §17.2.3's rule for it
            add(Finding("missing branch parameter", "RFC 3261 §8.1.1.7", header="Via",
                        tolerated=True))
    _three_colon_ipv6(msg, add)


#: requests that can establish a dialog (RFC 3261 §12.1, RFC 6665 §4.1, RFC 3515 §2.4.4)
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


def _tags_and_contact(msg: Message, add: Callable[[Finding], None]) -> None:
    """The tags and Contact a dialog needs.  Each is a MUST that elements live
    without (RFC 3261's own §17.1.1.3 example INVITE has no Contact), so each
    is listed but tolerated.  An RFC 2543 element's request (no branch) is
    reported once, by §8.1.1.7: RFC 2543 had no From tag and made Contact
    optional."""
    from_ = _typed_or_none(msg, "from")
    to = _typed_or_none(msg, "to")
    via = _typed_or_none(msg, "via")
    rfc2543 = via is not None and via.branch is None  # §8.1.1.7's finding says it
    if from_ is not None and from_.params.get("tag") is None and not rfc2543:
        add(Finding("From has no tag", "RFC 3261 §8.1.1.3", header="From", tolerated=True))
    contacts = _contacts_or_none(msg)
    if isinstance(msg, Request):
        if msg.method.upper() in _DIALOG_CREATING and to is not None and not rfc2543 and \
                to.params.get("tag") is None and contacts is not None:
            if not contacts:
                add(Finding(f"a dialog-creating request ({msg.method}) needs a Contact",
                            "RFC 3261 §8.1.1.8", header="Contact", tolerated=True))
            elif not any(c.star for c in contacts) and not all(
                    c.uri.scheme in ("sip", "sips") for c in contacts):
                add(Finding("the Contact of a dialog-creating request must be a SIP or "
                            "SIPS URI", "RFC 3261 §8.1.1.8", header="Contact",
                            tolerated=True))
        return
    status: int = msg.status  # type: ignore[attr-defined]
    if to is not None and status > 100 and to.params.get("tag") is None:
        add(Finding(f"a {status} response needs a To tag", "RFC 3261 §8.2.6.2",
                    header="To", tolerated=True))
    cseq = _typed_or_none(msg, "cseq")
    method = getattr(cseq, "method", "").upper()
    # 199 (RFC 6228) ends an early dialog rather than making one
    creates = (method in ("INVITE", "SUBSCRIBE") and 200 <= status < 300) or (
        method == "INVITE" and 100 < status < 199 and to is not None
        and to.params.get("tag") is not None)
    if creates and contacts is not None and not contacts:
        add(Finding(f"a {status} response that establishes a dialog needs a Contact",
                    "RFC 3261 §12.1.1", header="Contact", tolerated=True))


def _typed_or_none(msg: Message, key: str) -> Any:
    """The typed first value of a header, or None when absent or malformed (a
    malformed one is a finding already)."""
    try:
        values = msg.headers.typed(key)
    except ParseError:
        return None
    return values[0] if values else None


def _contacts_or_none(msg: Message) -> list[Contact] | None:
    try:
        return msg.headers.typed("contact")  # type: ignore[return-value]
    except ParseError:
        return None


def _top_via_parses(msg: Message) -> bool:
    return _typed_or_none(msg, "via") is not None


def _three_colon_ipv6(msg: Message, add: Callable[[Finding], None]) -> None:
    """One finding per place (Request-URI, header) with an IPv6 address written
    with three colons before its IPv4 part: RFC 3261's IPv6address allows it,
    RFC 5954 §4.1 replaced that rule, RFC 5118 §4.10 shows it still sent."""
    places: list[str | None] = []
    if isinstance(msg, Request) and any(map(three_colon_ipv6, _uri_hosts(msg.uri))):
        places.append(None)
    for line in msg.headers._all():
        name = canonical_name(line[1])
        if name not in places and any(
                any(map(three_colon_ipv6, _hosts(value))) for value in line[4] or ()):
            places.append(name)
    for place in places:
        where = " in the Request-URI" if place is None else ""
        add(Finding(f"IPv6 address with three colons before its IPv4 part{where}, the "
                    "RFC 3261 grammar bug of RFC 5118 §4.10", "RFC 5954 §4.1", header=place,
                    tolerated=True))


def _hosts(value: Field) -> Iterator[str]:
    """The hosts and IP addresses in a typed header value."""
    if isinstance(value, Via):
        yield value.host
        yield value.maddr or ""
        yield value.received or ""
    elif isinstance(value, WarningValue):
        yield value.agent.rpartition("]")[0] + "]"
    else:
        uri = getattr(value, "uri", None)
        if isinstance(uri, URI):
            yield from _uri_hosts(uri)


def _uri_hosts(uri: URI) -> Iterator[str]:
    if uri.is_sip:
        yield uri.host
        yield uri.maddr or ""
