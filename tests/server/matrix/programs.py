"""The outside programs a cell needs, and what to do when one is missing.

A missing program skips its cells, with the package to install, unless the
run requires it: ``SIPWIRE_REQUIRE_<NAME>=1`` (``scripts/services.sh`` sets
these when ``CI`` is set) or ``CI=true``; then the cells fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: program -> (the environment variable requiring it, the Debian package)
PROGRAMS = {
    "baresip": ("SIPWIRE_REQUIRE_BARESIP", "baresip"),
    "sipp": ("SIPWIRE_REQUIRE_SIPP", "sip-tester"),
    "kamailio": ("SIPWIRE_REQUIRE_KAMAILIO", "kamailio"),
    "tshark": ("SIPWIRE_REQUIRE_TSHARK", "tshark"),
    "openssl": ("SIPWIRE_REQUIRE_OPENSSL", "openssl"),
}

BARESIP_MODULE_DIRS = ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules",
                       "/usr/lib/x86_64-linux-gnu/baresip/modules")
BARESIP_MODULES = ("account.so", "menu.so", "ctrl_tcp.so", "g711.so")


class Missing(Exception):
    """A program a cell needs is not installed; ``required`` says the run needs it."""

    def __init__(self, reason: str, *, required: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.required = required


def required(name: str) -> bool:
    variable, _ = PROGRAMS[name]
    return os.environ.get(variable) == "1" or os.environ.get("CI") == "true"


def find(name: str) -> str:
    """The path of ``name``, or ``Missing``."""
    path = shutil.which(name)
    if path is None:
        variable, package = PROGRAMS[name]
        raise Missing(f"{name} is not installed (apt-get install {package}; "
                      f"{variable}=1 or CI=true make this a failure)", required=required(name))
    return path


def baresip_modules() -> Path:
    """The directory holding the baresip modules the phones load."""
    find("baresip")
    for candidate in BARESIP_MODULE_DIRS:
        if all(Path(candidate, module).exists() for module in BARESIP_MODULES):
            return Path(candidate)
    raise Missing(f"no baresip module directory with {', '.join(BARESIP_MODULES)}",
                  required=required("baresip"))
