"""A ladder diagram of SIP messages: lanes (one per element: an IP address and
port, the ports an element sends requests from over connections folded into
the one its Via names) and arrows (one per message), grouped by Call-ID.

Built from ``TraceRecord`` values, whichever file they came from (a pcap of
ours or of tcpdump, a ``--trace`` log).  Each arrow knows whether it repeats
an earlier message — the same bytes again between the same two ends, or the
same request (method, top Via branch, CSeq) or response (status, branch,
CSeq) again: a retransmission of RFC 3261 §17.1.1.2, §17.1.2.2 or §17.2.1 —
and whether it is a final response (2xx-6xx, §7.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..message.errors import ParseError
from ..message.message import Request, Response
from ..message.parser import parse
from ..trace.record import TraceRecord
from ..transport.base import Address, Transport

__all__ = ["Arrow", "Ladder", "build_ladders"]


@dataclass(frozen=True, slots=True)
class Arrow:
    """One message: from one lane to another, labelled with its first line."""

    index: int
    time: float
    source: str
    destination: str
    transport: Transport
    label: str
    call_id: str
    cseq: str
    method: str
    status: int | None
    retransmission: bool
    data: bytes

    @property
    def short_label(self) -> str:
        """The first line without its ``SIP/2.0``: ``200 OK``, ``INVITE sip:bob@b.example``."""
        label = self.label
        if label.startswith("SIP/2.0 "):
            return label[8:]
        return label[:-8] if label.endswith(" SIP/2.0") else label

    @property
    def final(self) -> bool:
        """A final response (§7.2: 200-699)."""
        return self.status is not None and self.status >= 200

    @property
    def request(self) -> bool:
        return self.status is None


@dataclass(frozen=True, slots=True)
class Ladder:
    """The messages of one call (Call-ID), in time order, and its lanes in
    the order they first appear."""

    call_id: str
    lanes: tuple[str, ...]
    arrows: tuple[Arrow, ...]
    #: (address, lane) for each address drawn on the lane of another one of
    #: the same element
    aliases: tuple[tuple[str, str], ...] = ()

    @property
    def start(self) -> float:
        return self.arrows[0].time if self.arrows else 0.0

    def lane(self, address: str) -> int:
        """The lane of ``address``: its own, or that of its element."""
        for alias, lane in self.aliases:
            if alias == address:
                return self.lanes.index(lane)
        return self.lanes.index(address)

    def addresses(self, lane: str) -> tuple[str, ...]:
        """The other addresses drawn on ``lane``."""
        return tuple(alias for alias, into in self.aliases if into == lane)


@dataclass(frozen=True, slots=True)
class _Summary:
    label: str
    call_id: str
    cseq: str
    method: str
    status: int | None
    branch: str
    sent_by: tuple[str, int] | None = None  # a request's top Via host and port
    forwarded_branch: str = ""  # a request's second Via branch (a proxy forwarded it)


_LINE_RE = {
    "call_id": re.compile(r"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S*)"),
    "cseq": re.compile(r"(?im)^cseq[ \t]*:[ \t]*([^\r\n]*)"),
    "branch": re.compile(r"(?im)^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch[ \t]*=[ \t]*([^;,\s]+)"),
}


def _summary(data: bytes) -> _Summary:
    """What the ladder shows of a message; a message that does not parse
    still gives its first line and what a pattern finds."""
    first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace").strip()
    try:
        message = parse(data)
        call_id = message.call_id
        cseq = message.cseq
        via = message.via
        branch = (via[0].branch or "") if via else ""
        if isinstance(message, Response):
            # a forked call's 2xx from two UASs differ by To tag (§16.7 step 5)
            return _Summary(first, call_id, f"{cseq.seq} {cseq.method}", cseq.method,
                            message.status, f"{branch};{message.to.tag or ''}")
        assert isinstance(message, Request)
        sent_by = None
        if via and via[0].port is not None:
            sent_by = (via[0].host.strip("[]").lower(), via[0].port)
        forwarded = (via[1].branch or "") if len(via) > 1 else ""
        return _Summary(first, call_id, f"{cseq.seq} {cseq.method}", message.method,
                        None, branch, sent_by, forwarded)
    except (ParseError, ValueError, IndexError):
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        found = {name: m.group(1).strip() if (m := pattern.search(head)) else ""
                 for name, pattern in _LINE_RE.items()}
        status = None
        method = first.split(" ", 1)[0]
        if first.startswith("SIP/"):
            parts = first.split(" ")
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            method = found["cseq"].rpartition(" ")[2]
        return _Summary(first, found["call_id"], found["cseq"], method, status,
                        found["branch"])


def build_ladders(records: Iterable[TraceRecord], call_id: str | None = None,
                  ) -> list[Ladder]:
    """One ladder per Call-ID, in the order each call first appears (only the
    call ``call_id`` when it is given).  Messages sort by time, ties kept in
    file order."""
    calls: dict[str, list[tuple[TraceRecord, _Summary]]] = {}
    for record in sorted(records, key=lambda r: r.time):
        summary = _summary(record.data)
        if call_id is not None and summary.call_id != call_id:
            continue
        calls.setdefault(summary.call_id, []).append((record, summary))
    return [_ladder(cid, messages) for cid, messages in calls.items()]


def _elements(messages: list[tuple[TraceRecord, _Summary]]) -> dict[str, str]:
    """Addresses of one element, each mapped to the first of them seen: an
    element has a port per transport, and a TCP, TLS or WebSocket connection
    it opens has a port of its own (RFC 3261 §18.1.1).  Two rules tie them:

    - a request's top Via names its sender's host and port (§18.2.1): a
      request sent from the same IP address and another port, not to the
      address its Via names, comes from that element;
    - a request whose second Via is the top Via (same branch) of a request
      received at an address was forwarded by the element at that address
      (§16.6 step 8): a proxy's two sides are one element.
    """
    parent: dict[str, str] = {}

    def find(address: str) -> str:
        while parent.get(address, address) != address:
            address = parent[address]
        return address

    def join(first: str, second: str) -> None:
        a, b = find(first), find(second)
        if a != b:
            parent[b] = a

    order: dict[str, int] = {}
    wire: set[str] = set()
    received_at: dict[str, str] = {}  # top Via branch -> where that request arrived
    for record, summary in messages:
        source, destination = str(record.source), str(record.destination)
        order.setdefault(source, len(order))
        order.setdefault(destination, len(order))
        wire.update((source, destination))
        if summary.status is not None:
            continue
        if summary.sent_by is not None:
            host, port = summary.sent_by
            element = Address(record.source.host, port)
            if host == record.source.host.lower() and port != record.source.port \
                    and element != record.destination:
                order.setdefault(str(element), len(order))
                join(str(element), source)
        if summary.branch:
            received_at.setdefault(summary.branch, destination)
        if summary.forwarded_branch in received_at:
            join(received_at[summary.forwarded_branch], source)
    groups: dict[str, list[str]] = {}
    for address in order:
        groups.setdefault(find(address), []).append(address)
    aliases: dict[str, str] = {}
    for members in groups.values():
        # the lane is named after the first address a message came from or went to
        on_wire = sorted((m for m in members if m in wire), key=order.__getitem__)
        for member in on_wire[1:]:
            aliases[member] = on_wire[0]
    return aliases


def _ladder(call_id: str, messages: list[tuple[TraceRecord, _Summary]]) -> Ladder:
    lanes: dict[str, None] = {}
    seen_bytes: set[tuple[str, str, bytes]] = set()
    seen_keys: set[tuple[object, ...]] = set()
    arrows = []
    aliases = _elements(messages)
    for index, (record, summary) in enumerate(messages):
        source, destination = str(record.source), str(record.destination)
        lanes.setdefault(aliases.get(source, source))
        lanes.setdefault(aliases.get(destination, destination))
        exact = (source, destination, record.data)
        key = (source, destination, summary.method, summary.status, summary.branch,
               summary.cseq)
        again = exact in seen_bytes or (bool(summary.branch) and key in seen_keys)
        seen_bytes.add(exact)
        seen_keys.add(key)
        arrows.append(Arrow(index, record.time, source, destination, record.transport,
                            summary.label, call_id, summary.cseq, summary.method,
                            summary.status, again, record.data))
    return Ladder(call_id, tuple(lanes), tuple(arrows), tuple(aliases.items()))
