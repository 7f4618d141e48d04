"""Coverage-guided fuzz target for the parser (atheris / libFuzzer).

    pip install atheris
    python fuzz/fuzz_parse.py -max_total_time=60 tests/message/corpus/valid

Any exception other than ``ParseError`` from ``parse``, ``lint`` or the
``StreamParser`` is a bug and stops the fuzzer with the input that caused it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import sipwire


def test_one_input(data: bytes) -> None:
    try:
        msg = sipwire.parse(data)
    except sipwire.ParseError:
        pass
    else:
        bytes(msg)
        msg.lint()
    parser = sipwire.StreamParser()
    try:
        for i in range(0, len(data), 13):
            parser.feed(data[i:i + 13])
    except sipwire.ParseError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
