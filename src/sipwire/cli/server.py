"""``sipwire serve`` and ``sipwire user``: the server and its digest users."""

from __future__ import annotations

import argparse
import getpass
import sqlite3
import sys
from pathlib import Path
from typing import Any

from ..auth import SQLiteUserStore, UserExists, split_address, users_location
from ..server.config import ConfigError, add_arguments, load_config

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="run the registrar and proxy",
        description="Run a SIP registrar (RFC 3261 §10) and stateful proxy (§16). With no "
                    "flags it listens on UDP and TCP 127.0.0.1:5060, serves the domains "
                    "localhost and 127.0.0.1, keeps bindings in ./sipwire.db and "
                    "authenticates the users that `sipwire user add` wrote to "
                    "$SIPWIRE_USERS, else ~/.local/share/sipwire/users.db "
                    "($XDG_DATA_HOME/sipwire/users.db); SIGHUP rereads them.")
    add_arguments(p)
    p.set_defaults(func=run_serve)

    p = sub.add_parser("user", help="manage digest users (HA1 hashes, never passwords)",
                       description="Add, list and remove the users `sipwire serve` "
                                   "authenticates (RFC 3261 §22, RFC 8760).")
    p.epilog = ("The user file is --users FILE, else $SIPWIRE_USERS, else "
                "$XDG_DATA_HOME/sipwire/users.db (~/.local/share/sipwire/users.db): "
                "where `sipwire serve` reads it.")
    users = p.add_subparsers(dest="user_command", metavar="ACTION")
    users.required = True
    add = users.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("address", help="user@realm, e.g. alice@example.com")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="replace an existing user")
    add.set_defaults(func=run_user_add)
    lst = users.add_parser("list", help="list users")
    lst.add_argument("--realm", help="only this realm")
    lst.set_defaults(func=run_user_list)
    rm = users.add_parser("remove", help="remove a user")
    rm.add_argument("address", help="user@realm")
    rm.set_defaults(func=run_user_remove)
    for parser in (add, lst, rm):
        parser.add_argument("--users", metavar="FILE",
                            help="SQLite file of users (default $SIPWIRE_USERS, else "
                                 "~/.local/share/sipwire/users.db, as for `sipwire serve`)")


def run_serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"sipwire serve: {exc}", file=sys.stderr)
        return 2
    from ..server.app import run

    # a reload (SIGHUP, `sipwire reload`) reads the file again, flags on top
    return run(config, reload_config=lambda: load_config(args))


def _address(text: str) -> tuple[str, str]:
    try:
        return split_address(text)
    except ValueError as exc:
        raise SystemExit(f"sipwire user: {exc}") from None


def run_user_add(args: argparse.Namespace) -> int:
    username, realm = _address(args.address)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            print("sipwire user add: no terminal to ask for the password; "
                  "use --password-stdin", file=sys.stderr)
            return 2
        try:
            password = getpass.getpass(f"Password for {username}@{realm}: ")
            again = getpass.getpass("Again: ")
        except EOFError:  # Ctrl-D at the prompt
            print("\nsipwire user add: no password given", file=sys.stderr)
            return 1
        if again != password:
            print("sipwire user add: passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("sipwire user add: empty password", file=sys.stderr)
        return 1
    path = users_location(args.users).path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _user_store("add", path) as store:
        try:
            store.add(username, realm, password, replace=args.replace)
        except UserExists:
            print(f"sipwire user add: {username}@{realm} exists (use --replace)",
                  file=sys.stderr)
            return 1
    print(f"added {username}@{realm} to {path}")
    return 0


def _user_store(command: str, path: Path) -> SQLiteUserStore:
    """The user file opened, or ``SystemExit`` with one line naming it when it
    is not an SQLite database of users."""
    try:
        return SQLiteUserStore(path)
    except sqlite3.DatabaseError as exc:
        raise SystemExit(f"sipwire user {command}: {path}: not a user file ({exc})") from None


def _existing(command: str, given: str | None) -> Path | None:
    """The user file of ``list`` and ``remove``, which never create one."""
    path = users_location(given).path
    if not path.is_file():
        print(f"sipwire user {command}: no user file {path} (`sipwire user add` creates it)",
              file=sys.stderr)
        return None
    return path


def run_user_list(args: argparse.Namespace) -> int:
    path = _existing("list", args.users)
    if path is None:
        return 1
    with _user_store("list", path) as store:
        for record in store.list(args.realm):
            algorithms = ",".join(sorted(record.ha1s))
            print(f"{record.username}@{record.realm}\t{algorithms}")
    return 0


def run_user_remove(args: argparse.Namespace) -> int:
    username, realm = _address(args.address)
    path = _existing("remove", args.users)
    if path is None:
        return 1
    with _user_store("remove", path) as store:
        if not store.remove(username, realm):
            print(f"sipwire user remove: no user {username}@{realm}", file=sys.stderr)
            return 1
    print(f"removed {username}@{realm}")
    return 0
