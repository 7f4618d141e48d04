"""``sipwire serve --workers 2`` as real processes on 127.0.0.1: the ports are
shared (SO_REUSEPORT), UDP retransmissions stay with one worker, a flow held
by one worker is reached from the other, and a killed worker is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

import sipwire
from sipwire import Request
from sipwire.server.control import ask

from ..transport.conftest import Certificate, certificate, needs_ipv6  # noqa: F401
from .phone import Phone, Received, request_of, status
from .processes import (
    Serving,
    free_port,
    sipwire_command,
    sipwire_environment,
    start_serve,
    terminate,
)

pytestmark = pytest.mark.asyncio

_RECEIVED = re.compile(r"worker=(\d+) received (\S+) call_id=(\S+)")


async def _serve(tmp_path: Path, *extra: str, host: str = "127.0.0.1") -> tuple[Serving, int]:
    port = free_port()
    bound = f"[{host}]" if ":" in host else host
    serving = await start_serve(
        "--workers", "2", "--store", f"sqlite:///{tmp_path / 'loc.db'}", "--auth", "off",
        "--listen", f"udp:{bound}:{port}", "--listen", f"tcp:{bound}:{port}",
        "--domain", "example.com", "--control", str(tmp_path / "control.sock"),
        "--log-level", "debug", *extra, cwd=tmp_path)
    return serving, port


def _pids(serving: Serving) -> list[int]:
    line = next(line for line in serving.lines if "serving domains=" in line)
    match = re.search(r"pids=([\d,]+)", line)
    assert match is not None, line
    return [int(pid) for pid in match.group(1).split(",")]


def _workers_of(serving: Serving, call_id: str, method: str) -> list[int]:
    """The worker that logged each receipt of ``method`` in ``call_id``."""
    found = []
    for line in serving.lines:
        match = _RECEIVED.search(line)
        if match and match.group(2) == method and match.group(3) == call_id:
            found.append(int(match.group(1)))
    return found


async def _logged(serving: Serving, call_id: str, method: str, count: int) -> list[int]:
    async with asyncio.timeout(5):
        while len(workers := _workers_of(serving, call_id, method)) < count:
            await asyncio.sleep(0.02)
    return workers


async def _reloads(serving: Serving, count: int) -> None:
    """Until each of the two workers has logged ``count`` reloads."""
    async with asyncio.timeout(10):
        while any(sum(f"worker={i} reloaded:" in line for line in serving.lines) < count
                  for i in (0, 1)):
            await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (the supervisor reaps its workers)
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    return False


async def _gone(pids: list[int]) -> None:
    async with asyncio.timeout(10):
        while any(_alive(pid) for pid in pids):
            await asyncio.sleep(0.05)


async def _call_from_a_new_phone(user: str, server: tuple[str, int], callee: Phone,
                                 phones: list[Phone]) -> tuple[Phone, Request, Received]:
    """An INVITE to ``callee`` from a new phone (a new source port, which the
    kernel may hash to either worker): the phone, its INVITE, and the INVITE
    as it reached ``callee``."""
    caller = await Phone.open(user, server, host=callee.host)
    phones.append(caller)
    invite = caller.build("INVITE", callee.aor, to=f"<{callee.aor}>",
                          contact=f"<{caller.contact}>")
    caller.send(invite)
    got = await callee.expect("INVITE")
    assert request_of(got).call_id == invite.call_id
    return caller, invite, got


async def test_udp_retransmissions_reach_the_worker_of_their_transaction(
        tmp_path: Path) -> None:
    serving, port = await _serve(tmp_path)
    phones: list[Phone] = []
    try:
        # §17.2.1: the retransmissions of a request come from the same source;
        # the kernel's SO_REUSEPORT hash sends them all to the same worker
        alice = await Phone.open("alice", ("127.0.0.1", port))
        phones.append(alice)
        register = bytes(alice.register())
        call_id = alice.register().call_id
        answers = []
        for _ in range(5):
            # the worker's transaction, Completed, answers each again (§17.2.2)
            alice.send(register)
            answers.append(status(await alice.expect(200)))
        assert answers == [200] * 5
        workers = await _logged(serving, call_id, "REGISTER", 5)
        assert len(workers) == 5 and len(set(workers)) == 1, workers
        # and the two workers do share the port: sources spread over both
        seen: set[int] = set()
        for n in range(32):
            phone = await Phone.open(f"user{n}", ("127.0.0.1", port))
            phones.append(phone)
            request = phone.register()
            assert status(await phone.request(request)) == 200
            seen.update(await _logged(serving, request.call_id, "REGISTER", 1))
            if seen == {0, 1}:
                break
        assert seen == {0, 1}
    finally:
        for phone in phones:
            phone.close()
        pids = _pids(serving)
        assert await serving.terminate() == 0
    await _gone(pids)  # SIGTERM reached every worker


@pytest.mark.parametrize(("own_ports", "host"), [
    (True, "127.0.0.1"), (False, "127.0.0.1"), pytest.param(True, "::1", marks=needs_ipv6),
], ids=["worker-ports", "shared-port", "worker-ports-ipv6"])
async def test_a_callee_answers_each_worker_at_its_own_port(tmp_path: Path, own_ports: bool,
                                                             host: str) -> None:
    """A callee answers from one address, which the kernel's hash ties to one
    worker; the INVITEs come from both.  Each worker sends its INVITE from a
    port of its own named in the Via (§18.1.1), so the callee's answers, sent
    to the Via (§18.2.2), reach the worker that holds the client transaction
    without crossing to the other one.  With ``--no-worker-ports`` every
    INVITE leaves from the shared port, and the answers that reach the other
    worker are passed on to the right one: the calls work all the same."""
    serving, port = await _serve(tmp_path, *(() if own_ports else ("--no-worker-ports",)),
                                 host=host)
    server = (host, port)
    alice = await Phone.open("alice", server, host=host)
    callers: list[Phone] = []
    try:
        assert status(await alice.request(alice.register())) == 200
        workers: set[int] = set()
        via_ports: dict[int, int] = {}
        for n in range(32):
            bob, invite, got = await _call_from_a_new_phone(f"bob{n}", server, alice, callers)
            forwarded = request_of(got)
            via = forwarded.top_via
            assert via.host == alice.uri_host and via.port == got.source[1], (via, got)
            assert (via.port != port) is own_ports
            # answered where §18.2.2 says, the top Via: not to the source
            for code in (180, 200):
                response = forwarded.reply(code, to_tag="callee",
                                           contact=f"<{alice.contact}>" if code == 200 else None)
                alice.send(response, (via.host.strip("[]"), via.port))
            assert status(await bob.expect(180)) == 180
            assert status(await bob.expect(200)) == 200
            worker = (await _logged(serving, invite.call_id, "INVITE", 1))[0]
            workers.add(worker)
            assert via_ports.setdefault(worker, via.port) == via.port  # one port a worker
            if workers == {0, 1} and n >= 3:
                break
        assert workers == {0, 1}, "every INVITE was taken by one worker"
        assert len(set(via_ports.values())) == (2 if own_ports else 1)
        relayed = [line for line in serving.lines if "relaying" in line]
        assert bool(relayed) is not own_ports, relayed
    finally:
        alice.close()
        for phone in callers:
            phone.close()
        await terminate(serving.process)
        await serving.kill()


async def test_a_call_reaches_a_tcp_flow_held_by_the_other_worker(tmp_path: Path) -> None:
    serving, port = await _serve(tmp_path)
    server = ("127.0.0.1", port)
    alice = await Phone.open("alice", server, transport="tcp")
    callers: list[Phone] = []
    try:
        register = alice.register()
        assert status(await alice.request(register)) == 200
        owner = (await _logged(serving, register.call_id, "REGISTER", 1))[0]
        # calls from new sources until one lands on the other worker
        crossed = 0
        for n in range(24):
            # over alice's own TCP connection (the phone has no other)
            bob, invite, got = await _call_from_a_new_phone(f"bob{n}", server, alice, callers)
            alice.answer(got, 180)
            alice.answer(got, 200)
            assert status(await bob.expect(180)) == 180
            assert status(await bob.expect(200)) == 200
            worker = (await _logged(serving, invite.call_id, "INVITE", 1))[0]
            if worker != owner:
                crossed += 1
                break
        assert crossed == 1, "no INVITE was taken by the other worker"
    finally:
        alice.close()
        for phone in callers:
            phone.close()
        await terminate(serving.process)
        await serving.kill()


async def _ws_register(ws: ClientConnection, user: str) -> str:
    """REGISTER ``user`` over a WebSocket as a browser does (RFC 7118 §5.2);
    its Call-ID."""
    register = Request.build(
        "REGISTER", "sip:example.com", from_=f"<sip:{user}@example.com>",
        to=f"<sip:{user}@example.com>", transport="WS", sent_by=("df7jal23ls0d.invalid", None),
        contact=f"<sip:{user}@df7jal23ls0d.invalid;transport=ws>", headers=[("Expires", "60")])
    await ws.send(bytes(register).decode())
    reply = sipwire.parse((await asyncio.wait_for(ws.recv(), 5)).encode())
    assert getattr(reply, "status", None) == 200
    return register.call_id


@pytest.mark.parametrize("transport", ["tls", "ws"])
async def test_a_request_reaches_a_tls_or_ws_flow_held_by_the_other_worker(
        tmp_path: Path, transport: str, certificate: Certificate) -> None:  # noqa: F811
    """The flow of a phone registered over TLS or a WebSocket lives in one
    worker; a MESSAGE taken by the other worker reaches the phone over that
    flow (relayed to the owner), and the phone's 200 gets back to the sender."""
    stream_port = free_port()
    serving, port = await _serve(
        tmp_path, "--listen", f"{transport}:127.0.0.1:{stream_port}",
        "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key))
    server = ("127.0.0.1", port)
    senders: list[Phone] = []
    alice: Phone | None = None
    ws: ClientConnection | None = None
    try:
        if transport == "tls":
            alice = await Phone.open("alice", ("127.0.0.1", stream_port), transport="tls",
                                     tls=certificate.client_context())
            register = alice.register()
            assert status(await alice.request(register)) == 200
            call_id = register.call_id
        else:
            ws = await connect(f"ws://127.0.0.1:{stream_port}/",
                               subprotocols=[Subprotocol("sip")], open_timeout=5)
            call_id = await _ws_register(ws, "alice")
        owner = (await _logged(serving, call_id, "REGISTER", 1))[0]
        # MESSAGEs from new UDP sources until one lands on the other worker
        for n in range(24):
            bob = await Phone.open(f"bob{n}", server)
            senders.append(bob)
            message = bob.build("MESSAGE", "sip:alice@example.com", body=f"hi {n}".encode())
            bob.send(message)
            if alice is not None:
                received = await alice.expect("MESSAGE")
                got = request_of(received)
                assert got.via[0].transport == "TLS"
                alice.answer(received, 200)
            else:
                assert ws is not None
                got = sipwire.parse((await asyncio.wait_for(ws.recv(), 5)).encode())
                assert isinstance(got, Request) and got.via[0].transport == "WS"
                await ws.send(bytes(got.reply(200, to_tag=f"ws{n}")).decode())
            # what arrived is what bob sent
            assert (got.call_id, got.body) == (message.call_id, f"hi {n}".encode())
            assert status(await bob.expect(200)) == 200
            if (await _logged(serving, message.call_id, "MESSAGE", 1))[0] != owner:
                break
        else:
            pytest.fail("no MESSAGE was taken by the other worker")
    finally:
        if alice is not None:
            alice.close()
        if ws is not None:
            await ws.close()
        for phone in senders:
            phone.close()
        await terminate(serving.process)
        await serving.kill()


async def test_a_killed_worker_is_replaced_and_the_other_serves_on(tmp_path: Path) -> None:
    serving, port = await _serve(tmp_path)
    server = ("127.0.0.1", port)
    phones: list[Phone] = []
    try:
        first, second = _pids(serving)
        os.kill(second, signal.SIGKILL)
        await serving.wait_for("exited with status -9: restarting")
        # meanwhile the other worker answers every source
        for n in range(4):
            phone = await Phone.open(f"u{n}", server)
            phones.append(phone)
            assert status(await phone.request(phone.register())) == 200
        line = await serving.wait_for(" restarted")
        match = re.search(r"worker=(\d+) pid=(\d+) restarted", line)
        assert match is not None, line
        new = int(match.group(2))
        assert new != second and _alive(new) and _alive(first)
        # registrations and a call work with the new worker in place
        alice = await Phone.open("alice", server, transport="tcp")
        phones.append(alice)
        assert status(await alice.request(alice.register())) == 200
        for n in range(8):
            bob = await Phone.open(f"caller{n}", server)
            phones.append(bob)
            invite = bob.build("INVITE", alice.aor, to=f"<{alice.aor}>",
                               contact=f"<{bob.contact}>")
            bob.send(invite)
            got = await alice.expect("INVITE")
            alice.answer(got, 200)
            assert status(await bob.expect(200)) == 200
    finally:
        for phone in phones:
            phone.close()
        await terminate(serving.process)
        await serving.kill()
    await _gone([first, new])


async def test_sighup_reaches_every_worker_and_http_is_served_once(tmp_path: Path) -> None:
    http = free_port()
    serving, _ = await _serve(tmp_path, "--http", f"127.0.0.1:{http}")
    try:
        def get(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=5) as r:
                return r.status, r.read().decode()

        code, _ = await asyncio.to_thread(get, "/health")
        assert code == 200
        code, body = await asyncio.to_thread(get, "/metrics")
        assert code == 200 and "sipwire_" in body
        os.kill(serving.pid, signal.SIGHUP)
        await _reloads(serving, 1)
        # `sipwire reload` reaches worker 0's control socket, and the others through
        # the supervisor
        reply = await asyncio.to_thread(ask, tmp_path / "control.sock", {"command": "reload"})
        assert reply["workers"] == 2, reply
        await _reloads(serving, 2)
    finally:
        await terminate(serving.process)
        await serving.kill()


async def test_workers_that_cannot_bind_stop_the_start(tmp_path: Path) -> None:
    env = sipwire_environment(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # no SO_REUSEPORT
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code, _, err = await sipwire_command(
            "serve", "--workers", "2", "--store", f"sqlite:///{tmp_path / 'loc.db'}",
            "--auth", "off", "--control", "", "--listen", f"udp:127.0.0.1:{port}",
            env=env, cwd=tmp_path)
    assert code == 1
    # the worker's own line, and no second one from the supervisor
    assert [line for line in err.splitlines() if " INFO " not in line] == [
        f"sipwire serve: cannot start: cannot listen on udp:127.0.0.1:{port}: "
        "address already in use"]


async def test_memory_store_refuses_workers_in_one_line(tmp_path: Path) -> None:
    code, _, err = await sipwire_command("serve", "--workers", "2", "--store", "memory:",
                                         env=sipwire_environment(tmp_path), cwd=tmp_path)
    assert code == 2
    assert err.strip().splitlines() == [
        "sipwire serve: --workers 2 needs a shared store (sqlite:, redis:): the memory "
        "store is one process's"]
