"""``sipwire call`` against ``sipwire answer`` through ``sipwire serve``: three real
processes on 127.0.0.1, users added with ``sipwire user add``, digest on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from sipwire.ua import Call, Ended, UserAgent
from tests.server.processes import (
    Serving,
    free_port,
    kill_all,
    sipwire_command,
    sipwire_environment,
    start_serve,
    wait_listening,
)
from tests.sipp.conftest import SippRun, StartSipp, sipp_path, start_sipp

__all__ = ["sipp_path", "start_sipp"]  # fixtures of tests/sipp, used here

SCENARIOS = Path(__file__).parents[1] / "dialog_sipp"

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
TIMEOUT = 30.0


@dataclass
class Running:
    """A long-running ``sipwire`` command: its stdout lines as they come."""

    process: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def _read(self, stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        while line := await stream.readline():
            into.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.out:
                    if text in line:
                        return line
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode} before {text!r}:\n"
                                         + "\n".join(self.out + self.err))
                await asyncio.sleep(0.02)

    async def finish(self, timeout: float = TIMEOUT) -> int:
        status = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(*self.readers), timeout)
        return status


@dataclass
class Site:
    """``sipwire serve`` for domain 127.0.0.1 with alice, bob and carol."""

    serving: Serving
    port: int
    home: Path
    started: list[Running] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return sipwire_environment(self.home)

    async def start(self, *args: str, password: str | None = None) -> Running:
        """``sipwire ARGS`` in the background (the password on its stdin)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sipwire.cli.main", *args, env=self.env, cwd=self.home,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert process.stdin is not None
        if password is not None:
            process.stdin.write(password.encode() + b"\n")
        process.stdin.close()
        running = Running(process)
        running.readers = [asyncio.ensure_future(running._read(process.stdout, running.out)),
                           asyncio.ensure_future(running._read(process.stderr, running.err))]
        self.started.append(running)
        return running

    async def answer(self, user: str, *extra: str) -> Running:
        """``sipwire answer`` registered as ``user``, once it is registered."""
        running = await self.start(
            "answer", "--register", f"sip:{user}@127.0.0.1", "--proxy", self.proxy,
            "--user", user, "--password-stdin", *extra, password=PASSWORDS[user])
        await running.wait_for("registered ")
        return running

    def call_args(self, user: str, target: str, *extra: str) -> list[str]:
        return ["call", f"sip:{target}@127.0.0.1", "--proxy", self.proxy, "--from",
                f"sip:{user}@127.0.0.1", "--user", user, "--password-stdin", *extra]

    async def call(self, user: str, target: str, *extra: str) -> tuple[int, str, str]:
        """``sipwire call`` as ``user`` to ``target``, run to its end."""
        return await sipwire_command(*self.call_args(user, target, *extra), env=self.env,
                                     stdin=PASSWORDS[user].encode() + b"\n", cwd=self.home)


@pytest_asyncio.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    env = sipwire_environment(tmp_path)
    users = tmp_path / "users.db"
    for user, password in PASSWORDS.items():
        status, _, err = await sipwire_command(
            "user", "add", f"{user}@127.0.0.1", "--password-stdin", "--users", str(users),
            env=env, stdin=password.encode() + b"\n")
        assert status == 0, err
    port = free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "127.0.0.1", "--store", "memory:",
        "--users", str(users), cwd=tmp_path)
    here = Site(serving, port, tmp_path)
    try:
        yield here
    finally:
        for running in here.started:
            if running.process.returncode is None:
                # it may have ended but not been reaped yet
                with contextlib.suppress(ProcessLookupError):
                    os.kill(running.process.pid, signal.SIGTERM)
        await kill_all([r.process for r in here.started])
        await serving.kill()


