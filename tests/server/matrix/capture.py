"""A tshark capture of one cell's UDP traffic on the loopback interface.

Started before the phones register (``-f "udp port P"``: the server's port,
so both legs of every call are in it), bounded by a duration and a packet
count, stopped by its PID with SIGINT (tshark then finishes the file), and
decoded with SIP forced on that port.  ``verdict()`` lists the problems:
malformed packets (``_ws.malformed``) and SIP methods that never went by.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from .programs import find

#: what a capture may hold at most (it is stopped at the end of the cell anyway)
MAX_SECONDS = 120
MAX_PACKETS = 5000
#: methods each call of the cell puts on the wire
EXPECTED_METHODS = ("REGISTER", "INVITE", "ACK", "BYE")


@dataclass
class Capture:
    directory: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def file(self) -> Path:
        return self.directory / "calls.pcapng"

    @property
    def log(self) -> Path:
        return self.directory / "tshark.log"

    async def start(self, timeout: float = 15.0) -> None:
        tshark = find("tshark")
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                tshark, "-i", "lo", "-f", f"udp port {self.port}", "-w", str(self.file),
                "-a", f"duration:{MAX_SECONDS}", "-c", str(MAX_PACKETS), "-q",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=log)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "Capturing on" not in self.log.read_text(errors="replace"):
            if self.process.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"tshark did not start capturing: "
                                   f"{self.log.read_text(errors='replace')[-1000:]}")
            await asyncio.sleep(0.05)
        # "Capturing on" is printed a moment before the capturer's socket
        # takes packets: the first REGISTER was missing from some captures
        await asyncio.sleep(1.0)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        # the capturer reads the kernel's buffer in batches: let it take in the
        # last packets (the file stops growing) before it is told to stop
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        size = -1
        while loop.time() < deadline:
            await asyncio.sleep(0.5)
            now = self.file.stat().st_size if self.file.exists() else 0
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5)

    async def _read(self, *args: str) -> list[str]:
        process = await asyncio.create_subprocess_exec(
            find("tshark"), "-r", str(self.file), "-d", f"udp.port=={self.port},sip", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            raise
        if process.returncode != 0:
            raise RuntimeError(f"tshark -r failed: {err.decode(errors='replace')[-500:]}")
        return [line for line in out.decode(errors="replace").splitlines() if line.strip()]

    async def verdict(self) -> list[str]:
        """The problems the capture shows; empty when it is clean."""
        if not self.file.exists():
            return [f"no capture file: {self.log.read_text(errors='replace')[-500:]}"]
        problems = []
        malformed = await self._read("-Y", "_ws.malformed", "-T", "fields",
                                     "-e", "frame.number", "-e", "_ws.col.info")
        if malformed:
            problems.append(f"{len(malformed)} malformed packets: {'; '.join(malformed[:5])}")
        rows = await self._read("-Y", "sip", "-T", "fields", "-e", "sip.Method",
                                "-e", "sip.Status-Code")
        methods = {row.split("\t")[0] for row in rows if row.split("\t")[0]}
        missing = [m for m in EXPECTED_METHODS if m not in methods]
        if missing:
            problems.append(f"no {', '.join(missing)} among the {len(rows)} SIP packets "
                            f"(methods seen: {', '.join(sorted(methods)) or 'none'})")
        return problems
