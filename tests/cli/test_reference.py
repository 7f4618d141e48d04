"""The command-line reference (docs/cli.md) and manual page (docs/sipwire.1)
are generated from the parser, and every flag explains itself."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from sipwire.cli.reference import commands, man_page, markdown
from sipwire.server.config import ServerConfig, add_arguments, toml_key

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ("regenerate with `python -m sipwire.cli.reference --markdown > docs/cli.md` "
              "and `--man > docs/sipwire.1`")

#: settings deliberately without a flag: a secret does not belong on a command
#: line (ps shows it); ``extra`` holds the keys of embedders, not of the file
NO_FLAG = {"secret", "extra"}


def test_every_flag_and_argument_of_every_command_has_help() -> None:
    missing = [(command.name, option.names or option.metavar)
               for command in commands() for option in command.options
               if not option.help.strip() or option.help.startswith("(")]
    assert missing == []
    assert all(command.description or command.summary for command in commands())


def test_every_serve_setting_has_a_flag_and_a_toml_key() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    dests = {action.dest for action in parser._actions}
    names = {f.name for f in fields(ServerConfig)}
    assert sorted(names - dests - NO_FLAG) == []
    assert sorted(name for name in names - {"extra"} if toml_key(name) is None) == []


def test_the_reference_lists_every_serve_flag_with_its_toml_key() -> None:
    text = markdown()
    assert "| `--listen TRANSPORT:HOST:PORT` | `listen` |" in text
    assert "| `--[no-]record-route` | `proxy.record_route` |" in text
    assert "| `--config FILE` | (flag only) |" in text
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and not flag.startswith("--no-") and flag != "--help":
                assert f"`{flag}" in text or f"--[no-]{flag[2:]}" in text, flag


def test_docs_cli_md_is_what_the_parser_generates() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == markdown(), REGENERATE


def test_the_man_page_is_what_the_parser_generates_and_man_renders_it_cleanly() -> None:
    page = ROOT / "docs" / "sipwire.1"
    assert page.read_text() == man_page(), REGENERATE
    groff = shutil.which("groff")
    if groff is None:
        pytest.fail("groff is not installed (apt-get install groff-base)")
    result = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(page)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == ""
    rendered = subprocess.run([groff, "-man", "-Tutf8", str(page)], capture_output=True,
                              timeout=60, check=True).stdout.decode()
    rendered = re.sub(".\x08", "", rendered)  # overstrike bold and underline
    assert "sipwire serve" in rendered and "--max-message-size" in rendered.replace("‐", "-")


def test_the_man_page_is_installed_with_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"share/man/man1" = ["docs/sipwire.1"]' in pyproject


def test_the_generator_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "sipwire.cli.reference", "--man"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == man_page()
