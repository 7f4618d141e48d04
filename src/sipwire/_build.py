"""Which build of sipwire is loaded: compiled extension modules or pure Python.

``pip install .`` with a C compiler compiles the hot modules with Cython from
the same ``.py`` files (see ``setup.py``); the ``.py`` files are installed too
and are what runs wherever no extension module was built.  Python's import
system prefers an extension module to the ``.py`` of the same name in one
directory, so a module is compiled exactly when its extension file sits beside
it.
"""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

__all__ = ["BUILD", "build_description", "compiled_modules"]

_PACKAGE = Path(__file__).resolve().parent


def compiled_modules() -> tuple[str, ...]:
    """The dotted names of the sipwire modules that are extension modules,
    sorted; empty for a pure-Python build."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found: list[str] = []
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = [name for name in dirs if name.isidentifier()]
        rel = Path(folder).relative_to(_PACKAGE.parent).parts
        for name in files:
            for suffix in suffixes:
                if name.endswith(suffix):
                    found.append(".".join((*rel, name[: -len(suffix)])))
                    break
    return tuple(sorted(found))


def build_description() -> str:
    """``compiled: N modules`` or ``pure Python``, as ``sipwire --version`` says."""
    count = len(compiled_modules())
    if count == 0:
        return "pure Python"
    return f"compiled: {count} module{'s' if count != 1 else ''}"


#: the description of the loaded build, computed once at import
BUILD = build_description()
