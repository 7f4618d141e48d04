"""Parse speed and memory of sipwire against sippy, pyVoIP and two pure-Python floors.

What it measures, for four messages (an INVITE with SDP, its 200 OK, a REGISTER
with Digest credentials and a small OPTIONS; see ``benchmarks/messages.py``):

* **proxy read**: parse the datagram, then read what a proxy reads: the top
  Via's branch and sent-by (host, port), the From and To tags, Call-ID, CSeq
  (number and method), Max-Forwards and every Route value;
* **full read**: parse the datagram, then parse every header's typed value
  (sipwire: ``msg.parse_headers()``; sippy: ``getBody()`` of every header;
  pyVoIP: it parses everything in its constructor, so the same dicts are read);
* **validate** (sipwire only): ``msg.validate()``, the full read plus the rules
  between headers that a registrar or UAS applies;
* **floor**: ``data.split(b"\\r\\n")`` and ``str.partition`` pulling out the
  proxy-read fields with no checking at all, the fastest plausible pure Python
  (proxy read only);
* **checked floor**: the floor plus one match of sipwire's own fast-path
  pattern for the start line and each proxy-read header, fields taken from the
  match groups, no objects: the least any parser that checks the RFC 3261
  grammar of those headers in pure Python pays (proxy read only).

Each cell is the best of R rounds of N messages (N is chosen so that a round
takes about 0.2 s), timed with ``time.perf_counter_ns`` with the garbage
collector on.  The loop cycles through 64 copies of each message that differ
in Call-ID, branch and From tag, so nothing can be served from a cache keyed
on the input.  sippy gets ``data.decode()`` inside the timed loop, as its
transaction manager does.  A parser that rejects a message shows ``n/a``
(pyVoIP only knows INVITE, ACK, BYE and CANCEL requests).

Memory is the bytes held per parsed INVITE: 1000 fresh copies of the datagram
are parsed and proxy-read (so lazily parsed values are counted), the results
kept in a list, and the tracemalloc snapshot difference is divided by 1000.
The datagram counts only when a parser keeps a reference to it.

Before timing, every parser's Call-ID, CSeq and top branch are checked against
the expected values (a warning per disagreement); the script exits with status
1 if sipwire cannot parse or read one of the messages.

Run from the repository root::

    python benchmarks/parse.py            # full run, about a minute
    python benchmarks/parse.py --quick    # a few seconds, rougher numbers
    python benchmarks/parse.py --json     # machine-readable output

Needs ``pip install sippy pyVoIP`` (the ``bench`` extra); a missing one is
reported and skipped.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from messages import MESSAGES, Sample, variants

try:
    import sipwire
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import sipwire

#: (top branch, sent-by host, sent-by port, From tag, To tag, Call-ID, CSeq number,
#: CSeq method, Max-Forwards, Route values): what a proxy read returns
ProxyFields = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]

PROXY = "proxy read"
FULL = "full read"
MODES = (PROXY, FULL)
VARIANTS = 64
MEMORY_COPIES = 1000


# -- the parsers ------------------------------------------------------------------------


@dataclass
class Parser:
    """How one library parses a datagram and reads it."""

    name: str
    #: bytes -> message object (whatever the library returns)
    parse: Callable[[bytes], Any]
    #: message -> the proxy-read fields
    proxy: Callable[[Any], ProxyFields]
    #: message -> None, reading every header's typed value (None: not measured)
    full: Callable[[Any], object] | None
    version: str = ""
    note: str = ""


def _sipwire_proxy(m: Any) -> ProxyFields:
    v = m.via[0]
    c = m.cseq
    return (v.branch, v.host, v.port, m.from_.tag, m.to.tag, m.call_id, c.seq, c.method,
            m.max_forwards, m.route)


def _sipwire_full(m: Any) -> None:
    m.parse_headers()


def make_sipwire() -> Parser:
    """sipwire: ``parse_headers()`` is the full read (``validate()`` is timed apart)."""
    return Parser("sipwire", sipwire.parse, _sipwire_proxy, _sipwire_full,
                  getattr(sipwire, "__version__", "?"), "full read = msg.parse_headers()")


def make_sippy() -> Parser | None:
    try:
        from sippy.SipRequest import SipRequest
        from sippy.SipResponse import SipResponse
    except Exception as exc:
        print(f"warning: sippy not importable ({exc}); skipped", file=sys.stderr)
        return None

    def parse(data: bytes) -> Any:
        # As SipTransactionManager does: decode, then pick the class by start line.
        text = data.decode()
        if text.startswith("SIP/2.0 "):
            return SipResponse(text)
        return SipRequest(text)

    def proxy(m: Any) -> ProxyFields:
        via = m.getHFBody("via")
        cseq, method = m.getHFBody("cseq").getCSeq()
        mf = m.getHFBodys("max-forwards")
        return (via.getBranch(), via.hostname, via.port, m.getHFBody("from").getTag(),
                m.getHFBody("to").getTag(), str(m.getHFBody("call-id")), cseq, method,
                mf[0].getNum() if mf else None, [r.getUrl() for r in m.getHFBodys("route")])

    def full(m: Any) -> None:
        # Content-Type and Content-Length are kept apart from m.headers and
        # already parsed by the constructor (init_body); the SDP stays unparsed
        # as with sipwire.
        for hf in m.headers:
            hf.getBody()

    return Parser("sippy", parse, proxy, full, _version("sippy"))


def make_pyvoip() -> Parser | None:
    try:
        # pyVoIP.SIP and pyVoIP.VoIP import each other: pyVoIP.VoIP must come first.
        import pyVoIP.VoIP  # noqa: F401
        from pyVoIP.SIP import SIPMessage
    except Exception as exc:
        print(f"warning: pyVoIP not importable ({exc}); skipped", file=sys.stderr)
        return None

    def proxy(m: Any) -> ProxyFields:
        h = m.headers
        via = h["Via"][0]
        host, port = via["address"]
        cseq = h["CSeq"]
        mf = h.get("Max-Forwards")
        # pyVoIP keeps only the first line of a repeated header (Via apart).
        route = h.get("Route")
        return (via.get("branch"), host, port, h["From"]["tag"], h["To"]["tag"],
                h["Call-ID"], int(cseq["check"]), cseq["method"],
                int(mf) if mf is not None else None, [route] if route is not None else [])

    def full(m: Any) -> None:
        # Everything (SDP included) was parsed by the constructor: touch it all.
        for value in m.headers.values():
            if isinstance(value, dict):
                value.values()
        m.body.values()

    return Parser("pyVoIP", SIPMessage, proxy, full, _version("pyVoIP"),
                  "parses headers and SDP eagerly; knows only INVITE/ACK/BYE/CANCEL")


def _floor_parse(data: bytes) -> ProxyFields:
    """The fastest plausible pure-Python extraction: no checks, no typed values."""
    branch = host = port = from_tag = to_tag = call_id = seq = method = max_fwd = None
    routes: list[str] = []
    lines = data[:data.find(b"\r\n\r\n")].decode().split("\r\n")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.rstrip().lower()
        if name == "via" or name == "v":
            if branch is None and host is None:
                sent, _, params = value.partition(",")[0].strip().partition(";")
                hostport = sent.partition(" ")[2].strip()
                host, colon, p = hostport.partition(":")
                port = int(p) if colon else None
                for param in params.split(";"):
                    if param.startswith("branch="):
                        branch = param[7:]
                        break
        elif name == "from" or name == "f":
            from_tag = value[value.rfind(">") + 1:].partition(";tag=")[2].partition(";")[0]
        elif name == "to" or name == "t":
            to_tag = value[value.rfind(">") + 1:].partition(";tag=")[2].partition(";")[0]
        elif name == "call-id" or name == "i":
            call_id = value.strip()
        elif name == "cseq":
            num, _, method = value.strip().partition(" ")
            seq = int(num)
        elif name == "max-forwards":
            max_fwd = int(value)
        elif name == "route":
            routes.extend(r.strip() for r in value.split(","))
    return (branch, host, port, from_tag or None, to_tag or None, call_id, seq, method,
            max_fwd, routes)


def make_floor() -> Parser:
    return Parser("floor", _floor_parse, lambda fields: fields, None, "",
                  "split/partition only, no validation")


def make_checked_floor() -> Parser | None:
    """The floor plus the grammar checks a strict parser cannot skip, done the
    cheapest way: the start line and each proxy-read header matched once
    against sipwire's own fast-path patterns (the common spelling only), the
    fields taken from the match groups; no objects, no header index, no host,
    port or escape checks, no duplicate or missing-header checks.  A strict
    pure-Python parser cannot be faster than this."""
    try:
        from sipwire.message.abnf import REASON_PHRASE_RE
        from sipwire.message.fields.cseq import _CSEQ_RE
        from sipwire.message.fields.nameaddr import _FAST_RE as NAME_ADDR_RE
        from sipwire.message.fields.simple import _CALLID_RE
        from sipwire.message.fields.via import _VIA_FAST_RE
        from sipwire.message.parser import _REQUEST_LINE_FAST_RE
    except ImportError as exc:  # another sipwire version
        print(f"warning: checked floor skipped ({exc})", file=sys.stderr)
        return None

    def tag(value: str) -> str | None:
        m = NAME_ADDR_RE.fullmatch(value)
        if m is None:
            raise ValueError(f"bad name-addr {value!r}")
        params = m.group(6)
        i = params.find(";tag=")
        return params[i + 5:].partition(";")[0] if i >= 0 else None

    def parse(data: bytes) -> ProxyFields:
        branch = host = port = from_tag = to_tag = call_id = seq = method = max_fwd = None
        routes: list[str] = []
        lines = data[:data.find(b"\r\n\r\n")].decode().split("\r\n")
        start = lines[0]
        if start.startswith("SIP/2.0 "):
            code, _, reason = start[8:].partition(" ")
            if not code.isdigit() or REASON_PHRASE_RE.fullmatch(reason) is None:
                raise ValueError("bad status line")
        elif _REQUEST_LINE_FAST_RE.fullmatch(start) is None:
            raise ValueError("bad request line")
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.rstrip().lower()
            if name == "via" or name == "v":
                for part in value.split(","):
                    m = _VIA_FAST_RE.fullmatch(part)
                    if m is None:
                        raise ValueError(f"bad Via {part!r}")
                    if host is None:
                        _, host, p, params = m.groups()
                        port = int(p) if p else None
                        i = params.find(";branch=")
                        branch = params[i + 8:].partition(";")[0] if i >= 0 else None
            elif name == "from" or name == "f":
                from_tag = tag(value)
            elif name == "to" or name == "t":
                to_tag = tag(value)
            elif name == "call-id" or name == "i":
                call_id = value.strip()
                if _CALLID_RE.fullmatch(call_id) is None:
                    raise ValueError("bad Call-ID")
            elif name == "cseq":
                m = _CSEQ_RE.fullmatch(value)
                if m is None:
                    raise ValueError("bad CSeq")
                seq, method = int(m.group(1)), m.group(2)
            elif name == "max-forwards" or name == "content-length" or name == "l":
                number = value.strip()
                if not number.isdigit():
                    raise ValueError(f"bad {name}")
                if name == "max-forwards":
                    max_fwd = int(number)
            elif name == "route":
                for part in value.split(","):
                    if NAME_ADDR_RE.fullmatch(part) is None:
                        raise ValueError("bad Route")
                    routes.append(part.strip())
        return (branch, host, port, from_tag, to_tag, call_id, seq, method, max_fwd, routes)

    return Parser("checked floor", parse, lambda fields: fields, None, "",
                  "the floor plus one match of sipwire's fast-path pattern per "
                  "proxy-read header and the start line; no objects")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# -- sanity check -------------------------------------------------------------------------


@dataclass
class Support:
    """Which (message, mode) cells a parser can run, and why not otherwise."""

    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def ok(self, message: str, mode: str) -> bool:
        return (message, mode) not in self.errors


def sanity_check(parsers: list[Parser]) -> tuple[dict[str, Support], bool]:
    """Run every parser once on every message; warn where it disagrees.

    Returns the support table and whether sipwire handled everything.
    """
    support: dict[str, Support] = {}
    sipwire_ok = True
    for parser in parsers:
        sup = support[parser.name] = Support()
        for sample in MESSAGES:
            try:
                fields = parser.proxy(parser.parse(sample.data))
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                sup.errors[(sample.name, PROXY)] = reason
                sup.errors[(sample.name, FULL)] = reason
                print(f"warning: {parser.name} cannot parse {sample.name}: {reason}",
                      file=sys.stderr)
                if parser.name == "sipwire":
                    sipwire_ok = False
                continue
            got = (str(fields[5]), int(fields[6]), str(fields[7]), str(fields[0]))
            want = (sample.call_id, sample.cseq, sample.method, sample.branch)
            if got != want:
                print(f"warning: {parser.name} reads {sample.name} as "
                      f"Call-ID/CSeq/method/branch {got}, expected {want}", file=sys.stderr)
                if parser.name == "sipwire":
                    sipwire_ok = False
            if parser.full is None:
                sup.errors[(sample.name, FULL)] = "not measured"
                continue
            try:
                parser.full(parser.parse(sample.data))
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                sup.errors[(sample.name, FULL)] = reason
                print(f"warning: {parser.name} full read of {sample.name} fails: {reason}",
                      file=sys.stderr)
                if parser.name == "sipwire":
                    sipwire_ok = False
    return support, sipwire_ok


# -- timing -------------------------------------------------------------------------------


def _round(fn: Callable[[bytes], object], inputs: list[bytes], reps: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(reps):
        for data in inputs:
            fn(data)
    return time.perf_counter_ns() - start


def bench(fn: Callable[[bytes], object], inputs: list[bytes], rounds: int,
          target_s: float) -> float:
    """Best nanoseconds per message over ``rounds`` rounds of about ``target_s`` each."""
    reps = 1
    while True:
        elapsed = _round(fn, inputs, reps)
        if elapsed >= target_s * 1e9 / 10 or reps >= 1 << 20:
            break
        reps *= 2
    reps = max(1, round(reps * target_s * 1e9 / max(elapsed, 1)))
    best = min(_round(fn, inputs, reps) for _ in range(rounds))
    return best / (reps * len(inputs))


def _timed(parser: Parser, mode: str) -> Callable[[bytes], object]:
    parse = parser.parse
    if mode == PROXY:
        proxy = parser.proxy

        def run_proxy(data: bytes) -> object:
            return proxy(parse(data))

        return run_proxy
    full = parser.full
    assert full is not None

    def run_full(data: bytes) -> object:
        return full(parse(data))

    return run_full


# -- memory -------------------------------------------------------------------------------


def memory_per_message(parser: Parser, sample: Sample, copies: int = MEMORY_COPIES) -> float:
    """Bytes held per parsed and proxy-read message (tracemalloc)."""
    parse = parser.parse
    proxy = parser.proxy
    sources = [bytearray(data) for data in variants(sample, copies)]
    held: list[Any] = [None] * copies
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i, source in enumerate(sources):
            msg = parse(bytes(source))  # a fresh datagram, as from a socket
            proxy(msg)
            held[i] = msg
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "filename")
    total = sum(stat.size_diff for stat in diff)
    del held
    return total / copies


# -- output -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cell(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    return f"{1e9 / ns:,.0f}/s ({ns / 1000:.2f} µs)"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    return f"{b / a:.2f}x"


def render_markdown(meta: dict[str, Any], results: dict[str, dict[str, dict[str, float | None]]],
                    parsers: list[Parser], memory: dict[str, float | None],
                    notes: list[str]) -> str:
    out: list[str] = ["# sipwire parse benchmark", ""]
    for key, value in meta.items():
        out.append(f"- {key}: {value}")
    out.append("")
    names = [p.name for p in parsers]
    ratio_against = [n for n in ("sippy", "pyVoIP") if n in names]
    header = ["message", "bytes", "mode", *names, *(f"sipwire/{n}" for n in ratio_against)]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|")
    for sample in MESSAGES:
        for mode in MODES:
            row = results[sample.name][mode]
            sw = row.get("sipwire")
            cells = [sample.name, str(len(sample.data)), mode]
            for name in names:
                if name.endswith("floor") and mode == FULL:
                    cells.append("—")
                else:
                    cells.append(_cell(row.get(name)))
            cells.extend(_ratio(sw, row.get(n)) for n in ratio_against)
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Rates are messages per second (µs per message), best round; "
               "sipwire/X is sipwire's rate over X's.")
    out.append("")
    out.append(f"## Memory held per parsed INVITE (after the proxy read, "
               f"{MEMORY_COPIES} copies, tracemalloc)")
    out.append("")
    out.append("| parser | bytes/message |")
    out.append("|---|---:|")
    for name in names:
        value = memory.get(name)
        out.append(f"| {name} | {'n/a' if value is None else f'{value:,.0f}'} |")
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend(f"- {note}" for note in notes)
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="short run: 3 rounds of ~0.05 s")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--rounds", type=int, help="rounds per cell (default 5, quick 3)")
    ap.add_argument("--round-time", type=float, help="seconds per round (default 0.2)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    target_s = args.round_time or (0.05 if args.quick else 0.2)

    parsers: list[Parser] = [make_sipwire()]
    for factory in (make_sippy, make_pyvoip):
        made = factory()
        if made is not None:
            parsers.append(made)
    parsers.append(make_floor())
    checked = make_checked_floor()
    if checked is not None:
        parsers.append(checked)

    support, sipwire_ok = sanity_check(parsers)
    if not sipwire_ok:
        print("error: sipwire failed on at least one benchmark message; not timing",
              file=sys.stderr)
        return 1

    meta: dict[str, Any] = {
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "CPU": cpu_model(),
        "sipwire": f"{parsers[0].version} ({Path(sipwire.__file__).parent})",
        "sippy": _version("sippy"),
        "pyVoIP": _version("pyVoIP"),
        "timing": f"best of {rounds} rounds of ~{target_s} s, gc on, "
                  f"{VARIANTS} variants per message",
    }

    results: dict[str, dict[str, dict[str, float | None]]] = {}
    for sample in MESSAGES:
        inputs = variants(sample, VARIANTS)
        results[sample.name] = {}
        for mode in MODES:
            row: dict[str, float | None] = {}
            for parser in parsers:
                if not support[parser.name].ok(sample.name, mode):
                    row[parser.name] = None
                    continue
                row[parser.name] = bench(_timed(parser, mode), inputs, rounds, target_s)
            results[sample.name][mode] = row

    invite = MESSAGES[0]
    memory: dict[str, float | None] = {}
    for parser in parsers:
        if support[parser.name].ok(invite.name, PROXY):
            memory[parser.name] = memory_per_message(parser, invite)
        else:
            memory[parser.name] = None

    notes = [f"{p.name}: {p.note}" for p in parsers if p.note]
    validate = []
    for sample in MESSAGES:
        ns = bench(lambda data: sipwire.parse(data).validate(), variants(sample, VARIANTS),
                   rounds, target_s)
        validate.append(f"{sample.name} {ns / 1000:.1f} µs")
    notes.append("sipwire: parse + validate() (every header and the rules between them): "
                 + ", ".join(validate))
    for parser in parsers:
        reasons = sorted({r for r in support[parser.name].errors.values()
                          if r != "not measured"})
        notes.extend(f"{parser.name} n/a: {r}" for r in reasons)

    if args.json:
        cells = []
        for sample in MESSAGES:
            for mode in MODES:
                for name, ns in results[sample.name][mode].items():
                    cells.append({
                        "message": sample.name, "bytes": len(sample.data), "mode": mode,
                        "parser": name,
                        "ns_per_msg": ns,
                        "us_per_msg": None if ns is None else ns / 1000,
                        "msgs_per_s": None if ns is None else 1e9 / ns,
                        "error": support[name].errors.get((sample.name, mode)),
                    })
        ratios = {
            f"{sample.name}/{mode}/{other}": (
                None if row.get("sipwire") is None or row.get(other) is None
                else row[other] / row["sipwire"])  # type: ignore[operator]
            for sample in MESSAGES for mode in MODES
            for row in (results[sample.name][mode],)
            for other in ("sippy", "pyVoIP") if other in row
        }
        print(json.dumps({"meta": meta, "results": cells, "sipwire_speedup": ratios,
                          "memory_bytes_per_invite": memory, "notes": notes}, indent=2))
    else:
        print(render_markdown(meta, results, parsers, memory, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
