"""``sipwire``: the command line entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .. import __version__
from . import inspect

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipwire", description="A SIP (RFC 3261) stack and server: tools and server."
    )
    parser.add_argument("--version", action="version", version=f"sipwire {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of a failure (also accepted after "
                             "the command, and as SIPWIRE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    inspect.add_parsers(sub)
    for name in ("transport", "server", "admin", "ua_tools"):
        module = _optional(name)
        if module is not None:
            module.add_parsers(sub)
    return parser


def _optional(name: str) -> Any:
    """CLI modules of layers that may be absent from a partial install."""
    import importlib

    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{name}":
            raise
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except FileNotFoundError as exc:
        print(f"sipwire: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
