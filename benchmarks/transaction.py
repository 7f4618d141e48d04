"""Non-INVITE transactions per second through sipwire's ``Endpoint`` over UDP on loopback.

Two clients drive a sipwire server that answers OPTIONS with its default 200
(RFC 3261 §11.2: parse, server transaction, response built and sent, Timer J):

* **sipwire -> sipwire**: a sipwire ``Endpoint`` in its own process keeps
  ``--concurrency`` OPTIONS transactions outstanding (``await ep.request``
  in that many tasks) until ``--count`` have completed;
* **SIPp -> sipwire**: SIPp (``sipp -sf <OPTIONS scenario> -m COUNT -l
  CONCURRENCY -r 100000``: a closed loop of that many calls, each one
  OPTIONS transaction, retransmitted after 500 ms like T1);

each with the server (and the sipwire client) on asyncio's own event loop and
on uvloop.  Server and client are separate processes, so on a machine with
two or more cores they do not share one.  A row reports transactions
completed with a 200, failures, retransmissions the client sent (SIPp
counts them; the sipwire client's are counted by its endpoint's transport),
the wall time, the rate, and the server's CPU time over the run as a share of
one core (near 100%: the server is the bottleneck).  Every run is bounded: ``--count`` transactions
or ``--max-seconds``, whichever comes first; every process is stopped by PID.

Run from the repository root::

    python benchmarks/transaction.py              # 20000 transactions per row
    python benchmarks/transaction.py --quick      # 2000 per row, a few seconds
    python benchmarks/transaction.py --json
    python benchmarks/transaction.py --no-server-gc   # what GC pauses cost the server

Needs ``uvloop`` for its rows (``pip install uvloop``) and ``sipp`` for its
rows (``apt-get install sip-tester``); missing ones are reported and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

LOOPS = ("asyncio", "uvloop")

#: one OPTIONS transaction per SIPp "call", retransmitted at 500 ms (T1, §17.1.2.2)
SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="OPTIONS benchmark">
  <send retrans="500">
    <![CDATA[

      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200">
  </recv>
</scenario>
"""


@dataclass
class Row:
    client: str
    loop: str
    concurrency: int
    completed: int
    failed: int
    retransmissions: int
    seconds: float
    #: CPU time of the server process over the run, in % of one core (None: unknown)
    server_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


# -- the processes --------------------------------------------------------------------------


def install_loop(name: str) -> None:
    if name == "uvloop":
        import uvloop

        uvloop.install()  # asyncio.run() below then makes uvloop loops


def serve(args: argparse.Namespace) -> int:
    """The server process: print the port, answer until SIGTERM or SIGINT."""
    from sipwire.ua import Endpoint

    install_loop(args.loop)
    if args.no_gc:
        import gc

        gc.disable()  # only to measure what the cyclic collector's pauses cost

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Endpoint(["udp:127.0.0.1:0"]) as ep:
            print(ep.listening_points[0].port, flush=True)
            await stop.wait()

    asyncio.run(main())
    return 0


def client(args: argparse.Namespace) -> int:
    """The sipwire client process: print one JSON object with its counts."""
    from sipwire import Request
    from sipwire.ua import Endpoint

    install_loop(args.loop)

    async def main() -> dict[str, Any]:
        async with Endpoint(["udp:127.0.0.1:0"]) as ep:
            sends = 0
            send = ep.transport.send_on_nowait

            def counting_send(flow: Any, message: Any) -> bool:
                nonlocal sends
                sends += 1  # retransmissions go this way (§17.1.2.2)
                return send(flow, message)

            ep.transport.send_on_nowait = counting_send  # type: ignore[method-assign]
            uri = f"sip:bench@127.0.0.1:{args.port}"
            remaining = args.count
            completed = failed = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.max_seconds

            async def worker() -> None:
                nonlocal remaining, completed, failed
                while remaining > 0 and loop.time() < deadline:
                    remaining -= 1
                    request = Request.build("OPTIONS", uri, from_="sip:bench@127.0.0.1")
                    response = await ep.request(request)
                    if response.status == 200:
                        completed += 1
                    else:
                        failed += 1

            server = Server(args.port, args.server_pid)
            before = server.cpu_seconds()
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            seconds = time.perf_counter() - started
            cpu = cpu_share(before, server.cpu_seconds(), seconds)
        return {"completed": completed, "failed": failed, "retransmissions": sends,
                "seconds": seconds, "server_cpu": cpu}

    print(json.dumps(asyncio.run(main())))
    return 0


# -- the runs --------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    pid: int

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far (Linux /proc), or None."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    return 100.0 * (after - before) / seconds


