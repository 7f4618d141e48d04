"""Running ``sipwire serve`` (and other programs) as subprocesses in tests:
free ports, readiness read from the log, stopped by PID, every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sipwire

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


async def wait_listening(port: int, transport: str = "udp", timeout: float = 5.0) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (read from /proc/net,
    so that probing cannot take the port from the program, SIPp say)."""
    table = Path("/proc/net/udp" if transport == "udp" else "/proc/net/tcp")
    if not table.exists():
        await asyncio.sleep(0.5)
        return
    wanted = f"0100007F:{port:04X}"
    async with asyncio.timeout(timeout):
        while True:
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                # UDP: any bound socket; TCP: state 0A is LISTEN
                if fields[1] == wanted and (transport == "udp" or fields[3] == "0A"):
                    return
            await asyncio.sleep(0.01)


def sipvicious(tool: str) -> str:
    """The path of a SIPVicious tool (``svwar``, ``svcrack``; Debian names them
    ``sipvicious_svwar`` ...); a skip when missing, a failure under CI=true or
    SIPWIRE_REQUIRE_SIPVICIOUS=1."""
    import pytest

    for name in (tool, f"sipvicious_{tool}"):
        path = shutil.which(name)
        if path is not None:
            return path
    reason = f"{tool} is not installed (apt-get install sipvicious)"
    if os.environ.get("SIPWIRE_REQUIRE_SIPVICIOUS") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; SIPWIRE_REQUIRE_SIPVICIOUS=1 or CI=true require it")
    pytest.skip(reason)


async def terminate(process: asyncio.subprocess.Process | None, *, group: bool = False,
                    grace: float = 5.0) -> None:
    """SIGTERM to ``process`` (by its PID); SIGKILL (to its process group when
    ``group``, one it was started in) if it has not stopped within ``grace``."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)


async def kill_all(processes: list[asyncio.subprocess.Process]) -> None:
    """SIGKILL each process still running (by its PID) and reap it, waiting
    at most 5 s each."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5)


def port_is_free(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", port))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


@dataclass
class Serving:
    """A ``python -m sipwire.cli.main serve ...`` process and what it logged."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def _read(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while line := await stream.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> str:
        """The first log line holding ``text``; fails if the process ends first."""
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self.process.returncode is not None:
                    raise AssertionError(f"serve exited {self.process.returncode}:\n{self.log}")
                await asyncio.sleep(0.02)

    async def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM to our PID; the exit status."""
        if self.process.returncode is None:
            os.kill(self.pid, signal.SIGTERM)
        status = await asyncio.wait_for(self.process.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, timeout)
        return status

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        if self.reader is not None:
            self.reader.cancel()


#: the folder the sipwire under test was imported from, for a subprocess's
#: PYTHONPATH: this checkout's src/ in a development run, the site-packages of a
#: (compiled) install otherwise, so that its subprocesses run the same build and
#: not the pure source
SIPWIRE_PATH = str(Path(sipwire.__file__).resolve().parents[1])


def sipwire_environment(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``sipwire`` command in a test: this checkout's
    sources, and ``home/data`` as ``$XDG_DATA_HOME``, so that the default user
    file is ``home/data/sipwire/users.db`` and never the one of the account
    running the tests (nor its ``$SIPWIRE_USERS``); ``extra`` is added."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SIPWIRE_PATH + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SIPWIRE_USERS", None)
    env["XDG_DATA_HOME"] = str(home / "data")
    env.update(extra)
    return env


async def start_serve(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Serving:
    """Start ``sipwire serve ARGS`` in ``cwd`` and wait until it serves; ``env``
    defaults to ``sipwire_environment(cwd)``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipwire.cli.main", "serve", *args, cwd=cwd,
        env=env if env is not None else sipwire_environment(cwd),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    serving = Serving(process)
    serving.reader = asyncio.get_running_loop().create_task(serving._read())
    try:
        await serving.wait_for("serving domains=")
    except BaseException:
        await serving.kill()
        raise
    return serving


async def sipwire_command(*args: str, env: dict[str, str], stdin: bytes = b"",
                          cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``sipwire ARGS`` to its end (at most 30 s): exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipwire.cli.main", *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), 30)
    except TimeoutError:
        await kill_all([process])
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