async def test_call_answered_and_ended_cleanly(site: Site) -> None:
    bob = await site.answer("bob", "--count", "1")
    status, out, err = await site.call("alice", "bob", "--duration", "0.5")
    assert status == 0, err
    assert out.startswith("answered sip:bob@127.0.0.1 call-id=")
    assert "codec=" in out and "ended by local (bye)" in out
    # the ladder on stderr: time, arrow, peer, first line; the challenge answered
    ladder = err.splitlines()
    assert any("→ udp:127.0.0.1:" in line and " INVITE sip:bob@127.0.0.1 " in line
               for line in ladder)
    assert any("← udp:127.0.0.1:" in line and "SIP/2.0 407 " in line for line in ladder)
    assert any("← udp:127.0.0.1:" in line and "SIP/2.0 200 OK" in line for line in ladder)
    assert any("→ udp:127.0.0.1:" in line and " BYE sip:bob@" in line for line in ladder)
    # what arrived at the far end: bob's ladder shows the INVITE, the ACK and the BYE
    assert await bob.finish() == 0, "\n".join(bob.err)
    assert "ended call-id=" in "\n".join(bob.out) and "by remote (bye)" in "\n".join(bob.out)
    received = [line for line in bob.err if " ← " in line]
    for method in ("INVITE", "ACK", "BYE"):
        assert any(f"← udp:127.0.0.1:{site.port} {method} sip:bob@" in line
                   for line in received), (method, received)
    assert bob.out[-1] == "1 calls ended, 0 failed"


async def test_a_busy_callee_gives_the_status(site: Site) -> None:
    bob = await site.answer("bob", "--count", "1")
    # alice's call lasts until she is told to hang up (SIGTERM): with a fixed
    # --duration, a slow machine could end it, and bob's one call with it,
    # before carol's call arrives, which then finds nobody (480)
    first = await site.start(*site.call_args("alice", "bob", "--duration", "600"),
                             password=PASSWORDS["alice"])
    await bob.wait_for("answered sip:alice@127.0.0.1")
    # bob takes one call (--count 1): a second one is answered 486
    status, out, err = await site.call("carol", "bob")
    assert status == 1
    assert err.splitlines()[-1] == "sipwire: call failed: 486 Busy Here"
    assert "answered" not in out
    first.process.send_signal(signal.SIGTERM)  # alice hangs up (BYE)
    assert await first.finish() == 0, "\n".join(first.err)
    assert "ended by local" in "\n".join(first.out), first.out
    assert await bob.finish() == 0


async def test_nobody_there(site: Site) -> None:
    # carol is not registered: the server answers 480 or 404 (§10.3, §16.5)
    status, _, err = await site.call("alice", "carol")
    assert status == 1
    assert err.splitlines()[-1] in ("sipwire: call failed: 404 Not Found",
                                    "sipwire: call failed: 480 Temporarily not available")


async def test_a_wrong_password(site: Site) -> None:
    bob = await site.answer("bob", "--count", "1")
    status, _, err = await sipwire_command(
        *site.call_args("alice", "bob"), env=site.env, stdin=b"not-her-password\n")
    assert status == 1
    assert err.splitlines()[-1].startswith("sipwire: call failed: 40"), err
    assert bob.process.returncode is None  # nothing reached bob


async def test_usage_errors(site: Site) -> None:
    status, _, err = await sipwire_command("call", "not a uri", env=site.env)
    assert status == 2 and err.startswith("sipwire call: ")
    status, _, err = await sipwire_command("call", "sip:bob@127.0.0.1", "--duration", "-1",
                                           env=site.env)
    assert status == 2
    status, _, err = await sipwire_command("call", "sip:bob@127.0.0.1", "--timeout", "0",
                                           env=site.env)
    assert status == 2 and "--timeout" in err
    status, _, err = await sipwire_command("call", "sip:bob@127.0.0.1", "--password-stdin",
                                           "--user", "alice", env=site.env, stdin=b"")
    assert status == 2 and "no password" in err


async def test_no_answer_in_time_is_cancelled(site: Site) -> None:
    # a callee that only rings: after --timeout the INVITE is CANCELled (§9.1)
    async with UserAgent(["udp:127.0.0.1:0"], aor="sip:bob@127.0.0.1") as bob:
        rung: asyncio.Future[Call] = asyncio.get_running_loop().create_future()

        async def ring_only() -> None:
            async for call in bob.incoming():
                await call.ringing()
                rung.set_result(call)
                return

        ringer = asyncio.ensure_future(ring_only())
        port = bob.endpoint.listening_points[0].port
        status, out, err = await sipwire_command(
            "call", f"sip:bob@127.0.0.1:{port}", "--timeout", "1", env=site.env)
        assert status == 1 and out == ""
        assert err.splitlines()[-1] == "sipwire: call failed: no answer in 1 s, cancelled"
        assert any(" → udp:127.0.0.1:" in line and " CANCEL sip:bob@" in line
                   for line in err.splitlines())
        callee = await asyncio.wait_for(rung, TIMEOUT)
        await ringer
        ended = await asyncio.wait_for(asyncio.shield(callee.ended), TIMEOUT)
        assert ended == Ended("cancelled", "remote", 487)


