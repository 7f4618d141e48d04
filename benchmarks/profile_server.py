"""CPU per REGISTER and per call of ``sipwire serve``'s ``Server``, in-process.

The server runs here (uvloop when installed, the collector tuned as ``sipwire
serve`` tunes it, ``store="memory:"`` or ``--store URL``, ``auth="off"``) on 127.0.0.1; SIPp,
a separate process, drives it with the scenarios of ``benchmarks/sipp/``
that ``benchmarks/server.sh`` uses:

* ``register``: ``--count`` REGISTERs of distinct users at ``--rate`` per second;
* ``calls``: a SIPp UAS is registered as bob, then ``--count`` calls
  (INVITE/100/180/200/ACK/BYE/200, record-routed) at ``--rate`` per second;
* ``floor``: the REGISTER load against no SIP server at all but a bare
  asyncio UDP responder that slices a 200 out of each request, optionally
  after ``--work-us`` of busy-waiting: what the socket I/O and the event loop
  cost any Python server, and how that grows when the server is slow enough
  for SIPp to sleep between packets (every ``sendto`` then wakes it).

It prints this process's CPU time (user + system) over the load divided by
the calls SIPp completed: the server's µs of CPU per REGISTER or per call.
With ``--profile`` the load runs under cProfile (which inflates the CPU
time) and the top functions are printed.  With two or more cores the server
is pinned to the last one and SIPp to the others, as ``server.sh`` does.

With ``--in-process`` (``register`` only) there is no SIPp and no socket
I/O: REGISTERs of distinct users, as SIPp would send them, are handed to the
server's UDP listener 32 at a time, with a round of the event loop after
each 32, and its socket only counts the responses.  What that costs per
REGISTER is the server's own work, without the kernel and the cache misses
of switching to it.

Run from the repository root::

    python3 benchmarks/profile_server.py register --count 10000 --rate 2000
    python3 benchmarks/profile_server.py calls --count 3000 --rate 500 --profile
    python3 benchmarks/profile_server.py register --count 20000 --in-process
    python3 benchmarks/profile_server.py floor --count 20000 --rate 5000 --work-us 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the sipwire of this checkout (SIPWIRE_SRC: another tree's src/, to compare;
# SIPWIRE_SRC=installed: the sipwire installed in this interpreter, e.g. the
# compiled build)
if os.environ.get("SIPWIRE_SRC") != "installed":
    sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from sipwire.server.app import Server, _tune_gc  # noqa: E402
from sipwire.server.config import ServerConfig  # noqa: E402
from sipwire.server.logs import configure_logging  # noqa: E402
from sipwire.transport.udp import UdpListener  # noqa: E402

SIPP = ROOT / "benchmarks" / "sipp"
DOMAIN = "bench.test"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sipp_pin() -> list[str]:
    n = os.cpu_count() or 1
    if n >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", f"0-{n - 2}"]
    return []


def _pin_self() -> None:
    n = os.cpu_count() or 1
    if n >= 2:
        os.sched_setaffinity(0, {n - 1})


async def _sipp(args: list[str], cwd: str, timeout: float) -> int:
    proc = await asyncio.create_subprocess_exec(
        *_sipp_pin(), "sipp", *args, cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise


#: per generation: collections, seconds (process CPU) spent in them
GC_STATS = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
_gc_started = 0.0


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.process_time()
    else:
        stats = GC_STATS[info["generation"]]
        stats[0] += 1
        stats[1] += time.process_time() - _gc_started


def _successful(stat: Path) -> int:
    """SuccessfulCall(C) of SIPp's last statistics line."""
    lines = stat.read_text().splitlines()
    if len(lines) < 2:
        return 0
    header = lines[0].split(";")
    return int(lines[-1].split(";")[header.index("SuccessfulCall(C)")])


class _Floor(asyncio.DatagramProtocol):
    """The least a Python UDP server can do per REGISTER: answer 200 with the
    request's Via, From, To (tagged), Call-ID and CSeq lines, sliced out of its
    bytes, after ``work`` seconds of busy-waiting (standing in for the
    processing a real server does between receiving and sending)."""

    def __init__(self, work: float) -> None:
        self.work = work
        self.io: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.io = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.work:
            until = time.perf_counter() + self.work
            while time.perf_counter() < until:
                pass
        lines = [b"SIP/2.0 200 OK"]
        for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            name = line.partition(b":")[0].lower()
            if name == b"to":
                lines.append(line + b";tag=floor")
            elif name in (b"via", b"from", b"call-id", b"cseq"):
                lines.append(line)
        lines.append(b"Content-Length: 0\r\n\r\n")
        assert self.io is not None
        self.io.sendto(b"\r\n".join(lines), addr)


