"""``sipwire serve`` with the real SIPp as phones (scenarios in tests/sipp_serve/).

Skipped when ``sipp`` is not installed, unless ``SIPWIRE_REQUIRE_SIPP=1``.
Each SIPp run is bounded (``-m``, ``-timeout`` with ``-timeout_error``, and a
wait here) and killed by its PID if still running at teardown.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipwire.auth import MemoryUserStore
from sipwire.server import Server

from .conftest import Serve
from .processes import free_port, kill_all, start_serve, wait_listening

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp_serve"
SIPP_TIMEOUT = 10
RUN_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def sipp_path() -> str:
    path = shutil.which("sipp")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_SIPP") == "1":
            pytest.fail("sipp is not installed and SIPWIRE_REQUIRE_SIPP=1")
        pytest.skip("sipp is not installed (apt-get install sip-tester)")
    return path


@dataclass
class Sipp:
    process: asyncio.subprocess.Process
    directory: Path
    port: int

    async def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        """SIPp's exit status: 0 when every call succeeded."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    def report(self) -> str:
        parts = []
        for name in ("errors.log", "messages.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)


StartSipp = Callable[..., Awaitable[Sipp]]


@pytest.fixture
async def sipp(sipp_path: str, tmp_path: Path) -> AsyncIterator[StartSipp]:
    runs: list[Sipp] = []

    async def start(scenario: str, *args: str, port: int | None = None,
                    remote: Server | None = None, calls: int = 1) -> Sipp:
        directory = tmp_path / f"sipp{len(runs)}-{scenario.removesuffix('.xml')}"
        directory.mkdir()
        port = port if port is not None else free_port()
        command = [sipp_path, "-sf", str(SCENARIOS / scenario), *args]
        if remote is not None:
            host, remote_port = remote.address("udp")
            command.append(f"{host}:{remote_port}")
        command += [
            "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-m", str(calls),
            "-timeout", f"{SIPP_TIMEOUT}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(directory / "errors.log"),
            "-trace_msg", "-message_file", str(directory / "messages.log"),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        run = Sipp(process, directory, port)
        runs.append(run)
        return run

    yield start
    await kill_all([run.process for run in runs])


async def register_contact(server: Server, user: str, port: int) -> None:
    """Bind ``user@example.com`` to a SIPp UAS at 127.0.0.1:``port`` (as its
    REGISTER would, through the registrar's store)."""
    from sipwire.location import Binding

    now = server.clock()
    contact = f"sip:{user}@127.0.0.1:{port};transport=udp"
    binding = Binding(f"sip:{user}@example.com", contact, f"<{contact}>", now + 60,
                      call_id=f"sipp-{port}", cseq=1, updated_at=now)
    await server.store.put(binding, now)


async def finished(run: Sipp) -> None:
    status = await run.wait()
    assert status == 0, f"SIPp exited {status}\n{run.report()}"


async def test_register_without_auth(serve: Serve, sipp: StartSipp) -> None:
    server = await serve()
    run = await sipp("register.xml", "-s", "alice", remote=server)
    await finished(run)
    [binding] = await server.store.lookup("sip:alice@example.com", server.clock())
    assert binding.contact.lower() == f"sip:alice@127.0.0.1:{run.port};transport=udp"


async def test_register_with_digest(serve: Serve, sipp: StartSipp) -> None:
    # SIPp 3.6 answers the first challenge only, and only MD5: offer MD5 first; its
    # digest-uri is sip:remote_ip:port unless -auth_uri names the Request-URI (sans "sip:")
    users = MemoryUserStore()
    users.add("alice", "example.com", "s3cret")
    server = await serve(auth="on", user_store=users, algorithms=("MD5", "SHA-256"))
    run = await sipp("register_auth.xml", "-s", "alice", "-au", "alice", "-ap", "s3cret",
                     "-auth_uri", "example.com", remote=server)
    await finished(run)
    assert len(await server.store.lookup("sip:alice@example.com", server.clock())) == 1


async def test_register_with_a_wrong_password_fails(serve: Serve, sipp: StartSipp) -> None:
    users = MemoryUserStore()
    users.add("alice", "example.com", "s3cret")
    server = await serve(auth="on", user_store=users, algorithms=("MD5",))
    run = await sipp("register_auth.xml", "-s", "alice", "-au", "alice", "-ap", "wrong",
                     "-auth_uri", "example.com", remote=server)
    assert await run.wait() != 0
    assert await server.store.lookup("sip:alice@example.com", server.clock()) == []


async def test_call_through_the_proxy(serve: Serve, sipp: StartSipp) -> None:
    server = await serve()
    uas = await sipp("uas_call.xml", "-s", "bob")
    await wait_listening(uas.port)
    await register_contact(server, "bob", uas.port)
    uac = await sipp("uac_call.xml", "-s", "bob", remote=server)
    await finished(uac)
    await finished(uas)


async def test_uas_registered_by_sipp_then_called(serve: Serve, sipp: StartSipp) -> None:
    # the callee's contact comes from a SIPp REGISTER on the port it then answers on
    server = await serve()
    port = free_port()
    await finished(await sipp("register.xml", "-s", "bob", port=port, remote=server))
    uas = await sipp("uas_call.xml", "-s", "bob", port=port)
    await wait_listening(uas.port)
    uac = await sipp("uac_call.xml", "-s", "bob", remote=server)
    await finished(uac)
    await finished(uas)


async def test_cancelled_call(serve: Serve, sipp: StartSipp) -> None:
    server = await serve()
    uas = await sipp("uas_cancelled.xml", "-s", "bob")
    await wait_listening(uas.port)
    await register_contact(server, "bob", uas.port)
    uac = await sipp("uac_cancel.xml", "-s", "bob", remote=server)
    await finished(uac)
    await finished(uas)


async def test_call_to_unregistered_user_is_404(serve: Serve, sipp: StartSipp) -> None:
    server = await serve()
    uac = await sipp("uac_not_found.xml", "-s", "nobody", remote=server)
    await finished(uac)


async def test_fork_to_two_phones_one_answers(serve: Serve, sipp: StartSipp) -> None:
    server = await serve()
    ringing = await sipp("uas_cancelled.xml", "-s", "bob")
    answering = await sipp("uas_answer.xml", "-s", "bob", "-d", "300")
    await wait_listening(ringing.port)
    await wait_listening(answering.port)
    await register_contact(server, "bob", ringing.port)
    await register_contact(server, "bob", answering.port)
    uac = await sipp("uac_call.xml", "-s", "bob", remote=server)
    await finished(uac)
    await finished(answering)
    await finished(ringing)  # got the CANCEL, answered 487, got the ACK


def _invite_received(run: Sipp) -> tuple[int, str]:
    """The port in the top Via, and the Call-ID, of the INVITE a SIPp callee
    received (its message log)."""
    log = (run.directory / "messages.log").read_text(errors="replace")
    for chunk in log.split("message received")[1:]:
        lines = [line.strip() for line in chunk.splitlines()]
        if any(line.startswith("INVITE ") for line in lines):
            via = next(line for line in lines if line.lower().startswith(("via:", "v:")))
            call_id = next(line for line in lines if line.lower().startswith(("call-id:", "i:")))
            sent_by = via.partition(":")[2].split()[1].split(";")[0]  # 127.0.0.1:PORT
            return int(sent_by.rpartition(":")[2]), call_id.partition(":")[2].strip()
    raise AssertionError(f"no INVITE in the callee's log\n{log[-3000:]}")


async def test_two_workers_call_sipp_phones(sipp: StartSipp, tmp_path: Path) -> None:
    """``sipwire serve --workers 2`` between real SIPp phones.  The callee
    registers over UDP; each call comes from a new SIPp caller, on a new
    port, so the kernel's SO_REUSEPORT hash hands the INVITEs to both
    workers.  Every call completes at both ends, and the INVITE reached the
    callee with the Via of the worker's own port, which the callee answered:
    no answer had to cross to the other worker."""
    port = free_port()
    serving = await start_serve(
        "--workers", "2", "--store", f"sqlite:///{tmp_path / 'loc.db'}", "--auth", "off",
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com",
        "--control", str(tmp_path / "control.sock"), "--log-level", "debug", cwd=tmp_path)
    try:
        remote = f"127.0.0.1:{port}"
        callee = free_port()
        await finished(await sipp("register.xml", "-s", "bob", remote, port=callee))
        workers: set[int] = set()
        via_ports: dict[int, int] = {}
        for n in range(24):
            uas = await sipp("uas_call.xml", "-s", "bob", port=callee)
            await wait_listening(uas.port)
            uac = await sipp("uac_call.xml", "-s", "bob", remote)
            await finished(uac)
            await finished(uas)
            via_port, call_id = _invite_received(uas)
            [worker] = {int(m.group(1)) for line in serving.lines
                        if (m := re.search(r"worker=(\d+) received INVITE call_id=(\S+)", line))
                        and m.group(2) == call_id}
            workers.add(worker)
            assert via_port != port
            assert via_ports.setdefault(worker, via_port) == via_port
            if workers == {0, 1} and n >= 2:
                break
        assert workers == {0, 1}, "every INVITE was taken by one worker"
        assert len(set(via_ports.values())) == 2
        assert not [line for line in serving.lines if "relaying" in line]
    finally:
        await serving.terminate()
        await serving.kill()
