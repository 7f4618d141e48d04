"""Build sipwire: the same ``.py`` sources, optionally compiled with Cython.

``pip install .`` on a machine with a C compiler compiles the hot modules
(the message, transaction, transport, registrar, routing and proxy layers)
to extension modules with Cython's pure-Python mode; the ``.pxd`` files
beside some of them declare their classes as extension types.  The ``.py``
files stay the source of truth and the fallback:

* ``SIPWIRE_NO_EXTENSIONS=1`` skips the compilation: a pure-Python install;
* a failed compilation (no compiler, no Python headers) is reported and the
  install goes on in pure Python, which works the same;
* an editable install (``pip install -e .``) never compiles, so that no
  extension module built from an older ``.py`` shadows the file being edited
  (``SIPWIRE_EDITABLE_EXTENSIONS=1`` compiles in place anyway, for whoever
  wants that and knows to rebuild after each edit).

``sipwire --version`` and ``sipwire._build.compiled_modules()`` tell which
build is loaded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

#: packages (and single modules) whose modules are compiled
COMPILED = (
    "sipwire/message",
    "sipwire/transaction",
    "sipwire/transport",
    "sipwire/registrar",
    "sipwire/routing",
    "sipwire/proxy",
    # what every request of `sipwire serve` runs through besides: the engine
    # and its helpers, and the memory location store (-2 % instructions per
    # REGISTER, -1 % per call with its end: BENCHMARKS.md)
    "sipwire/server/engine",
    "sipwire/server/eager",
    "sipwire/server/metrics",
    "sipwire/server/overload",
    "sipwire/server/policy",
    "sipwire/location/binding",
    "sipwire/location/store",
    "sipwire/location/memory_store",
)
#: modules of those packages left as Python (the modules run with ``python -m``,
#: sipwire.cli.*, and the benchmarks are outside them; the rest of server/,
#: location/ and auth/ are not on the path of a request)
PURE: set[str] = set()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false")


def _module_paths() -> list[Path]:
    paths: list[Path] = []
    for entry in COMPILED:
        base = SRC / entry
        # a .pyx is a Cython module with no .py of its name (a .py twin of
        # another name is the fallback, as message/_cscanner.pyx and scanner.py)
        found = sorted(base.rglob("*.py")) + sorted(base.rglob("*.pyx")) if base.is_dir() \
            else [base.with_suffix(".py")]
        for path in found:
            rel = path.relative_to(SRC).as_posix()
            if path.name != "__init__.py" and rel not in PURE:
                paths.append(path)
    return paths


def _extensions() -> list[Any]:
    if _flag("SIPWIRE_NO_EXTENSIONS"):
        print("sipwire: SIPWIRE_NO_EXTENSIONS is set: pure-Python install", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("sipwire: Cython is not installed: pure-Python install", file=sys.stderr)
        return []
    from setuptools import Extension

    extensions = []
    for path in _module_paths():
        rel = path.relative_to(HERE)
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        # no debug information: a third of the size and of the build time
        extensions.append(Extension(name, [rel.as_posix()], extra_compile_args=["-g0"]))
    try:
        return list(cythonize(
            extensions,
            language_level=3,
            nthreads=int(os.environ.get("SIPWIRE_CYTHON_JOBS", "0")) or os.cpu_count() or 1,
            compiler_directives={
                # annotations are documentation: a str subclass goes where str
                # is annotated, and an int where float is
                "annotation_typing": False,
                "binding": True,
                "embedsignature": False,
                "always_allow_keywords": True,
            },
            # the generated C goes to build/, never beside the sources
            build_dir="build/cython",
            quiet=True,
        ))
    except Exception as exc:  # Cython could not translate a module: stay pure
        print(f"sipwire: Cython failed ({exc}): pure-Python install", file=sys.stderr)
        return []


class OptionalBuildExt(build_ext):
    """``build_ext`` that falls back to pure Python instead of failing the
    install, and that builds nothing for an editable install."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:  # one compiler per core
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        editable = bool(getattr(self, "editable_mode", False)) or bool(self.inplace)
        if editable and not _flag("SIPWIRE_EDITABLE_EXTENSIONS"):
            print("sipwire: editable install: pure Python (the .py files are what runs)",
                  file=sys.stderr)
            self.extensions = []
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: distutils errors
            print(f"sipwire: building the extension modules failed ({exc}): "
                  "pure-Python install", file=sys.stderr)
            # remove what was built, so that the install is wholly pure and
            # not a mix of compiled and pure modules
            for ext in self.extensions:
                built = Path(self.get_ext_fullpath(ext.name))
                if built.exists():
                    built.unlink()
            self.extensions = []

    def get_outputs(self) -> list[str]:
        return [path for path in super().get_outputs() if Path(path).exists()]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
