"""``sipwire listen`` answering sipsak and ``sipwire options``; sipsak against an endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable

import pytest

from sipwire.ua import Endpoint

from .conftest import COMMAND, RUN_TIMEOUT, RunCli


def sipsak() -> str:
    path = shutil.which("sipsak")
    if path is None:
        if os.environ.get("SIPWIRE_REQUIRE_SIPSAK") == "1":
            pytest.fail("sipsak is not installed and SIPWIRE_REQUIRE_SIPSAK=1")
        pytest.skip("sipsak is not installed (apt-get install sipsak)")
    return path


def listening_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return int(line.rsplit(":", 1)[1])


def test_sipsak_gets_200_from_sipwire_listen(
        background: Callable[..., subprocess.Popen[str]]) -> None:
    program = sipsak()
    listen = background("listen", "udp:127.0.0.1:0", "--count", "1")
    port = listening_port(listen)
    probe = subprocess.run([program, "-s", f"sip:test@127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    out, err = listen.communicate(timeout=RUN_TIMEOUT)
    assert listen.returncode == 0, err
    assert " OPTIONS sip:test@127.0.0.1:" in out  # one line per request received


async def test_sipsak_gets_200_from_an_endpoint() -> None:
    program = sipsak()
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        port = ep.listening_points[0].port
        proc = await asyncio.create_subprocess_exec(
            program, "-s", f"sip:test@127.0.0.1:{port}", "-vv",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
    assert b"SIP/2.0 200 OK" in out and b"Allow: OPTIONS" in out


async def test_sipwire_options_against_sipwire_listen(run_cli: RunCli) -> None:
    listen = await asyncio.create_subprocess_exec(
        *COMMAND,
        "listen", "udp:127.0.0.1:0", "tcp:127.0.0.1:0", "--count", "2", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert listen.stdout is not None
        udp = (await asyncio.wait_for(listen.stdout.readline(), RUN_TIMEOUT)).decode()
        tcp = (await asyncio.wait_for(listen.stdout.readline(), RUN_TIMEOUT)).decode()
        for line, transport in ((udp, "udp"), (tcp, "tcp")):
            port = line.strip().rsplit(":", 1)[1]
            result = await run_cli("options", f"sip:x@127.0.0.1:{port}", "-t", transport)
            assert result.status == 0, result.err
        out, _ = await asyncio.wait_for(listen.communicate(), RUN_TIMEOUT)
    finally:
        if listen.returncode is None:
            listen.kill()
            await listen.wait()
    assert listen.returncode == 0
    requests = [json.loads(line) for line in out.decode().splitlines()]
    assert [(r["transport"], r["method"]) for r in requests] == [("UDP", "OPTIONS"),
                                                                 ("TCP", "OPTIONS")]


async def test_listen_answers_other_requests_with_status(
        run_cli: RunCli, background: Callable[..., subprocess.Popen[str]]) -> None:
    listen = background("listen", "udp:127.0.0.1:0", "--status", "486", "--count", "1")
    port = await asyncio.to_thread(listening_port, listen)
    request = (f"MESSAGE sip:bob@127.0.0.1:{port} SIP/2.0\n"
               "Via: SIP/2.0/UDP h;branch=z9hG4bK1\n"
               "Max-Forwards: 70\nFrom: <sip:a@example.com>;tag=1\n"
               "To: <sip:bob@example.com>\nCall-ID: c1\n"
               "CSeq: 1 MESSAGE\nContent-Length: 0\n\n")
    result = await run_cli("send", "-", stdin=request.encode())
    assert result.status == 1 and result.out.startswith("SIP/2.0 486 Busy Here")


@pytest.mark.parametrize("args", [["listen", "bogus"], ["listen", "udp:127.0.0.1:0",
                                                        "--status", "180"]])
async def test_listen_usage_errors(run_cli: RunCli, args: list[str]) -> None:
    result = await run_cli(*args)
    assert result.status in (1, 2) and result.err
