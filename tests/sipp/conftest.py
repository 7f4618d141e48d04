"""Running the real SIPp against sipwire: one subprocess per test, bounded and stopped by PID.

SIPp missing: the tests are skipped, unless ``SIPWIRE_REQUIRE_SIPP=1`` (CI),
which makes them fail instead.  Every run has ``-m`` (calls), ``-timeout``
with ``-timeout_error`` (SIPp gives up and fails) and a wait bound here; a
SIPp still running at teardown is killed by its PID.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.server.processes import free_port, kill_all

HERE = Path(__file__).parent
#: seconds SIPp may run; it fails itself at SIPP_TIMEOUT, we kill it at RUN_TIMEOUT
SIPP_TIMEOUT = 10
RUN_TIMEOUT = 20.0


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    factories: dict[str, Callable[[], Any]] = {"asyncio": asyncio.new_event_loop}
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture(scope="session")
def sipp_path() -> str:
    path = shutil.which("sipp")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_SIPP") == "1":
            pytest.fail("sipp is not installed and SIPWIRE_REQUIRE_SIPP=1")
        pytest.skip("sipp is not installed (apt-get install sip-tester)")
    return path


@dataclass
class SippRun:
    """One SIPp process: its PID, exit status and the files it wrote."""

    process: asyncio.subprocess.Process
    directory: Path
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        """SIPp's exit status (0: every call succeeded, 1: some failed, 99: none ran)."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    def stats(self) -> dict[str, str]:
        """The last line of the ``-trace_stat`` CSV: cumulative counters such as
        ``SuccessfulCall(C)``, ``FailedCall(C)``, ``Retransmissions(C)``."""
        with (self.directory / "stat.csv").open(newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        return dict(zip(rows[0], rows[-1], strict=False))

    def screen(self) -> str:
        """The final screens (``-trace_screen``): per-message counts and retransmissions."""
        path = self.directory / "screen.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def errors(self) -> str:
        path = self.directory / "errors.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def message_row(self, label: str) -> list[str]:
        """The scenario screen row of a message (``"INVITE"``, ``"200"``): its
        Messages, Retrans, Timeout ... columns."""
        for line in self.screen().splitlines():
            parts = line.split()
            arrows = [p for p in parts if p.startswith(("--", "<-"))]
            if arrows and label in parts:
                after = parts[parts.index(label) + 1:]
                return [p for p in after if p.isdigit()]
        raise AssertionError(f"no {label} row in SIPp's screen:\n{self.screen()}")

    def report(self) -> str:
        return f"SIPp pid {self.pid}\n{self.screen()}\n{self.errors()}"


StartSipp = Callable[..., Awaitable[SippRun]]


@pytest_asyncio.fixture
async def start_sipp(sipp_path: str, tmp_path: Path) -> AsyncIterator[StartSipp]:
    """``await start_sipp("-sn", "uac", "127.0.0.1:5060", calls=3, transport="udp")``."""
    runs: list[SippRun] = []

    async def start(*args: str, calls: int, transport: str = "udp",
                    port: int | None = None, timeout: int = SIPP_TIMEOUT) -> SippRun:
        directory = tmp_path / f"sipp{len(runs)}"
        directory.mkdir()
        port = port if port is not None else free_port()
        command = [
            sipp_path, *args,
            "-i", "127.0.0.1", "-p", str(port),
            "-t", "u1" if transport == "udp" else "t1",
            "-m", str(calls),
            "-timeout", f"{timeout}s", "-timeout_error",
            "-nostdin",
            "-trace_stat", "-stf", str(directory / "stat.csv"),
            "-trace_screen", "-screen_file", str(directory / "screen.log"),
            "-trace_err", "-error_file", str(directory / "errors.log"),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        run = SippRun(process, directory, port)
        runs.append(run)
        return run

    yield start
    await kill_all([run.process for run in runs])


