"""Memory and event-loop stalls of ``sipwire serve`` as the work grows.

Four measurements, each printed as one Markdown table row:

* ``purge``: a ``MemoryStore`` with ``--bindings`` bindings (one per AOR),
  purged by ``purge_periodically`` every 0.2 s while a probe task sleeps
  20 ms at a time and records how late it wakes: the longest stall the
  store's maintenance causes, with nothing expired and with every binding
  expired (the store's clock is driven; the event loop's is real);
* ``register``: what one completed REGISTER transaction holds during Timer J
  (64*T1 over UDP): ``--count`` REGISTERs of distinct users handed to the
  UDP listener of an in-process ``Server`` (no sockets, as
  ``profile_server.py --in-process`` does), then every transaction timer
  fired; the memory that frees (tracemalloc), per transaction;
* ``call``: what one ringing call holds in the proxy: bob registered, then
  ``--count`` INVITEs to him, each forwarded and answered 180 by "bob";
  tracemalloc's growth over the INVITEs, per call (INVITE server and client
  transactions, the response context, the engine's records and timers);
* ``ended``: what one ended call holds in the proxy until its transactions
  end (Timers L and M of the INVITE, J and K of the BYE: 64*T1 and T4):
  ``calls_in_process.py``'s fake caller and callee make ``--count`` whole
  calls; tracemalloc's growth per call, and how many more objects the
  garbage collector tracks (what makes its young collections long).

``SIPWIRE_SRC`` runs another tree's ``src/`` (a ``git worktree`` of an older
commit) to compare::

    python3 benchmarks/memory.py                     # all four
    python3 benchmarks/memory.py register --count 5000
    SIPWIRE_SRC=/tmp/base/src python3 benchmarks/memory.py call
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from messages import SIPP_INVITE, SIPP_SDP  # noqa: E402 (benchmarks/, this script's directory)

from sipwire import Request, parse  # noqa: E402
from sipwire.location import Binding, MemoryStore, purge_periodically  # noqa: E402
from sipwire.server.app import Server  # noqa: E402
from sipwire.server.config import ServerConfig  # noqa: E402
from sipwire.transport.udp import UdpListener  # noqa: E402

DOMAIN = "bench.test"
T0 = 1_000_000.0
PROBE = 0.020

#: a REGISTER as benchmarks/sipp/register_load.xml sends it
REGISTER = (
    "REGISTER sip:{domain} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{n}-1-0\r\n"
    "From: <sip:{user}@{domain}>;tag=4242r{n}\r\n"
    "To: <sip:{user}@{domain}>\r\n"
    "Call-ID: {n}-4242@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:{user}@127.0.0.1:{port};transport=UDP>\r\n"
    "Expires: 3600\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: sipp-bench\r\n"
    "Content-Length: 0\r\n\r\n"
)

SDP = SIPP_SDP

#: an INVITE as benchmarks/sipp/uac.xml sends it
INVITE = SIPP_INVITE + SDP


# -- purge ------------------------------------------------------------------------------------


async def _probe(stalls: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(PROBE)
        stalls.append(loop.time() - start - PROBE)


async def purge_stall(bindings: int, expired: bool,
                      seconds: float) -> tuple[float, float, tuple[float, float] | None]:
    """The longest probe delay (s), the first purge's wall time (s) and the
    purge steps' median and longest (s; None for a store that purges in one go)."""
    store = MemoryStore()
    lifetime = 30.0 if expired else 3600.0
    for n in range(bindings):
        aor = f"sip:u{n}@{DOMAIN}"
        contact = f"sip:u{n}@127.0.0.1:5060"
        await store.put(Binding(aor=aor, contact=contact, contact_value=f"<{contact}>",
                                expires_at=T0 + lifetime, call_id=f"{n}@b", cseq=1,
                                updated_at=T0), T0)
    gc.collect()
    gc.freeze()  # the bindings are not what the probe measures
    first = 0.0

    async def timed_purge(now: float) -> int:
        nonlocal first
        start = time.perf_counter()
        removed = await real_purge(now)
        if not first:
            first = time.perf_counter() - start
        return removed

    real_purge = store.purge
    store.purge = timed_purge  # type: ignore[method-assign]
    steps: list[float] = []
    real_steps = getattr(store, "purge_steps", None)
    if real_steps is not None:
        def timed_steps(now: float) -> Iterator[Any]:
            steps_of = iter(real_steps(now))
            while True:
                start = time.perf_counter()
                step = next(steps_of, None)
                steps.append(time.perf_counter() - start)
                if step is None:
                    return
                yield step

        store.purge_steps = timed_steps  # type: ignore[method-assign]
    stalls: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(stalls, stop))
    # the store's clock: 60 s on, every binding expired when expired=True
    purger = asyncio.create_task(purge_periodically(store, 0.2, lambda: T0 + 60))
    await asyncio.sleep(seconds)
    stop.set()
    purger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purger
    await probe
    gc.unfreeze()
    assert await store.count(T0 + 60) == (0 if expired else bindings)
    busy = sorted(steps)
    return max(stalls), first, (busy[len(busy) // 2], busy[-1]) if busy else None


# -- the server in-process --------------------------------------------------------------------


class _Recording:
    """Stands in for the UDP transport under the server's listener."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, object]] = []

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append((data, addr))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def _feed(listener: UdpListener, datagrams: list[bytes], source: tuple[str, int]) -> None:
    for start in range(0, len(datagrams), 32):
        for data in datagrams[start:start + 32]:
            listener.datagram_received(data, source)
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)


def _held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _config(port: int) -> ServerConfig:
    options: dict[str, Any] = {}
    if "overload_max_lag" in {f.name for f in dataclasses.fields(ServerConfig)}:
        # tracemalloc slows the loop: no 503s for lag (trees that have overload control)
        options["overload_max_lag"] = 3600.0
    return ServerConfig(listen=(f"udp:127.0.0.1:{port}",), domains=(DOMAIN,),
                        store="memory:", auth="off", trace=False,
                        max_requests_per_source=0, **options)


def _registers(first: int, count: int, port: int) -> list[bytes]:
    return [REGISTER.format(domain=DOMAIN, port=port, n=n, user=f"u{n}").encode()
            for n in range(first, first + count)]


async def register_memory(count: int, port: int) -> float:
    """Bytes one completed REGISTER transaction holds until Timer J."""
    source = ("127.0.0.1", port + 2)
    # Timer J of an hour (T1 60 s): none ends while a slow (traced, shared)
    # machine is still feeding the REGISTERs; they are fired at the end
    config = dataclasses.replace(_config(port), t1=60.0, t2=60.0)
    async with Server(config) as server:
        engine = server.engine
        listener = engine.transport._udp[0]
        real, recording = listener._io, _Recording()
        listener._io = recording  # type: ignore[assignment]
        try:
            await _feed(listener, _registers(0, 500, source[1]), source)  # warm-up
            engine._perform(engine.transactions.handle_timer(engine._loop.time() + 10_000))
            tracemalloc.start()
            await _feed(listener, _registers(500, count, source[1]), source)
            held_count = len(engine.transactions) + getattr(engine.transactions, "retired", 0)
            assert held_count == count, held_count
            recording.sent.clear()
            held = _held()
            # Timer J for every one of them
            engine._perform(engine.transactions.handle_timer(engine._loop.time() + 10_000))
            assert len(engine.transactions) + getattr(engine.transactions, "retired", 0) == 0
            freed = held - _held()
            tracemalloc.stop()
        finally:
            listener._io = real
    return freed / count


async def call_memory(count: int, port: int) -> float:
    """Bytes one ringing call holds in the proxy."""
    source, bob = ("127.0.0.1", port + 2), ("127.0.0.1", port + 3)
    async with Server(_config(port)) as server:
        listener = server.engine.transport._udp[0]
        real, recording = listener._io, _Recording()
        listener._io = recording  # type: ignore[assignment]
        try:
            register = REGISTER.format(domain=DOMAIN, port=bob[1], n=0, user="bob")
            await _feed(listener, [register.encode()], bob)

            async def ring(first: int, n: int) -> None:
                invites = [INVITE.format(domain=DOMAIN, port=source[1], n=i,
                                         length=len(SDP)).encode()
                           for i in range(first, first + n)]
                recording.sent.clear()
                await _feed(listener, invites, source)
                # one per call (Timer A may have retransmitted some meanwhile)
                forwarded = list({data.split(b"Call-ID: ")[1].split(b"\r")[0]: data
                                  for data, addr in recording.sent
                                  if data.startswith(b"INVITE ")}.values())
                assert len(forwarded) == n, len(forwarded)
                ringing = []
                for i, data in enumerate(forwarded):
                    request = parse(data)
                    assert isinstance(request, Request)
                    ringing.append(bytes(request.reply(180, to_tag=f"b{first + i}")))
                del forwarded, request
                recording.sent.clear()
                await _feed(listener, ringing, bob)
                for _ in range(500):  # a loaded machine may need a few more rounds
                    relayed = sum(data.startswith(b"SIP/2.0 180")
                                  for data, _ in recording.sent)
                    if relayed >= n:
                        break
                    await asyncio.sleep(0.01)
                assert relayed == n, relayed
                recording.sent.clear()

            await ring(10**6, 200)  # warm-up
            tracemalloc.start()
            before = _held()
            await ring(0, count)
            grown = _held() - before
            tracemalloc.stop()
        finally:
            listener._io = real
    return grown / count


async def ended_call_memory(count: int, port: int) -> tuple[float, float]:
    """Bytes, and objects the garbage collector tracks, that one ended call
    (INVITE/100/180/200/ACK/BYE/200, ``calls_in_process.py``'s fake agents)
    holds in the proxy while its transactions wait for Timers L, M, J and K
    (64*T1, T4): T1, T2 and T4 of an hour, so that none ends during the run."""
    import calls_in_process as calls  # benchmarks/, this script's directory

    config = dataclasses.replace(_config(port), domains=(calls.DOMAIN,), t1=3600.0,
                                 t2=3600.0, t4=3600.0, timer_c=36000.0)
    async with Server(config) as server:
        listener = server.engine.transport._udp[0]
        port = listener.local.port
        calls.CALLER_PORT, calls.CALLEE_PORT = port + 2, port + 1
        real, catcher = listener._io, calls._Catcher()
        listener._io = catcher  # type: ignore[assignment]
        try:
            driver = calls._Run(listener, catcher, port)
            register = calls._REGISTER_BOB.format(domain=calls.DOMAIN, port=calls.CALLEE_PORT)
            driver._hand([register.encode()], driver.callee, "")
            await asyncio.sleep(0)
            catcher.take()
            driver.sample = None  # type: ignore[assignment]
            for first in range(0, 200, 32):  # warm-up
                await driver.round(first, min(32, 200 - first))
            tracemalloc.start()
            before, tracked = _held(), len(gc.get_objects())
            driver.completed = 0
            for first in range(200, 200 + count, 32):
                await driver.round(first, min(32, 200 + count - first))
            assert driver.completed == count, driver.completed
            grown, more = _held() - before, len(gc.get_objects()) - tracked
            tracemalloc.stop()
        finally:
            listener._io = real
    return grown / count, more / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="*", help="purge, register, call, ended "
                        "(default: all)")
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0, help="purge: probe time")
    parser.add_argument("--port", type=int, default=17260)
    args = parser.parse_args()
    src = os.environ.get("SIPWIRE_SRC") or str(ROOT / "src")
    print(f"sipwire from {src}; Python {sys.version.split()[0]}")
    print("| measure | value |")
    print("|---|---:|")
    for what in args.what or ["purge", "register", "call", "ended"]:
        if what not in ("purge", "register", "call", "ended"):
            parser.error(f"no measure {what!r}: purge, register, call or ended")
        if what == "purge":
            for expired in (False, True):
                stall, first, step = asyncio.run(
                    purge_stall(args.bindings, expired, args.seconds))
                state = "all expired" if expired else "none expired"
                if step is not None:
                    print(f"| purge of {args.bindings:,} bindings, {state}: purge step, "
                          f"median / longest | {step[0] * 1000:.2f} / {step[1] * 1000:.2f} ms |")
                print(f"| purge of {args.bindings:,} bindings, {state}: longest event-loop "
                      f"stall (probe every 20 ms) | {stall * 1000:.1f} ms |")
                print(f"| purge of {args.bindings:,} bindings, {state}: first purge's "
                      f"wall time | {first * 1000:.1f} ms |")
        elif what == "register":
            held = asyncio.run(register_memory(args.count, args.port))
            print(f"| memory per completed REGISTER transaction (Timer J), "
                  f"{args.count:,} held | {held:,.0f} B |")
        elif what == "ended":
            held, tracked = asyncio.run(ended_call_memory(args.count, args.port))
            print(f"| memory per ended call in the proxy until its transactions end "
                  f"(64*T1), {args.count:,} held | {held:,.0f} B, {tracked:.1f} objects "
                  f"the collector tracks |")
        else:
            held = asyncio.run(call_memory(args.count, args.port))
            print(f"| memory per ringing call in the proxy, {args.count:,} held "
                  f"| {held:,.0f} B |")


if __name__ == "__main__":
    main()
