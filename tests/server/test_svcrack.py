"""SIPVicious' ``svcrack`` against ``sipwire serve``: online password guessing
(RFC 7616 §5.7) stopped by the lockout of one user from one address, and a
scan over several users stopped by the ban of the address.

``svcrack`` comes from Debian's ``sipvicious`` package (``scripts/services.sh``
installs it); when it is missing the tests are skipped, unless
``SIPWIRE_REQUIRE_SIPVICIOUS=1`` or ``CI=true`` make that a failure.  Every run
is bounded: a dictionary or range of a few passwords, ``--maximumtime``, and a
wait here, after which it is killed by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipwire.auth import DigestClient

from .phone import Phone, response_of
from .processes import SIPWIRE_PATH, Serving, free_port, sipvicious, start_serve

PASSWORD = "7391"
RUN_TIMEOUT = 45.0


@pytest.fixture(scope="module")
def svcrack() -> str:
    return sipvicious("svcrack")


@pytest.fixture
async def serving(tmp_path: Path) -> AsyncIterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for process in started:
        await process.kill()


def add_user(users: Path, aor: str, password: str) -> None:
    """``sipwire user add AOR --password-stdin``, the form outside tools script."""
    result = subprocess.run(
        [sys.executable, "-m", "sipwire.cli.main", "user", "add", aor, "--password-stdin",
         "--users", str(users)], input=password + "\n", capture_output=True, text=True,
        timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": SIPWIRE_PATH})
    assert result.returncode == 0, result.stderr


async def serve(started: list[Serving], tmp_path: Path, *flags: str) -> int:
    """``sipwire serve`` on a free UDP port of 127.0.0.1 with alice and bob of
    domain 127.0.0.1 (svcrack's default domain is the address it attacks)."""
    users = tmp_path / "users.db"
    if not users.exists():
        add_user(users, "alice@127.0.0.1", PASSWORD)
        add_user(users, "bob@127.0.0.1", "bobs secret")
    port = free_port()
    started.append(await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "127.0.0.1", "--store", "memory:",
        "--users", str(users), "--auth", "on", *flags, cwd=tmp_path))
    return port


async def crack(svcrack: str, port: int, user: str, *guesses: str) -> str:
    """Run svcrack on ``user`` with ``guesses`` (a dictionary file, or ``-r``
    and a range), from 127.0.0.1; what it printed."""
    process = await asyncio.create_subprocess_exec(
        svcrack, "-u", user, *guesses, "-p", str(port), "-P", str(free_port()),
        "-x", "127.0.0.1", "--maximumtime", "2", "127.0.0.1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return output.decode("utf-8", "replace")


def dictionary(tmp_path: Path, wrong: int) -> str:
    """A dictionary of ``wrong`` wrong passwords, then the right one last."""
    path = tmp_path / "dictionary.txt"
    path.write_text("".join(f"{1000 + i}\n" for i in range(wrong)) + PASSWORD + "\n")
    return str(path)


async def registers(user: str, password: str, port: int, host: str) -> int:
    """The final status of a REGISTER of ``user`` from ``host`` answering its challenge."""
    phone = await Phone.open(user, ("127.0.0.1", port), domain="127.0.0.1", host=host)
    try:
        request = phone.register()
        challenge = response_of(await phone.request(request))
        if challenge.status != 401:
            return challenge.status
        retry = DigestClient(user, password).answer(challenge, request)
        assert retry is not None
        return response_of(await phone.request(retry)).status
    finally:
        phone.close()


async def test_svcrack_on_one_user_is_stopped_by_its_lockout(
        svcrack: str, serving: list[Serving], tmp_path: Path) -> None:
    port = await serve(serving, tmp_path, "--max-failures", "5", "--lockout", "300")
    output = await crack(svcrack, port, "alice", "-d", dictionary(tmp_path, 20))
    assert "found nothing" in output and PASSWORD not in output, output
    log = serving[0].log
    assert "locked_out source=127.0.0.1" in log and "alice@127.0.0.1 locked out" in log
    assert "banned " not in log  # one user is not a scan
    # alice elsewhere, and bob behind the attacker's address, are not locked out
    assert await registers("alice", PASSWORD, port, "127.0.0.2") == 200
    assert await registers("bob", "bobs secret", port, "127.0.0.1") == 200
    # alice at the attacked address is refused until the lockout ends
    assert await registers("alice", PASSWORD, port, "127.0.0.1") == 403


async def test_svcrack_over_several_users_is_stopped_by_the_ban(
        svcrack: str, serving: list[Serving], tmp_path: Path) -> None:
    port = await serve(serving, tmp_path, "--ban-users", "3", "--ban-window", "60",
                       "--ban-time", "600")
    # two extensions found by svwar, then alice, the right password last
    scans = await asyncio.gather(crack(svcrack, port, "100", "-r", "1-3"),
                                 crack(svcrack, port, "101", "-r", "1-3"))
    assert all("found nothing" in output for output in scans), scans
    output = await crack(svcrack, port, "alice", "-d", dictionary(tmp_path, 8))
    assert PASSWORD not in output and "found nothing" in output, output
    # no answer at all once banned: svcrack gives up on the silence
    assert "since we last received a response - stopping" in output
    log = serving[0].log
    bans = [line for line in log.splitlines() if " banned source=127.0.0.1 " in line]
    assert len(bans) == 1 and "failed to authenticate as 3 users" in bans[0], log
    # svcrack went on sending for 2 s; the drops are logged once per 10 s
    assert sum(" dropped source=127.0.0.1 " in line for line in log.splitlines()) == 1
    assert await registers("alice", PASSWORD, port, "127.0.0.2") == 200  # from elsewhere
