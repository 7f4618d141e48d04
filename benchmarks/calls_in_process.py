"""CPU and instructions per proxied call of ``sipwire serve``'s ``Server``,
in-process: no SIPp, no sockets.

The server runs as ``benchmarks/profile_server.py calls`` runs it
(``store="memory:"``, ``auth="off"``, record-routing, uvloop when installed,
the collector tuned as ``sipwire serve`` tunes it) but its UDP listener's
socket is replaced: datagrams are handed to the listener as the event loop
would hand over what one read returns, and what the server sends is caught.
Two fake user agents written with bytes slicing stand in for SIPp:

* the caller (127.0.0.1:PORT+2) sends the INVITE of ``benchmarks/sipp/uac.xml``,
  then, from the relayed 200, an ACK and a BYE with the Route of its
  Record-Route and the callee's Contact as Request-URI (loose routing, as
  SIPp's ``[routes]`` and ``[next_url]`` make them);
* the callee "bob" (127.0.0.1:PORT+1, registered first with one REGISTER)
  answers each forwarded INVITE 180 and 200 (Via, Record-Route, From, To
  with a tag, Call-ID and CSeq copied, as ``uas.xml``) and each BYE 200.

So every call is INVITE / 100 / 180 / 200 / ACK / BYE / 200 through the proxy:
13 datagrams the server reads or writes.  T1, T2, T4 and Timer C are hours,
so no timer fires during a run (not even under valgrind): the count leaves
out retransmissions and the end of the transactions (Timers I, J, K, M,
their records dropped), which a SIPp run of some seconds includes in part;
the process ends without the interpreter's shutdown (whose collection of
what is left grows with the count).  ``--ended`` counts that end too: the
timers are RFC 3261's (T1 0.5 s, T4 5 s, Timer C 3 min), and after the
calls the run waits until the server holds no transaction and no response
context (64*T1 after the last call, and longer under valgrind), counting
the CPU of that wait with the calls'.  Calls
go in rounds of ``--batch`` (32 by default), each phase of a round (INVITEs; 180s and 200s; ACKs and
BYEs; 200s of the BYEs) followed by a round of the event loop, where the
server's coalesced sends go out.  The fake agents' own work (slicing lines,
joining bytes) is counted too; ``--agents-only`` measures it alone, on the
datagrams of a run, so it can be subtracted.

Run from the repository root::

    python3 benchmarks/calls_in_process.py --count 2000
    python3 benchmarks/calls_in_process.py --count 2000 --profile --top 40
    python3 benchmarks/calls_in_process.py --count 1000 --show   # print one call
    python3 benchmarks/calls_in_process.py --count 5000 --phases # µs per kind of message
    python3 benchmarks/calls_in_process.py --count 2000 --ended  # and the end of each call

``benchmarks/instructions.sh calls`` runs it under callgrind for two counts.
SIPWIRE_SRC picks the tree as for ``profile_server.py`` (``installed``: the
sipwire installed in this interpreter, e.g. the compiled build).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("SIPWIRE_SRC") != "installed":
    sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from messages import SIPP_INVITE, SIPP_SDP  # noqa: E402 (benchmarks/, this script's directory)

from sipwire.server.app import Server, _tune_gc  # noqa: E402
from sipwire.server.config import ServerConfig  # noqa: E402
from sipwire.server.logs import configure_logging  # noqa: E402

DOMAIN = "bench.test"
CRLF = b"\r\n"

#: the INVITE of benchmarks/sipp/uac.xml, as SIPp fills it in
_SDP = SIPP_SDP.encode()
_INVITE = SIPP_INVITE
#: the in-dialog requests of uac.xml: {uri} is the callee's Contact, {route} the
#: Route lines from the 200's Record-Route, {to_tag} the 200's tag
_IN_DIALOG = (
    "{method} {uri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{n}-{seq}-{method}\r\n"
    "{route}"
    "From: <sip:caller@{domain}>;tag=4242c{n}\r\n"
    "To: <sip:bob@{domain}>;tag={to_tag}\r\n"
    "Call-ID: {n}-4242@127.0.0.1\r\n"
    "CSeq: {seq} {method}\r\n"
    "Contact: <sip:caller@127.0.0.1:{port};transport=UDP>\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: sipp-bench\r\n"
    "Content-Length: 0\r\n\r\n"
)
_REGISTER_BOB = (
    "REGISTER sip:{domain} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bob-register\r\n"
    "From: <sip:bob@{domain}>;tag=bobreg\r\n"
    "To: <sip:bob@{domain}>\r\n"
    "Call-ID: bob-register@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:bob@127.0.0.1:{port};transport=UDP>\r\n"
    "Expires: 3600\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Catcher:
    """Stands in for the UDP socket under the server's listener: keeps what
    the server sends, by destination port."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, int]] = []
        self.count = 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr[1]))
        self.count += 1

    def take(self) -> list[tuple[bytes, int]]:
        sent, self.sent = self.sent, []
        return sent

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


