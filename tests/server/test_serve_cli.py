"""``sipwire serve`` as a command: a real process, stopped by SIGTERM to its PID."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sipwire.location import SQLiteStore

from .phone import Phone, response_of, status
from .processes import Serving, free_port, port_is_free, start_serve

Start = Callable[..., Awaitable[Serving]]


@pytest.fixture
async def serve_process(tmp_path: Path) -> AsyncIterator[Start]:
    started: list[Serving] = []

    async def start(*args: str) -> Serving:
        serving = await start_serve(*args, cwd=tmp_path)
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


async def open_phone(phones: list[Phone], user: str, port: int, transport: str = "udp",
                     ) -> Phone:
    phone = await Phone.open(user, ("127.0.0.1", port), transport=transport)
    phones.append(phone)
    return phone


def documented(port: int, store: str) -> list[str]:
    """The flags of docs/serve.md, auth off: these phones have no digest user
    (tests/server/test_serve_users_cli.py runs it with auth on)."""
    return ["--listen", f"udp:127.0.0.1:{port}", "--listen", f"tcp:127.0.0.1:{port}",
            "--domain", "example.com", "--auth", "off", "--store", store]


async def test_documented_form(serve_process: Start, phones: list[Phone],
                               tmp_path: Path) -> None:
    port = free_port()
    serving = await serve_process(*documented(port, "sqlite:///loc.db"))
    assert f"listening=udp:127.0.0.1:{port}" in serving.log
    assert f"listening=tcp:127.0.0.1:{port}" in serving.log
    bob = await open_phone(phones, "bob", port)
    assert status(await bob.request(bob.register(expires=300))) == 200
    alice = await open_phone(phones, "alice", port, transport="tcp")
    alice.send(alice.build("MESSAGE", bob.aor))
    got = await bob.expect("MESSAGE")
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200
    await serving.wait_for("method=MESSAGE status=200")

    assert await serving.terminate() == 0
    assert (tmp_path / "loc.db").exists()  # sqlite:///loc.db is relative to the cwd
    assert "stopped" in serving.log


async def test_bindings_survive_a_restart(serve_process: Start, phones: list[Phone],
                                          tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "state" / "loc.db"
    path.parent.mkdir()
    args = documented(port, f"sqlite:///{path}")  # sqlite:////abs/path: absolute
    assert args[-1].startswith("sqlite:////")
    first = await serve_process(*args)
    bob = await open_phone(phones, "bob", port)
    assert status(await bob.request(bob.register(expires=300))) == 200
    assert await first.terminate() == 0

    # every binding was committed before the process ended
    async with SQLiteStore(path) as store:
        [binding] = await store.lookup("sip:bob@example.com", 0)
        assert binding.contact == bob.contact

    await serve_process(*args)
    query = response_of(await bob.request(bob.register(expires=None, contact=None)))
    assert [str(c.uri) for c in query.contact] == [bob.contact]
    alice = await open_phone(phones, "alice", port)
    alice.send(alice.build("MESSAGE", bob.aor))
    got = await bob.expect("MESSAGE")
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_sigterm_lets_a_pending_transaction_finish(serve_process: Start,
                                                         phones: list[Phone]) -> None:
    port = free_port()
    serving = await serve_process(*documented(port, "memory:"))
    bob = await open_phone(phones, "bob", port)
    alice = await open_phone(phones, "alice", port)
    assert status(await bob.request(bob.register())) == 200
    alice.send(alice.build("MESSAGE", bob.aor))
    got = await bob.expect("MESSAGE")

    serving.process.terminate()  # SIGTERM to the PID
    await serving.wait_for("signal received")
    # a new request is turned away while stopping ...
    carol = await open_phone(phones, "carol", port)
    assert status(await carol.request(carol.build("MESSAGE", bob.aor))) == 503
    # ... while the one in flight is answered
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200
    # and then it stops by itself, on the one SIGTERM (a second one could land
    # after the event loop has closed, where the default action kills)
    assert await asyncio.wait_for(serving.process.wait(), 10) == 0


async def test_trace_flag_prints_messages(serve_process: Start, phones: list[Phone]) -> None:
    port = free_port()
    serving = await serve_process(*documented(port, "memory:"), "--trace")
    alice = await open_phone(phones, "alice", port)
    assert status(await alice.request(alice.register())) == 200
    await serving.wait_for(f"recv UDP 127.0.0.1:{alice.port} -> 127.0.0.1:{port}")
    await serving.wait_for(f"sent UDP 127.0.0.1:{port} -> 127.0.0.1:{alice.port}")
    await serving.wait_for("REGISTER sip:example.com SIP/2.0")
    assert await serving.terminate() == 0


async def test_address_in_use_is_exit_status_1(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError, match="serve exited 1"):
            await start_serve("--listen", f"udp:127.0.0.1:{port}", "--store", "memory:",
                              cwd=tmp_path)


async def test_no_flags_listens_on_5060(serve_process: Start, phones: list[Phone],
                                        tmp_path: Path) -> None:
    if not port_is_free(5060):
        pytest.skip("127.0.0.1:5060 is in use")
    serving = await serve_process()
    assert "listening=udp:127.0.0.1:5060" in serving.log
    assert "listening=tcp:127.0.0.1:5060" in serving.log
    for transport in ("udp", "tcp"):
        alice = await open_phone(phones, "alice", 5060, transport=transport)
        ok = response_of(await alice.request(alice.build("OPTIONS", "sip:127.0.0.1")))
        assert ok.status == 200
    assert (tmp_path / "sipwire.db").exists()  # the default store
    assert await serving.terminate() == 0
    await asyncio.sleep(0)
