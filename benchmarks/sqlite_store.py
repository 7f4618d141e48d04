"""What the SQLite location store sustains when worker processes share it,
as ``sipwire serve --workers N`` does: ``--processes`` processes update one
file in a temporary directory, ``--total`` updates in all, each of a distinct
AOR (the REGISTER of a new user), each process keeping ``--in-flight``
updates waiting at once (a server under load).  Prints, per run, the
updates/s of all the processes together (wall clock, from the first start to
the last end), the latency of an update (median and 99th percentile, over
every process), the write transactions committed, and failed updates.

Run from the repository root; this compares one process with two, and the
store's group commit with a transaction per update (``--batch 1``), three
runs of each::

    python3 benchmarks/sqlite_store.py --processes 1 2 --batch 0 1 --runs 3

``--batch 0`` is the store's default batch size (a store without group
commit, taken from another tree with ``SIPWIRE_SRC=/path/to/src``, is run
that way).  Wall-clock figures: on a shared machine, run each variant more
than once and say so.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from sipwire.location import Binding, SQLiteStore, StoreError  # noqa: E402

#: a bound on the work of one run
MAX_TOTAL = 200_000
#: seconds a run may take before its processes are stopped
RUN_TIMEOUT = 300.0

Result = tuple[float, float, list[float], int, "int | None"]


async def _updates(index: int, count: int, in_flight: int, path: str, batch: int,
                   barrier: Barrier) -> Result:
    options: dict[str, Any] = {"max_batch": batch} if batch else {}
    store = SQLiteStore(path, **options)
    await store.ping()
    barrier.wait()  # every process opened: start together
    now = time.time()
    numbers = iter(range(count))
    latencies: list[float] = []
    failed = 0

    async def client() -> None:
        nonlocal failed
        for n in numbers:
            contact = f"sip:u{index}x{n}@192.0.2.{n % 250 + 1}:5060"
            binding = Binding(aor=f"sip:u{index}x{n}@bench.test", contact=contact,
                              contact_value=f"<{contact}>", expires_at=now + 3600,
                              call_id=f"{index}x{n}@bench", cseq=1, updated_at=now)
            start = time.monotonic()
            try:
                await store.put(binding, now)
            except StoreError:
                failed += 1
            latencies.append(time.monotonic() - start)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    ended = time.monotonic()
    commits: int | None = getattr(store, "commits", None)
    await store.close()
    return started, ended, latencies, failed, commits


def _process(index: int, count: int, in_flight: int, path: str, batch: int,
             barrier: Barrier, results: multiprocessing.Queue[Result]) -> None:
    results.put(asyncio.run(_updates(index, count, in_flight, path, batch, barrier)))


def run(processes: int, total: int, in_flight: int, batch: int) -> str:
    """One run in a fresh directory; returns its line of results."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="sipwire-bench-") as directory:
        path = str(Path(directory) / "loc.db")

        async def create() -> None:  # the schema, before the processes race for it
            await SQLiteStore(path).close()

        asyncio.run(create())
        barrier = context.Barrier(processes)
        results: multiprocessing.Queue[Result] = context.Queue()
        workers = [context.Process(target=_process, args=(
            i, total // processes, in_flight, path, batch, barrier, results))
            for i in range(processes)]
        for worker in workers:
            worker.start()
        try:
            done = [results.get(timeout=RUN_TIMEOUT) for _ in workers]
        finally:
            for worker in workers:
                worker.join(timeout=5)
                if worker.is_alive():
                    worker.terminate()
    started = min(r[0] for r in done)
    ended = max(r[1] for r in done)
    latencies = sorted(latency for r in done for latency in r[2])
    failed = sum(r[3] for r in done)
    counted = [r[4] for r in done if r[4] is not None]
    commits = str(sum(counted)) if len(counted) == len(done) else "?"
    updates = len(latencies)
    p99 = latencies[min(updates - 1, int(updates * 0.99))]
    return (f"processes {processes} batch {batch or 'default':>7}: "
            f"{updates / (ended - started):8.0f} updates/s, latency median "
            f"{statistics.median(latencies) * 1000:6.1f} ms p99 {p99 * 1000:6.1f} ms, "
            f"{commits} commits, {failed} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[2],
                        help="processes sharing the file (several: one variant each)")
    parser.add_argument("--total", type=int, default=20_000,
                        help=f"updates of a run, over all processes (at most {MAX_TOTAL})")
    parser.add_argument("--in-flight", type=int, default=100,
                        help="updates each process keeps waiting at once")
    parser.add_argument("--batch", type=int, nargs="+", default=[0],
                        help="the store's max_batch (0: its default; several: one variant each)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant")
    args = parser.parse_args()
    if not 0 < args.total <= MAX_TOTAL or args.in_flight < 1 or args.runs < 1:
        parser.error(f"--total is 1 to {MAX_TOTAL}; --in-flight and --runs 1 or more")
    print(f"{args.total} updates per run, {args.in_flight} in flight per process, "
          f"sqlite {__import__('sqlite3').sqlite_version}, {os.cpu_count()} cores")
    for processes in args.processes:
        for batch in args.batch:
            for _ in range(args.runs):
                print(run(processes, args.total, args.in_flight, batch), flush=True)


if __name__ == "__main__":
    main()
