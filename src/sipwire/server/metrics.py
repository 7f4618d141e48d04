"""Counters of ``sipwire serve``, written in the Prometheus text exposition
format (version 0.0.4) for ``GET /metrics`` and as a dict for ``sipwire stats``.

Two kinds of figures:

- **counted on the way**, where the work happens: messages received and sent
  (``MetricsTap``, which the engine calls as it calls a ``Tracer``), store
  latency (``TimedStore`` around the location store) and event-loop lag
  (``LoopLagProbe``).  Each costs a dict lookup and an integer add per
  message: no lock (one event loop), no label text built per message, and
  the method of a request is kept only when it is one of ``KNOWN_METHODS``
  (anything else counts as ``other``, so a peer inventing methods cannot
  grow the label set);
- **read when asked** (``Metrics.collect``): transactions by kind and state,
  open connections by transport, bindings, bans, auth failures and
  retransmissions, each read from the object that already holds it, so
  that nothing on the hot path keeps them.

The text is written here, against the format's specification (``# HELP``,
``# TYPE``, one ``name{label="value"} number`` line per sample, ``_bucket``
with ``le``, ``_sum`` and ``_count`` for a histogram), rather than with
``prometheus-client``: its registry and label objects cost a lock and a
lookup per increment, which is the hot path's budget, and the default
install then needs no further dependency.  The tests parse the output with
``prometheus_client.parser``.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..location.binding import Binding
from ..location.sqlite_store import SQLiteStore
from ..location.store import Change, LocationStore
from ..message.errors import ParseError
from ..message.message import Request, Response
from ..transport.base import Flow
from .logs import Tracer

__all__ = ["KNOWN_METHODS", "Histogram", "LoopLagProbe", "Metrics", "MetricsTap", "Sample",
           "TimedStore", "WorkerFigures", "decode_snapshot", "encode_snapshot", "render"]

#: request methods counted by name; others are counted as ``other``
KNOWN_METHODS = frozenset({
    "ACK", "BYE", "CANCEL", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS", "PRACK",
    "PUBLISH", "REFER", "REGISTER", "SUBSCRIBE", "UPDATE"})

#: seconds; store operations and loop lag are both measured against these
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)


class Histogram:
    """Observations counted into fixed buckets (upper bounds, seconds), with
    their sum: a Prometheus histogram."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(sorted(bounds))
        #: one count per bound, then the observations above the last (+Inf)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(le, observations at or below it) per bucket, the last ``+Inf``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class MetricsTap(Tracer):
    """Counts every message the engine receives and sends, by request method or
    by response status and method (the CSeq's), and passes it on to
    ``tracer`` (``--trace``) when there is one."""

    __slots__ = ("inner", "requests_received", "requests_sent", "responses_received",
                 "responses_sent")

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.inner = tracer
        self.requests_received: dict[str, int] = {}
        self.requests_sent: dict[str, int] = {}
        self.responses_received: dict[tuple[str, int], int] = {}
        self.responses_sent: dict[tuple[str, int], int] = {}

    # inlined, not shared helpers: each is on the path of every message

    def received(self, message: Request | Response, flow: Flow) -> None:
        if type(message) is Request:
            method = message.method
            if method not in KNOWN_METHODS:
                method = "other"
            counts = self.requests_received
            counts[method] = counts.get(method, 0) + 1
        else:
            key = (_cseq_method(message), message.status)  # type: ignore[arg-type, union-attr]
            replies = self.responses_received
            replies[key] = replies.get(key, 0) + 1
        if self.inner is not None:
            self.inner.received(message, flow)

    def sent(self, message: Request | Response | bytes, flow: Flow) -> None:
        if type(message) is Response:
            key = (_cseq_method(message), message.status)
            replies = self.responses_sent
            replies[key] = replies.get(key, 0) + 1
        elif type(message) is Request:
            method = message.method
            if method not in KNOWN_METHODS:
                method = "other"
            counts = self.requests_sent
            counts[method] = counts.get(method, 0) + 1
        elif type(message) is bytes and message.startswith(b"SIP/2.0 "):
            # a final response resent from the bytes a retired transaction kept
            key = _response_key_of(message)
            replies = self.responses_sent
            replies[key] = replies.get(key, 0) + 1
        if self.inner is not None:
            self.inner.sent(message, flow)


