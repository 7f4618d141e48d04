"""Differential fuzzing of the two builds: the same inputs to the compiled and
the pure-Python sipwire, which must give the same result or the same error.

Two worker subprocesses, one per interpreter, read inputs from a pipe and
answer, for each, what sipwire made of it: the re-serialized bytes of
``parse(data)`` and its start line, every header's typed values (their
``repr``, or the ``ParseError`` of the header), and ``validate()``'s verdict;
or, when ``parse`` fails, the ``ParseError``'s text, status code, header, rule
and offset (any other exception is answered too, by type and text).  The
driver compares the answers and stops at the first difference, printing the
input.

The inputs are mutations, drawn from a seeded generator, of the parser's test
corpus (``tests/message/corpus``) and the benchmark messages: bytes flipped,
inserted (from SIP's delimiters), deleted, lines duplicated, dropped or
swapped between messages.

    python benchmarks/fuzz_differential.py                  # 60 s
    python benchmarks/fuzz_differential.py --seconds 600 --seed 7
    python benchmarks/fuzz_differential.py --pure .venv/bin/python \\
        --compiled .venv-compiled/bin/python --seconds 5

(CI runs it for a few seconds from ``tests/test_fuzz_differential.py`` in the
compiled build's suite, the pure worker being the same interpreter with
``PYTHONPATH=src``: ``--pure-src src``.)

``--pure`` and ``--compiled`` name the interpreters (defaults: ``.venv`` and
``.venv-compiled`` of this checkout, see ``scripts/test.sh``); the driver
checks that the first one loads no extension module and the second one some.
Exit status 0 when every answer agreed, 1 at a difference, 2 on a wrong build.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "message" / "corpus"
#: bytes that move a parser between states: delimiters, quotes, line ends
SPECIAL = [b"\r\n", b"\n", b" ", b"\t", b":", b";", b",", b"<", b">", b"\"", b"\\", b"@",
           b"=", b"%", b"?", b"/", b"[", b"]", b"0", b"\x00", b"\xff", b"\xc3\xa9",
           b"sip:", b"SIP/2.0", b";tag=", b";branch=z9hG4bK", b"\r\n\r\n"]


# -- the worker: runs in each build's interpreter ----------------------------

def _error(exc: BaseException) -> list[Any]:
    if type(exc).__name__ in ("ParseError", "MessageTooLarge", "UnsupportedVersion"):
        e: Any = exc
        return [type(exc).__name__, str(exc), e.status_code, e.header, e.rfc, e.offset]
    return [type(exc).__name__, str(exc)]


def answer(data: bytes) -> list[Any]:
    """What sipwire makes of ``data``: JSON-ready, the same in both builds."""
    import sipwire

    try:
        msg = sipwire.parse(data)
    except Exception as exc:
        return ["error", _error(exc)]
    try:
        wire = bytes(msg).decode("latin-1")
        start = msg.start_line()
    except Exception as exc:
        return ["serialize", _error(exc)]
    typed: list[Any] = []
    for name in dict.fromkeys(msg.headers.keys()):  # each name once, in order
        try:
            typed.append([name, [repr(value) for value in msg.headers.typed(name)]])
        except Exception as exc:
            typed.append([name, _error(exc)])
    try:
        msg.validate()
        verdict: Any = "valid"
    except Exception as exc:
        verdict = _error(exc)
    return ["parsed", wire, start, typed, verdict]


def worker() -> None:
    """Answer inputs framed as a 4-byte big-endian length and the bytes."""
    import sipwire._build

    stdin, stdout = sys.stdin.buffer, sys.stdout
    stdout.write(json.dumps(list(sipwire._build.compiled_modules())) + "\n")
    stdout.flush()
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack(">I", head)
        stdout.write(json.dumps(answer(stdin.read(size))) + "\n")
        stdout.flush()


# -- the driver ---------------------------------------------------------------

def seeds() -> list[bytes]:
    """The corpus messages and the benchmark messages."""
    found = [path.read_bytes() for path in sorted(CORPUS.rglob("*"))
             if path.is_file() and path.suffix not in (".py", ".md")]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from messages import MESSAGES

    return found + [sample.data for sample in MESSAGES]


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    """One input: a seed message with one to four mutations."""
    data = bytearray(rng.choice(pool))
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert a delimiter
            data[at:at] = rng.choice(SPECIAL)
        elif kind == 2 and data:  # delete a run
            del data[at:at + rng.randint(1, 8)]
        else:  # line surgery: duplicate, drop, or take a line of another message
            lines = bytes(data).split(b"\r\n")
            i = rng.randrange(len(lines))
            if kind == 3:
                lines.insert(i, lines[i])
            elif kind == 4 and len(lines) > 1:
                del lines[i]
            else:
                lines.insert(i, rng.choice(rng.choice(pool).split(b"\r\n")))
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


class Worker:
    """A worker subprocess in one interpreter."""

    def __init__(self, python: str, path: str | None = None) -> None:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        if path is not None:  # sipwire from this folder (a src/: the pure source)
            env["PYTHONPATH"] = path
        self.process = subprocess.Popen(
            [os.path.abspath(python), str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            cwd=str(Path(__file__).resolve().parent))
        self.compiled: list[str] = json.loads(self._line())

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.process.args[0]} exited "
                               f"({self.process.wait(timeout=10)})")
        return line.decode()

    def ask(self, data: bytes) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(struct.pack(">I", len(data)) + data)
        self.process.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def compare(inputs: list[bytes], pure: Worker, compiled: Worker) -> tuple[int, bytes | None]:
    """Feed ``inputs`` to both workers: how many agreed, and the first input
    on which they did not (None when all did)."""
    for count, data in enumerate(inputs):
        if pure.ask(data) != compiled.ask(data):
            return count, data
    return len(inputs), None


def run(pure_python: str, compiled_python: str, seconds: float, seed: int,
        pure_path: str | None = None) -> int:
    """Compare the builds for ``seconds``; the exit status of ``main``."""
    pool = seeds()
    pure, compiled = Worker(pure_python, pure_path), Worker(compiled_python)
    try:
        if pure.compiled or not compiled.compiled:
            print(f"fuzz_differential: wrong builds: {pure_python} has {len(pure.compiled)} "
                  f"compiled modules, {compiled_python} {len(compiled.compiled)}",
                  file=sys.stderr)
            return 2
        rng = random.Random(seed)
        done = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            batch = list(pool) if done == 0 else [mutate(rng, pool) for _ in range(100)]
            agreed, bad = compare(batch, pure, compiled)
            done += agreed
            if bad is not None:
                print(f"fuzz_differential: the builds differ on input {done} (seed {seed}):",
                      file=sys.stderr)
                print(repr(bad), file=sys.stderr)
                print(f"pure:     {json.dumps(pure.ask(bad))[:2000]}", file=sys.stderr)
                print(f"compiled: {json.dumps(compiled.ask(bad))[:2000]}", file=sys.stderr)
                return 1
        print(f"fuzz_differential: {done} inputs, the same answers from the pure build and "
              f"the compiled one ({len(compiled.compiled)} modules) in "
              f"{time.monotonic() - start:.1f} s (seed {seed})")
        return 0
    finally:
        pure.close()
        compiled.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pure", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--pure-src", metavar="DIR",
                        help="run the pure worker with PYTHONPATH=DIR (e.g. this checkout's "
                             "src/ with the compiled build's interpreter)")
    parser.add_argument("--compiled", default=str(ROOT / ".venv-compiled" / "bin" / "python"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0
    return run(args.pure, args.compiled, args.seconds, args.seed, args.pure_src)


if __name__ == "__main__":
    sys.exit(main())
