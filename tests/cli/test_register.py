"""``sipwire register`` against real registrars: ``sipwire serve`` with a user
(digest, RFC 3261 §22) and SIPp answering 423 then 200 (§10.2.8)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

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
PASSWORD = "correct horse"
WAIT = 30.0

Serve = Callable[..., Awaitable[tuple[Serving, int, dict[str, str]]]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """``sipwire serve`` for domain 127.0.0.1 on UDP and TCP, with ``alice`` added
    by ``sipwire user add alice@127.0.0.1 --password-stdin``."""
    started: list[Serving] = []

    async def start(*users: str) -> tuple[Serving, int, dict[str, str]]:
        env = sipwire_environment(tmp_path)
        for user in users or ("alice",):
            code, _, err = await sipwire_command(
                "user", "add", f"{user}@127.0.0.1", "--password-stdin", env=env,
                stdin=f"{PASSWORD}\n".encode())
            assert code == 0, err
        port = free_port()
        serving = await start_serve(
            "--listen", f"udp:127.0.0.1:{port}", "--listen", f"tcp:127.0.0.1:{port}",
            "--domain", "127.0.0.1", "--store", "memory:", "--no-uvloop", cwd=tmp_path,
            env=env)
        started.append(serving)
        return serving, port, env

    yield start
    for serving in started:
        await serving.kill()


async def register(env: dict[str, str], *args: str, password: str = PASSWORD,
                   ) -> tuple[int, str, str]:
    return await sipwire_command("register", *args, "--password-stdin", env=env,
                                 stdin=f"{password}\n".encode())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_with_digest_at_sipwire_serve(serve: Serve, transport: str) -> None:
    _, port, env = await serve()
    code, out, err = await register(env, f"sip:alice@127.0.0.1:{port}", "-t", transport,
                                    "--expires", "300")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"registered sip:alice@127.0.0.1:{port} expires=300"
    assert len(lines) == 2 and lines[1].startswith("contact <sip:alice@127.0.0.1:")
    assert lines[1].endswith(";expires=300")
    # the ladder: challenged, answered, granted
    ladder = [line.split(maxsplit=3)[3] for line in err.splitlines()]
    assert ladder == [f"REGISTER sip:127.0.0.1:{port} SIP/2.0", "SIP/2.0 401 Unauthorized",
                      f"REGISTER sip:127.0.0.1:{port} SIP/2.0", "SIP/2.0 200 OK"]
    assert all(f"{transport}:127.0.0.1:{port}" in line for line in err.splitlines())


async def test_register_through_a_proxy(serve: Serve) -> None:
    """--proxy: the REGISTER names the AOR's domain and goes to the proxy, in a Route."""
    _, port, env = await serve()
    code, out, err = await register(env, "sip:alice@127.0.0.1", "--proxy",
                                    f"sip:127.0.0.1:{port}", "--user", "alice")
    assert code == 0, err
    assert out.startswith("registered sip:alice@127.0.0.1 expires=3600\n")
    first = err.splitlines()[0].split()
    assert first[2:] == [f"udp:127.0.0.1:{port}", "REGISTER", "sip:127.0.0.1", "SIP/2.0"]


async def test_a_wrong_password_exits_1_naming_the_status(serve: Serve) -> None:
    _, port, env = await serve()
    code, out, err = await register(env, f"sip:alice@127.0.0.1:{port}", password="wrong")
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == "sipwire register: 401 Unauthorized"


async def test_an_outbound_registration_is_keyed_by_instance(serve: Serve) -> None:
    _, port, env = await serve()
    code, out, err = await register(env, f"sip:alice@127.0.0.1:{port}", "-t", "tcp",
                                    "--outbound")
    assert code == 0, err
    contact = out.splitlines()[1]
    assert '+sip.instance="<urn:uuid:' in contact and "reg-id=1" in contact


async def test_keep_stays_registered_and_unregisters_on_sigint(serve: Serve) -> None:
    """--keep stays registered until SIGINT (by PID), then sends Expires: 0: a later
    REGISTER of another contact sees only its own binding."""
    _, port, env = await serve()
    aor = f"sip:alice@127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipwire.cli.main", "register", aor, "--password-stdin",
        "--keep", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{PASSWORD}\n".encode())
        await process.stdin.drain()
        process.stdin.close()
        first = await asyncio.wait_for(process.stdout.readline(), WAIT)
        assert first.decode().startswith(f"registered {aor} expires=3600")
        kept = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert kept.startswith("contact <sip:alice@127.0.0.1:")
        kept_uri = kept.split()[1].split(">")[0] + ">"
        # while it runs, its binding is there
        code, out, _ = await register(env, aor, "--expires", "60")
        assert code == 0 and sum(line.startswith("contact ") for line in out.splitlines()) == 2
        os.kill(process.pid, signal.SIGINT)
        rest, err = await asyncio.wait_for(process.communicate(), WAIT)
        assert process.returncode == 0, err
        assert f"unregistered {aor}" in rest.decode().splitlines()
        assert "REGISTER" in err.decode().splitlines()[-2]  # the Expires: 0, answered 200
    finally:
        await kill_all([process])
    code, out, _ = await register(env, aor, "--expires", "60")
    contacts = [line for line in out.splitlines() if line.startswith("contact ")]
    assert code == 0 and len(contacts) == 2  # the two --expires 60 ones
    assert not any(kept_uri in line for line in contacts)  # the --keep binding is gone


async def test_a_registrar_that_says_423_gets_min_expires(start_sipp: StartSipp) -> None:
    """SIPp as the registrar: 423 with Min-Expires 120, then 200 (asserted by SIPp: the
    same Call-ID, CSeq 2, Expires: 120)."""
    sipp: SippRun = await start_sipp("-sf", str(SCENARIOS / "registrar_423.xml"), calls=1)
    await wait_listening(sipp.port, "udp")
    code, out, err = await sipwire_command(
        "register", f"sip:alice@127.0.0.1:{sipp.port}", "--expires", "30",
        env=dict(os.environ))
    assert code == 0, err + sipp.report()
    assert out.splitlines()[0] == f"registered sip:alice@127.0.0.1:{sipp.port} expires=120"
    assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0"
    assert [line.split(maxsplit=3)[3] for line in err.splitlines()][1] == \
        "SIP/2.0 423 Interval Too Brief"


async def test_usage_errors_exit_2() -> None:
    env = dict(os.environ)
    for args in (["register", "sip:example.com"], ["register", "sip:a@example.com",
                                                    "--expires", "0"],
                 ["register", "mailto:a@example.com"]):
        code, _, err = await sipwire_command(*args, env=env)
        assert code == 2, (args, err)
