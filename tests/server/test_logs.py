"""SourceLimiter: the log volume of refusals is not the sender's to choose."""

from __future__ import annotations

import pytest

from sipwire.server.logs import SourceLimiter


def test_one_line_per_source_per_interval_then_the_count_held_back() -> None:
    limiter = SourceLimiter(10, max_lines=100)
    assert limiter.allow("192.0.2.1", 0) == 0
    assert [limiter.allow("192.0.2.1", t) for t in (1, 2, 9.9)] == [None, None, None]
    assert limiter.allow("198.51.100.2", 5) == 0  # another source has its own line
    assert limiter.allow("192.0.2.1", 10) == 3  # the next line says how many were held
    assert limiter.allow("192.0.2.1", 11) is None
    assert limiter.allow("192.0.2.1", 30) == 1


def test_many_sources_share_a_budget_of_lines_per_interval() -> None:
    limiter = SourceLimiter(10, max_lines=5)
    allowed = [limiter.allow(f"198.51.100.{i}", 1) for i in range(50)]
    assert sum(a is not None for a in allowed) == 5
    # the next interval: a held-back source gets its line and its count
    assert limiter.allow("198.51.100.49", 11) == 1


def test_memory_is_bounded() -> None:
    limiter = SourceLimiter(10, max_lines=10, max_sources=64)
    for i in range(10_000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", i / 1000)
    assert len(limiter) == 64


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        SourceLimiter(0)
    with pytest.raises(ValueError):
        SourceLimiter(max_lines=0)
    with pytest.raises(ValueError):
        SourceLimiter(max_sources=0)