@contextlib.asynccontextmanager
async def _serving(mode: str, port: int, work: float,
                   store: str = "memory:") -> AsyncIterator[None]:
    if mode == "floor":
        io, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Floor(work), local_addr=("127.0.0.1", port))
        try:
            yield
        finally:
            io.close()
        return
    config = ServerConfig(listen=(f"udp:127.0.0.1:{port}",), domains=(DOMAIN,),
                          store=store, auth="off", trace=False,
                          max_requests_per_source=0)  # the load comes from one address
    async with Server(config):
        yield


async def run(mode: str, count: int, rate: int, port: int, profile: cProfile.Profile | None,
              gc_off: bool = False, window: int = 0, work: float = 0.0,
              store: str = "memory:") -> tuple[int, float, float]:
    tmp = tempfile.mkdtemp(prefix="sipwire-profile.")
    uas: asyncio.subprocess.Process | None = None
    async with _serving(mode, port, work, store):
        _tune_gc()
        if gc_off:
            gc.disable()
        gc.callbacks.append(_gc_timer)
        common = ["-i", "127.0.0.1", "-nostdin", "-buff_size", "4194304"]
        target = f"127.0.0.1:{port}"
        if mode == "calls":
            uas = await asyncio.create_subprocess_exec(
                *_sipp_pin(), "sipp", "-sf", str(SIPP / "uas.xml"), "-p", str(port + 1),
                *common, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            await asyncio.sleep(0.5)
            await _sipp([target, "-sf", str(SIPP / "register_uas.xml"), "-key", "domain",
                         DOMAIN, "-key", "callee", "bob", "-key", "contact",
                         f"127.0.0.1:{port + 1}", "-m", "1", "-p", str(port + 3),
                         "-timeout", "10s", *common], tmp, 20)
            scenario = ["-sf", str(SIPP / "uac.xml"), "-key", "callee", "bob"]
        else:
            scenario = ["-sf", str(SIPP / "register_load.xml"), "-key", "prefix", "u"]
        stat = Path(tmp) / "stat.csv"
        secs = count / rate
        cpu0, t0 = _cpu(), time.monotonic()
        if profile is not None:
            profile.enable()
        try:
            await _sipp([target, *scenario, "-key", "domain", DOMAIN, "-p", str(port + 2),
                         "-m", str(count), "-r", str(rate), "-rp", "1000",
                         "-l", str(window or min(count, 15000)), "-nd", "-recv_timeout", "5000",
                         "-timeout", f"{int(secs * 2 + 20)}s", "-trace_stat", "-stf",
                         str(stat), "-fd", "1", *common], tmp, secs * 2 + 30)
        finally:
            if profile is not None:
                profile.disable()
        cpu1, t1 = _cpu(), time.monotonic()
        if uas is not None:
            uas.kill()
            await uas.wait()
        ok = _successful(stat)
    shutil.rmtree(tmp, ignore_errors=True)
    return ok, cpu1 - cpu0, t1 - t0


#: a REGISTER as benchmarks/sipp/register_load.xml sends it
_REGISTER = (
    "REGISTER sip:{domain} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{n}-1-0\r\n"
    "From: <sip:u{n}@{domain}>;tag=4242r{n}\r\n"
    "To: <sip:u{n}@{domain}>\r\n"
    "Call-ID: {n}-4242@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:u{n}@127.0.0.1:{port};transport=UDP>\r\n"
    "Expires: 3600\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: sipp-bench\r\n"
    "Content-Length: 0\r\n\r\n"
)


class _CountingSocket:
    """Stands in for the UDP transport under the server's listener."""

    def __init__(self) -> None:
        self.sent = 0

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent += 1

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def _feed(listener: UdpListener, datagrams: list[bytes],
                source: tuple[str, int], counting: _CountingSocket) -> None:
    """Hand ``datagrams`` to ``listener`` in rounds of 32, as the event loop
    hands over what one read of a busy socket returns, with a round of the
    loop after each (where the server's coalesced sends go out).  A store
    that answers from a thread (SQLite) is waited for after each round, at
    most 10 s, so that its queue stays short of the overload control's bound."""
    for start in range(0, len(datagrams), 32):
        expected = counting.sent + len(datagrams[start:start + 32])
        for data in datagrams[start:start + 32]:
            listener.datagram_received(data, source)
        await asyncio.sleep(0)
        deadline = time.monotonic() + 10
        while counting.sent < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.0002)


