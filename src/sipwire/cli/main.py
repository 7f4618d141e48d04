"""``sipwire``: the command line entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from .._build import BUILD
from . import inspect

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the command, the flag and what
    is wrong with its value) instead of the usage summary and the error; the
    sub-command parsers are of this class too (``add_subparsers`` makes them
    of the class of their parent)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sipwire", description="A SIP (RFC 3261) stack and server: tools and server."
    )
    parser.add_argument("--version", action="version", version=f"sipwire {__version__} ({BUILD})")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of a failure (also accepted after "
                             "the command, and as SIPWIRE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    inspect.add_parsers(sub)
    for name in ("transport", "server", "admin", "ua_tools", "ladder", "ua"):
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
    """Run one command.  A failure is one line on standard error naming what
    failed (a file, an address, a setting) and a non-zero exit; the Python
    traceback is shown only with ``--debug``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list or os.environ.get("SIPWIRE_DEBUG", "") not in ("", "0")
    if "--debug" in args_list[1:]:  # after the command too, where users type it
        args_list = [args_list[0]] + [a for a in args_list[1:] if a != "--debug"]
    parser = build_parser()
    args, unknown = parser.parse_known_args(args_list)
    if unknown:  # named with the command they were given to
        parser.exit(2, f"sipwire {args.command}: unrecognized arguments: {' '.join(unknown)} "
                       f"(see sipwire {args.command} --help)\n")
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        print(f"sipwire {args.command}: {describe_failure(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, (OSError, EOFError, UnicodeError)) else 1
    return result


def describe_failure(exc: BaseException) -> str:
    """One line for a failure: the file or address and what is wrong with it."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = (exc.strerror or str(exc)).lower()
        if isinstance(exc, FileNotFoundError):
            reason = "no such file"
        return f"{exc.filename}: {reason}"
    if isinstance(exc, EOFError):
        return "end of input where input was needed"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (OSError, ValueError, LookupError)):
        return text.splitlines()[0]
    return f"internal error: {type(exc).__name__}: {text.splitlines()[0]} (--debug shows " \
           "the traceback)"


if __name__ == "__main__":
    sys.exit(main())
