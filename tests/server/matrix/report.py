"""The outcome of each cell, and the matrix printed at the end of the run
(``pytest_terminal_summary`` in ``tests/server/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .calls import Checks


@dataclass
class CellResult:
    cell: str
    title: str
    directory: Path
    checks: Checks = field(default_factory=Checks)
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skip"
        if self.error is not None or self.checks.failed or not self.checks.items:
            return "FAIL"
        return "pass"

    def first_problem(self) -> str:
        if self.skipped is not None:
            return self.skipped
        if self.error is not None:
            return self.error.strip().splitlines()[-1]
        failed = self.checks.failed
        if failed:
            return f"[{failed[0].call}] {failed[0].what}"
        return "" if self.checks.items else "nothing was checked"

    def explain(self) -> str:
        lines = [f"cell {self.cell}: {self.title} ({self.seconds:.1f} s)"]
        lines += [f"  {check}" for check in self.checks.items]
        if self.error is not None:
            lines.append(f"  error: {self.error}")
        lines.append(f"  logs: {self.directory}")
        return "\n".join(lines)


#: cell id -> its result, filled by the module's fixture as cells finish
RESULTS: dict[str, CellResult] = {}


def table() -> list[str]:
    """The matrix: one line per cell run, in the order the cells are listed."""
    if not RESULTS:
        return []
    width = max(len("cell"), *(len(r.cell) for r in RESULTS.values()))
    title = max(len("caller -> callee"), *(len(r.title) for r in RESULTS.values()))
    lines = [f"{'cell':<{width}}  {'caller -> callee':<{title}}  result  first problem"]
    for result in RESULTS.values():
        problem = result.first_problem() if result.status != "pass" else ""
        lines.append(f"{result.cell:<{width}}  {result.title:<{title}}  "
                     f"{result.status:<6}  {problem}".rstrip())
    passed = sum(r.status == "pass" for r in RESULTS.values())
    lines.append(f"{passed} of {len(RESULTS)} cells pass")
    return lines
