"""server/control.py in process: the control socket's protocol and its
refusals, the path it takes, and the commands on a started ``Server``; and
through ``sipwire serve``: a second server on a path in use."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from sipwire.location import Binding
from sipwire.server.control import (
    ControlError,
    ControlServer,
    Operations,
    Operator,
    ask,
    default_control_path,
)

from .conftest import Serve
from .processes import free_port, sipwire_environment, start_serve


async def exchange(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    """Send ``lines`` on one connection to the socket; the replies."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        replies = []
        for line in lines:
            writer.write(line)
            async with asyncio.timeout(5):
                replies.append(json.loads(await reader.readline()))
        return replies
    finally:
        writer.close()


def _binding(aor: str, contact: str, expires_at: float, **more: Any) -> Binding:
    return Binding(aor=aor, contact=contact, contact_value=f"<{contact}>",
                   expires_at=expires_at, **more)


async def test_one_json_reply_per_request_line(serve: Serve, tmp_path: Path) -> None:
    server = await serve()
    now = server.clock()
    await server.store.put(_binding("sip:alice@example.com", "sip:alice@127.0.0.1:5071",
                                    now + 100), now)
    path = tmp_path / "ctl.sock"
    control = await ControlServer(path, Operator(server)).start()
    try:
        replies = await exchange(
            path, b'{"command": "registrations list"}\n', b"\n" b"not json\n",
            b"[1, 2]\n", b'{"command": "dance"}\n', b'{"command": "registrations remove"}\n',
            b'{"command": "registrations list", "aor": 7}\n',
            b'{"command": "registrations list", "aor": "sip:"}\n')
    finally:
        await control.close()
    listed = replies[0]
    assert listed["ok"] is True
    assert [(b["aor"], b["contact"], b["expires_in"]) for b in listed["result"]] == [
        ("sip:alice@example.com", "sip:alice@127.0.0.1:5071", 100)]
    assert replies[1]["ok"] is False and replies[1]["error"].startswith("not JSON")
    assert replies[2] == {"ok": False, "error": "a request is a JSON object"}
    assert replies[3] == {"ok": False, "error": "unknown command 'dance' (registrations "
                                                "list, registrations remove, stats, reload)"}
    assert replies[4] == {"ok": False, "error": "registrations remove needs an aor"}
    assert replies[5] == {"ok": False, "error": "aor must be a non-empty string"}
    assert replies[6]["ok"] is False and replies[6]["error"].startswith(
        "not an address-of-record: 'sip:'")
    assert not path.exists()  # removed on close


async def test_remove_by_contact_or_by_flow_key(serve: Serve) -> None:
    server = await serve()
    now = server.clock()
    aor = "sip:bob@example.com"
    flow = _binding(aor, "sip:bob@192.0.2.1:5060", now + 100,
                    instance_id="urn:uuid:1", reg_id=1)
    await server.store.put(flow, now)
    await server.store.put(_binding(aor, "sip:bob@192.0.2.2:5060", now + 100), now)
    operator = Operator(server)
    assert await operator.remove("bob@example.com", flow.key) == 1
    assert [b["contact"] for b in await operator.registrations("BOB@EXAMPLE.COM")] == []
    assert [b["contact"] for b in await operator.registrations("bob@example.com")] == [
        "sip:bob@192.0.2.2:5060"]
    with pytest.raises(ControlError, match=r"no binding of sip:bob@example\.com with contact"):
        await operator.remove("bob@example.com", "sip:bob@192.0.2.1:5060")
    assert await operator.remove("sip:bob@example.com;transport=tcp") == 1


async def test_reload_without_a_file_reports_the_users(serve: Serve) -> None:
    server = await serve()
    result = await Operator(server).reload()
    assert result == {"users": "users not reloaded: auth is off", "applied": [],
                      "restart_needed": [], "errors": []}


async def test_a_stale_socket_is_replaced_and_a_live_one_is_not(serve: Serve,
                                                               tmp_path: Path) -> None:
    server = await serve()
    path = tmp_path / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening: what a dead server leaves
    stale.close()
    first = await ControlServer(path, Operator(server)).start()
    try:
        assert await asyncio.to_thread(ask, path, {"command": "registrations list"}) == []
        with pytest.raises(FileExistsError, match="another sipwire serve is running there"):
            await ControlServer(path, Operator(server)).start()
        # the first one still answers
        assert await asyncio.to_thread(ask, path, {"command": "registrations list"}) == []
    finally:
        await first.close()
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="a file that is not a socket"):
        await ControlServer(tmp_path / "file", Operator(server)).start()


async def test_operations_skip_a_default_socket_in_use(serve: Serve, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    server = await serve()
    first = await Operations(server).start()
    try:
        assert first.control is not None
        assert first.control.path == tmp_path / "sipwire" / "control.sock"
        second = await Operations(server).start()
        assert second.control is None
        assert "another sipwire serve is running there: no control socket" in caplog.text
    finally:
        await first.close()


def test_the_default_path() -> None:
    assert default_control_path({"XDG_RUNTIME_DIR": "/run/user/1000"}) == \
        Path("/run/user/1000/sipwire/control.sock")
    assert default_control_path({"XDG_RUNTIME_DIR": "relative"}) == \
        Path.cwd() / "sipwire-control.sock"
    assert default_control_path({}) == Path.cwd() / "sipwire-control.sock"


async def test_serve_on_a_control_path_in_use_does_not_start(tmp_path: Path) -> None:
    control = str(tmp_path / "ctl.sock")
    first = await start_serve("--listen", f"udp:127.0.0.1:{free_port()}", "--auth", "off",
                              "--store", "memory:", "--control", control, "--no-uvloop",
                              cwd=tmp_path)
    try:
        await first.wait_for("control=")
        process = await asyncio.create_subprocess_exec(
            *_serve_command("--listen", f"udp:127.0.0.1:{free_port()}", "--auth", "off",
                            "--store", "memory:", "--control", control, "--no-uvloop"),
            cwd=tmp_path, env=sipwire_environment(tmp_path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 1
        assert err.decode().splitlines()[-1] == (
            f"sipwire serve: cannot start: control socket {control}: another sipwire serve "
            "is running there (give another --control PATH)")
    finally:
        assert await first.terminate() == 0


def _serve_command(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "sipwire.cli.main", "serve", *args]


def test_the_operation_settings_from_the_file_and_the_flags(tmp_path: Path) -> None:
    import argparse

    from sipwire.server.config import add_arguments, load_config

    path = tmp_path / "sipwire.toml"
    path.write_text('http = "127.0.0.1:9090"\ncontrol = "/run/x.sock"\nlog_format = "json"\n'
                    'log_file = "syslog:"\ndrain_timeout = 7\n')
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = load_config(parser.parse_args(["--config", str(path)]))
    assert (config.http, config.control, config.log_format, config.log_file,
            config.drain_timeout) == ("127.0.0.1:9090", "/run/x.sock", "json", "syslog:", 7.0)
    config = load_config(parser.parse_args(
        ["--config", str(path), "--http", "[::1]:9091", "--control", "", "--log-format", "text",
         "--log-file", "/var/log/sipwire.log", "--drain-timeout", "0"]))
    assert (config.http, config.control, config.log_format, config.log_file,
            config.drain_timeout) == ("[::1]:9091", "", "text", "/var/log/sipwire.log", 0.0)
    assert load_config(parser.parse_args([])).control is None  # the default path, at start
