"""``sipwire serve`` for one cell, as a user runs it: users added first with
``sipwire user add NAME@127.0.0.1 --password-stdin`` (digest is on by default),
then ``sipwire serve`` with only the ``--listen`` flags the cell's transports
need (and ``--tls-cert``/``--tls-key`` for TLS and WSS); every other setting is
the default, the user file included: ``$XDG_DATA_HOME/sipwire/users.db``, with
``XDG_DATA_HOME`` the cell's ``data`` directory.  The host trusts the test CA
as a system would (``SSL_CERT_FILE``), for the TLS connections the server
opens.  Its log is ``serve.log``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..processes import SIPWIRE_PATH, terminate
from .certs import Issued

#: the sipwire under test (see processes.SIPWIRE_PATH)
SRC = Path(SIPWIRE_PATH)
START_TIMEOUT = 20.0


def _environment(ca: Path | None = None, data: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SIPWIRE_USERS", None)
    # the default configuration, as a user gets it: one worker per core (tests/conftest.py
    # pins other tests to one)
    env.pop("SIPWIRE_WORKERS", None)
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    if data is not None:
        env["XDG_DATA_HOME"] = str(data)
    return env


async def add_users(users: Path, passwords: dict[str, str]) -> None:
    """``sipwire user add NAME@127.0.0.1 --password-stdin --users USERS`` for each."""
    users.parent.mkdir(parents=True, exist_ok=True)
    for name, password in passwords.items():
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sipwire.cli.main", "user", "add", f"{name}@127.0.0.1",
            "--password-stdin", "--users", str(users), env=_environment(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(f"{password}\n".encode()), 30)
        if process.returncode != 0:
            raise RuntimeError(f"sipwire user add {name}: {out.decode(errors='replace')}")


@dataclass
class Serve:
    """``sipwire serve --listen ...`` in ``directory`` (bindings in its sipwire.db,
    users in its data/sipwire/users.db)."""

    directory: Path
    listen: list[str]
    certificate: Issued | None = None
    ca: Path | None = None
    process: asyncio.subprocess.Process | None = None

    @property
    def log(self) -> Path:
        return self.directory / "serve.log"

    def arguments(self) -> list[str]:
        args = [f"--listen={spec}" for spec in self.listen]
        if self.certificate is not None:
            args += ["--tls-cert", str(self.certificate.cert),
                     "--tls-key", str(self.certificate.key)]
        return args

    async def start(self, users: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "data"
        (data / "sipwire").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(users, data / "sipwire" / "users.db")
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sipwire.cli.main", "serve", *self.arguments(),
                cwd=self.directory, env=_environment(self.ca, data),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while "serving domains=" not in self.log.read_text(errors="replace"):
            if self.process.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"sipwire serve did not start:\n"
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGTERM to our PID; SIGKILL if it has not stopped in 5 s."""
        await terminate(self.process)
