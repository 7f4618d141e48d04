"""User enumeration: a caller who has not authenticated cannot tell a user of
ours that has no binding from a name nobody has.  Both are 404 (RFC 3261
§16.5) for INVITE, OPTIONS and MESSAGE; only an authenticated user of ours
learns that a user exists but is not registered (480).

SIPVicious' ``svwar`` looks for users by that difference: it learns the
answer for a random extension, then reports every name answered otherwise.
Its requests come From the domain they are sent to, which this server
challenges (407, the same for every name); a foreign caller's requests are
not challenged, so ``svwar`` is run here through a relay that rewrites its
From into another domain, as a caller from outside sends it.  ``svwar``
comes from Debian's ``sipvicious`` package (``scripts/services.sh``); without
it those tests are skipped, unless ``SIPWIRE_REQUIRE_SIPVICIOUS=1`` or
``CI=true``.  Every run is bounded: three names, ``--maximumtime``, and a
wait here after which it is killed by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest

from sipwire import Request, Response
from sipwire.auth import DigestClient, MemoryUserStore

from .conftest import OpenPhone, Serve
from .phone import Phone, response_of
from .processes import SIPWIRE_PATH, Serving, free_port, sipvicious, start_serve

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
RUN_TIMEOUT = 45.0
METHODS = ("INVITE", "OPTIONS", "MESSAGE")


def users() -> MemoryUserStore:
    store = MemoryUserStore()
    store.add("alice", "example.com", "alices secret")
    store.add("bob", "example.com", "bobs secret")  # a real user, never registered
    return store


async def final(phone: Phone, request: Request) -> Response:
    """The final response to ``request`` (retransmissions of earlier answers
    skipped); a non-2xx final response to an INVITE is ACKed (§17.1.1.3)."""
    phone.send(request)
    while True:
        got = await phone.receive()
        response = got.message
        if isinstance(response, Response) and response.status >= 200 \
                and response.call_id == request.call_id \
                and response.cseq.seq == request.cseq.seq:
            break
    if request.method == "INVITE":
        ack = phone.build("ACK", str(request.uri), call_id=request.call_id,
                          cseq=request.cseq.seq)
        ack.headers.set("Via", str(response.via[0]))
        ack.headers.set("To", response.headers["To"])
        phone.send(ack)
    return response


def summary(response: Response) -> tuple[int, str, list[str]]:
    """What a scanner can compare: status line and header names."""
    return response.status, response.reason, sorted({name for name, _ in response.headers})


@pytest.mark.parametrize("method", METHODS)
async def test_a_foreign_caller_gets_404_for_a_user_and_for_nobody(
        serve: Serve, phone: OpenPhone, method: str) -> None:
    server = await serve(auth="on", user_store=users())
    carol = await phone("carol", server, domain="biloxi.example.org")  # from outside
    body = SDP if method == "INVITE" else b""
    bob = await final(carol, carol.build(method, "sip:bob@example.com", body=body))
    dave = await final(carol, carol.build(method, "sip:dave@example.com", body=body))
    assert summary(bob) == summary(dave)
    assert (bob.status, bob.reason) == (404, "Not Found")


async def test_our_users_learn_that_a_user_is_not_registered(serve: Serve,
                                                            phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    for callee, expected in (("bob", 480), ("dave", 404)):
        request = alice.build("MESSAGE", f"sip:{callee}@example.com")
        challenge = await final(alice, request)
        assert challenge.status == 407  # §22.3: a user of ours proves who it is
        retry = DigestClient("alice", "alices secret").answer(challenge, request)
        assert retry is not None
        assert (await final(alice, retry)).status == expected


async def test_a_registered_user_is_reached_from_outside(serve: Serve,
                                                         phone: OpenPhone) -> None:
    """The point of the server: calls from outside still reach our users."""
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    register = alice.register()
    challenge = response_of(await alice.request(register))
    retry = DigestClient("alice", "alices secret").answer(challenge, register)
    assert retry is not None and response_of(await alice.request(retry)).status == 200
    carol = await phone("carol", server, domain="biloxi.example.org")
    carol.send(carol.build("MESSAGE", "sip:alice@example.com", body=b"hi"))
    got = await alice.expect("MESSAGE")
    alice.answer(got, 200)
    assert response_of(await carol.expect(200)).status == 200


# -- svwar -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def svwar() -> str:
    return sipvicious("svwar")


class ForeignRelay(asyncio.DatagramProtocol):
    """Passes datagrams between a scanner and the server, writing the From of
    each request into ``foreign`` (the domain the scanner sends them From is
    ours, which a caller from outside never is)."""

    FROM = re.compile(rb"(?im)^(From|f)(\s*:[^\r\n]*@)" + re.escape(b"example.com"))

    def __init__(self, server: tuple[str, int], foreign: bytes) -> None:
        self.server = server
        self.foreign = foreign
        self.scanner: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.rewritten = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if addr == self.server:
            if self.scanner is not None:
                self.transport.sendto(data, self.scanner)
            return
        self.scanner = addr
        data, count = self.FROM.subn(rb"\1\2" + self.foreign, data, count=1)
        self.rewritten += count
        self.transport.sendto(data, self.server)


@contextlib.contextmanager
def closing(transport: asyncio.BaseTransport) -> Iterator[None]:
    try:
        yield
    finally:
        transport.close()


def add_user(path: Path, aor: str, password: str) -> None:
    """``sipwire user add AOR --password-stdin``, the form outside tools script."""
    result = subprocess.run(
        [sys.executable, "-m", "sipwire.cli.main", "user", "add", aor, "--password-stdin",
         "--users", str(path)], input=password + "\n", capture_output=True, text=True,
        timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": SIPWIRE_PATH})
    assert result.returncode == 0, result.stderr


@pytest.fixture
async def serving(tmp_path: Path) -> AsyncIterator[Serving]:
    """``sipwire serve`` for example.com, auth on, whose users are alice (who
    registers nowhere here) and bob."""
    path = tmp_path / "users.db"
    add_user(path, "alice@example.com", "alices secret")
    add_user(path, "bob@example.com", "bobs secret")
    port = free_port()
    process = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--store", "memory:",
        "--users", str(path), "--auth", "on", cwd=tmp_path)
    yield process
    await process.kill()


async def scan(svwar: str, method: str, target: int, words: Path) -> str:
    """``svwar`` with ``method`` over the names in ``words``, at 127.0.0.1:``target``."""
    process = await asyncio.create_subprocess_exec(
        svwar, "-v", "-m", method, "-d", str(words), "-p", str(target), "-P", str(free_port()),
        "-x", "127.0.0.1", "--domain", "example.com", "--maximumtime", "2", "127.0.0.1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return output.decode("utf-8", "replace")


@pytest.mark.parametrize("method", METHODS)
async def test_svwar_from_outside_finds_no_user(svwar: str, serving: Serving, tmp_path: Path,
                                                method: str) -> None:
    words = tmp_path / "words.txt"
    words.write_text("alice\nnobody\nbob\n")
    port = int(re.findall(r"listening=udp:127\.0\.0\.1:(\d+)", serving.log)[0])
    loop = asyncio.get_running_loop()
    transport, relay = await loop.create_datagram_endpoint(
        lambda: ForeignRelay(("127.0.0.1", port), b"biloxi.example.org"),
        local_addr=("127.0.0.1", 0))
    with closing(transport):
        output = await scan(svwar, method, transport.get_extra_info("sockname")[1], words)
    assert relay.rewritten >= 4, output  # the probe and the three names went through
    assert "Ok SIP device found" in output, output  # it did scan
    assert "found nothing" in output, output
    assert "alice" not in output and "'bob'" not in output, output
    # every name was looked up, and answered as nobody
    assert serving.log.count(f"method={method} status=404") >= 4, serving.log