# -- the fake user agents: header lines by slicing ------------------------------------


def _head(data: bytes) -> list[bytes]:
    return data.partition(b"\r\n\r\n")[0].split(CRLF)


def _named(lines: list[bytes], *names: bytes) -> list[bytes]:
    out = []
    for line in lines:
        name = line[:line.find(b":")].strip().lower()
        if name in names:
            out.append(line)
    return out


_COMPACT = {b"v": b"via", b"f": b"from", b"t": b"to", b"i": b"call-id", b"m": b"contact"}


def _full(line: bytes) -> bytes:
    name = line[:line.find(b":")].strip().lower()
    return _COMPACT.get(name, name)


def callee_answers(request: bytes, n: int) -> list[bytes]:
    """uas.xml: 180 and 200 to an INVITE, 200 to a BYE; nothing to an ACK."""
    lines = _head(request)
    if lines[0].startswith(b"ACK "):
        return []
    copied = [line for line in lines[1:]
              if _full(line) in (b"via", b"record-route", b"from", b"call-id", b"cseq")]
    to = next(line for line in lines[1:] if _full(line) == b"to")
    contact = b"Contact: <sip:127.0.0.1:%d;transport=UDP>" % CALLEE_PORT
    if lines[0].startswith(b"BYE "):
        return [CRLF.join([b"SIP/2.0 200 OK", *copied, to, contact,
                           b"Content-Length: 0", b"", b""])]
    tagged = to + b";tag=%ds" % n
    ringing = CRLF.join([b"SIP/2.0 180 Ringing", *copied, tagged, contact,
                         b"Content-Length: 0", b"", b""])
    ok = CRLF.join([b"SIP/2.0 200 OK", *copied, tagged, contact,
                    b"Content-Type: application/sdp", b"Content-Length: %d" % len(_SDP),
                    b"", _SDP])
    return [ringing, ok]


def caller_requests(ok: bytes, n: int) -> list[bytes]:
    """uac.xml: the ACK and the BYE of a call from its 200: Route from the
    Record-Route (reversed), Request-URI the callee's Contact."""
    lines = _head(ok)
    routes: list[bytes] = []
    uri = b""
    to_tag = b""
    for line in lines[1:]:
        name = _full(line)
        value = line[line.find(b":") + 1:].strip()
        if name == b"record-route":
            routes[:0] = [v.strip() for v in value.split(b",")][::-1]
        elif name == b"contact":
            uri = value[value.find(b"<") + 1:value.find(b">")]
        elif name == b"to":
            to_tag = value[value.find(b";tag=") + 5:]
    route = "".join(f"Route: {r.decode()}\r\n" for r in routes)
    common = {"uri": uri.decode(), "route": route, "to_tag": to_tag.decode(),
              "port": CALLER_PORT, "n": n, "domain": DOMAIN}
    return [_IN_DIALOG.format(method="ACK", seq=1, **common).encode(),
            _IN_DIALOG.format(method="BYE", seq=2, **common).encode()]


def _call_of(data: bytes) -> int:
    """The call number in a message's Call-ID (``{n}-4242@127.0.0.1``)."""
    start = data.find(b"Call-ID: ")
    if start < 0:
        start = data.find(b"\r\ni: ") - 5
    end = data.find(b"-4242@", start)
    return int(data[start + 9:end])


CALLER_PORT = 0
CALLEE_PORT = 0


#: what the server does in each phase of a round, per call
PHASES = ("INVITE in: 100 back, INVITE forwarded", "180 relayed", "200 relayed",
          "ACK forwarded (no transaction)", "BYE forwarded", "200 of the BYE relayed")


# -- the run --------------------------------------------------------------------------


