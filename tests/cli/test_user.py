"""``sipwire user add/list/remove``: HA1 hashes stored, never the password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def sipwire(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sipwire.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_add_list_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "users.db")
    added = sipwire("user", "add", "alice@example.com", "--password-stdin", "--users", db,
                    stdin="Circle Of Life\n")
    assert added.returncode == 0, added.stderr
    listed = sipwire("user", "list", "--users", db)
    assert listed.stdout.startswith("alice@example.com\t") and "SHA-256" in listed.stdout
    assert b"Circle Of Life" not in Path(db).read_bytes()
    again = sipwire("user", "add", "alice@example.com", "--password-stdin", "--users", db,
                    stdin="x\n")
    assert again.returncode == 1 and "exists" in again.stderr
    assert sipwire("user", "remove", "alice@example.com", "--users", db).returncode == 0
    assert sipwire("user", "list", "--users", db).stdout == ""
    assert sipwire("user", "remove", "alice@example.com", "--users", db).returncode == 1


def test_add_without_terminal_needs_password_stdin(tmp_path: Path) -> None:
    result = sipwire("user", "add", "bob@example.com", "--users", str(tmp_path / "u.db"),
                     stdin="")
    assert result.returncode == 2 and "--password-stdin" in result.stderr
