"""``sipwire ladder``: the ladder diagram of SIP calls in a capture or trace.

Reads a pcap or pcapng file (ours, tcpdump's, tshark's) or a ``--trace`` /
``listen --raw`` log, groups the messages by Call-ID and draws each call:
as text on standard output (the default), or as a self-contained SVG or
HTML file.  Exit status 0 when a call was drawn, 1 when none was found, 2
for a usage error or a file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "run_ladder"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "ladder", help="draw the ladder diagram of SIP calls in a pcap or trace file",
        description="Read FILE (pcap or pcapng with SIP over UDP or TCP, or a `--trace` "
                    "log), group the messages by Call-ID and draw each call: one lane per "
                    "IP address and port, one arrow per message labelled with its first "
                    "line. Final responses are drawn bold (= in text), retransmissions "
                    "dashed (. in text) and marked 'again'.")
    p.add_argument("file", help="pcap, pcapng or trace log")
    p.add_argument("--call-id", metavar="ID", help="only this call")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--text", action="store_true", help="text on standard output (default)")
    out.add_argument("--svg", metavar="FILE", help="write an SVG image (one call: the first "
                                                   "one, or --call-id)")
    out.add_argument("--html", metavar="FILE", help="write an HTML page of every call")
    p.set_defaults(func=run_ladder)


def run_ladder(args: argparse.Namespace) -> int:
    from ..ladder import build_ladders, render_html, render_svg, render_text
    from ..trace import PcapError, read_records

    try:
        records = read_records(args.file)
    except FileNotFoundError:
        print(f"sipwire ladder: {args.file}: no such file", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sipwire ladder: {args.file}: {(exc.strerror or str(exc)).lower()}",
              file=sys.stderr)
        return 2
    except PcapError as exc:
        print(f"sipwire ladder: {args.file}: {exc}", file=sys.stderr)
        return 2
    ladders = build_ladders(records, args.call_id)
    if not ladders:
        what = f"no message of Call-ID {args.call_id}" if args.call_id else "no SIP message"
        print(f"sipwire ladder: {args.file}: {what}", file=sys.stderr)
        return 1
    if args.svg:
        Path(args.svg).write_text(render_svg(ladders[0]), encoding="utf-8")
    elif args.html:
        Path(args.html).write_text(render_html(ladders, title=f"SIP ladder of "
                                                              f"{Path(args.file).name}"),
                                   encoding="utf-8")
    else:
        sys.stdout.write("\n".join(render_text(ladder) for ladder in ladders))
    return 0
