"""Which build is loaded: the compiled extension modules or pure Python.

``scripts/test.sh`` runs the suite twice and says which build each run must
have loaded with ``SIPWIRE_EXPECT_COMPILED`` (1: compiled, 0: pure); without
it, the tests check only that the build's description is consistent.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sipwire
from sipwire._build import BUILD, build_description, compiled_modules

from .server.processes import SIPWIRE_PATH

EXPECT = os.environ.get("SIPWIRE_EXPECT_COMPILED")
#: modules on the hot path that a compiled build must have compiled
HOT = ("sipwire.message.parser", "sipwire.message.headers", "sipwire.message.message",
       "sipwire.message.fields.via", "sipwire.message.fields.nameaddr", "sipwire.message.uri",
       "sipwire.transaction.layer", "sipwire.transport.layer", "sipwire.proxy.core",
       "sipwire.registrar.core", "sipwire.registrar.registrar", "sipwire.server.engine",
       "sipwire.location.memory_store")
#: the C twins, which have no .py of their name: a compiled build without them
#: would run their pure-Python twins (scanner.py, the regexes)
TWINS = ("sipwire.message._cscanner", "sipwire.message.fields._cfields")


def _is_extension(module_name: str) -> bool:
    module = importlib.import_module(module_name)
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_every_listed_module_is_loaded_from_its_extension() -> None:
    names = compiled_modules()
    assert list(names) == sorted(set(names))
    for name in names:
        assert _is_extension(name), name
    assert BUILD == build_description() == (
        "pure Python" if not names else f"compiled: {len(names)} modules")
    assert sipwire.BUILD == BUILD


@pytest.mark.skipif(EXPECT != "1", reason="SIPWIRE_EXPECT_COMPILED=1 is not set")
def test_the_compiled_build_is_loaded() -> None:
    names = compiled_modules()
    assert names, "SIPWIRE_EXPECT_COMPILED=1 but sipwire is pure Python here"
    for name in HOT + TWINS:
        assert name in names, name
        assert _is_extension(name), name
    # modules run with ``python -m`` stay Python
    assert "sipwire.cli.main" not in names


#: Py_TPFLAGS_HEAPTYPE: a class statement's type, not a compiled extension type's
_HEAPTYPE = 1 << 9


def _declared_classes() -> list[tuple[str, str]]:
    """(module, class) of each ``cdef class`` in the source tree's .pxd files."""
    src = Path(__file__).resolve().parent.parent / "src"
    found = []
    for pxd in sorted((src / "sipwire").rglob("*.pxd")):
        module = ".".join(pxd.relative_to(src).with_suffix("").parts)
        found += [(module, m.group(1))
                  for m in re.finditer(r"^cdef class (\w+)", pxd.read_text(), re.M)]
    return found


@pytest.mark.skipif(EXPECT != "1", reason="SIPWIRE_EXPECT_COMPILED=1 is not set")
def test_every_class_a_pxd_declares_is_an_extension_type() -> None:
    # a .pxd whose class Cython did not apply (renamed, moved) would leave a
    # Python class: the build works, slower, and nothing else would say so
    declared = _declared_classes()
    assert ("sipwire.message.uri", "URI") in declared
    for module, name in declared:
        cls = getattr(importlib.import_module(module), name)
        assert not cls.__flags__ & _HEAPTYPE, f"{module}.{name} is not an extension type"


@pytest.mark.skipif(EXPECT != "0", reason="SIPWIRE_EXPECT_COMPILED=0 is not set")
def test_the_pure_build_is_loaded() -> None:
    for module, name in _declared_classes():
        cls = getattr(importlib.import_module(module), name)
        assert cls.__flags__ & _HEAPTYPE, f"{module}.{name}"
    assert compiled_modules() == ()
    for name in HOT:
        assert not _is_extension(name), name
    for name in TWINS:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)


def test_version_names_the_build() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sipwire.cli.main", "--version"], capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, "PYTHONPATH": SIPWIRE_PATH})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sipwire {sipwire.__version__} ({BUILD})"
