"""Event packages (RFC 6665 §5): the registry subscriptions look packages up in.

A package says its name, the body types its NOTIFYs may carry (the first is
the default when a SUBSCRIBE has no Accept, §5.4.2), its default subscription
duration (§5.4.4) and how to turn the resource's state into a NOTIFY body.
``EventPackages.default()`` holds the two built in: ``message-summary``
(RFC 3842, message waiting) and ``refer`` (RFC 3515, the progress of a
REFER as ``message/sipfrag``).  Applications ``register`` their own.

``EventPackages.check_subscribe(request)`` answers the questions a notifier
asks before accepting a SUBSCRIBE: 489 Bad Event with Allow-Events for an
unknown package (§4.2.1.1, §8.3.2), 406 when the Accept header names none
of the package's body types (§4.1.2.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..message.errors import ParseError
from ..message.fields.events import Event
from ..message.message import Request, Response
from ..sipfrag import CONTENT_TYPE as SIPFRAG
from ..sipfrag import status_fragment

__all__ = [
    "MESSAGE_SUMMARY",
    "REFER",
    "EventPackage",
    "EventPackages",
    "MessageCounts",
    "MessageSummary",
]


@dataclass(frozen=True, slots=True)
class EventPackage:
    """One event package (RFC 6665 §5.4).

    ``name``: the event-type (``message-summary``); ``accept``: the body
    types of its NOTIFYs, the default first; ``default_expires``: the
    subscription duration when a SUBSCRIBE has no Expires (§5.4.4);
    ``body``: the resource state -> NOTIFY body (None: state is given as
    bytes already).
    """

    name: str
    accept: tuple[str, ...]
    default_expires: int
    body: Callable[[object], bytes] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.accept:
            raise ValueError(f"event package {self.name!r} needs at least one body type")

    @property
    def content_type(self) -> str:
        """The body type of its NOTIFYs (the first of ``accept``)."""
        return self.accept[0]

    def build_body(self, state: object) -> bytes:
        """The NOTIFY body for ``state`` (bytes are taken as they are)."""
        if isinstance(state, bytes):
            return state
        if self.body is None:
            raise TypeError(f"event package {self.name!r} takes its state as bytes")
        return self.body(state)

    def accepts(self, request: Request) -> bool:
        """False when ``request`` has an Accept header naming none of our body
        types (a missing Accept means the default type, §5.4.2)."""
        values = request.headers.getall("Accept")
        if not values:
            return "accept" not in request.headers
        wanted = {v.partition(";")[0].strip(" \t").lower() for v in values}
        mine = {t.partition(";")[0].strip(" \t").lower() for t in self.accept}
        return bool(wanted & mine) or "*/*" in wanted or any(
            w.endswith("/*") and any(m.startswith(w[:-1]) for m in mine) for w in wanted)


class EventPackages:
    """The event packages this UA understands, by name."""

    __slots__ = ("_packages",)

    def __init__(self, packages: Iterable[EventPackage] = ()) -> None:
        self._packages: dict[str, EventPackage] = {}
        for package in packages:
            self.register(package)

    @classmethod
    def default(cls) -> EventPackages:
        """A registry holding ``message-summary`` and ``refer``."""
        return cls([MESSAGE_SUMMARY, REFER])

    def register(self, package: EventPackage) -> None:
        self._packages[package.name] = package

    def get(self, name: str) -> EventPackage | None:
        """The package of an event-type; event-types compare byte by byte (§8.2.1)."""
        return self._packages.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._packages

    def __iter__(self) -> Iterator[EventPackage]:
        return iter(self._packages.values())

    def allow_events(self) -> str:
        """The value of an Allow-Events header listing every package (§4.4.4)."""
        return ", ".join(self._packages)

    def bad_event(self, request: Request) -> Response:
        """489 Bad Event with Allow-Events (§7.2, §8.3.2)."""
        return request.reply(489, headers=[("Allow-Events", self.allow_events())])

    def check_subscribe(self, request: Request) -> EventPackage | Response:
        """The package of a SUBSCRIBE (or NOTIFY), or the response refusing it:
        489 for a missing, malformed or unknown Event, 406 for an Accept we
        cannot meet."""
        try:
            event = request.headers.first("Event")
        except ParseError:
            return self.bad_event(request)
        if not isinstance(event, Event):
            return self.bad_event(request)
        package = self._packages.get(event.package)
        if package is None:
            return self.bad_event(request)
        if request.method == "SUBSCRIBE" and not package.accepts(request):
            return request.reply(406, headers=[("Accept", ", ".join(package.accept))])
        return package


# -- message-summary (RFC 3842) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """``new/old (urgent_new/urgent_old)`` of one message-context-class (RFC 3842 §5.2)."""

    new: int
    old: int
    urgent_new: int | None = None
    urgent_old: int | None = None

    def __str__(self) -> str:
        text = f"{self.new}/{self.old}"
        if self.urgent_new is not None or self.urgent_old is not None:
            text += f" ({self.urgent_new or 0}/{self.urgent_old or 0})"
        return text


_COUNTS_RE = re.compile(r"([0-9]+)[ \t]*/[ \t]*([0-9]+)(?:[ \t]*\([ \t]*([0-9]+)[ \t]*/"
                        r"[ \t]*([0-9]+)[ \t]*\))?", re.ASCII)
_LINE_RE = re.compile(r"([!%'*+\-.0-9A-Z_`a-z~]+)[ \t]*:[ \t]*(.*)", re.ASCII)
_MSGCOUNT_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """An ``application/simple-message-summary`` body (RFC 3842 §5.2).

    ``waiting``: Messages-Waiting yes/no; ``account``: Message-Account (a URI,
    written without angle brackets); ``counts``: message-context-class
    (``voice-message``, ``fax-message`` ...) -> ``MessageCounts``;
    ``headers``: the optional extension headers after a blank line.
    """

    waiting: bool
    account: str | None = None
    counts: tuple[tuple[str, MessageCounts], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __bytes__(self) -> bytes:
        lines = [f"Messages-Waiting: {'yes' if self.waiting else 'no'}"]
        if self.account is not None:
            lines.append(f"Message-Account: {self.account}")
        lines.extend(f"{name}: {counts}" for name, counts in self.counts)
        text = "".join(line + "\r\n" for line in lines)
        if self.headers:
            text += "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in self.headers)
        return text.encode()

    @classmethod
    def parse(cls, body: bytes) -> MessageSummary:
        """Parse a body; productions are case-insensitive (§5.2)."""
        rule = "RFC 3842 §5.2"
        text = body.decode("utf-8", "replace").replace("\r\n", "\n")
        summary, _, extra = text.partition("\n\n")
        lines = [line for line in summary.split("\n") if line.strip()]
        if not lines:
            raise ParseError("empty message summary", rfc=rule)
        first = _LINE_RE.fullmatch(lines[0].strip())
        if first is None or first.group(1).lower() != "messages-waiting" or \
                first.group(2).strip().lower() not in ("yes", "no"):
            raise ParseError("a message summary starts with Messages-Waiting: yes/no",
                             rfc=rule)
        waiting = first.group(2).strip().lower() == "yes"
        account: str | None = None
        counts: list[tuple[str, MessageCounts]] = []
        for line in lines[1:]:
            m = _LINE_RE.fullmatch(line.strip())
            if m is None:
                raise ParseError(f"malformed summary line {line[:60]!r}", rfc=rule)
            name, value = m.group(1), m.group(2).strip()
            if name.lower() == "message-account" and account is None and not counts:
                account = value
                continue
            c = _COUNTS_RE.fullmatch(value)
            if c is None:
                raise ParseError(f"malformed counts {value!r} for {name}", rfc=rule)
            numbers = [int(g) if g is not None else None for g in c.groups()]
            if any(n is not None and n > _MSGCOUNT_MAX for n in numbers):
                raise ParseError("a msgcount MUST NOT exceed 2^32-1", rfc=rule)
            new, old, urgent_new, urgent_old = numbers
            assert new is not None and old is not None
            counts.append((name.lower(), MessageCounts(new, old, urgent_new, urgent_old)))
        headers: list[tuple[str, str]] = []
        for line in extra.split("\n"):
            if line.strip():
                m = _LINE_RE.fullmatch(line.strip())
                if m is None:
                    raise ParseError(f"malformed header {line[:60]!r}", rfc=rule)
                headers.append((m.group(1), m.group(2).strip()))
        return cls(waiting, account, tuple(counts), tuple(headers))

    def count(self, context: str) -> MessageCounts | None:
        """The counts of a message-context-class (case-insensitive), or None."""
        context = context.lower()
        return next((c for name, c in self.counts if name == context), None)


def _summary_body(state: object) -> bytes:
    if not isinstance(state, MessageSummary):
        raise TypeError(f"message-summary state is a MessageSummary, not {type(state).__name__}")
    return bytes(state)


def _sipfrag_body(state: object) -> bytes:
    if isinstance(state, int) and not isinstance(state, bool):
        return status_fragment(state)
    if isinstance(state, Response):
        return status_fragment(state.status, state.reason)
    raise TypeError(f"refer state is a status code or a Response, not {type(state).__name__}")


#: RFC 3842 §3: "The default subscription duration for this event package is one hour."
MESSAGE_SUMMARY = EventPackage("message-summary", ("application/simple-message-summary",),
                               3600, _summary_body)
#: RFC 3515 §2.4.4-2.4.5: NOTIFY bodies are message/sipfrag; the referrer
#: gets no Expires to choose from, so the notifier picks the duration
REFER = EventPackage("refer", (SIPFRAG,), 60, _sipfrag_body)
