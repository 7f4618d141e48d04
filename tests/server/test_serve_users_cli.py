"""``sipwire serve`` with its default, auth on, as a new user meets it: the user
file at its default place (``$XDG_DATA_HOME/sipwire/users.db``) shared with
``sipwire user add``, users added while it runs, SIGHUP, an empty user file,
and a ``--users`` path that does not exist.  Real processes, real sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sipwire import Request, Response
from sipwire.auth import DigestClient

from .phone import Phone, response_of
from .processes import Serving, free_port, sipwire_command, sipwire_environment, start_serve

Start = Callable[..., Awaitable[Serving]]
PASSWORD = "correct horse"


@pytest.fixture
async def serve_process(tmp_path: Path) -> AsyncIterator[Start]:
    started: list[Serving] = []

    async def start(*args: str, cwd: Path = tmp_path, env: dict[str, str] | None = None,
                    ) -> Serving:
        serving = await start_serve(*args, cwd=cwd,
                                    env=env if env is not None else sipwire_environment(tmp_path))
        started.append(serving)
        return serving

    yield start
    for serving in started:
        await serving.kill()


@pytest.fixture
async def phones() -> AsyncIterator[list[Phone]]:
    opened: list[Phone] = []
    yield opened
    for phone in opened:
        phone.close()


async def open_phone(phones: list[Phone], user: str, port: int) -> Phone:
    phone = await Phone.open(user, ("127.0.0.1", port))
    phones.append(phone)
    return phone


def flags(port: int, *more: str) -> list[str]:
    return ["--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--store",
            "memory:", "--no-uvloop", *more]


async def user_add(address: str, password: str, env: dict[str, str], *more: str) -> str:
    """``sipwire user add ADDRESS --password-stdin``, in the form outside tools use."""
    code, out, err = await sipwire_command("user", "add", address, "--password-stdin", *more,
                                           env=env, stdin=f"{password}\n".encode())
    assert code == 0, err
    return out


async def register(phone: Phone, password: str) -> Response:
    """A REGISTER, answered with digest if challenged: the final answer."""
    request = phone.register()
    first = response_of(await phone.request(request))
    if first.status != 401:
        return first
    retry = DigestClient(phone.user, password).answer(first, request)
    assert isinstance(retry, Request)
    return response_of(await phone.request(retry))


def warning_of(response: Response) -> str:
    return response.headers.get("Warning") or ""


async def test_with_no_user_everything_challenged_is_403_and_the_start_warns(
        serve_process: Start, phones: list[Phone], tmp_path: Path) -> None:
    port = free_port()
    serving = await serve_process(*flags(port))
    default = tmp_path / "data" / "sipwire" / "users.db"
    line = await serving.wait_for("has no user")
    assert "WARNING" in line and f"{default} (no such file)" in line
    assert "sipwire user add USER@DOMAIN" in line
    assert f"auth=on users={default}" in serving.log
    alice = await open_phone(phones, "alice", port)
    refused = response_of(await alice.request(alice.register()))
    assert refused.status == 403
    assert "no user is configured" in warning_of(refused)
    # a request to be proxied from a user of ours: challenged (407) with a user
    refused = response_of(await alice.request(alice.build("MESSAGE", "sip:bob@example.com")))
    assert refused.status == 403 and "no user is configured" in warning_of(refused)
    # never challenged: OPTIONS to the server itself
    ok = response_of(await alice.request(alice.build("OPTIONS", "sip:example.com")))
    assert ok.status == 200
    await serving.wait_for("no user is configured")  # the 403's reason, logged
    assert not default.exists()  # no empty file made in its place
    assert await serving.terminate() == 0


async def test_a_user_added_while_it_runs_registers_without_a_restart(
        serve_process: Start, phones: list[Phone], tmp_path: Path) -> None:
    port = free_port()
    serving = await serve_process(*flags(port))
    alice = await open_phone(phones, "alice", port)
    assert (await register(alice, PASSWORD)).status == 403

    out = await user_add("alice@example.com", PASSWORD, sipwire_environment(tmp_path))
    default = tmp_path / "data" / "sipwire" / "users.db"
    assert out.strip() == f"added alice@example.com to {default}"
    # the file is looked at, at most once a second, by the requests that need it
    statuses: list[int] = []
    async with asyncio.timeout(5):
        while not statuses or statuses[-1] == 403:
            await asyncio.sleep(0.25)
            statuses.append((await register(alice, PASSWORD)).status)
    assert statuses[-1] == 200 and len(statuses) <= 6, statuses
    line = await serving.wait_for("users (were 0)")
    assert line.endswith(f"user file {default} changed: 1 users (were 0)")
    # the attacks of the issue: neither a wrong password nor an unknown user gets 200
    assert (await register(alice, "wrong")).status in (401, 403)
    mallory = await open_phone(phones, "mallory", port)
    assert (await register(mallory, "anything")).status in (401, 403)
    assert serving.process.returncode is None
    assert await serving.terminate() == 0


async def test_sighup_rereads_the_users_and_the_server_keeps_running(
        serve_process: Start, phones: list[Phone], tmp_path: Path) -> None:
    users = tmp_path / "etc" / "users.db"
    env = sipwire_environment(tmp_path)
    await user_add("alice@example.com", PASSWORD, env, "--users", str(users))
    port = free_port()
    serving = await serve_process(*flags(port, "--users", str(users)))
    assert f"users={users}" in serving.log and "has no user" not in serving.log

    await user_add("bob@example.com", "bobs secret", env, "--users", str(users))
    os.kill(serving.pid, signal.SIGHUP)
    line = await serving.wait_for("users reloaded")
    assert line.endswith(f"users reloaded from {users}: 2 users (were 1)")
    await asyncio.sleep(0.1)
    assert serving.process.returncode is None  # SIGHUP used to end it
    bob = await open_phone(phones, "bob", port)
    assert (await register(bob, "bobs secret")).status == 200

    os.kill(serving.pid, signal.SIGHUP)  # again: still one line, still running
    await asyncio.sleep(0.3)
    assert sum("users reloaded" in line for line in serving.lines) == 2
    alice = await open_phone(phones, "alice", port)
    assert (await register(alice, PASSWORD)).status == 200
    assert await serving.terminate() == 0


async def test_a_users_path_that_does_not_exist_stops_the_start(tmp_path: Path) -> None:
    typo = tmp_path / "usres.db"
    env = sipwire_environment(tmp_path)
    code, _, err = await sipwire_command("serve", *flags(free_port(), "--users", str(typo)),
                                         env=env, cwd=tmp_path)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(f"sipwire serve: cannot start: no user file {typo} (named by --users)")
    assert not typo.exists()  # not made as a new empty file
    # $SIPWIRE_USERS names a file just as --users does
    code, _, err = await sipwire_command("serve", *flags(free_port()), cwd=tmp_path,
                                         env=sipwire_environment(tmp_path,
                                                                 SIPWIRE_USERS=str(typo)))
    assert code == 1 and f"no user file {typo} (named by $SIPWIRE_USERS)" in err
    assert len(err.splitlines()) == 1


async def test_auth_off_is_the_only_way_to_serve_without_users(
        serve_process: Start, phones: list[Phone], tmp_path: Path) -> None:
    port = free_port()
    serving = await serve_process(*flags(port, "--auth", "off", "--users",
                                         str(tmp_path / "absent.db")))
    assert "auth=off users=-" in serving.log and "has no user" not in serving.log
    alice = await open_phone(phones, "alice", port)
    assert (await register(alice, PASSWORD)).status == 200
    assert await serving.terminate() == 0


async def test_auth_auto_is_a_deprecated_on(serve_process: Start, phones: list[Phone]) -> None:
    port = free_port()
    serving = await serve_process(*flags(port, "--auth", "auto"))
    line = await serving.wait_for("auth = auto is deprecated")
    assert "WARNING" in line and "auth=on" in serving.log
    alice = await open_phone(phones, "alice", port)
    assert (await register(alice, PASSWORD)).status == 403
    assert await serving.terminate() == 0


async def test_user_add_and_serve_agree_on_the_file_from_any_directory(
        serve_process: Start, phones: list[Phone], tmp_path: Path) -> None:
    env = sipwire_environment(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    await user_add("alice@example.com", PASSWORD, env)
    default = tmp_path / "data" / "sipwire" / "users.db"
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    code, out, _ = await sipwire_command("user", "list", env=env, cwd=elsewhere)
    assert code == 0 and out.startswith("alice@example.com\t")

    port = free_port()
    serving = await serve_process(*flags(port), cwd=elsewhere, env=env)
    assert f"users={default}" in serving.log
    alice = await open_phone(phones, "alice", port)
    assert (await register(alice, PASSWORD)).status == 200
    assert not (elsewhere / "users.db").exists()
    assert await serving.terminate() == 0


async def test_user_list_and_remove_do_not_create_a_file(tmp_path: Path) -> None:
    env = sipwire_environment(tmp_path)
    code, _, err = await sipwire_command("user", "list", env=env)
    default = tmp_path / "data" / "sipwire" / "users.db"
    assert code == 1 and f"no user file {default}" in err
    code, _, err = await sipwire_command("user", "remove", "alice@example.com", env=env)
    assert code == 1 and not default.exists()
