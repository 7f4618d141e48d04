"""``sipwire ladder`` reads what another capturer wrote: tshark's pcapng of
the loopback interface during a call through ``serve`` (SIP over UDP and TCP
in the clear; TLS and WebSocket streams are recognised as not SIP and left
out), and draws the same call as from the pcap ``serve`` wrote itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from sipwire.ladder import build_ladders
from sipwire.trace import read_records

from ..trace.calls import run_call
from ..trace.test_pcap import tshark
from ..transport.conftest import Certificate, certificate  # noqa: F401


async def _start_tshark(program: str, output: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            program, "-i", "lo", "-f", "host 127.0.0.1 and (udp or tcp)", "-w", str(output),
            "-a", "duration:60", "-c", "20000", "-q", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
    async with asyncio.timeout(15):
        while "Capturing on" not in log.read_text(errors="replace"):
            assert process.returncode is None, log.read_text(errors="replace")
            await asyncio.sleep(0.05)
    # the capturer's socket takes packets a moment after it says so
    await asyncio.sleep(1.0)
    return process


async def _stop(process: asyncio.subprocess.Process, output: Path) -> None:
    size = -1
    for _ in range(6):  # the file stops growing: the last packets are in
        await asyncio.sleep(0.5)
        now = output.stat().st_size if output.exists() else 0
        if now == size:
            break
        size = now
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        await process.wait()


async def test_a_tshark_capture_gives_the_same_ladder(tmp_path: Path,
                                                      certificate: Certificate) -> None:  # noqa: F811
    program = tshark()
    if os.geteuid() != 0:
        import pytest

        pytest.skip("capturing on lo needs root (or capabilities for dumpcap)")
    live = tmp_path / "live.pcapng"
    ours = tmp_path / "ours.pcap"
    process = await _start_tshark(program, live, tmp_path / "tshark.log")
    try:
        run = await run_call(tmp_path, certificate, pcap=str(ours))
    finally:
        await _stop(process, live)
    assert live.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng

    def steps(path: Path) -> list[tuple[str, str, str, bool, bool]]:
        (ladder,) = build_ladders(read_records(path), run.call_id)
        return [(a.source, a.destination, a.label, a.retransmission, a.final)
                for a in ladder.arrows]

    assert steps(live) == steps(ours)
    assert len(steps(live)) == 15
    # the REGISTER over TLS is ciphertext on the wire: no garbage call comes of it
    # (other traffic on lo, of other programs, is not ours to judge)
    ports = set(run.ports.values())
    records = [r for r in read_records(live)
               if r.source.port in ports or r.destination.port in ports]
    calls = {ladder.call_id for ladder in build_ladders(records)}
    assert "" not in calls and run.call_id in calls
