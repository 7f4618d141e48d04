"""N reads of one message of ``benchmarks/messages.py``, for ``instructions.sh
parse``: ``python benchmarks/parse_loop.py INVITE proxy 3000 [sippy]``.

A read is ``parse.py``'s: ``sipwire.parse`` plus the proxy read (``proxy``) or
plus ``parse_headers()`` (``full``), over the message's 64 variants in turn;
with ``sippy`` last, sippy's parse and reads as ``parse.py`` times them.
``SIPWIRE_SRC`` picks the tree as for ``profile_server.py`` (``installed``: the
sipwire installed in this interpreter; default: this checkout's ``src/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("SIPWIRE_SRC") != "installed":
    sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from messages import MESSAGES, variants  # noqa: E402 (benchmarks/, this script's directory)
from parse import VARIANTS, make_sippy, make_sipwire  # noqa: E402


def main() -> None:
    name, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parser = make_sippy() if sys.argv[4:] == ["sippy"] else make_sipwire()
    if parser is None:
        sys.exit("parse_loop.py: sippy is not installed")
    sample = next(s for s in MESSAGES if s.name == name)
    read = {"proxy": parser.proxy, "full": parser.full}[mode]
    assert read is not None
    inputs = variants(sample, VARIANTS)
    parse = parser.parse
    for data in inputs:  # warm-up: every variant once
        read(parse(data))
    for i in range(count):
        read(parse(inputs[i % VARIANTS]))


if __name__ == "__main__":
    main()
