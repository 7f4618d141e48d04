"""Fixtures for ``sipwire serve`` tests: servers on 127.0.0.1 port 0, phones, a clock.

``serve(**settings)`` starts a ``Server`` with a memory store, UDP and TCP on
free ports, domain ``example.com`` and auth off unless told otherwise;
``phone(user)`` opens a phone pointed at the last server started.  All are
closed at teardown.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sipwire.server import Server, ServerConfig

from ..location.conftest import redis_url  # noqa: F401  (the session Redis server)
from .matrix.report import table
from .phone import Phone

Serve = Callable[..., Awaitable[Server]]
OpenPhone = Callable[..., Awaitable[Phone]]


class Clock:
    """A POSIX clock a test moves by hand (bindings and nonces; not transactions)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_config(tmp_path: Path, **settings: Any) -> ServerConfig:
    base = ServerConfig(
        listen=("udp:127.0.0.1:0", "tcp:127.0.0.1:0"), domains=("example.com",),
        store="memory:", users=str(tmp_path / "users.db"), auth="off", uvloop=False,
        min_expires=10, t1=0.05, t2=0.4)
    return replace(base, **settings)


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    servers: list[Server] = []

    async def start(*, clock: Callable[[], float] = time.time, user_store: Any = None,
                    grace: float = 0.5, **settings: Any) -> Server:
        server = Server(make_config(tmp_path, **settings), clock=clock, users=user_store,
                        grace=grace)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.stop(grace=0.2)


@pytest.fixture
async def phone(serve: Serve) -> AsyncIterator[OpenPhone]:
    phones: list[Phone] = []

    async def open_phone(user: str, server: Server, *, transport: str = "udp",
                         domain: str = "example.com") -> Phone:
        opened = await Phone.open(user, server.address(transport), domain=domain,
                                  transport=transport)
        phones.append(opened)
        return opened

    yield open_phone
    for opened in phones:
        opened.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The matrix of tests/server/test_calls_matrix.py, when its cells ran."""
    lines = table()
    if lines:
        terminalreporter.section("calls matrix")
        for line in lines:
            terminalreporter.write_line(line)
