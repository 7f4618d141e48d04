"""contrib/: the systemd unit, its configuration file and the Dockerfile work
as their comments say."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from sipwire.cli.main import build_parser
from sipwire.server.config import load_config
from tests.server.processes import free_port, sipwire_environment

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib"
UNIT = CONTRIB / "systemd" / "sipwire.service"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    return unit


def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    sipwire = Path(sys.executable).with_name("sipwire")
    assert sipwire.exists(), "sipwire is installed beside the test interpreter"
    text = UNIT.read_text().replace("/usr/local/bin/sipwire", str(sipwire))
    unit = tmp_path / "sipwire.service"
    unit.write_text(text)
    result = subprocess.run([verify, "verify", "--man=no", str(unit)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_unit_runs_serve_with_the_contrib_config_and_reloads_by_sighup() -> None:
    service = _unit()["Service"]
    args = shlex.split(service["ExecStart"])
    assert args[0] == "/usr/local/bin/sipwire" and args[1] == "serve"
    parsed = build_parser().parse_args(args[1:])
    assert parsed.config == "/etc/sipwire/sipwire.toml"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert service["RuntimeDirectory"] == "sipwire" and service["StateDirectory"] == "sipwire"
    config = load_config(path=str(CONTRIB / "sipwire.toml"))
    assert config.control == "/run/sipwire/control.sock"  # in RuntimeDirectory
    assert config.store.startswith("sqlite:////var/lib/sipwire/")  # in StateDirectory
    assert config.users == service["Environment"].partition("=")[2]


def test_the_contrib_config_serves_answers_health_and_the_control_socket(
        tmp_path: Path) -> None:
    """The file as shipped, its paths and addresses moved into the test's."""
    data = tomllib.loads((CONTRIB / "sipwire.toml").read_text())
    port, http = free_port(), free_port()
    text = (CONTRIB / "sipwire.toml").read_text()
    text = text.replace("/var/lib/sipwire", str(tmp_path)).replace(
        "/run/sipwire", str(tmp_path)).replace("0.0.0.0:5060", f"127.0.0.1:{port}").replace(
        "127.0.0.1:9090", f"127.0.0.1:{http}")
    config = tmp_path / "sipwire.toml"
    config.write_text(text)
    env = sipwire_environment(tmp_path)
    command = [sys.executable, "-m", "sipwire.cli.main"]
    domain = data["domains"][0]
    subprocess.run([*command, "user", "add", f"alice@{domain}", "--users",
                    str(tmp_path / "users.db"), "--password-stdin"],
                   input="s3cret\n", text=True, env=env, check=True, timeout=60)
    server = subprocess.Popen([*command, "serve", "--config", str(config)], env=env,
                              cwd=tmp_path, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        while "serving domains=" not in (line := server.stderr.readline()):
            assert line, "sipwire serve ended before serving"
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=10) as reply:
            assert reply.status == 200
        control = str(tmp_path / "control.sock")
        stats = subprocess.run([*command, "stats", "--control", control],
                               capture_output=True, text=True, env=env, timeout=60,
                               check=False)
        assert stats.returncode == 0, stats.stderr
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_the_dockerfile_copies_what_exists_and_runs_a_valid_command() -> None:
    lines = (CONTRIB / "docker" / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT "))
    cmd = next(line for line in lines if line.startswith("CMD "))
    argv = json.loads(entrypoint.partition(" ")[2]) + json.loads(cmd.partition(" ")[2])
    assert argv[0] == "sipwire"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    load_config(args)  # every value of the command is accepted


def test_docker_builds_the_image(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed: the Dockerfile is checked statically only")
    info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        pytest.skip("no Docker daemon to build with (`docker info` fails): the Dockerfile "
                    "is checked statically only")
    tag = f"sipwire-test:{int(time.time())}"
    build = subprocess.run([docker, "build", "-f", str(CONTRIB / "docker" / "Dockerfile"),
                            "-t", tag, str(ROOT)], capture_output=True, text=True,
                           timeout=1200, check=False)
    try:
        assert build.returncode == 0, build.stderr[-3000:]
        version = subprocess.run([docker, "run", "--rm", tag, "--version"],
                                 capture_output=True, text=True, timeout=300, check=False)
        assert version.stdout.startswith("sipwire "), version.stderr
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=300,
                       check=False)
