"""CPU per REGISTER and per call of ``sipwire serve``'s ``Server``, in-process.

The server runs here (uvloop when installed, the collector tuned as ``sipwire
serve`` tunes it, ``store="memory:"``, ``auth="off"``) on 127.0.0.1; SIPp,
a separate process, drives it with the scenarios of ``benchmarks/sipp/``
that ``benchmarks/server.sh`` uses:

* ``register``: ``--count`` REGISTERs of distinct users at ``--rate`` per second;
* ``calls``: a SIPp UAS is registered as bob, then ``--count`` calls
  (INVITE/100/180/200/ACK/BYE/200, record-routed) at ``--rate`` per second.

It prints this process's CPU time (user + system) over the load divided by
the calls SIPp completed: the server's µs of CPU per REGISTER or per call.
With ``--profile`` the load runs under cProfile (which inflates the CPU
time) and the top functions are printed.  With two or more cores the server
is pinned to the last one and SIPp to the others, as ``server.sh`` does.

Run from the repository root::

    python3 benchmarks/profile_server.py register --count 10000 --rate 2000
    python3 benchmarks/profile_server.py calls --count 3000 --rate 500 --profile
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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the sipwire of this checkout (SIPWIRE_SRC: another tree's src/, to compare)
sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from sipwire.server.app import Server, _tune_gc  # noqa: E402
from sipwire.server.config import ServerConfig  # noqa: E402
from sipwire.server.logs import configure_logging  # noqa: E402

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


async def run(mode: str, count: int, rate: int, port: int, profile: cProfile.Profile | None,
              gc_off: bool = False, window: int = 0) -> tuple[int, float, float]:
    config = ServerConfig(listen=(f"udp:127.0.0.1:{port}",), domains=(DOMAIN,),
                          store="memory:", auth="off", trace=False)
    tmp = tempfile.mkdtemp(prefix="sipwire-profile.")
    uas: asyncio.subprocess.Process | None = None
    async with Server(config):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("register", "calls"))
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
    args = parser.parse_args()
    _pin_self()
    configure_logging("warning")  # as `sipwire serve --log-level warning`
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
        ok, cpu, wall = runner.run(run(args.mode, args.count, args.rate, args.port, profile,
                                       args.no_gc, args.window))
    unit = "REGISTER" if args.mode == "register" else "call"
    per = 1e6 * cpu / ok if ok else float("nan")
    print(f"{args.mode}: {ok}/{args.count} completed in {wall:.2f} s ({ok / wall:.0f}/s), "
          f"server CPU "
          f"{cpu:.2f} s ({100 * cpu / wall:.0f} %), {per:.0f} µs per {unit}"
          f"{' (under cProfile)' if profile else ''}")
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
