"""``sipwire registrations list|remove``, ``sipwire stats``, ``sipwire reload``:
commands to a running ``sipwire serve`` over its control socket
(``server.control``).

Each takes ``--control PATH`` (default: where ``serve`` opens it,
``$XDG_RUNTIME_DIR/sipwire/control.sock``, else ``./sipwire-control.sock``)
and ``--json``.  Without ``--json`` the output is for people and for
``cut``/``awk``: a table with a header line, columns separated by runs of
spaces, one binding or one figure per line.  When no server answers, one
line on standard error and exit status 1; a command the server refuses
(no such binding), one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..server.control import ControlError, ask, default_control_path

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    regs = sub.add_parser("registrations", help="list or remove bindings of a running server",
                          description="The bindings (RFC 3261 §10) of a running `sipwire "
                                      "serve`, read from and removed in its location store.")
    actions = regs.add_subparsers(dest="registrations_command", metavar="ACTION")
    actions.required = True
    lst = actions.add_parser("list", help="list bindings (of one AOR)")
    lst.add_argument("aor", nargs="?", help="only this address-of-record, e.g. "
                                            "alice@example.com or sip:alice@example.com")
    lst.set_defaults(func=run_list)
    rm = actions.add_parser("remove", help="remove an AOR's bindings, or one of them")
    rm.add_argument("aor", help="the address-of-record")
    rm.add_argument("contact", nargs="?", help="only the binding of this contact URI, as "
                                               "`registrations list` shows it")
    rm.set_defaults(func=run_remove)
    stats = sub.add_parser("stats", help="counters of a running server",
                           description="The figures of /metrics from a running `sipwire "
                                       "serve`, through its control socket.")
    stats.set_defaults(func=run_stats)
    reload = sub.add_parser("reload", help="reload users, TLS certificate and settings",
                            description="Make a running `sipwire serve` reload, as SIGHUP "
                                        "does: the user file, the TLS certificate and key, "
                                        "and the configuration file; prints what was "
                                        "applied and what needs a restart.")
    reload.set_defaults(func=run_reload)
    for parser in (lst, rm, stats, reload):
        parser.add_argument("--control", metavar="PATH",
                            help="the server's control socket (default "
                                 "$XDG_RUNTIME_DIR/sipwire/control.sock, else "
                                 "./sipwire-control.sock)")
        parser.add_argument("--json", action="store_true", help="print JSON")


def _ask(name: str, args: argparse.Namespace, request: dict[str, Any]) -> tuple[bool, Any]:
    path = args.control or str(default_control_path())
    try:
        return True, ask(path, request)
    except ConnectionError as exc:
        print(f"sipwire {name}: {exc}", file=sys.stderr)
    except ControlError as exc:
        print(f"sipwire {name}: {exc}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"sipwire {name}: control socket {path}: {exc}", file=sys.stderr)
    return False, None


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                        ).rstrip())


def run_list(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"command": "registrations list"}
    if args.aor:
        request["aor"] = args.aor
    ok, bindings = _ask("registrations list", args, request)
    if not ok:
        return 1
    if args.json:
        print(json.dumps(bindings, indent=2))
        return 0
    rows = [[b["aor"], b["contact"], str(b["expires_in"]), f"{b['q']:g}",
             b["source"] or "-", b["user_agent"] or "-"] for b in bindings]
    _table(["AOR", "CONTACT", "EXPIRES", "Q", "SOURCE", "USER-AGENT"], rows)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"command": "registrations remove", "aor": args.aor}
    if args.contact:
        request["contact"] = args.contact
    ok, result = _ask("registrations remove", args, request)
    if not ok:
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print(f"removed {result['removed']} binding{'s' if result['removed'] != 1 else ''}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    ok, stats = _ask("stats", args, {"command": "stats"})
    if not ok:
        return 1
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    rows: list[list[str]] = []
    for name, value in stats.items():
        if isinstance(value, list):
            for sample in value:
                labels = ",".join(f"{k}={v}" for k, v in sample.items() if k != "value")
                rows.append([name, labels, _figure(sample["value"])])
        else:
            rows.append([name, "", _figure(value)])
    _table(["METRIC", "LABELS", "VALUE"], rows)
    return 0


def _figure(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def run_reload(args: argparse.Namespace) -> int:
    ok, result = _ask("reload", args, {"command": "reload"})
    if not ok:
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(result["users"])
        if result.get("tls"):
            print(result["tls"])
        print("applied: " + (", ".join(result["applied"]) or "-"))
        print("restart needed: " + (", ".join(result["restart_needed"]) or "-"))
        for error in result["errors"]:
            print(f"error: {error}")
    return 1 if result["errors"] else 0
