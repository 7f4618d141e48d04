"""The default install is the full, fast server (websockets, redis and uvloop
come with it), yet the library imports none of them until a ws/wss
transport, a Redis store or uvloop is asked for: a program that only parses
messages does not pay for them."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
for name in ("websockets", "redis", "uvloop"):
    sys.modules[name] = None  # importing it now raises ImportError
import sipwire, sipwire.cli.main, sipwire.transport, sipwire.ua, sipwire.server.app
import sipwire.location, sipwire.registrar, sipwire.proxy, sipwire.auth
from sipwire.location import open_store
open_store("memory:")
print("ok")
"""


def test_core_imports_without_optional_packages() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_the_default_install_is_the_full_server() -> None:
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    names = {dep.split(">")[0].split(";")[0].strip() for dep in meta["project"]["dependencies"]}
    assert names == {"websockets", "redis", "uvloop", "dnspython"}
