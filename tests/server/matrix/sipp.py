"""SIPp as a phone: a scenario per call, on one port, registered with digest.

``register()`` runs ``scenarios/register.xml`` from the phone's port, so the
binding names the port the callee's scenario then answers on.  As callee,
``prepare()`` starts the scenario for the call (``uas_call.xml`` when the
caller hangs up, ``uas_call_hangs_up.xml`` when we do, ``uas_cancelled.xml``
for a CANCEL); as caller, ``dial()`` starts ``uac_call.xml``,
``uac_call_hears_bye.xml`` or ``uac_cancel.xml``.  A callee scenario fails
unless every request of the dialog reaches it.  ``builtin=True`` uses SIPp's
built-in ``uac`` and ``uas`` scenarios instead.  Every run is bounded
(``-timeout`` with ``-timeout_error``, ``-m 1``) and killed by its PID at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from .observe import Observed, sipp_messages
from .ports import wait_listening
from .programs import find

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
RUN_TIMEOUT = 30
_UAS = {"caller": "uas_call.xml", "callee": "uas_call_hangs_up.xml", "cancel": "uas_cancelled.xml"}
_UAC = {"caller": "uac_call.xml", "callee": "uac_call_hears_bye.xml", "cancel": "uac_cancel.xml"}


@dataclass
class Run:
    name: str
    process: asyncio.subprocess.Process
    directory: Path

    def report(self) -> str:
        errors = self.directory / "errors.log"
        text = errors.read_text(errors="replace").strip() if errors.exists() else ""
        return text[-1500:] or "(no error log)"


@dataclass
class Sipp:
    """SIPp as ``user`` at ``host``:``port`` on ``transport`` (UDP or TCP),
    registering with and calling through ``registrar`` (sipwire or Kamailio)."""

    user: str
    password: str
    transport: str
    registrar: tuple[str, int]
    directory: Path
    port: int
    host: str = "127.0.0.1"
    builtin: bool = False
    runs: list[Run] = field(default_factory=list)
    _current: Run | None = None

    @property
    def label(self) -> str:
        kind = "sipp builtin" if self.builtin else "sipp"
        family = "6" if ":" in self.host else ""
        return f"{kind}/{self.transport.lower()}{family}"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@127.0.0.1"

    @property
    def logs(self) -> list[Path]:
        return [run.directory / name for run in self.runs
                for name in ("messages.log", "errors.log")]

    def observed(self) -> list[Observed]:
        seen: list[Observed] = []
        for run in self.runs:
            seen += sipp_messages(run.directory / "messages.log")
        return seen

    # -- runs --------------------------------------------------------------------------------

    async def _run(self, name: str, scenario: str, remote: tuple[str, int] | None,
                   *args: str) -> Run:
        directory = self.directory / f"{len(self.runs)}-{name}"
        directory.mkdir(parents=True)
        command = [find("sipp")]
        command += ["-sn", scenario] if scenario in ("uac", "uas") else \
            ["-sf", str(SCENARIOS / scenario)]
        command += [*args, "-i", self.host, "-p", str(self.port),
                    "-t", "u1" if self.transport.upper() == "UDP" else "t1",
                    "-m", "1", "-timeout", f"{RUN_TIMEOUT}s", "-timeout_error", "-nostdin",
                    "-default_behaviors", "all,-bye",
                    "-trace_err", "-error_file", str(directory / "errors.log"),
                    "-trace_msg", "-message_file", str(directory / "messages.log")]
        if remote is not None:
            host, port = remote
            command.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        process = await asyncio.create_subprocess_exec(
            *command, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        run = Run(name, process, directory)
        self.runs.append(run)
        return run

    async def _finished(self, run: Run, timeout: float = RUN_TIMEOUT + 5) -> str | None:
        """None when the scenario succeeded, else why not."""
        try:
            status = await asyncio.wait_for(run.process.wait(), timeout)
        except TimeoutError:
            await self._kill(run)
            return f"{self.label} {run.name} still running after {timeout:.0f} s"
        if status == 0:
            return None
        return f"{self.label} {run.name} failed (exit {status}): {run.report()}"

    async def _kill(self, run: Run) -> None:
        if run.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.process.wait(), 5)

    # -- the phone ------------------------------------------------------------------------

    async def start(self) -> None:
        find("sipp")

    async def stop(self) -> None:
        for run in self.runs:
            await self._kill(run)

    @property
    def registrar_uri(self) -> str:
        """The Request-URI of our REGISTER, without ``sip:``: the domain; over
        IPv6, the registrar's own address, as a phone set up with it sends."""
        if ":" not in self.host:
            return "127.0.0.1"
        host, port = self.registrar
        return f"[{host}]:{port}"

    async def wait_registered(self, timeout: float) -> str | None:
        run = await self._run("register", "register.xml", self.registrar,
                              "-s", self.user, "-au", self.user, "-ap", self.password,
                              "-key", "registrar", self.registrar_uri,
                              "-auth_uri", self.registrar_uri)
        return await self._finished(run, timeout)

    async def prepare(self, role: str, hangup_by: str) -> None:
        """The callee's scenario for the next call, listening before the caller dials."""
        if role != "callee":
            return
        await self._wait_current()
        scenario = "uas" if self.builtin else _UAS[hangup_by]
        self._current = await self._run(f"callee-{hangup_by}", scenario, None,
                                        "-s", self.user)
        await wait_listening(self.host, self.port, self.transport)

    async def dial(self, uri: str, hangup_by: str) -> None:
        await self._wait_current()
        callee = uri.removeprefix("sip:").partition("@")[0]
        remote = self.registrar
        if self.builtin:
            self._current = await self._run("caller", "uac", remote, "-s", callee)
            return
        self._current = await self._run(
            f"caller-{hangup_by}", _UAC[hangup_by], remote, "-s", callee,
            "-au", self.user, "-ap", self.password, "-auth_uri", f"{callee}@127.0.0.1")

    async def _wait_current(self) -> None:
        if self._current is not None:
            await self._finished(self._current)

    async def reinvite(self) -> None:
        """In the scenario."""

    async def hangup(self) -> None:
        """In the scenario."""

    async def cancel(self) -> None:
        """In the scenario."""

    async def finish(self, abort: bool) -> list[str]:
        """The scenario's verdict on the call just made; after a call that broke
        off, the scenario is given a few seconds to say what it missed."""
        run, self._current = self._current, None
        if run is None:
            return []
        problem = await self._finished(run, timeout=3.0 if abort else RUN_TIMEOUT + 5)
        return [problem] if problem else []
