"""The default install is the full, fast server (websockets, redis, uvloop and
dnspython come with it), yet the library imports none of them until a ws/wss
transport, a Redis store, uvloop or an RFC 3263 lookup is asked for: a
program that only parses messages does not pay for them."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
for name in ("websockets", "redis", "uvloop", "dns"):
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


def test_the_readme_installs_the_default_distribution() -> None:
    """The README's first command is ``pip install .``, no extra needed: the
    dependencies above are the full server."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    first = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first is not None
    assert re.search(r"pip install (-q )?\.( |&|$)", first.group(1)), first.group(1)
    assert "sipwire serve" in first.group(1)


def test_each_dependency_is_the_package_its_feature_imports() -> None:
    """The ws transport, the Redis store and the resolver import the packages
    the dependencies install (uvloop is imported by ``serve`` at start)."""
    import importlib

    for module, package in (("sipwire.transport.ws", "websockets"),
                            ("sipwire.location.redis_store", "redis"),
                            ("sipwire.dns.resolver", "dns")):
        probe = subprocess.run(
            [sys.executable, "-c", f"import sys, {module}; print({package!r} in sys.modules)"],
            capture_output=True, text=True, timeout=60, check=False)
        assert probe.stdout.strip() == "True", (module, probe.stderr)
    importlib.import_module("uvloop")
