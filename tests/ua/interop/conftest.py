"""A ``sipwire serve`` with users, sipwire UserAgents and baresip phones, all on
127.0.0.1, for the calls of RFC 3261 §13-15, RFC 3264 §8.4 and RFC 3515
between real peers.  Every process is started here and stopped by its PID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from sipwire.ua import EndpointConfig, UserAgent, UserAgentConfig
from tests.server.matrix.baresip import Baresip
from tests.server.matrix.ports import Ports
from tests.server.matrix.programs import Missing, baresip_modules
from tests.server.processes import Serving, sipwire_command, sipwire_environment, start_serve

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
         "dave": "dave-secret"}
TIMEOUT = 15.0


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    # real programs: one run on asyncio's loop is enough
    return {"asyncio": asyncio.new_event_loop}


@dataclass
class Site:
    """The server, and what the test started around it."""

    serving: Serving
    port: int
    home: Path
    ports: Ports
    agents: list[UserAgent] = field(default_factory=list)
    phones: list[Baresip] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    async def agent(self, user: str, **options: Any) -> UserAgent:
        """A UserAgent registered as ``user`` through the server."""
        config = UserAgentConfig(endpoint=EndpointConfig(supported=("replaces",)), **options)
        ua = UserAgent(["udp:127.0.0.1:0"], aor=f"sip:{user}@127.0.0.1", proxy=self.proxy,
                       config=config)
        self.agents.append(ua)
        await ua.start()
        await asyncio.wait_for(ua.register(user=user, password=USERS[user]), TIMEOUT)
        return ua

    async def phone(self, user: str, *, answer: bool = True) -> Baresip:
        """baresip registered as ``user`` (auto-answering unless ``answer`` is False)."""
        try:
            baresip_modules()
        except Missing as exc:
            if exc.required:
                pytest.fail(exc.reason)
            pytest.skip(exc.reason)
        phone = Baresip(user, USERS[user], "UDP", ("127.0.0.1", self.port),
                        self.home / f"baresip-{user}", sip_port=self.ports.pair(),
                        ctrl_port=self.ports.one(), answer=answer)
        self.phones.append(phone)
        await phone.start()
        problem = await phone.wait_registered(TIMEOUT)
        assert problem is None, problem
        return phone


@pytest_asyncio.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    env = sipwire_environment(tmp_path)
    users = tmp_path / "users.db"
    for user, password in USERS.items():
        status, _, err = await sipwire_command(
            "user", "add", f"{user}@127.0.0.1", "--password-stdin", "--users", str(users),
            env=env, stdin=password.encode() + b"\n")
        assert status == 0, err
    ports = Ports()
    port = ports.one()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "127.0.0.1", "--store", "memory:",
        "--users", str(users), cwd=tmp_path)
    here = Site(serving, port, tmp_path, ports)
    try:
        yield here
    finally:
        for ua in here.agents:
            await asyncio.wait_for(ua.close(), TIMEOUT)
        for phone in here.phones:
            await phone.stop()
        await serving.kill()