class _Run:
    def __init__(self, listener: object, catcher: _Catcher, port: int) -> None:
        self.listener = listener
        self.catcher = catcher
        self.caller = ("127.0.0.1", port + 2)
        self.callee = ("127.0.0.1", port + 1)
        self.completed = 0
        self.unexpected = 0
        self.sample: list[tuple[str, bytes]] = []
        #: process CPU time of each of PHASES
        self.phase_cpu = [0.0] * len(PHASES)

    def _hand(self, datagrams: list[bytes], source: tuple[str, int], label: str) -> None:
        receive = self.listener.datagram_received  # type: ignore[attr-defined]
        for data in datagrams:
            if self.sample is not None and label:
                self.sample.append((label, data))
            receive(data, source)

    def _sent(self, label: str) -> list[tuple[bytes, int]]:
        sent = self.catcher.take()
        if self.sample is not None:
            for data, port in sent:
                self.sample.append((f"{label} -> {port}", data))
        return sent

    async def _phase(self, i: int, datagrams: list[bytes], source: tuple[str, int],
                     label: str) -> list[tuple[bytes, int]]:
        """Hand ``datagrams`` over, let the loop run once, and return what was
        sent; the CPU time of it goes to phase ``i`` (``PHASES``)."""
        cpu0 = time.process_time()
        self._hand(datagrams, source, label)
        await asyncio.sleep(0)
        self.phase_cpu[i] += time.process_time() - cpu0
        return self._sent("proxy")

    async def round(self, first: int, size: int) -> None:
        invites = [_INVITE.format(domain=DOMAIN, port=CALLER_PORT, n=n,
                                  length=len(_SDP)).encode() + _SDP
                   for n in range(first, first + size)]
        ringing: list[bytes] = []
        oks: list[bytes] = []
        for data, port in await self._phase(0, invites, self.caller, "caller INVITE"):
            if port == CALLEE_PORT:
                ring, ok = callee_answers(data, _call_of(data))
                ringing.append(ring)
                oks.append(ok)
        await self._phase(1, ringing, self.callee, "callee")
        acks: list[bytes] = []
        byes: list[bytes] = []
        for data, port in await self._phase(2, oks, self.callee, "callee"):
            if port == CALLER_PORT and data.startswith(b"SIP/2.0 200"):
                ack, bye = caller_requests(data, _call_of(data))
                acks.append(ack)
                byes.append(bye)
        await self._phase(3, acks, self.caller, "caller")
        answers: list[bytes] = []
        for data, port in await self._phase(4, byes, self.caller, "caller"):
            if port == CALLEE_PORT:
                answers += callee_answers(data, _call_of(data))
        for data, port in await self._phase(5, answers, self.callee, "callee"):
            if port == CALLER_PORT and data.startswith(b"SIP/2.0 200") and b" BYE\r\n" in data:
                self.completed += 1
            else:
                self.unexpected += 1


#: the longest --ended waits for the server's transactions to end, in seconds
ENDED_LIMIT = 600.0


async def run(count: int, port: int, batch: int, profile: cProfile.Profile | None,
              show: bool, ended: bool = False
              ) -> tuple[int, int, float, list[float], list[tuple[str, bytes]]]:
    global CALLER_PORT, CALLEE_PORT
    # T1, T2, T4 and Timer C of hours, the lag probe off: under valgrind, 50
    # times slower on a loaded machine, no retransmission, no transaction's
    # end, no Timer C and no 503 of the overload control comes into the
    # count, so that it does not depend on how long the run took.  --ended
    # keeps RFC 3261's timers, so that the transactions end.
    timers = {} if ended else {"t1": 3600.0, "t2": 3600.0, "t4": 3600.0, "timer_c": 36000.0}
    config = ServerConfig(listen=(f"udp:127.0.0.1:{port}",), domains=(DOMAIN,),
                          store="memory:", auth="off", trace=False,
                          max_requests_per_source=0, overload_max_lag=0,
                          **timers)  # type: ignore[arg-type]
    warm = min(200, count)
    async with Server(config) as server:
        _tune_gc()
        gc.disable()  # as instructions.sh's REGISTER count: the collector is left out
        listener = server.engine.transport._udp[0]
        port = listener.local.port
        CALLER_PORT, CALLEE_PORT = port + 2, port + 1
        real, catcher = listener._io, _Catcher()
        listener._io = catcher  # type: ignore[assignment]
        try:
            driver = _Run(listener, catcher, port)
            driver._hand([_REGISTER_BOB.format(domain=DOMAIN, port=CALLEE_PORT).encode()],
                         driver.callee, "")
            await asyncio.sleep(0)
            catcher.take()
            driver.sample = []
            await driver.round(0, 1)
            sample = driver.sample if show else []
            driver.sample = None  # type: ignore[assignment]
            for first in range(1, warm, batch):  # imports, caches, allocations
                await driver.round(first, min(batch, warm - first))
            driver.completed = 0
            driver.phase_cpu = [0.0] * len(PHASES)
            cpu0 = _cpu()
            if profile is not None:
                profile.enable()
            for first in range(warm, warm + count, batch):
                await driver.round(first, min(batch, warm + count - first))
            if ended:
                await _until_ended(server)
                if server.engine.retransmissions:
                    # a timer of a call in progress fired: the run was too slow
                    # for T1 (valgrind and a large --batch); the count has them
                    print(f"{server.engine.retransmissions} retransmissions by timer")
            if profile is not None:
                profile.disable()
            cpu1 = _cpu()
        finally:
            listener._io = real
    return driver.completed, driver.unexpected, cpu1 - cpu0, driver.phase_cpu, sample


