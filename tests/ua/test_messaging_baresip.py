"""MESSAGE (RFC 3428) with a real phone: baresip, registered with ``sipwire serve``,
sends a MESSAGE to a sipwire endpoint registered there with ``Registration``.

The harness is the calls matrix's ``Baresip`` (tests/server/matrix/baresip.py)
with baresip's ``contact.so`` loaded: its ``message`` command messages the
current contact.  Skipped when baresip is missing, failed under CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipwire.auth import DigestClient
from sipwire.ua import Endpoint
from sipwire.ua.messaging import MessageReceiver
from sipwire.ua.registration import Registered, Registration
from tests.server.matrix.baresip import Baresip
from tests.server.matrix.ports import Ports
from tests.server.matrix.programs import Missing, baresip_modules
from tests.server.processes import Serving, sipwire_command, sipwire_environment, start_serve

PASSWORD = "pw-for-tests"
WAIT = 15.0


class MessagingBaresip(Baresip):
    """A baresip whose current contact (``contact.so``) is ``contact``."""

    contact: str = ""

    def _write_config(self) -> None:
        super()._write_config()
        config = self.directory / "config"
        config.write_text(config.read_text() + "module_app\tcontact.so\n")
        (self.directory / "contacts").write_text(f'"Peer" <{self.contact}>\n')

    def messages(self, direction: str) -> list[bytes]:
        """The bodies of the MESSAGEs baresip sent ("out") or received ("in")."""
        return [seen.message.body for seen in self.observed()
                if seen.direction == direction and getattr(seen.message, "method", "")
                == "MESSAGE"]


@dataclass
class Site:
    """``sipwire serve`` for domain 127.0.0.1 with users, and what runs against it."""

    serving: Serving
    port: int
    env: dict[str, str]
    home: Path
    ports: Ports

    async def baresip(self, user: str, contact: str) -> MessagingBaresip:
        phone = MessagingBaresip(user, PASSWORD, "UDP", ("127.0.0.1", self.port),
                                 self.home / f"baresip-{user}", sip_port=self.ports.pair(),
                                 ctrl_port=self.ports.one())
        phone.contact = contact
        self.started.append(phone)
        await phone.start()
        problem = await phone.wait_registered(WAIT)
        assert problem is None, problem
        return phone

    def __post_init__(self) -> None:
        self.started: list[MessagingBaresip] = []


OpenSite = Callable[..., Awaitable[Site]]


@pytest.fixture
def need_baresip() -> None:
    try:
        baresip_modules()
    except Missing as exc:
        if exc.required:
            pytest.fail(exc.reason)
        pytest.skip(exc.reason)


@pytest.fixture
async def site(need_baresip: None, tmp_path: Path) -> AsyncIterator[OpenSite]:
    sites: list[Site] = []

    async def open_site(*users: str) -> Site:
        env = sipwire_environment(tmp_path)
        for user in users:
            code, _, err = await sipwire_command(
                "user", "add", f"{user}@127.0.0.1", "--password-stdin", env=env,
                stdin=f"{PASSWORD}\n".encode())
            assert code == 0, err
        ports = Ports()
        port = ports.one()
        serving = await start_serve("--listen", f"udp:127.0.0.1:{port}", "--domain",
                                    "127.0.0.1", "--store", "memory:", "--no-uvloop",
                                    cwd=tmp_path, env=env)
        opened = Site(serving, port, env, tmp_path, ports)
        sites.append(opened)
        return opened

    yield open_site
    for opened in sites:
        for phone in opened.started:
            await phone.stop()
        await opened.serving.kill()


async def test_baresip_messages_a_sipwire_endpoint_registered_at_serve(site: OpenSite) -> None:
    where = await site("bob", "carol")
    aor = f"sip:carol@127.0.0.1:{where.port}"
    async with Endpoint(["udp:127.0.0.1:0"], credentials=DigestClient("carol", PASSWORD)) as ep:
        receiver = MessageReceiver(ep)
        registration = Registration(ep, aor)
        assert isinstance(await asyncio.wait_for(registration.start(), WAIT), Registered)
        phone = await where.baresip("bob", aor)
        reply = await phone.command("message", "hello from baresip")
        assert reply.get("ok") is True, reply
        message = await asyncio.wait_for(receiver.get(), WAIT)
        assert message.text == "hello from baresip"
        assert message.sender.uri.user == "bob"
        await registration.close()
    # what baresip saw: its MESSAGE (challenged once by serve, 407) and our 200
    assert phone.messages("out")[-1] == b"hello from baresip"
    statuses = [seen.message.status for seen in phone.observed()  # type: ignore[union-attr]
                if seen.direction == "in" and seen.message.cseq.method == "MESSAGE"]
    assert statuses[-1] == 200
