"""Every failure of a command is one line naming the file, address or setting,
and a non-zero exit; the traceback only with ``--debug``."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server.processes import sipwire_environment

CORPUS = Path(__file__).parent.parent / "message" / "corpus"


def sipwire(*args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwire.cli.main", *args], input=stdin.decode(), cwd=cwd,
        env=env or sipwire_environment(cwd), capture_output=True, text=True, timeout=60,
        check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure line, asserting it is the only output and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["parse", "lint"])
def test_a_directory_is_named(command: str, tmp_path: Path) -> None:
    line = one_line(sipwire(command, str(tmp_path), cwd=tmp_path))
    assert line == f"sipwire {command}: {tmp_path}: is a directory"


def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path: Path) -> None:
    for args in (("--debug", "parse", str(tmp_path)), ("parse", str(tmp_path), "--debug")):
        result = sipwire(*args, cwd=tmp_path)
        assert result.returncode != 0
        assert "Traceback" in result.stderr and "IsADirectoryError" in result.stderr


def test_a_binary_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bin.toml"
    config.write_bytes(b"\x00\xff\xfe\x80binary")
    line = one_line(sipwire("serve", "--config", str(config), cwd=tmp_path))
    assert line.startswith(f"sipwire serve: {config}: not a TOML file")


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--domain", "exa mple", "--domain 'exa mple': not a host name or IP address"),
        ("--max-message-size", "10", "--max-message-size 10: must be 1500-"),
        ("--listen", "udp:127.0.0.1:70000", "--listen 'udp:127.0.0.1:70000': port must be"),
        ("--listen", "udp:bad host:5060", "--listen 'udp:bad host:5060': 'bad host' is not"),
        ("--max-connections", "0", "--max-connections 0: must be more than 0"),
    ],
)
def test_bad_values_are_refused_at_start(flag: str, value: str, named: str,
                                         tmp_path: Path) -> None:
    line = one_line(sipwire("serve", flag, value, "--auth", "off", cwd=tmp_path))
    assert line.startswith(f"sipwire serve: {named}"), line


def test_an_address_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = sipwire("serve", "--listen", f"udp:127.0.0.1:{port}", "--auth", "off",
                         "--store", "memory:", cwd=tmp_path)
    assert one_line(result) == (f"sipwire serve: cannot start: cannot listen on "
                                f"udp:127.0.0.1:{port}: address already in use")
    assert result.returncode == 1


def test_an_unreachable_redis_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = sipwire("serve", "--listen", "udp:127.0.0.1:0", "--auth", "off",
                     "--store", f"redis://127.0.0.1:{port}/0", cwd=tmp_path)
    line = one_line(result)
    assert line.startswith(f"sipwire serve: cannot start: store redis://127.0.0.1:{port}/0: ")
    assert line.endswith("(--no-store-check starts anyway)")


def test_no_store_check_starts_with_an_unreachable_redis(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sipwire.cli.main", "serve", "--listen", "udp:127.0.0.1:0",
         "--auth", "off", "--no-store-check", "--store", f"redis://127.0.0.1:{port}/0"],
        cwd=tmp_path, env=sipwire_environment(tmp_path), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "serving domains=" not in seen and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        assert "serving domains=" in seen, seen
    finally:
        process.terminate()
        process.wait(timeout=30)


def _hide_package(tmp_path: Path, name: str) -> dict[str, str]:
    """An environment in which ``import name`` fails as for a missing package."""
    shadow = tmp_path / "shadow" / name
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        f'raise ModuleNotFoundError("No module named {name}", name="{name}")\n')
    env = sipwire_environment(tmp_path)
    env["PYTHONPATH"] = str(shadow.parent) + os.pathsep + env["PYTHONPATH"]
    return env


def test_a_missing_redis_package_is_named(tmp_path: Path) -> None:
    result = sipwire("serve", "--listen", "udp:127.0.0.1:0", "--auth", "off",
                     "--store", "redis://127.0.0.1:6379/0", cwd=tmp_path,
                     env=_hide_package(tmp_path, "redis"))
    assert one_line(result) == ("sipwire serve: cannot start: redis://127.0.0.1:6379/0: the "
                                "Redis store needs the redis package, which `pip install "
                                "sipwire` installs")


def test_a_missing_websockets_package_is_named(tmp_path: Path) -> None:
    result = sipwire("serve", "--listen", "ws:127.0.0.1:0", "--auth", "off",
                     "--store", "memory:", cwd=tmp_path, env=_hide_package(tmp_path, "websockets"))
    line = one_line(result)
    assert line.startswith("sipwire serve: cannot start: ws:127.0.0.1:0: WebSocket (RFC 7118) "
                           "needs the websockets package"), line


def test_a_corrupt_user_file_is_named(tmp_path: Path) -> None:
    users = tmp_path / "users.db"
    users.write_text("not a database\n" * 100)
    for command in (("user", "list"), ("user", "add", "a@example.com", "--password-stdin")):
        result = sipwire(*command, "--users", str(users), cwd=tmp_path, stdin=b"secret\n")
        assert one_line(result) == (f"sipwire user {command[1]}: {users}: not a user file "
                                    "(file is not a database)")
    line = one_line(sipwire("serve", "--users", str(users), "--listen", "udp:127.0.0.1:0",
                            "--store", "memory:", cwd=tmp_path))
    assert line.startswith(f"sipwire serve: cannot start: {users}: cannot read users")


def test_ctrl_d_at_the_password_prompt(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: sipwire on a terminal
        env = sipwire_environment(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "sipwire.cli.main", "user", "add",
                                   "a@example.com", "--users", str(tmp_path / "u.db")], env)
    output = b""
    deadline = time.monotonic() + 30
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if b"Password for" in output and not sent:
            os.write(fd, b"\x04")  # Ctrl-D
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert sent, output
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"sipwire user add: no password given" in output
    assert b"Traceback" not in output


#: (arguments, the one line), ``{tmp}`` standing for the test's directory: the
#: new commands and flags fail as the old ones do, usage errors included
ONE_LINE_FAILURES = [
    (("ladder", "{tmp}/garbage.pcap"), "sipwire ladder: {tmp}/garbage.pcap: no SIP message"),
    (("ladder", "{tmp}"), "sipwire ladder: {tmp}: is a directory"),
    (("ladder", "{tmp}/none.pcap"), "sipwire ladder: {tmp}/none.pcap: no such file"),
    (("ladder", "{tmp}/call.log", "--svg", "{tmp}/no/dir/x.svg"),
     "sipwire ladder: {tmp}/no/dir/x.svg: no such file"),
    (("ladder",), "sipwire ladder: the following arguments are required: file "
                  "(see sipwire ladder --help)"),
    (("registrations", "list", "--control", "{tmp}/none.sock"),
     "sipwire registrations list: no sipwire serve is running with control socket "
     "{tmp}/none.sock"),
    (("stats", "--control", "{tmp}/none.sock"),
     "sipwire stats: no sipwire serve is running with control socket {tmp}/none.sock"),
    (("reload", "--control", "{tmp}/none.sock"),
     "sipwire reload: no sipwire serve is running with control socket {tmp}/none.sock"),
    (("options", "sip:a@127.0.0.1", "--dns-server", "ns.example.com"),
     "sipwire options: argument --dns-server: bad DNS server 'ns.example.com': the host must "
     "be an IP address (see sipwire options --help)"),
    (("call", "sip:a@127.0.0.1", "--dns-server", "127.0.0.1:99999"),
     "sipwire call: argument --dns-server: bad DNS server '127.0.0.1:99999': bad port "
     "'99999' (see sipwire call --help)"),
    (("serve", "--dns-server", "ns.example.com"),
     "sipwire serve: --dns-server: bad DNS server 'ns.example.com': the host must be an IP "
     "address"),
    (("serve", "--no-such-flag"),
     "sipwire serve: unrecognized arguments: --no-such-flag (see sipwire serve --help)"),
    (("serve", "--tls-verify", "off"),
     "sipwire serve: argument --tls-verify: invalid choice: 'off' (choose from 'peer', "
     "'none') (see sipwire serve --help)"),
    (("serve", "--http", "nowhere"), "sipwire serve: --http: expected HOST:PORT, not 'nowhere'"),
    (("serve", "--pcap", "{tmp}/no/dir/s.pcap"),
     "sipwire serve: cannot start: --pcap {tmp}/no/dir/s.pcap: No such file or directory"),
    (("serve", "--hep", "collector"), "sipwire serve: --hep 'collector': expected HOST:PORT"),
    (("serve", "--hep", "127.0.0.1:99999"),
     "sipwire serve: --hep '127.0.0.1:99999': expected HOST:PORT, a port 1-65535"),
    (("serve", "--hep", "127.0.0.1:9060", "--hep-id", "-1"),
     "sipwire serve: --hep-id -1: must be 0-4294967295 (32 bits)"),
    (("serve", "--control", "{tmp}/no/dir/c.sock"),
     "sipwire serve: cannot start: cannot open control socket {tmp}/no/dir/c.sock: no such "
     "file or directory"),
    (("listen", "udp:127.0.0.1:0", "--pcap", "{tmp}/no/dir/l.pcap"),
     "sipwire listen: --pcap {tmp}/no/dir/l.pcap: No such file or directory"),
]


@pytest.mark.parametrize(("args", "expected"), ONE_LINE_FAILURES,
                         ids=[" ".join(args) for args, _ in ONE_LINE_FAILURES])
def test_each_failure_is_one_line(args: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    (tmp_path / "garbage.pcap").write_bytes(b"\xd4\xc3\xb2\xa1 not really a capture")
    (tmp_path / "call.log").write_bytes(
        b"--- 2026-12-02T07:41:04.811570Z sent UDP 127.0.0.1:5060 -> 127.0.0.1:5062 "
        b"(9 bytes)\nOPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n\n")
    serve_flags: tuple[str, ...] = ()
    if args[0] == "serve":
        serve_flags = ("--listen", "udp:127.0.0.1:0", "--store", "memory:", "--auth", "off")
        if "--control" not in args:
            serve_flags += ("--control", "")
    argv = [arg.format(tmp=tmp_path) for arg in args]
    line = one_line(sipwire(*argv, *serve_flags, cwd=tmp_path))
    assert line.startswith(expected.format(tmp=tmp_path)), line


def test_an_http_address_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = sipwire("serve", "--listen", "udp:127.0.0.1:0", "--auth", "off", "--store",
                         "memory:", "--control", "", "--http", f"127.0.0.1:{port}", cwd=tmp_path)
    assert one_line(result) == (f"sipwire serve: cannot start: cannot serve HTTP on "
                                f"127.0.0.1:{port}: address already in use")


def test_a_store_that_cannot_open_is_one_line_with_several_workers(tmp_path: Path) -> None:
    env = sipwire_environment(tmp_path, SIPWIRE_WORKERS="2")
    result = sipwire("serve", "--listen", "udp:127.0.0.1:0", "--auth", "off",
                     "--store", f"sqlite:///{tmp_path}/no/such/dir/loc.db", cwd=tmp_path,
                     env=env)
    line = one_line(result)
    assert line.startswith("sipwire serve: cannot start: cannot open location database")
    assert result.returncode == 1