@contextlib.contextmanager
def server_process(loop: str, no_gc: bool = False) -> Iterator[Server]:
    command = [sys.executable, __file__, "serve", "--loop", loop]
    proc = subprocess.Popen(command + (["--no-gc"] if no_gc else []),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the {loop} server did not start")
        yield Server(int(line), proc.pid)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def run_sipwire_client(loop: str, args: argparse.Namespace) -> Row:
    with server_process(loop, args.no_server_gc) as server:
        result = subprocess.run(
            [sys.executable, __file__, "client", "--loop", loop, "--port", str(server.port),
             "--server-pid", str(server.pid), "--count", str(args.count),
             "--concurrency", str(args.concurrency), "--max-seconds", str(args.max_seconds)],
            capture_output=True, text=True, timeout=args.max_seconds + 60, check=True)
    data = json.loads(result.stdout)
    return Row("sipwire", loop, args.concurrency, data["completed"], data["failed"],
               data["retransmissions"], data["seconds"], data["server_cpu"])


def run_sipp_client(loop: str, args: argparse.Namespace, sipp: str) -> Row:
    with tempfile.TemporaryDirectory() as tmp, \
            server_process(loop, args.no_server_gc) as server:
        directory = Path(tmp)
        scenario = directory / "options.xml"
        scenario.write_text(SIPP_SCENARIO)
        stats = directory / "stat.csv"
        command = [sipp, "-sf", str(scenario), f"127.0.0.1:{server.port}", "-i", "127.0.0.1",
                   "-m", str(args.count), "-l", str(args.concurrency), "-r", "100000",
                   "-timeout", f"{args.max_seconds:g}s", "-nostdin",
                   "-trace_stat", "-stf", str(stats)]
        before = server.cpu_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=directory, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=args.max_seconds + 30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        seconds = time.perf_counter() - started
        cpu = cpu_share(before, server.cpu_seconds(), seconds)
        with stats.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        counters = dict(zip(rows[0], rows[-1], strict=False))
    return Row("SIPp", loop, args.concurrency, int(counters["SuccessfulCall(C)"]),
               int(counters["FailedCall(C)"]), int(counters["Retransmissions(C)"]), seconds,
               cpu)


def table(rows: list[Row]) -> str:
    lines = ["| client -> sipwire server | event loop | concurrency | transactions | failed "
             "| retransmissions | seconds | transactions/s | server CPU |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cpu = "n/a" if r.server_cpu is None else f"{r.server_cpu:.0f}%"
        lines.append(f"| {r.client} | {r.loop} | {r.concurrency} | {r.completed} | {r.failed} "
                     f"| {r.retransmissions} | {r.seconds:.2f} | {r.rate:,.0f} | {cpu} |")
    return "\n".join(lines)


def bench(args: argparse.Namespace) -> int:
    loops = [loop for loop in LOOPS
             if loop == "asyncio" or importlib.util.find_spec(loop) is not None]
    for missing in sorted(set(LOOPS) - set(loops)):
        print(f"{missing} is not installed: its rows are skipped", file=sys.stderr)
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp is not installed: its rows are skipped", file=sys.stderr)
    rows: list[Row] = []
    for loop in loops:
        rows.append(run_sipwire_client(loop, args))
        if sipp is not None:
            rows.append(run_sipp_client(loop, args, sipp))
    if args.json:
        print(json.dumps([{**asdict(r), "rate": r.rate} for r in rows], indent=2))
    else:
        gc_note = ", server GC off" if args.no_server_gc else ""
        print(f"Non-INVITE (OPTIONS) transactions through sipwire's Endpoint, UDP on "
              f"127.0.0.1; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"{platform.machine()}{gc_note}\n")
        print(table(rows))
    return 0 if all(r.completed > 0 and r.failed == 0 for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role")
    for role in ("serve", "client"):
        p = sub.add_parser(role)
        p.add_argument("--loop", choices=LOOPS, default="asyncio")
        if role == "serve":
            p.add_argument("--no-gc", action="store_true")
        if role == "client":
            p.add_argument("--port", type=int, required=True)
            p.add_argument("--server-pid", type=int, default=0)
            p.add_argument("--count", type=int, default=20000)
            p.add_argument("--concurrency", type=int, default=50)
            p.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=20000,
                        help="transactions per row (default 20000)")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="transactions outstanding at once (default 50)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="stop a row after this long (default 30)")
    parser.add_argument("--quick", action="store_true", help="2000 transactions per row")
    parser.add_argument("--no-server-gc", action="store_true",
                        help="run the server with the cyclic garbage collector off, to "
                             "see what its pauses cost (UDP server transactions live "
                             "64*T1 = 32 s: tens of thousands at a time)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.role == "serve":
        return serve(args)
    if args.role == "client":
        return client(args)
    if args.quick:
        args.count = 2000
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
