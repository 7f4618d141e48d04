"""A ladder diagram of SIP messages: lanes (one per IP address and port) and
arrows (one per message), grouped by Call-ID.

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
from ..transport.base import Transport

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

    @property
    def start(self) -> float:
        return self.arrows[0].time if self.arrows else 0.0

    def lane(self, address: str) -> int:
        return self.lanes.index(address)


@dataclass(frozen=True, slots=True)
class _Summary:
    label: str
    call_id: str
    cseq: str
    method: str
    status: int | None
    branch: str


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
        return _Summary(first, call_id, f"{cseq.seq} {cseq.method}", message.method,
                        None, branch)
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


def _ladder(call_id: str, messages: list[tuple[TraceRecord, _Summary]]) -> Ladder:
    lanes: dict[str, None] = {}
    seen_bytes: set[tuple[str, str, bytes]] = set()
    seen_keys: set[tuple[object, ...]] = set()
    arrows = []
    for index, (record, summary) in enumerate(messages):
        source, destination = str(record.source), str(record.destination)
        lanes.setdefault(source)
        lanes.setdefault(destination)
        exact = (source, destination, record.data)
        key = (source, destination, summary.method, summary.status, summary.branch,
               summary.cseq)
        again = exact in seen_bytes or (bool(summary.branch) and key in seen_keys)
        seen_bytes.add(exact)
        seen_keys.add(key)
        arrows.append(Arrow(index, record.time, source, destination, record.transport,
                            summary.label, call_id, summary.cseq, summary.method,
                            summary.status, again, record.data))
    return Ladder(call_id, tuple(lanes), tuple(arrows))
