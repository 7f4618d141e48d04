"""The command-line reference, generated from the argument parser itself.

``python -m sipwire.cli.reference --markdown`` writes ``docs/cli.md``: every
command with every flag and its help, and for ``serve`` the TOML key of each
setting.  ``--man`` writes the ``sipwire(1)`` manual page (``docs/sipwire.1``,
installed under ``share/man/man1``).  The tests regenerate both and compare,
so neither can drift from the parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from .. import __version__

__all__ = ["Command", "Option", "commands", "man_page", "markdown"]

#: the date printed in the manual page's footer (a fixed one keeps the file stable)
MAN_DATE = date(2026, 12, 1)


@dataclass(frozen=True, slots=True)
class Option:
    """One flag or positional argument of a command."""

    names: tuple[str, ...]  # ("--listen",) or ("-c", "--count"); () for a positional
    metavar: str  # "TRANSPORT:HOST:PORT", "" for a switch
    help: str
    dest: str
    positional: bool
    negatable: bool  # --x / --no-x


@dataclass(frozen=True, slots=True)
class Command:
    """A command (``serve``) or an action of one (``user add``)."""

    name: str
    summary: str
    description: str
    options: tuple[Option, ...]


def _parser() -> argparse.ArgumentParser:
    from .main import build_parser

    return build_parser()


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str,
                                                                    argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each direct subcommand, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    out = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = tuple(name for name in action.option_strings if not name.startswith("--no-"))
        negatable = isinstance(action, argparse.BooleanOptionalAction)
        if action.nargs == 0:
            metavar = ""
        elif action.metavar is not None:
            metavar = str(action.metavar)
        elif action.choices is not None:
            metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
        else:
            metavar = action.dest.upper() if action.option_strings else action.dest
        out.append(Option(names=names, metavar=metavar, help=" ".join((action.help or "").split()),
                          dest=action.dest, positional=not action.option_strings,
                          negatable=negatable))
    return tuple(out)


def commands(parser: argparse.ArgumentParser | None = None) -> list[Command]:
    """Every command and sub-action, depth first, as the parser defines them."""
    root = parser if parser is not None else _parser()
    found: list[Command] = []

    def walk(prefix: str, node: argparse.ArgumentParser) -> None:
        for name, summary, sub in _subparsers(node):
            full = f"{prefix} {name}".strip()
            found.append(Command(full, summary, " ".join((sub.description or "").split()),
                                 _options(sub)))
            walk(full, sub)

    walk("", root)
    return found


def _flag_text(option: Option) -> str:
    if option.positional:
        return option.metavar
    names = list(option.names)
    if option.negatable:
        names = [f"--[no-]{names[0][2:]}"]
    text = ", ".join(names)
    return f"{text} {option.metavar}" if option.metavar else text


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """``docs/cli.md``."""
    from ..server.config import toml_key

    lines = [
        "# The `sipwire` command line",
        "",
        "Generated from the argument parser by `python -m sipwire.cli.reference "
        "--markdown`; the tests fail when it differs from the parser. "
        "The manual page `sipwire(1)` (docs/sipwire.1) holds the same text.",
        "",
        "Every command accepts `--debug` (show the traceback of a failure); a failure is "
        "otherwise one line on standard error and a non-zero exit status.",
        "",
    ]
    for command in commands():
        lines += [f"## `sipwire {command.name}`", ""]
        if command.description or command.summary:
            lines += [command.description or command.summary, ""]
        if not command.options:
            continue
        is_serve = command.name == "serve"
        header = "| flag | TOML key | what |" if is_serve else "| flag | what |"
        lines += [header, "|---|---|---|" if is_serve else "|---|---|"]
        for option in command.options:
            flag = f"`{_md(_flag_text(option))}`"
            if is_serve:
                key = toml_key(option.dest) if not option.positional else None
                key_text = f"`{key}`" if key else "(flag only)"
                lines.append(f"| {flag} | {key_text} | {_md(option.help)} |")
            else:
                lines.append(f"| {flag} | {_md(option.help)} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _roff(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def man_page() -> str:
    """The ``sipwire(1)`` manual page in roff (man macros)."""
    root = _parser()
    out = [
        f'.TH SIPWIRE 1 "{MAN_DATE.isoformat()}" "sipwire {__version__}" "User Commands"',
        ".SH NAME",
        "sipwire \\- a SIP (RFC 3261) stack and server: registrar, proxy, user agent and tools",
        ".SH SYNOPSIS",
        ".B sipwire",
        "[\\-\\-debug] [\\-\\-version]",
        ".I command",
        "[options]",
        ".SH DESCRIPTION",
        _roff(" ".join((root.description or "").split())),
        ".PP",
        _roff("Each failure is one line on standard error that names the file, address or "
              "setting, and a non-zero exit status; --debug shows the Python traceback "
              "instead."),
        ".SH COMMANDS",
    ]
    for command in commands(root):
        out += [".SS " + _roff(f"sipwire {command.name}")]
        if command.description or command.summary:
            out += [_roff(command.description or command.summary)]
        for option in command.options:
            out += [".TP", ".B " + _roff(_flag_text(option)), _roff(option.help or "")]
    out += [
        ".SH ENVIRONMENT",
        ".TP", ".B SIPWIRE_USERS", _roff("the user file, when --users is not given"),
        ".TP", ".B XDG_DATA_HOME",
        _roff("the default user file is $XDG_DATA_HOME/sipwire/users.db "
              "(~/.local/share/sipwire/users.db)"),
        ".TP", ".B SIPWIRE_SECRET", _roff("the key that signs nonces and Record-Route tokens"),
        ".TP", ".B SIPWIRE_DEBUG", _roff("1: as --debug"),
        ".SH SIGNALS",
        _roff("sipwire serve rereads users and TLS certificates on SIGHUP, and stops "
              "cleanly on SIGINT and SIGTERM."),
        ".SH SEE ALSO",
        _roff("The documentation in docs/ of the source tree; RFC 3261."),
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sipwire.cli.reference",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="write docs/cli.md's text")
    group.add_argument("--man", action="store_true", help="write the sipwire(1) page")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown() if args.markdown else man_page())
    return 0


if __name__ == "__main__":
    sys.exit(main())
