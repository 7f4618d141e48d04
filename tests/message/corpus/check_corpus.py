#!/usr/bin/env python3
"""Sanity checks for the SIP message corpus (stdlib only, does not import sipwire).

For every ``*.sip`` file below this directory it checks that:

* the header section ends with an empty line (CRLF CRLF), so a header/body
  separator is present;
* every line of the header section ends in CRLF: no bare LF and no bare CR;
* text bodies (no Content-Encoding / ``e`` header) contain no bare LF either;
* Content-Length (long form or compact ``l``), when present, is a number and
  equals the number of octets after the separator.

Files in ``invalid/`` whose name contains ``content-length`` break the
Content-Length rule on purpose, so that check is skipped for them. File names
in ``invalid/`` must look like ``<3-digit status>-<description>.sip``.

Usage: python3 check_corpus.py [corpus-dir]   (exit status 1 on any failure)
"""

import pathlib
import re
import sys

HEADER_NAME = re.compile(rb"^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*(.*)$")
INVALID_NAME = re.compile(r"^[1-6][0-9]{2}-[a-z0-9][a-z0-9.\-]*\.sip$")


def bare_lf(data):
    """True if data contains a LF that is not preceded by CR."""
    return re.search(rb"(?<!\r)\n", data) is not None


def bare_cr(data):
    """True if data contains a CR that is not followed by LF."""
    return re.search(rb"\r(?!\n)", data) is not None


def unfold(head):
    """Split a CRLF-separated header section into (name, value) pairs."""
    fields = []
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b" " + line.strip()
            continue
        m = HEADER_NAME.match(line)
        if m:
            fields.append([m.group(1), m.group(2).strip()])
    return fields


def check(path, root):
    errors = []
    data = path.read_bytes()
    rel = path.relative_to(root)
    in_invalid = rel.parts[0] == "invalid"
    if in_invalid and not INVALID_NAME.match(path.name):
        errors.append("name does not follow <status>-<description>.sip")
    sep = data.find(b"\r\n\r\n")
    if sep < 0:
        return [*errors, "no CRLF CRLF header/body separator"]
    head, body = data[:sep], data[sep + 4:]
    if bare_lf(head):
        errors.append("bare LF in the header section")
    if bare_cr(head):
        errors.append("bare CR in the header section")
    fields = unfold(head)
    names = [n.decode("ascii").lower() for n, _ in fields]
    encoded = "content-encoding" in names or "e" in names
    if not encoded and bare_lf(body):
        errors.append("bare LF in the (text) body")
    if in_invalid and "content-length" in path.name:
        return errors
    for name, value in fields:
        if name.lower() not in (b"content-length", b"l"):
            continue
        if not value.isdigit():
            errors.append("Content-Length is not a number: {!r}".format(value.decode("latin-1")))
        elif int(value) != len(body):
            errors.append(f"Content-Length {int(value)} but the body has {len(body)} octets")
    return errors


def main(argv):
    root = pathlib.Path(argv[1]) if len(argv) > 1 else pathlib.Path(__file__).resolve().parent
    files = sorted(root.rglob("*.sip"))
    failed = 0
    for path in files:
        errors = check(path, root)
        if errors:
            failed += 1
            for e in errors:
                print(f"{path.relative_to(root)}: {e}")
    counts = {}
    for path in files:
        key = str(path.parent.relative_to(root))
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        print(f"{key:<22} {counts[key]:4d} files")
    print(f"{len(files)} files checked, {failed} failed")
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
