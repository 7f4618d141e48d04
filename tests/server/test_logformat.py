"""``--log-format json``, ``--log-file PATH`` and ``--log-file syslog:SOCKET``
of real ``sipwire serve`` subprocesses: each line parses, and each line
about a message carries its Call-ID, branch, source and method; then the
formatters in process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipwire import Response
from sipwire.auth import DigestClient
from sipwire.server.logs import JsonFormatter, TextFormatter, configure_logging

from .phone import Phone, status
from .processes import free_port, sipwire_command, sipwire_environment

PASSWORD = "alice-secret"


@contextlib.asynccontextmanager
async def serve_logging_to(tmp_path: Path, log_file: str, *args: str,
                           ready: Path | None = None) -> AsyncIterator[asyncio.subprocess.Process]:
    """``sipwire serve ARGS --log-file LOG_FILE``, ready when ``ready`` (a file)
    holds the "serving" line; stopped by its PID with SIGTERM, its exit 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipwire.cli.main", "serve", *args, "--log-file", log_file,
        "--no-uvloop", "--control", "", cwd=tmp_path, env=sipwire_environment(tmp_path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        if ready is not None:
            async with asyncio.timeout(15):
                while not (ready.exists() and "serving domains=" in ready.read_text()):
                    assert process.returncode is None, await process.stderr.read()  # type: ignore[union-attr]
                    await asyncio.sleep(0.02)
        yield process
        os.kill(process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 15)


async def _add_alice(tmp_path: Path) -> None:
    code, _, err = await sipwire_command(
        "user", "add", "alice@example.com", "--password-stdin", "--users",
        str(tmp_path / "users.db"), env=sipwire_environment(tmp_path),
        stdin=PASSWORD.encode() + b"\n")
    assert code == 0, err


async def _register_with_a_challenge(port: int) -> tuple[Phone, str, str]:
    """alice registers: 401, then 200.  The phone, the Call-ID and the branch
    of the REGISTER that was challenged."""
    phone = await Phone.open("alice", ("127.0.0.1", port))
    request = phone.register()
    challenge = await phone.request(request)
    assert status(challenge) == 401
    assert isinstance(challenge.message, Response)
    retry = DigestClient("alice", PASSWORD).answer(challenge.message, request)
    assert retry is not None
    assert status(await phone.request(retry)) == 200
    branch = request.top_via.branch
    assert branch is not None
    return phone, request.call_id, branch


async def test_json_lines_in_a_log_file(tmp_path: Path) -> None:
    await _add_alice(tmp_path)
    port = free_port()
    log_file = tmp_path / "serve.log"
    async with serve_logging_to(
            tmp_path, str(log_file), "--listen", f"udp:127.0.0.1:{port}", "--domain",
            "example.com", "--store", "memory:", "--users", str(tmp_path / "users.db"),
            "--log-format", "json", ready=log_file):
        phone, call_id, branch = await _register_with_a_challenge(port)
        phone.close()
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert all(e["time"].endswith("Z") for e in entries)
    about_register = [e for e in entries if e.get("call_id") == call_id]
    refused = [e for e in about_register if e["message"].startswith("refused status=401")]
    assert len(refused) == 1
    assert refused[0]["branch"] == branch
    assert refused[0]["method"] == "REGISTER"
    assert refused[0]["source"] == "127.0.0.1"
    assert refused[0]["status"] == 401
    done = [e for e in about_register if e.get("status") == 200]
    assert len(done) == 1
    assert done[0]["method"] == "REGISTER"
    assert done[0]["source"] == f"udp:127.0.0.1:{phone.port}"
    assert done[0]["branch"].startswith("z9hG4bK") and done[0]["branch"] != branch  # the retry's
    assert done[0]["level"] == "info"
    assert isinstance(done[0]["duration_ms"], float)
    assert entries[-1]["message"] == "stopped"


async def test_text_lines_carry_the_fields_too(tmp_path: Path) -> None:
    await _add_alice(tmp_path)
    port = free_port()
    log_file = tmp_path / "serve.log"
    async with serve_logging_to(
            tmp_path, str(log_file), "--listen", f"udp:127.0.0.1:{port}", "--domain",
            "example.com", "--store", "memory:", "--users", str(tmp_path / "users.db"),
            ready=log_file):
        phone, call_id, branch = await _register_with_a_challenge(port)
        phone.close()
    lines = log_file.read_text().splitlines()
    refused = [line for line in lines if "refused status=401" in line]
    assert len(refused) == 1
    assert f"call_id={call_id}" in refused[0] and f"branch={branch}" in refused[0]
    assert "method=REGISTER" in refused[0] and "source=127.0.0.1" in refused[0]
    done = [line for line in lines if "method=REGISTER status=200" in line]
    assert len(done) == 1 and f"call_id={call_id}" in done[0] and "branch=z9hG4bK" in done[0]


async def test_syslog_gets_the_lines(tmp_path: Path) -> None:
    address = str(tmp_path / "log.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.setblocking(False)
    loop = asyncio.get_running_loop()
    port = free_port()
    try:
        async with serve_logging_to(
                tmp_path, f"syslog:{address}", "--listen", f"udp:127.0.0.1:{port}",
                "--auth", "off", "--store", "memory:", "--log-format", "json") as process:
            datagrams: list[bytes] = []
            async with asyncio.timeout(15):
                while not any(b"serving domains=" in d for d in datagrams):
                    datagrams.append(await loop.sock_recv(receiver, 65536))
    finally:
        receiver.close()
    serving = next(d.decode() for d in datagrams if b"serving domains=" in d)
    # <30>: facility daemon (3), severity info (6) (RFC 5424 §6.2.1)
    prefix = f"<30>sipwire[{process.pid}]: "
    assert serving.startswith(prefix)
    entry = json.loads(serving[len(prefix):].rstrip("\x00"))
    assert entry["level"] == "info" and entry["logger"] == "sipwire.server"


async def test_a_log_file_that_cannot_be_opened_stops_the_start(tmp_path: Path) -> None:
    code, _, err = await sipwire_command(
        "serve", "--listen", f"udp:127.0.0.1:{free_port()}", "--store", "memory:",
        "--auth", "off", "--control", "", "--log-file", str(tmp_path / "no" / "such.log"),
        env=sipwire_environment(tmp_path), cwd=tmp_path)
    assert code == 1
    assert err.splitlines() == [f"sipwire serve: cannot start: log "
                                f"{tmp_path / 'no' / 'such.log'}: No such file or directory"]


async def test_a_syslog_socket_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    # SysLogHandler alone would start, then print a traceback for every line
    missing = tmp_path / "no-syslog.sock"
    code, _, err = await sipwire_command(
        "serve", "--listen", f"udp:127.0.0.1:{free_port()}", "--store", "memory:",
        "--auth", "off", "--control", "", "--log-file", f"syslog:{missing}",
        env=sipwire_environment(tmp_path), cwd=tmp_path)
    assert code == 1
    assert err.splitlines() == [f"sipwire serve: cannot start: log syslog:{missing}: "
                                "No such file or directory"]


def _record(message: str, **sip: object) -> logging.LogRecord:
    record = logging.LogRecord("sipwire.server", logging.WARNING, __file__, 1, message, (),
                               None)
    if sip:
        record.sip = sip
    return record


def test_json_formatter_writes_one_object_per_line_with_the_traceback() -> None:
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        record = logging.LogRecord("sipwire.server", logging.ERROR, __file__, 1,
                                   "failed on %s", ("x",), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "failed on x"
    assert entry["level"] == "error"
    assert "ValueError: broken" in entry["exception"]


def test_text_formatter_appends_only_fields_the_message_lacks() -> None:
    formatter = TextFormatter("%(message)s")
    text = formatter.format(_record("method=INVITE status=200", method="INVITE",
                                    call_id="a b", branch="z9hG4bK1"))
    assert text == 'method=INVITE status=200 call_id="a b" branch=z9hG4bK1'
    assert formatter.format(_record("plain")) == "plain"


def test_configure_logging_writes_json_to_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    root = logging.getLogger("sipwire")
    saved = (root.handlers[:], root.level, root.propagate)
    configure_logging("info", format="json", file=str(path))
    try:
        logging.getLogger("sipwire.server").info("hello %s", "there",
                                                 extra={"sip": {"call_id": "c1"}})
    finally:
        root.handlers[0].close()
        root.handlers[:], root.level, root.propagate = saved  # as the other tests expect
    entry = json.loads(path.read_text())
    assert (entry["message"], entry["call_id"]) == ("hello there", "c1")


@pytest.mark.parametrize("value", ["xml", ""])
def test_log_format_is_checked(value: str) -> None:
    from sipwire.server.config import ConfigError, ServerConfig

    with pytest.raises(ConfigError, match="log_format must be one of text, json"):
        ServerConfig(log_format=value).check()
