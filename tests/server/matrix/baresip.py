"""baresip as a phone: registered with digest, dialling, answering, re-INVITing
and hanging up on command.

Each phone runs headless from a config directory of its own (``-f``): no audio
device (``g711.so`` gives its SDP a codec), ``menu.so`` for the commands and
``ctrl_tcp.so`` to send them (netstrings of JSON, baresip's control
protocol), SIP on 127.0.0.1 port P for UDP and TCP and P+1 for TLS, and its
SIP trace (``-s``) in ``baresip.log``: what it sent and received is read back
from there.  ``outbound`` makes the server (or Kamailio) its outbound proxy
on the phone's transport, as a phone set up with a server address would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from .certs import Issued
from .observe import Observed, baresip_trace, summary
from .programs import baresip_modules, find

_tokens = itertools.count(1)


@dataclass
class Baresip:
    """A baresip UA for ``sip:user@127.0.0.1`` on ``transport`` (UDP, TCP, TLS)."""

    user: str
    password: str
    transport: str
    outbound: tuple[str, int]
    directory: Path
    sip_port: int
    ctrl_port: int
    answer: bool = True
    ca: Path | None = None
    certificate: Issued | None = None
    process: asyncio.subprocess.Process | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def label(self) -> str:
        return f"baresip/{self.transport.lower()}"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@127.0.0.1"

    @property
    def log(self) -> Path:
        return self.directory / "baresip.log"

    @property
    def logs(self) -> list[Path]:
        return [self.log]

    def observed(self) -> list[Observed]:
        return baresip_trace(self.log, (self.sip_port, self.sip_port + 1))

    # -- life cycle -----------------------------------------------------------------------

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"sip_listen\t127.0.0.1:{self.sip_port}",
            f"module_path\t{baresip_modules()}",
            "module\tg711.so",
            "module_app\taccount.so",
            "module_app\tmenu.so",
            "module_app\tctrl_tcp.so",
            f"ctrl_tcp_listen\t127.0.0.1:{self.ctrl_port}",
            "audio_player\tnone",
            "audio_source\tnone",
        ]
        if self.ca is not None:
            lines.append(f"sip_cafile\t{self.ca}")
        if self.certificate is not None:
            lines.append(f"sip_certificate\t{self.certificate.combined()}")
        (self.directory / "config").write_text("\n".join(lines) + "\n")
        host, port = self.outbound
        proxy = f"sip:{host}:{port};transport={self.transport.lower()}"
        answermode = "auto" if self.answer else "manual"
        (self.directory / "accounts").write_text(
            f"<{self.aor}>;auth_pass={self.password};outbound=\"{proxy}\";regint=60;"
            f"answermode={answermode}\n")

    async def start(self) -> None:
        path = find("baresip")
        self._write_config()
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                path, "-f", str(self.directory), "-s", stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=self.directory)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)

    async def wait_registered(self, timeout: float) -> str | None:
        """None once a REGISTER got its 200, else what went wrong."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for seen in self.observed():
                message = seen.message
                if seen.direction == "in" and getattr(message, "status", 0) == 200 \
                        and message.cseq.method == "REGISTER":
                    return None
            if self.process is not None and self.process.returncode is not None:
                return f"{self.label} exited {self.process.returncode}"
            await asyncio.sleep(0.05)
        return f"{self.label} {self.user} not registered in {timeout:.0f} s: " \
               f"{summary([s for s in self.observed() if s.message.cseq.method == 'REGISTER'])}"

    # -- commands ----------------------------------------------------------------------------

    async def command(self, name: str, params: str = "", timeout: float = 3.0) -> dict[str, object]:
        """Run a baresip command (``dial``, ``hangup``, ``reinvite`` ...) over ctrl_tcp."""
        token = f"t{next(_tokens)}"
        payload = json.dumps({"command": name, "params": params, "token": token}).encode()
        async with self._lock, asyncio.timeout(timeout):
            reader, writer = await self._connect()
            try:
                writer.write(b"%d:%s," % (len(payload), payload))
                await writer.drain()
                while True:
                    length = int((await reader.readuntil(b":"))[:-1])
                    frame = json.loads((await reader.readexactly(length + 1))[:-1])
                    if frame.get("response") and frame.get("token") == token:
                        return dict(frame)
            finally:
                writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            try:
                return await asyncio.open_connection("127.0.0.1", self.ctrl_port)
            except OSError:
                if self.process is not None and self.process.returncode is not None:
                    raise
                await asyncio.sleep(0.05)

    async def prepare(self, role: str, hangup_by: str) -> None:
        """Nothing to set up: baresip answers by itself (``answermode``)."""

    async def dial(self, uri: str, hangup_by: str) -> None:
        await self.command("dial", uri)

    async def reinvite(self) -> None:
        await self.command("reinvite")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def cancel(self) -> None:
        await self.command("hangup")

    async def finish(self, abort: bool) -> list[str]:
        """After a call that broke off, hang up whatever is left of it."""
        if abort and self.process is not None and self.process.returncode is None:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                await self.command("hangup")
        return []