async def _until_ended(server: Server) -> None:
    """Wait until every transaction and response context of the calls ended."""
    engine = server.engine
    layer = engine.transactions
    deadline = time.monotonic() + ENDED_LIMIT
    while len(layer) or layer.retired or engine.busy or engine._contexts:
        if time.monotonic() > deadline:
            sys.exit(f"the transactions did not end within {ENDED_LIMIT:.0f} s")
        await asyncio.sleep(0.5)


def agents_only(count: int, sample: list[tuple[str, bytes]]) -> float:
    """CPU per call of the fake agents' work alone, on one call's datagrams."""
    forwarded = [d for label, d in sample if label.endswith(f"-> {CALLEE_PORT}")]
    relayed_ok = next(d for label, d in sample
                      if label.endswith(f"-> {CALLER_PORT}") and d.startswith(b"SIP/2.0 200"))
    cpu0 = _cpu()
    for n in range(count):
        _INVITE.format(domain=DOMAIN, port=CALLER_PORT, n=n, length=len(_SDP)).encode()
        for data in forwarded:
            callee_answers(data, _call_of(data))
        caller_requests(relayed_ok, _call_of(relayed_ok))
    return (_cpu() - cpu0) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32, help="calls per round")
    parser.add_argument("--port", type=int, default=0,
                        help="the server's UDP port (0: any free one); the caller and the "
                        "callee are given the two next numbers (no sockets of theirs)")
    parser.add_argument("--profile", action="store_true", help="run under cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--dump", help="write the cProfile statistics to this file")
    parser.add_argument("--show", action="store_true", help="print the datagrams of one call")
    parser.add_argument("--agents-only", action="store_true",
                        help="also print what the fake agents alone cost per call")
    parser.add_argument("--phases", action="store_true",
                        help="print the CPU per call of each phase (each kind of message)")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--ended", action="store_true",
                        help="RFC 3261's timers, and count the end of the calls' "
                        "transactions (the run waits 64*T1 and more for it)")
    args = parser.parse_args()
    configure_logging("warning")
    profile = cProfile.Profile() if args.profile else None
    loop_factory = None
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        ok, unexpected, cpu, phases, sample = runner.run(
            run(args.count, args.port, args.batch, profile, args.show or args.agents_only,
                args.ended))
    if args.show:
        for label, data in sample:
            print(f"---- {label}\n{data.decode(errors='replace')}")
    per = 1e6 * cpu / ok if ok else float("nan")
    print(f"calls: {ok}/{args.count} completed ({unexpected} unexpected datagrams), "
          f"server CPU {cpu:.2f} s, {per:.0f} µs per call"
          f"{' (under cProfile)' if profile else ''} (in-process, no sockets"
          f"{', transactions ended' if args.ended else ''})")
    if ok != args.count:
        sys.exit(1)
    if args.phases:
        for name, spent in zip(PHASES, phases, strict=True):
            print(f"  {1e6 * spent / ok:6.0f} µs  {name}")
    if args.agents_only:
        print(f"the fake agents alone: {1e6 * agents_only(args.count, sample):.0f} µs per call")
    if profile is not None:
        if args.dump:
            profile.dump_stats(args.dump)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    # no interpreter shutdown: its collection of what the run left (every
    # transaction, none expired) grows with --count and would count per call
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
