"""``sipwire registrations list|remove`` and ``sipwire stats`` against a real
``sipwire serve`` subprocess, over its control socket, on the SQLite, Redis
and memory stores; and what they say when no server runs.

Bindings are made by real REGISTERs from phones on 127.0.0.1.  The Redis
store is a redis-server of the test's own (``RedisProcess``), stopped by
its PID; skipped without a binary unless ``SIPWIRE_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ..location.redis_server import RedisProcess, find_redis_server
from ..server.phone import Phone, status
from ..server.processes import (
    Serving,
    free_port,
    sipwire_command,
    sipwire_environment,
    start_serve,
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("SIPWIRE_REQUIRE_REDIS") == "1":
            pytest.fail("SIPWIRE_REQUIRE_REDIS=1 but no redis-server binary was found")
        pytest.skip("no redis-server binary (apt-get install redis-server)")
    process = RedisProcess(binary, str(tmp_path))
    process.start()
    yield process
    process.stop()


@pytest.fixture(params=["sqlite", "redis", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loc.db'}"
    if request.param == "redis":
        redis: RedisProcess = request.getfixturevalue("redis")
        return redis.url
    return "memory:"


@pytest.fixture
async def server(tmp_path: Path, store_url: str) -> AsyncIterator[tuple[Serving, int]]:
    port = free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--auth", "off",
        "--store", store_url, "--control", str(tmp_path / "ctl.sock"), "--no-uvloop",
        cwd=tmp_path)
    try:
        await serving.wait_for("control=")
        yield serving, port
    finally:
        await serving.terminate()


async def admin(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return await sipwire_command(*args, "--control", str(tmp_path / "ctl.sock"),
                                 env=sipwire_environment(tmp_path))


async def _register(port: int, user: str) -> Phone:
    phone = await Phone.open(user, ("127.0.0.1", port))
    assert status(await phone.request(phone.register(expires=300))) == 200
    return phone


async def test_list_and_remove_registrations(server: tuple[Serving, int],
                                             tmp_path: Path) -> None:
    _, port = server
    phones = [await _register(port, "alice"), await _register(port, "alice"),
              await _register(port, "bob")]
    try:
        code, out, err = await admin(tmp_path, "registrations", "list")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split() == ["AOR", "CONTACT", "EXPIRES", "Q", "SOURCE", "USER-AGENT"]
        rows = [line.split() for line in lines[1:]]
        assert sorted((row[0], row[1]) for row in rows) == sorted(
            (phone.aor, phone.contact) for phone in phones)
        for row in rows:
            assert 290 <= int(row[2]) <= 300
            assert row[4].startswith("udp:127.0.0.1:")

        code, out, err = await admin(tmp_path, "registrations", "list", "alice@example.com",
                                     "--json")
        assert code == 0, err
        alice = json.loads(out)
        assert {b["contact"] for b in alice} == {phones[0].contact, phones[1].contact}
        assert {b["source"] for b in alice} == {f"udp:127.0.0.1:{p.port}" for p in phones[:2]}
        assert all(b["aor"] == "sip:alice@example.com" for b in alice)

        code, out, err = await admin(tmp_path, "registrations", "remove",
                                     "sip:alice@example.com", phones[0].contact)
        assert (code, out.strip()) == (0, "removed 1 binding"), err
        code, out, _ = await admin(tmp_path, "registrations", "list", "alice@example.com",
                                   "--json")
        assert [b["contact"] for b in json.loads(out)] == [phones[1].contact]

        # the registrar agrees: a query of alice's bindings lists only the other one
        query = await phones[0].request(phones[0].register(expires=None, contact=None))
        assert [str(c.uri) for c in query.message.contact] == [phones[1].contact]

        code, out, err = await admin(tmp_path, "registrations", "remove", "bob@example.com")
        assert (code, out.strip()) == (0, "removed 1 binding"), err
        code, out, err = await admin(tmp_path, "registrations", "remove", "bob@example.com")
        assert code == 1
        assert out == ""
        assert err.strip() == "sipwire registrations remove: no binding of sip:bob@example.com"
        code, out, err = await admin(tmp_path, "registrations", "remove", "alice@example.com",
                                     "sip:nobody@127.0.0.1:1")
        assert code == 1
        assert len(err.strip().splitlines()) == 1
    finally:
        for phone in phones:
            phone.close()


async def test_stats_counts_what_the_server_handled(server: tuple[Serving, int],
                                                    tmp_path: Path) -> None:
    _, port = server
    phone = await _register(port, "carol")
    try:
        options = phone.build("OPTIONS", f"sip:127.0.0.1:{port}")
        assert status(await phone.request(options)) == 200
        code, out, err = await admin(tmp_path, "stats", "--json")
        assert code == 0, err
        stats = json.loads(out)
        received = {s["method"]: s["value"]
                    for s in stats["sipwire_sip_requests_received_total"]}
        assert received == {"REGISTER": 1, "OPTIONS": 1}
        sent = {(s["method"], s["status"]): s["value"]
                for s in stats["sipwire_sip_responses_sent_total"]}
        assert sent == {("REGISTER", "200"): 1, ("OPTIONS", "200"): 1}
        assert stats["sipwire_bindings"] == 1
        assert stats["sipwire_store_up"] == 1
        code, out, err = await admin(tmp_path, "stats")
        assert code == 0, err
        table = [line.split() for line in out.splitlines()]
        assert table[0] == ["METRIC", "LABELS", "VALUE"]
        assert ["sipwire_bindings", "1"] in table
        assert ["sipwire_sip_requests_received_total", "method=REGISTER", "1"] in table
    finally:
        phone.close()


async def test_the_control_socket_is_for_the_servers_account_only(
        server: tuple[Serving, int], tmp_path: Path) -> None:
    mode = (tmp_path / "ctl.sock").stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("command", [["stats"], ["reload"], ["registrations", "list"],
                                     ["registrations", "remove", "alice@example.com"]])
async def test_no_server_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    code, out, err = await admin(tmp_path, *command)
    assert code == 1
    assert out == ""
    name = " ".join(command[:2]) if command[0] == "registrations" else command[0]
    assert err.strip() == (f"sipwire {name}: no sipwire serve is running with control "
                           f"socket {tmp_path / 'ctl.sock'}")


async def test_the_default_socket_is_under_xdg_runtime_dir(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = sipwire_environment(tmp_path, XDG_RUNTIME_DIR=str(runtime))
    port = free_port()
    serving = await start_serve("--listen", f"udp:127.0.0.1:{port}", "--auth", "off",
                                "--store", "memory:", "--no-uvloop", cwd=tmp_path, env=env)
    try:
        line = await serving.wait_for("control=")
        assert line.endswith(f"control={runtime / 'sipwire' / 'control.sock'}")
        code, out, err = await sipwire_command("registrations", "list", "--json", env=env)
        assert (code, json.loads(out)) == (0, []), err
    finally:
        assert await serving.terminate() == 0
    assert not (runtime / "sipwire" / "control.sock").exists()  # removed at exit


async def test_reload_keeps_the_bindings(server: tuple[Serving, int], tmp_path: Path) -> None:
    """``sipwire reload`` on each store answers what it did, and the bindings
    (in SQLite, Redis or memory) are still there after it."""
    serving, port = server
    phone = await _register(port, "erin")
    try:
        code, out, err = await admin(tmp_path, "reload")
        assert code == 0, err
        assert out.splitlines() == ["users not reloaded: auth is off", "applied: -",
                                    "restart needed: -"]
        await serving.wait_for("reloaded: applied=")
        code, out, err = await admin(tmp_path, "registrations", "list", "--json")
        assert code == 0, err
        assert [b["contact"] for b in json.loads(out)] == [phone.contact]
    finally:
        phone.close()
