"""Running ``sipwire`` as a user runs it: a subprocess per command, stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

#: seconds a command may run before the test kills it
RUN_TIMEOUT = 30.0
COMMAND = [sys.executable, "-m", "sipwire.cli.main"]


@dataclass
class Result:
    status: int
    out: str
    err: str


RunCli = Callable[..., Awaitable[Result]]


@pytest_asyncio.fixture
async def run_cli() -> AsyncIterator[RunCli]:
    """``await run_cli("options", uri)``: run ``sipwire`` without blocking the event
    loop (an endpoint of the test may be serving it)."""
    processes: list[asyncio.subprocess.Process] = []

    async def run(*args: str, stdin: bytes | None = None,
                  interrupt_after: str | None = None) -> Result:
        proc = await asyncio.create_subprocess_exec(
            *COMMAND, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        processes.append(proc)
        if interrupt_after is not None:
            # read until the marker, then Ctrl-C it (SIGINT to its PID)
            assert proc.stdout is not None and proc.stdin is not None
            proc.stdin.close()
            seen = b""
            async with asyncio.timeout(RUN_TIMEOUT):
                while interrupt_after.encode() not in seen:
                    line = await proc.stdout.readline()
                    assert line, "the command ended early"
                    seen += line
            os.kill(proc.pid, signal.SIGINT)
            rest, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
            out = seen + rest
        else:
            out, err = await asyncio.wait_for(proc.communicate(stdin), RUN_TIMEOUT)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    yield run
    for proc in processes:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


@pytest.fixture
def background() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``background("listen", "udp:127.0.0.1:0")``: a long-running command, killed
    by its PID when the test ends."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*COMMAND, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(proc)
        return proc

    yield start
    for proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=RUN_TIMEOUT)
