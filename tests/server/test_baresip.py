"""A real phone, baresip, registers with ``sipwire serve`` (digest, RFC 3261 §22)
and is reached through it.

baresip runs headless: a config directory of our own (``-f``) loads no audio
or video module, only ``account.so``, and binds 127.0.0.1.  Skipped when
baresip is missing, unless ``SIPWIRE_REQUIRE_BARESIP=1``; stopped by its PID.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipwire.auth import MemoryUserStore
from sipwire.location import Binding

from .conftest import OpenPhone, Serve
from .phone import response_of
from .processes import kill_all

AOR = "sip:alice@127.0.0.1"
PASSWORD = "b4resip-secret"  # no space: the accounts line would cut it


@pytest.fixture(scope="module")
def baresip_path() -> str:
    path = shutil.which("baresip")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_BARESIP") == "1":
            pytest.fail("baresip is not installed and SIPWIRE_REQUIRE_BARESIP=1")
        pytest.skip("baresip is not installed (apt-get install baresip-core)")
    return path


def module_path() -> str:
    for candidate in ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules",
                      "/usr/lib/x86_64-linux-gnu/baresip/modules"):
        if Path(candidate, "account.so").exists():
            return candidate
    pytest.skip("no baresip module directory with account.so")


@pytest.fixture
async def baresip(baresip_path: str, tmp_path: Path) -> AsyncIterator[
        list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    await kill_all(started)


async def start_baresip(path: str, directory: Path, server_port: int,
                        ) -> asyncio.subprocess.Process:
    directory.mkdir()
    (directory / "config").write_text(
        "sip_listen\t\t127.0.0.1:0\n"
        f"module_path\t\t{module_path()}\n"
        "module_app\t\taccount.so\n")
    (directory / "accounts").write_text(
        f"<sip:alice@127.0.0.1:{server_port}>;regint=60;auth_pass={PASSWORD}\n")
    log = (directory / "baresip.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            path, "-f", str(directory), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=directory)
    finally:
        log.close()


async def bindings_of(store_lookup: object, aor: str, want: bool, timeout: float = 10.0,
                      ) -> list[Binding]:
    async with asyncio.timeout(timeout):
        while True:
            found: list[Binding] = await store_lookup(aor)  # type: ignore[operator]
            if bool(found) == want:
                return found
            await asyncio.sleep(0.05)


async def test_baresip_registers_and_is_reached(serve: Serve, phone: OpenPhone,
                                                baresip: list[asyncio.subprocess.Process],
                                                baresip_path: str, tmp_path: Path) -> None:
    users = MemoryUserStore()
    users.add("alice", "127.0.0.1", PASSWORD)
    server = await serve(domains=("127.0.0.1",), auth="on", user_store=users)
    _, port = server.address("udp")
    process = await start_baresip(baresip_path, tmp_path / "baresip", port)
    baresip.append(process)

    async def lookup(aor: str) -> list[Binding]:
        return await server.store.lookup(aor, server.clock())

    try:
        [binding] = await bindings_of(lookup, AOR, want=True)
    except TimeoutError:
        log = (tmp_path / "baresip" / "baresip.log").read_text(errors="replace")
        raise AssertionError(f"baresip did not register:\n{log}") from None
    assert binding.contact.startswith("sip:alice") and "@127.0.0.1:" in binding.contact
    assert "baresip" in (binding.user_agent or "")

    # a request for alice (from outside: not challenged) reaches baresip through
    # the proxy, and it answers
    carol = await phone("carol", server, domain="biloxi.example.org")
    ok = response_of(await carol.request(carol.build("OPTIONS", AOR), timeout=5))
    assert ok.status == 200

    # stopped by its PID, it unregisters (Expires 0, §10.2.2)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 10)
    await bindings_of(lookup, AOR, want=False, timeout=5)
