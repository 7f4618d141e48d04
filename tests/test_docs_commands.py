"""The shell commands the docs give run as written (the port aside)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.processes import free_port, sipwire_environment

ROOT = Path(__file__).resolve().parents[1]


def sh_block_after(page: Path, heading: str) -> list[str]:
    """The lines of the first ```sh block after ``heading`` in ``page``."""
    text = page.read_text()
    start = text.index(heading)
    match = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert match is not None, f"no sh block after {heading!r} in {page}"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_sipp_registers_with_the_commands_of_serve_md(tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed (apt-get install sip-tester)")
    add, serve, register = sh_block_after(ROOT / "docs" / "serve.md", "## Registering a phone")
    port = free_port()
    env = sipwire_environment(tmp_path)
    sipwire = [sys.executable, "-m", "sipwire.cli.main"]

    echo, _, add_command = add.partition(" | ")
    password = shlex.split(echo)[1]
    args = shlex.split(add_command)
    assert args[0] == "sipwire"
    subprocess.run(sipwire + args[1:], input=password + "\n", text=True, env=env, cwd=tmp_path,
                   check=True, timeout=60)

    args = shlex.split(serve.removesuffix("&"))
    assert args[0] == "sipwire"
    server = subprocess.Popen(
        sipwire + args[1:] + ["--listen", f"udp:127.0.0.1:{port}", "--store", "memory:"],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        while "serving domains=" not in (line := server.stderr.readline()):
            assert line, "sipwire serve ended before serving"
        args = shlex.split(register.replace("127.0.0.1:5060", f"127.0.0.1:{port}"))
        assert args[0] == "sipp"
        sipp_dir = tmp_path / "sipp"
        sipp_dir.mkdir()
        scenario = ROOT / args[args.index("-sf") + 1]
        args[args.index("-sf") + 1] = str(scenario)
        run = subprocess.run([sipp, *args[1:], "-nostdin",
                              "-timeout", "10", "-timeout_error", "-p", str(free_port())],
                             cwd=sipp_dir, capture_output=True, timeout=60, check=False)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_readme_library_example_runs() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## The library\n\n```python\n(.*?)```", text, re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert namespace["resp"].status == 200  # type: ignore[attr-defined]
    assert namespace["msg"].method == "INVITE"  # type: ignore[attr-defined]


def test_every_command_line_of_the_readme_parses() -> None:
    """The README's command list is made of commands the parser accepts."""
    from sipwire.cli.main import build_parser

    text = (ROOT / "README.md").read_text()
    block = re.search(r"## The command line\n\n```sh\n(.*?)```", text, re.S)
    assert block is not None
    parser = build_parser()
    lines = block.group(1).replace("\\\n", " ").splitlines()
    seen = 0
    for line in lines:
        for command in line.split("#", 1)[0].split(";"):
            command = command.partition("|")[2] if "|" in command else command
            words = shlex.split(command.replace("[", "").replace("]", ""))  # [--opt]: given
            if not words or words[0] != "sipwire":
                continue
            parser.parse_args(words[1:])  # SystemExit (a failing test) if not
            seen += 1
    assert seen >= 20
