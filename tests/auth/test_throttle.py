"""Failed-attempt throttling (RFC 7616 §5.7)."""

from __future__ import annotations

import pytest

from sipwire.auth.throttle import FailureThrottle


def test_locked_after_max_failures_within_the_window() -> None:
    throttle = FailureThrottle(max_failures=3, window=60, lockout=120)
    assert throttle.failure("192.0.2.1", 0) is None
    assert throttle.failure("192.0.2.1", 10) is None
    assert throttle.retry_after("192.0.2.1", 11) is None
    assert throttle.failure("192.0.2.1", 20) == 120
    assert throttle.retry_after("192.0.2.1", 30) == 110
    assert throttle.retry_after("192.0.2.2", 30) is None  # per source
    assert throttle.retry_after("192.0.2.1", 140) is None  # served its time
    assert throttle.failure("192.0.2.1", 141) is None  # and starts afresh


def test_failures_outside_the_window_do_not_add_up() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=120)
    assert throttle.failure("a", 0) is None
    assert throttle.failure("a", 61) is None
    assert throttle.failure("a", 62) == 120


def test_success_clears_failures_but_not_a_lockout() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=120)
    throttle.failure("a", 0)
    throttle.success("a")
    assert throttle.failure("a", 1) is None
    throttle.failure("a", 2)
    throttle.success("a")
    assert throttle.retry_after("a", 3) == 119


def test_memory_is_bounded() -> None:
    throttle = FailureThrottle(max_sources=100)
    for i in range(1000):
        throttle.failure(f"198.51.100.{i}", i)
    assert len(throttle) == 100


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FailureThrottle(max_failures=0)