def _response_key_of(data: bytes) -> tuple[str, int]:
    """(CSeq method, status) of a response's bytes as this server wrote them
    (the status code after "SIP/2.0 ", §7.2; the CSeq header by its name)."""
    try:
        status = int(data[8:11])
    except ValueError:
        status = 0
    method = "other"
    at = data.find(b"\r\nCSeq:")
    if at >= 0:
        end = data.find(b"\r\n", at + 2)
        fields = data[at + 7:end if end >= 0 else None].split()
        if len(fields) == 2:
            name = fields[1].decode("ascii", "replace")
            if name in KNOWN_METHODS:
                method = name
    return method, status


def _cseq_method(response: Response) -> str:
    try:
        method: str = response.cseq.method
    except ParseError:
        return "other"
    return method if method in KNOWN_METHODS else "other"


class TimedStore(LocationStore):
    """A location store that times each operation of ``inner`` into ``latency``
    (by operation name).  A store whose coroutines never wait still never
    waits through this one (``sipwire serve`` leaves the memory store
    untimed: its operations take microseconds)."""

    __slots__ = ("clock", "inner", "latency")

    def __init__(self, inner: LocationStore, latency: dict[str, Histogram] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner = inner
        self.latency = latency if latency is not None else {}
        self.clock = clock

    def _histogram(self, operation: str) -> Histogram:
        histogram = self.latency.get(operation)
        if histogram is None:
            histogram = self.latency[operation] = Histogram()
        return histogram

    # one coroutine frame each: the registrar and the proxy await these per request

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        started = self.clock()
        try:
            return await self.inner.update(aor, change, now)
        finally:
            self._histogram("update").observe(self.clock() - started)

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        started = self.clock()
        try:
            return await self.inner.lookup(aor, now)
        finally:
            self._histogram("lookup").observe(self.clock() - started)

    async def remove(self, aor: str) -> int:
        started = self.clock()
        try:
            return await self.inner.remove(aor)
        finally:
            self._histogram("remove").observe(self.clock() - started)

    async def purge(self, now: float) -> int:
        started = self.clock()
        try:
            return await self.inner.purge(now)
        finally:
            self._histogram("purge").observe(self.clock() - started)

    async def aors(self, now: float) -> list[str]:
        started = self.clock()
        try:
            return await self.inner.aors(now)
        finally:
            self._histogram("aors").observe(self.clock() - started)

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        started = self.clock()
        try:
            return await self.inner.bindings(now, aor)
        finally:
            self._histogram("bindings").observe(self.clock() - started)

    async def count(self, now: float) -> int:
        started = self.clock()
        try:
            return await self.inner.count(now)
        finally:
            self._histogram("count").observe(self.clock() - started)

    async def ping(self) -> None:
        started = self.clock()
        try:
            await self.inner.ping()
        finally:
            self._histogram("ping").observe(self.clock() - started)

    async def close(self) -> None:
        await self.inner.close()

    def __repr__(self) -> str:
        return f"TimedStore({self.inner!r})"


class LoopLagProbe:
    """How late the event loop runs a callback: every ``interval`` seconds it
    asks to wake after ``interval`` and measures how much later it woke.  A
    lag of a second means every message waited up to a second.  ``clock`` and
    ``sleep`` are the loop's (a test drives its own)."""

    __slots__ = ("clock", "histogram", "interval", "last", "sleep")

    def __init__(self, interval: float = 1.0, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.histogram = Histogram()
        #: the lag of the latest probe, seconds
        self.last = 0.0

    async def run(self, rounds: int | None = None) -> None:
        """Probe until cancelled (or ``rounds`` times)."""
        clock = self.clock or asyncio.get_running_loop().time
        done = 0
        while rounds is None or done < rounds:
            started = clock()
            await self.sleep(self.interval)
            self.last = max(0.0, clock() - started - self.interval)
            self.histogram.observe(self.last)
            done += 1


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric family: name (without ``sipwire_``), type, help, and its
    samples as (suffix, labels, value)."""

    name: str
    kind: str  # counter, gauge, histogram
    help: str
    samples: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...] = field(default=())


class Metrics:
    """Everything ``/metrics`` and ``sipwire stats`` report for one server.

    ``tap`` counts messages, ``store_latency`` holds the ``TimedStore``'s
    histograms and ``loop_lag`` the probe.  The rest is read from the
    server's parts by ``collect``, which the server calls with them.
    """

    __slots__ = ("loop_lag", "started", "store_latency", "tap")

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tap = MetricsTap(tracer)
        self.store_latency: dict[str, Histogram] = {}
        self.loop_lag = LoopLagProbe()
        self.started = time.time()

    def collect(self, *, transactions: Iterable[Any], connections: Iterable[Any],
                bindings: int | None, bans: int, auth_failures: int,
                retransmissions: int, store_up: bool | None,
                draining: bool, retired: int = 0, store: LocationStore | None = None,
                responses_relayed: int | None = None) -> list[Sample]:
        """The metric families, from the counters and the figures given.
        ``bindings`` is None when the store did not answer; ``retired``
        counts the completed non-INVITE server transactions their layer
        keeps as bytes (``TransactionLayer.retired``).  ``store``: the SQLite
        store's write counters, when it is one (``SQLiteStore.batches``,
        ``commits``, ``lock_waits``); ``responses_relayed``: a worker's
        responses passed to the other workers (``Relay``)."""
        tap = self.tap
        families = [
            Sample("sip_requests_received", "counter", "SIP requests received, by method",
                   _by_method(tap.requests_received)),
            Sample("sip_requests_sent", "counter",
                   "SIP requests sent (forwarded, and retransmitted), by method",
                   _by_method(tap.requests_sent)),
            Sample("sip_responses_received", "counter",
                   "SIP responses received, by CSeq method and status",
                   _by_status(tap.responses_received)),
            Sample("sip_responses_sent", "counter",
                   "SIP responses sent (and retransmitted), by CSeq method and status",
                   _by_status(tap.responses_sent)),
            Sample("sip_retransmissions", "counter",
                   "requests and responses retransmitted by a transaction's timer "
                   "(Timers A, E, G; RFC 3261 §17)",
                   (("_total", (), float(retransmissions)),)),
        ]
        states: dict[tuple[str, str], int] = {}
        for tx in transactions:
            key = (_kind(tx), tx.state.name.lower())
            states[key] = states.get(key, 0) + 1
        if retired:  # still completed, until Timer J (§17.2.2)
            key = ("non_invite_server", "completed")
            states[key] = states.get(key, 0) + retired
        families.append(Sample(
            "transactions", "gauge", "live transactions, by kind and state (RFC 3261 §17)",
            tuple(("", (("kind", kind), ("state", state)), float(n))
                  for (kind, state), n in sorted(states.items()))))
        open_by_transport: dict[str, int] = {"tcp": 0, "tls": 0, "ws": 0, "wss": 0}
        for connection in connections:
            name = str(connection.transport.value).lower()
            open_by_transport[name] = open_by_transport.get(name, 0) + 1
        families.append(Sample(
            "connections_open", "gauge", "open connections, by transport",
            tuple(("", (("transport", name),), float(n))
                  for name, n in sorted(open_by_transport.items()))))
        if bindings is not None:
            families.append(Sample("bindings", "gauge", "unexpired bindings in the location "
                                   "store (RFC 3261 §10)", (("", (), float(bindings)),)))
        if store_up is not None:
            families.append(Sample("store_up", "gauge", "1 when the location store answered "
                                   "the last check", (("", (), 1.0 if store_up else 0.0),)))
        sqlite = _sqlite_store(store)
        if sqlite is not None:
            families += [
                Sample("store_batches", "counter", "batches of calls the SQLite store's "
                       "thread took from its queue", (("_total", (), float(sqlite.batches)),)),
                Sample("store_commits", "counter", "write transactions the SQLite store "
                       "committed (group commit: one per batch of updates)",
                       (("_total", (), float(sqlite.commits)),)),
                Sample("store_lock_waits", "counter", "write transactions of the SQLite "
                       "store that waited for another process's write lock",
                       (("_total", (), float(sqlite.lock_waits)),)),
            ]
        if responses_relayed is not None:
            families.append(Sample(
                "worker_responses_relayed", "counter", "responses that matched no client "
                "transaction of the worker that read them, passed to the other workers",
                (("_total", (), float(responses_relayed)),)))
        families += [
            Sample("auth_failures", "counter", "wrong digest answers (RFC 7616 §5.7)",
                   (("_total", (), float(auth_failures)),)),
            Sample("bans", "gauge", "source addresses banned now for failing to authenticate",
                   (("", (), float(bans)),)),
            _histogram_family("store_latency_seconds",
                              "time of location store operations, by operation",
                              "operation", self.store_latency),
            _histogram_family("event_loop_lag_seconds",
                              "how late the event loop woke a periodic probe", None,
                              {"": self.loop_lag.histogram}),
            Sample("event_loop_lag_last_seconds", "gauge",
                   "the lag of the latest event-loop probe", (("", (), self.loop_lag.last),)),
            Sample("draining", "gauge", "1 while stopping: new requests are answered 503",
                   (("", (), 1.0 if draining else 0.0),)),
            Sample("start_time_seconds", "gauge", "when the server started, POSIX seconds",
                   (("", (), self.started),)),
        ]
        return families


def _sqlite_store(store: LocationStore | None) -> SQLiteStore | None:
    """``store`` or the store it wraps (``TimedStore``), if an SQLite store."""
    while isinstance(store, TimedStore):
        store = store.inner
    return store if isinstance(store, SQLiteStore) else None


def _kind(tx: Any) -> str:
    name = type(tx).__name__  # InviteClientTransaction ...
    return {"InviteClientTransaction": "invite_client",
            "NonInviteClientTransaction": "non_invite_client",
            "InviteServerTransaction": "invite_server",
            "NonInviteServerTransaction": "non_invite_server"}.get(name, name)


def _by_method(counts: dict[str, int]) -> tuple[tuple[str, tuple[tuple[str, str], ...], float],
                                                 ...]:
    return tuple(("_total", (("method", method),), float(n))
                 for method, n in sorted(counts.items()))


def _by_status(counts: dict[tuple[str, int], int],
               ) -> tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]:
    return tuple(("_total", (("method", method), ("status", str(status))), float(n))
                 for (method, status), n in sorted(counts.items()))


def _histogram_family(name: str, text: str, label: str | None,
                      histograms: dict[str, Histogram]) -> Sample:
    samples: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
    for key in sorted(histograms):
        histogram = histograms[key]
        base: tuple[tuple[str, str], ...] = ((label, key),) if label else ()
        for bound, count in histogram.cumulative():
            samples.append(("_bucket", (*base, ("le", _number(bound))), float(count)))
        samples.append(("_sum", base, histogram.sum))
        samples.append(("_count", base, float(histogram.count)))
    return Sample(name, "histogram", text, tuple(samples))


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[Sample], prefix: str = "sipwire_") -> str:
    """The text exposition format: ``# HELP`` and ``# TYPE`` per family, then
    its samples, each line ending in a line feed."""
    lines: list[str] = []
    for family in families:
        name = prefix + family.name
        lines.append(f"# HELP {name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {name} {family.kind}")
        for suffix, labels, value in family.samples:
            label_text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
            braces = f"{{{label_text}}}" if label_text else ""
            lines.append(f"{name}{suffix}{braces} {_number(value)}")
    return "\n".join(lines) + "\n"


def as_dict(families: Iterable[Sample], prefix: str = "sipwire_") -> dict[str, Any]:
    """The same figures for ``sipwire stats --json``: name -> value, or a list of
    {labels..., "value": v} for a family with labels."""
    out: dict[str, Any] = {}
    for family in families:
        for suffix, labels, value in family.samples:
            name = prefix + family.name + suffix
            if labels:
                out.setdefault(name, []).append({**dict(labels), "value": value})
            else:
                out[name] = value
    return out


# -- the figures of several workers (``sipwire serve --workers N``) --------------------------

#: bytes of one snapshot part at most: a Unix datagram this size is always
#: accepted (the limit is the socket buffer, 200 KiB by default)
SNAPSHOT_PART = 32768
#: samples of one family per piece of a part (a piece never exceeds a part)
_PIECE_SAMPLES = 200
#: parts of one snapshot at most.  The label sets are bounded (``KNOWN_METHODS``
#: by three-digit statuses, the store's operations), so a real snapshot needs a
#: handful; a worker drops a snapshot announcing more
MAX_SNAPSHOT_PARTS = 64
#: families that describe the shared location store: worker 0's alone is shown
_SHARED = frozenset({"bindings", "store_up"})
#: gauges combined otherwise than summed: the earliest start, the worst lag,
#: draining when any worker is
_GAUGE_RULES: dict[str, Callable[[float, float], float]] = {
    "start_time_seconds": min, "event_loop_lag_last_seconds": max, "draining": max}

_SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def encode_snapshot(families: Iterable[Sample]) -> list[bytes]:
    """``families`` (without their help) as JSON parts of at most
    ``SNAPSHOT_PART`` bytes each, a family's samples split across parts when
    they do not fit in one: every part decodes alone (``decode_snapshot``)."""
    parts: list[bytes] = []
    pieces: list[str] = []
    size = 2
    for family in families:
        samples = family.samples
        for start in range(0, max(len(samples), 1), _PIECE_SAMPLES):
            piece = json.dumps(
                [family.name, family.kind,
                 [[suffix, [list(pair) for pair in labels], value]
                  for suffix, labels, value in samples[start:start + _PIECE_SAMPLES]]],
                separators=(",", ":"))
            if pieces and size + len(piece) + 1 > SNAPSHOT_PART:
                parts.append(("[" + ",".join(pieces) + "]").encode())
                pieces, size = [], 2
            pieces.append(piece)
            size += len(piece) + 1
    parts.append(("[" + ",".join(pieces) + "]").encode())
    return parts


def decode_snapshot(data: bytes) -> list[Sample]:
    """The families of one part written by ``encode_snapshot``; ``ValueError``
    when it is not one."""
    families: list[Sample] = []
    for name, kind, samples in json.loads(data):
        if not isinstance(name, str) or kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"not a metric family: {name!r} {kind!r}")
        families.append(Sample(name, kind, "", tuple(
            (str(suffix), tuple((str(k), str(v)) for k, v in labels), float(value))
            for suffix, labels, value in samples)))
    return families


class WorkerFigures:
    """What worker 0 knows of the other workers' figures, to add to its own.

    Each other worker sends a snapshot of its families every second and when
    asked (``server.workers``); ``update`` keeps the latest of each.  When a
    worker stops or is restarted (``retire``), its counters and histograms are
    kept, added to those of the workers gone before, so that a total never
    goes down (Prometheus counters are monotonic), and its gauges are dropped.
    ``merge`` adds them all to worker 0's own families:

    - counters and histograms (every bucket, ``_sum``, ``_count``): summed;
    - gauges: summed (transactions, open connections, bans), except
      ``start_time_seconds`` (the earliest), ``event_loop_lag_last_seconds``
      (the worst), ``draining`` (1 when any worker drains), and ``bindings``
      and ``store_up``, which describe the one shared store: worker 0's;
    - ``workers_reporting``: how many workers' figures are in the sums.
    """

    __slots__ = ("received", "retired", "snapshots")

    def __init__(self) -> None:
        #: the latest snapshot of each other worker
        self.snapshots: dict[int, list[Sample]] = {}
        #: when each arrived (the caller's clock)
        self.received: dict[int, float] = {}
        #: the counters and histograms of the workers gone, by family and sample
        self.retired: dict[str, dict[_SampleKey, float]] = {}

    def update(self, worker: int, families: list[Sample], now: float) -> None:
        self.snapshots[worker] = families
        self.received[worker] = now

    def retire(self, worker: int) -> None:
        """``worker`` stopped or restarted: keep its counts, drop its gauges."""
        families = self.snapshots.pop(worker, None)
        self.received.pop(worker, None)
        for family in families or ():
            if family.kind == "gauge":
                continue
            kept = self.retired.setdefault(family.name, {})
            for suffix, labels, value in family.samples:
                kept[(suffix, labels)] = kept.get((suffix, labels), 0.0) + value

    def merge(self, own: list[Sample]) -> list[Sample]:
        """``own`` with the other workers' figures added (see the class)."""
        others: dict[str, list[Sample]] = {}
        order: list[str] = [family.name for family in own]
        kinds = {family.name: family.kind for family in own}
        for families in self.snapshots.values():
            for family in families:
                if family.name in _SHARED:
                    continue
                if family.name not in kinds:
                    kinds[family.name] = family.kind
                    order.append(family.name)
                others.setdefault(family.name, []).append(family)
        for name in self.retired:
            if name not in kinds:
                kinds[name] = "counter"
                order.append(name)
        helps = {family.name: family.help for family in own}
        mine = {family.name: family for family in own}
        merged: list[Sample] = []
        for name in order:
            kind = kinds[name]
            combine = _GAUGE_RULES.get(name, _add) if kind == "gauge" else _add
            values: dict[_SampleKey, float] = {}
            sources = ([mine[name]] if name in mine else []) + others.get(name, [])
            for family in sources:
                if family.kind != kind:
                    continue  # a worker of another version: not comparable
                for suffix, labels, value in family.samples:
                    key = (suffix, labels)
                    values[key] = combine(values[key], value) if key in values else value
            if kind != "gauge":
                for key, value in self.retired.get(name, {}).items():
                    values[key] = values.get(key, 0.0) + value
            merged.append(Sample(name, kind, helps.get(name, name.replace("_", " ")),
                                 tuple((suffix, labels, value)
                                       for (suffix, labels), value in values.items())))
        merged.append(Sample("workers_reporting", "gauge",
                             "workers whose figures are in these sums (--workers)",
                             (("", (), float(1 + len(self.snapshots))),)))
        return merged


def _add(a: float, b: float) -> float:
    return a + b
