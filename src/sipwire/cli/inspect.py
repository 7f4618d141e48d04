"""``sipwire parse`` and ``sipwire lint``: look inside a message file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..message.errors import ParseError
from ..message.fields.base import HEADER_TYPES, Field
from ..message.headers import canonical_name
from ..message.lint import lint
from ..message.message import Message, Request, Response
from ..message.parser import parse
from .source import read_message

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("parse", help="print the structure of a SIP message",
                       description="Parse a SIP message (a file, or - for standard input) "
                                   "and print its start line, headers and body.")
    p.add_argument("file", help="message file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_parse)
    p = sub.add_parser("lint", help="list every problem in a SIP message",
                       description="Check a SIP message against RFC 3261 and list every "
                                   "problem with its RFC section, tolerated deviations "
                                   "included. Exit status 0 only for a valid message.")
    p.add_argument("file", help="message file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_lint)


def run_parse(args: argparse.Namespace) -> int:
    data = read_message(args.file)
    try:
        msg = parse(data)
    except ParseError as exc:
        print(f"sipwire parse: {args.file}: {exc} -> {exc.status_code}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(describe(msg), indent=2, ensure_ascii=False))
    else:
        print_text(msg)
    return 0


def run_lint(args: argparse.Namespace) -> int:
    findings = lint(read_message(args.file))
    if args.json:
        print(json.dumps([{"message": f.message, "header": f.header, "rfc": f.rfc,
                           "status_code": f.status_code, "tolerated": f.tolerated}
                          for f in findings],
                         indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            print(f"{args.file}: {finding}")
        if not findings:
            print(f"{args.file}: ok")
    return 1 if findings else 0


def describe(msg: Message) -> dict[str, Any]:
    """A JSON-able picture of a message: start line, headers (typed where known), body."""
    out: dict[str, Any] = {}
    if isinstance(msg, Request):
        out.update(kind="request", method=msg.method, uri=str(msg.uri))
    elif isinstance(msg, Response):
        out.update(kind="response", status=msg.status, reason=msg.reason)
    headers = []
    for name, value in msg.headers:
        entry: dict[str, Any] = {"name": name, "value": value}
        key = name.lower()
        if key in HEADER_TYPES or len(key) == 1:
            try:
                entry["parsed"] = [_fields(v) for v in _typed_values(msg, name, value)]
            except (ParseError, KeyError) as exc:
                entry["error"] = str(exc)
        headers.append(entry)
    out["headers"] = headers
    out["body_length"] = len(msg.body)
    try:
        out["body"] = msg.body.decode("utf-8")
    except UnicodeDecodeError:
        out["body_hex"] = msg.body.hex()
    return out


def _typed_values(msg: Message, name: str, value: str) -> list[Field]:
    from ..message.headers import LIST_HEADERS, header_key, split_list

    key = header_key(name)
    cls = HEADER_TYPES[key]
    parts = split_list(value) if key in LIST_HEADERS else [value]
    return [cls.parse(part) for part in parts if part or key not in LIST_HEADERS]


def _fields(value: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"class": type(value).__name__}
    for cls in type(value).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot.startswith("_"):
                continue
            out[slot] = _plain(getattr(value, slot, None))
    for prop in ("uri", "params", "branch", "received", "rport", "tag", "q", "expires"):
        if prop in out or not hasattr(type(value), prop):
            continue
        out[prop] = _plain(getattr(value, prop))
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def print_text(msg: Message) -> None:
    info = describe(msg)
    if info["kind"] == "request":
        print(f"Request  {info['method']} {info['uri']}")
    else:
        print(f"Response {info['status']} {info['reason']}")
    width = max((len(h["name"]) for h in info["headers"]), default=0)
    for header in info["headers"]:
        print(f"  {canonical_name(header['name']):<{width}}  {header['value']}")
        for parsed in header.get("parsed", []):
            fields = ", ".join(f"{k}={v!r}" for k, v in parsed.items()
                               if k != "class" and v not in (None, {}, []))
            print(f"  {'':<{width}}    {parsed['class']}: {fields}")
        if "error" in header:
            print(f"  {'':<{width}}    ERROR: {header['error']}")
    print(f"Body     {info['body_length']} bytes")