def sipp_messages(path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """SIPp's ``-trace_msg`` log as (``"received"`` or ``"sent"``, start line,
    {header name: value}) in the order SIPp saw them."""
    messages = []
    for entry in ("\n" + path.read_text(errors="replace")).split("\n" + "-" * 47 + " ")[1:]:
        lines = entry.split("\n")
        direction = "received" if " received " in lines[1] else "sent"
        head = entry.split("\n\n", 1)[1].lstrip("\n").split("\n\n", 1)[0].splitlines()
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        messages.append((direction, head[0], headers))
    return messages


def branch(via: str) -> str:
    return via.split(";branch=", 1)[1].split(";", 1)[0]


@pytest.mark.parametrize("scenario", ["ring_cancel_late_487", "ring_no_contact_cancel_late_487"])
async def test_no_answer_in_time_acks_the_late_487_at_sipp(
        start_sipp: StartSipp, tmp_path: Path, scenario: str) -> None:
    """SIPp as the callee: it rings, answers the CANCEL at once and sends the
    INVITE's 487 500 ms later. ``sipwire call`` must wait for that 487 and ACK it
    (RFC 3261 §9.1, §17.1.1.3) before it reports the failure; SIPp's call
    succeeds only when the ACK arrives. The 180 of the second scenario has no
    Contact: no early dialog, and still a clean cancel (§12.1)."""
    sipp: SippRun = await start_sipp("-sf", str(SCENARIOS / f"{scenario}.xml"),
                                     "-trace_msg", "-message_file", "messages.log", calls=1)
    await wait_listening(sipp.port, "udp")
    target = f"sip:bob@127.0.0.1:{sipp.port}"
    status, out, err = await sipwire_command(
        "call", target, "--timeout", "1", env=sipwire_environment(tmp_path))
    assert await sipp.wait() == 0, err + sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0"
    assert status == 1 and out == ""
    ladder = err.splitlines()
    assert ladder[-1] == "sipwire: call failed: no answer in 1 s, cancelled"
    assert "SIP/2.0 487 Request Terminated" in ladder[-3] and " ACK " in ladder[-2], err

    arrived = [(start, headers) for direction, start, headers
               in sipp_messages(sipp.directory / "messages.log") if direction == "received"]
    assert [start.split()[0] for start, _ in arrived] == ["INVITE", "CANCEL", "ACK"]
    (invite_line, invite), (cancel_line, cancel), (ack_line, ack) = arrived
    assert invite_line == cancel_line.replace("CANCEL", "INVITE", 1) == \
        ack_line.replace("ACK", "INVITE", 1) == f"INVITE {target} SIP/2.0"
    number = invite["CSeq"].split()[0]
    # §9.1: the CANCEL names the INVITE's transaction (its branch), To without a tag
    assert branch(cancel["Via"]) == branch(invite["Via"])
    assert (cancel["Call-ID"], cancel["From"], cancel["To"], cancel["CSeq"]) == \
        (invite["Call-ID"], invite["From"], invite["To"], f"{number} CANCEL")
    # §17.1.1.3: the ACK of a non-2xx is in the INVITE's transaction, To from the 487
    sent_487 = next(headers for direction, start, headers
                    in sipp_messages(sipp.directory / "messages.log")
                    if direction == "sent" and start.startswith("SIP/2.0 487"))
    assert branch(ack["Via"]) == branch(invite["Via"])
    assert (ack["Call-ID"], ack["From"], ack["To"], ack["CSeq"]) == \
        (invite["Call-ID"], invite["From"], sent_487["To"], f"{number} ACK")
