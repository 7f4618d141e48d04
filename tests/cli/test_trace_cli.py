"""``serve --trace --pcap`` and ``listen --raw --pcap`` as a user runs them:
the bytes a raw socket sent are in the trace and the pcap byte for byte, and
what the trace says was sent is what the socket got."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from sipwire.trace import read_capture, read_trace

from ..server.processes import free_port, sipwire_environment
from .conftest import COMMAND, RUN_TIMEOUT, RunCli

ODD = (b"OPTIONS sip:127.0.0.1:{S} SIP/2.0\r\nv:SIP/2.0/UDP   127.0.0.1:{P};branch=z9hG4bK-{N}\r\n"
       b"f:   <sip:a@example.com>;tag=1\r\nt:<sip:127.0.0.1>\r\ni:  odd-{N}@x \r\n"
       b"CSeq:    7   OPTIONS\r\nX-Odd :  a  b\r\nl:0\r\n\r\n")


def odd(port: int, n: int, server: int) -> bytes:
    return ODD.replace(b"{P}", str(port).encode()).replace(b"{N}", str(n).encode()) \
        .replace(b"{S}", str(server).encode())


def wait_for(path: Path, text: bytes, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while text not in path.read_bytes():
        assert proc.poll() is None, path.read_bytes().decode(errors="replace")
        assert time.monotonic() < deadline, f"{text!r} never came"
        time.sleep(0.05)


def ask(peer: socket.socket, port: int, data: bytes) -> bytes:
    peer.sendto(data, ("127.0.0.1", port))
    return peer.recv(65535)


def test_serve_trace_and_pcap_hold_the_exact_bytes(tmp_path: Path) -> None:
    port = free_port()
    err, pcap = tmp_path / "stderr.log", tmp_path / "serve.pcap"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*COMMAND, "serve", "--listen", f"udp:127.0.0.1:{port}", "--store", "memory:",
             "--auth", "off", "--domain", "example.com", "--trace", "--pcap", str(pcap)],
            cwd=tmp_path, env=sipwire_environment(tmp_path), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(err, b"serving domains=", proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(RUN_TIMEOUT)
            me = peer.getsockname()[1]
            data = odd(me, 1, port)
            answer = ask(peer, port, data)
        wait_for(err, b"sent UDP", proc)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(RUN_TIMEOUT)
    log = err.read_bytes()
    # the header line, then the datagram exactly as it came (CRLFs and all)
    assert (f"recv UDP 127.0.0.1:{me} -> 127.0.0.1:{port} ({len(data)} bytes)\n".encode()
            + data) in log
    received, sent = read_trace(log)
    assert received.data == data and sent.data == answer
    assert answer.startswith(b"SIP/2.0 200 OK\r\n")
    assert [r.data for r in read_capture(pcap.read_bytes())] == [data, answer]
    # sipwire ladder reads the trace log, log lines and all
    ladder = subprocess.run([*COMMAND, "ladder", str(err)], capture_output=True, text=True,
                            timeout=RUN_TIMEOUT, check=True)
    assert ladder.stdout.startswith("Call-ID odd-1@x - ")
    assert "OPTIONS sip:127.0.0.1" in ladder.stdout and "=200 OK=" in ladder.stdout


def test_listen_raw_prints_what_came_and_went(tmp_path: Path) -> None:
    pcap = tmp_path / "listen.pcap"
    proc = subprocess.Popen([*COMMAND, "listen", "udp:127.0.0.1:0", "--raw", "--count", "1",
                             "--pcap", str(pcap)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("listening on udp:127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(RUN_TIMEOUT)
            data = odd(peer.getsockname()[1], 2, port)
            answer = ask(peer, port, data)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(RUN_TIMEOUT)
    assert proc.returncode == 0, err
    assert [(r.direction, r.data) for r in read_trace(out)] == [("recv", data),
                                                                ("sent", answer)]
    assert [r.data for r in read_capture(pcap.read_bytes())] == [data, answer]


def test_pcap_and_hep_from_toml_and_flags(tmp_path: Path) -> None:
    import argparse

    import pytest

    from sipwire.server.config import ConfigError, ServerConfig, add_arguments, load_config

    path = tmp_path / "sipwire.toml"
    path.write_text('pcap = "calls.pcap"\nhep = "127.0.0.1:9060"\nhep_id = 2001\n'
                    "trace = true\n")
    config = load_config(path=str(path))
    assert (config.pcap, config.hep, config.hep_id, config.trace) == (
        "calls.pcap", "127.0.0.1:9060", 2001, True)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--config", str(path), "--pcap", "other.pcap", "--hep",
                              "[::1]:9060", "--hep-id", "3", "--no-trace"])
    config = load_config(args)
    assert (config.pcap, config.hep, config.hep_id, config.trace) == (
        "other.pcap", "[::1]:9060", 3, False)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        ServerConfig(hep="collector.example.com").check()


async def test_a_pcap_or_hep_that_cannot_be_used_stops_the_start(run_cli: RunCli,
                                                                   tmp_path: Path) -> None:
    bad = tmp_path / "no" / "such" / "dir.pcap"
    base = ("serve", "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--auth", "off")
    result = await run_cli(*base, "--pcap", str(bad))
    assert result.status == 1
    assert f"--pcap {bad}: No such file or directory" in result.err
    result = await run_cli(*base, "--hep", "collector.invalid:9060")
    assert result.status == 1 and "--hep collector.invalid:9060: " in result.err
    result = await run_cli("listen", "udp:127.0.0.1:0", "--pcap", str(bad))
    assert result.status == 1 and f"--pcap {bad}" in result.err