async def run_in_process(count: int, port: int, profile: cProfile.Profile | None,
                         gc_off: bool = False, store: str = "memory:",
                         ) -> tuple[int, float, float]:
    # the load comes from one address; the lag probe off: under valgrind, 50
    # times slower, the event loop lags enough for the overload control to
    # answer 503 now and then, and the count would depend on how long it ran
    config = ServerConfig(listen=(f"udp:127.0.0.1:{port}",), domains=(DOMAIN,),
                          store=store, auth="off", trace=False,
                          max_requests_per_source=0, overload_max_lag=0)
    source = ("127.0.0.1", port + 2)
    warm = min(1000, count)
    datagrams = [_REGISTER.format(domain=DOMAIN, port=source[1], n=n).encode()
                 for n in range(count + warm)]
    async with Server(config) as server:
        _tune_gc()
        if gc_off:
            gc.disable()
        gc.callbacks.append(_gc_timer)
        listener = server.engine.transport._udp[0]
        real, counting = listener._io, _CountingSocket()
        listener._io = counting  # type: ignore[assignment]
        try:
            # imports, caches, allocations
            await _feed(listener, datagrams[:warm], source, counting)
            for stats in GC_STATS.values():
                stats[:] = [0, 0.0]
            counting.sent = 0
            cpu0, t0 = _cpu(), time.monotonic()
            if profile is not None:
                profile.enable()
            await _feed(listener, datagrams[warm:], source, counting)
            if profile is not None:
                profile.disable()
            cpu1, t1 = _cpu(), time.monotonic()
        finally:
            listener._io = real
    return counting.sent, cpu1 - cpu0, t1 - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("register", "calls", "floor"))
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=2000, help="offered per second")
    parser.add_argument("--window", type=int, default=0,
                        help="closed loop: at most this many calls outstanding (use a "
                        "high --rate): the server runs flat out, without retransmissions")
    parser.add_argument("--port", type=int, default=17160, help="first of 4 UDP ports")
    parser.add_argument("--profile", action="store_true", help="run under cProfile")
    parser.add_argument("--top", type=int, default=40, help="functions to print")
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    parser.add_argument("--dump", help="write the cProfile statistics to this file")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic collector: what it costs")
    parser.add_argument("--work-us", type=float, default=0.0,
                        help="floor only: busy-wait this many µs per REGISTER before answering")
    parser.add_argument("--store", default="memory:",
                        help="location store URL of the server (memory:, sqlite:///PATH, "
                        "redis://HOST:PORT/DB); SIPp mode only")
    parser.add_argument("--refuse-all", action="store_true",
                        help="the overload control refuses every new request: what "
                        "answering 503 costs instead of serving")
    parser.add_argument("--in-process", action="store_true",
                        help="register only: no SIPp, no socket I/O; datagrams handed "
                        "to the server's UDP listener")
    args = parser.parse_args()
    if args.in_process and args.mode != "register":
        parser.error("--in-process measures REGISTERs only")
    _pin_self()
    # as `sipwire serve --log-level warning` (with every request refused, the
    # line that the overload started says only that)
    configure_logging("error" if args.refuse_all else "warning")
    if args.refuse_all:
        from sipwire.server import overload

        overload.OverloadControl.admit = lambda self, pending: False  # type: ignore[method-assign]
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
        if args.in_process:
            ok, cpu, wall = runner.run(run_in_process(args.count, args.port, profile,
                                                      args.no_gc, args.store))
        else:
            ok, cpu, wall = runner.run(run(args.mode, args.count, args.rate, args.port,
                                           profile, args.no_gc, args.window,
                                           args.work_us / 1e6, args.store))
    unit = "call" if args.mode == "calls" else "REGISTER"
    per = 1e6 * cpu / ok if ok else float("nan")
    print(f"{args.mode}: {ok}/{args.count} completed in {wall:.2f} s ({ok / wall:.0f}/s), "
          f"server CPU "
          f"{cpu:.2f} s ({100 * cpu / wall:.0f} %), {per:.0f} µs per {unit}"
          f"{' (under cProfile)' if profile else ''}"
          f"{' (in-process, no sockets)' if args.in_process else ''}")
    print("cyclic GC: " + ", ".join(f"gen{g} {n} x {1e3 * t:.0f} ms"
                                     for g, (n, t) in GC_STATS.items()))
    if profile is not None:
        if args.dump:
            profile.dump_stats(args.dump)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
