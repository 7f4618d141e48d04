"""The differential fuzzing of the two builds (``benchmarks/fuzz_differential.py``):
a bounded run in the compiled build's suite, and the harness's own checks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "fuzz_differential.py"
#: seconds of the run in CI
SECONDS = os.environ.get("SIPWIRE_FUZZ_SECONDS", "4")


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_differential", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(os.environ.get("SIPWIRE_EXPECT_COMPILED") != "1",
                    reason="needs the compiled build (SIPWIRE_EXPECT_COMPILED=1)")
def test_the_builds_answer_the_same() -> None:
    # the compiled install against the pure source, in this same interpreter
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--pure", sys.executable, "--pure-src", str(ROOT / "src"),
         "--compiled", sys.executable, "--seconds", SECONDS, "--seed", "1"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the same answers" in proc.stdout


def test_a_pure_build_is_refused_as_the_compiled_one() -> None:
    # two pure workers: the harness says the builds are wrong (exit 2)
    # rather than comparing a build with itself
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--pure", sys.executable, "--pure-src", str(ROOT / "src"),
         "--compiled", sys.executable, "--seconds", "1"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "wrong builds" in proc.stderr


def test_answers_tell_results_and_errors_apart() -> None:
    harness = _harness()
    seeds = harness.seeds()
    assert len(seeds) > 10
    good = harness.answer(seeds[-1])  # a benchmark message: parses
    assert good[0] == "parsed" and good[1].encode("latin-1") == seeds[-1]
    bad = harness.answer(b"INVITE sip:a@b SIP/2.0\r\nVia: nonsense\r\n\r\n")
    assert bad[0] in ("error", "parsed")
    assert bad != good
    broken = harness.answer(b"\x00garbage")
    assert broken[0] == "error" and broken[1][0] == "ParseError" and broken[1][2] == 400


def test_mutations_are_deterministic_for_a_seed() -> None:
    import random

    harness = _harness()
    pool = harness.seeds()
    first = [harness.mutate(random.Random(5), pool) for _ in range(3)]
    again = [harness.mutate(random.Random(5), pool) for _ in range(3)]
    assert first == again
