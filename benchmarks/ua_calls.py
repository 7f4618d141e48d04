"""What a held call costs ``sipwire answer``: memory and CPU per call, with many held at once.

A ``sipwire answer`` process listens on UDP 127.0.0.1; a sipwire
``UserAgent`` in this process places ``--calls`` calls to it (``--concurrency``
INVITEs outstanding at a time), so that all of them are up at once, keeps
them a moment, then hangs all of them up.  Each call is a whole exchange of
RFC 3261 §13-15 with an SDP offer and answer (RFC 3264): INVITE, 180, 200,
ACK, and later BYE and its 200.  Read from ``/proc`` for the answering
process (the caller's costs are not counted):

* **memory**: its resident set size (VmRSS) before the first call and with
  every call held; the difference divided by the calls is the memory one
  held call takes (dialog, offer/answer, transactions still in Timer J/K,
  the call's task);
* **CPU**: its user+system time for setting all the calls up (INVITE to
  ACK) and for tearing them down (BYE to 200), per call.

The answering process writes its message ladder to standard error as it
always does (to /dev/null here): that is part of the cost.  Run from the
repository root::

    python benchmarks/ua_calls.py               # 100 calls held at once
    python benchmarks/ua_calls.py --calls 500
    python benchmarks/ua_calls.py --json

Every wait is bounded; the answering process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sipwire.transaction import TimerConfig  # noqa: E402
from sipwire.ua import Call, EndpointConfig, UserAgent, UserAgentConfig  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
TIMEOUT = 120.0


@dataclass
class Result:
    calls: int
    concurrency: int
    rss_before_kib: int
    rss_held_kib: int
    per_call_kib: float
    setup_cpu_ms_per_call: float
    teardown_cpu_ms_per_call: float
    setup_seconds: float
    teardown_seconds: float
    python: str
    cpus: int


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    # fields 14 and 15 of /proc/PID/stat (after the command in parentheses)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def settle(pid: int, seconds: float = 0.5) -> None:
    """Wait until the process's CPU time stops moving (its work is done)."""
    last = cpu_seconds(pid)
    async with asyncio.timeout(TIMEOUT):
        while True:
            await asyncio.sleep(seconds)
            now = cpu_seconds(pid)
            if now == last:
                return
            last = now


async def run(calls: int, concurrency: int) -> Result:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipwire.cli.main", "answer", "--listen", "udp:127.0.0.1:0",
        "--count", str(calls + 1), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            line = (await process.stdout.readline()).decode()
        if not line.startswith("listening on udp:"):
            raise RuntimeError(f"sipwire answer said {line!r}")
        port = int(line.rsplit(":", 1)[1])
        drain = asyncio.ensure_future(process.stdout.read())
        pid = process.pid
        await settle(pid)
        rss_before, cpu_before = rss_kib(pid), cpu_seconds(pid)

        config = UserAgentConfig(endpoint=EndpointConfig(timers=TimerConfig()))
        async with UserAgent(["udp:127.0.0.1:0"], aor="sip:bench@127.0.0.1",
                             config=config) as ua:
            loop = asyncio.get_running_loop()
            gate = asyncio.Semaphore(concurrency)
            target = f"sip:answer@127.0.0.1:{port}"

            async def place() -> Call:
                async with gate:
                    return await ua.call(target, timeout=60)

            started = loop.time()
            held = await asyncio.wait_for(asyncio.gather(*(place() for _ in range(calls))),
                                          TIMEOUT)
            setup_seconds = loop.time() - started
            await settle(pid)
            rss_held, cpu_held = rss_kib(pid), cpu_seconds(pid)

            started = loop.time()
            await asyncio.wait_for(asyncio.gather(*(c.hangup() for c in held)), TIMEOUT)
            teardown_seconds = loop.time() - started
            await settle(pid)
            cpu_after = cpu_seconds(pid)
        # --count is one more than the calls: it is still there to be measured;
        # SIGTERM ends it (exit status 1: the last call never came)
        os.kill(pid, signal.SIGTERM)
        await asyncio.wait_for(process.wait(), TIMEOUT)
        out = (await drain).decode()
        if f"{calls} calls ended, 0 failed" not in out:
            raise RuntimeError(f"sipwire answer said: {out[-300:]}")
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()
    return Result(
        calls=calls, concurrency=concurrency, rss_before_kib=rss_before,
        rss_held_kib=rss_held, per_call_kib=round((rss_held - rss_before) / calls, 1),
        setup_cpu_ms_per_call=round((cpu_held - cpu_before) * 1000 / calls, 2),
        teardown_cpu_ms_per_call=round((cpu_after - cpu_held) * 1000 / calls, 2),
        setup_seconds=round(setup_seconds, 2), teardown_seconds=round(teardown_seconds, 2),
        python=platform.python_version(), cpus=os.cpu_count() or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls held at once (100)")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="INVITEs outstanding at a time (20)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.concurrency))
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    print(f"sipwire answer, {result.calls} calls held at once (UDP 127.0.0.1; "
          f"Python {result.python}, {result.cpus} CPUs)")
    print()
    print("| calls | RSS before | RSS with all held | per held call | setup CPU/call "
          "| teardown CPU/call | setup wall | teardown wall |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {result.calls} | {result.rss_before_kib / 1024:.1f} MiB "
          f"| {result.rss_held_kib / 1024:.1f} MiB | {result.per_call_kib:.1f} KiB "
          f"| {result.setup_cpu_ms_per_call:.2f} ms | {result.teardown_cpu_ms_per_call:.2f} ms "
          f"| {result.setup_seconds:.2f} s | {result.teardown_seconds:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
