"""The base install needs nothing outside the standard library: websockets,
redis and uvloop are imported only when a ws/wss transport, a Redis store or
uvloop is asked for."""

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


def test_pyproject_declares_no_runtime_dependency() -> None:
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert meta["project"]["dependencies"] == []
