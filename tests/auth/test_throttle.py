"""Failed-attempt throttling (RFC 7616 §5.7): lockouts per (user, source) with
backoff, and bans of sources that fail as many users."""

from __future__ import annotations

import pytest

from sipwire.auth.throttle import FailureThrottle, Penalty

ATTACKER = "192.0.2.1"
ELSEWHERE = "198.51.100.2"


def fail(throttle: FailureThrottle, times: int, now: float, user: str = "alice",
         source: str = ATTACKER) -> Penalty | None:
    penalty = None
    for _ in range(times):
        penalty = throttle.failure(user, source, now)
    return penalty


def test_locked_after_max_failures_within_the_window() -> None:
    throttle = FailureThrottle(max_failures=3, window=60, lockout=120, ban_users=0)
    assert throttle.failure("alice", ATTACKER, 0) is None
    assert throttle.failure("alice", ATTACKER, 10) is None
    assert throttle.check("alice", ATTACKER, 11) is None
    penalty = throttle.failure("alice", ATTACKER, 20)
    assert penalty is not None and not penalty.banned and penalty.until == 140
    assert "alice locked out from 192.0.2.1 for 120 s" in penalty.reason
    locked = throttle.check("alice", ATTACKER, 30)
    assert locked is not None and locked.retry_after(30) == 110
    assert throttle.check("alice", ATTACKER, 140) is None  # served its time


def test_a_lockout_is_of_one_user_from_one_source() -> None:
    throttle = FailureThrottle(max_failures=3, window=60, lockout=120)
    assert fail(throttle, 3, 0) is not None
    assert throttle.check("alice", ATTACKER, 1) is not None
    assert throttle.check("alice", ELSEWHERE, 1) is None  # alice at home
    assert throttle.check("bob", ATTACKER, 1) is None  # bob behind the same NAT


def test_failures_outside_the_window_do_not_add_up() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=120)
    assert throttle.failure("alice", ATTACKER, 0) is None
    assert throttle.failure("alice", ATTACKER, 61) is None
    assert throttle.failure("alice", ATTACKER, 62) is not None


def test_each_repeated_lockout_doubles_up_to_the_cap() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=100, max_lockout=350,
                               ban_users=0)
    now = 0.0
    lengths = []
    for _ in range(5):
        penalty = fail(throttle, 2, now)
        assert penalty is not None
        lengths.append(penalty.until - now)
        # refused until the end, and not a moment longer
        assert throttle.check("alice", ATTACKER, penalty.until - 0.5) is penalty
        now = penalty.until
        assert throttle.check("alice", ATTACKER, now) is None
    assert lengths == [100, 200, 350, 350, 350]


def test_the_backoff_is_forgiven_after_a_quiet_max_lockout() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=100, max_lockout=400,
                               ban_users=0)
    first = fail(throttle, 2, 0)
    assert first is not None
    second = fail(throttle, 2, first.until)  # at once: doubled
    assert second is not None and second.until - first.until == 200
    quiet = second.until + 401
    third = fail(throttle, 2, quiet)
    assert third is not None and third.until - quiet == 100


def test_success_clears_failures_and_backoff_but_not_a_lockout() -> None:
    throttle = FailureThrottle(max_failures=2, window=60, lockout=120, ban_users=0)
    throttle.failure("alice", ATTACKER, 0)
    throttle.success("alice", ATTACKER)
    assert throttle.failure("alice", ATTACKER, 1) is None
    assert throttle.failure("alice", ATTACKER, 2) is not None
    throttle.success("alice", ATTACKER)
    locked = throttle.check("alice", ATTACKER, 3)
    assert locked is not None and locked.retry_after(3) == 119
    assert throttle.check("alice", ATTACKER, 122) is None
    throttle.success("alice", ATTACKER)  # the next lockout is not doubled
    penalty = fail(throttle, 2, 123)
    assert penalty is not None and penalty.until == 243


def test_a_source_failing_as_many_users_is_banned() -> None:
    throttle = FailureThrottle(max_failures=5, ban_users=3, ban_window=60, ban_time=600)
    assert throttle.failure("100", ATTACKER, 0) is None
    assert throttle.failure("100", ATTACKER, 1) is None  # the same user twice: still one
    assert throttle.failure("101", ATTACKER, 2) is None
    assert throttle.failure("bob", ELSEWHERE, 2) is None  # another source counts apart
    ban = throttle.failure("102", ATTACKER, 3)
    assert ban is not None and ban.banned and ban.until == 603
    assert "192.0.2.1 banned for 600 s" in ban.reason and "3 users" in ban.reason
    assert throttle.banned(ATTACKER, 10) is ban
    assert throttle.check("carol", ATTACKER, 10) is ban  # every user from it
    assert throttle.banned(ELSEWHERE, 10) is None
    assert throttle.check("alice", ELSEWHERE, 10) is None
    assert throttle.banned(ATTACKER, 603) is None  # expired
    assert throttle.failure("103", ATTACKER, 604) is None  # and counts afresh


def test_users_failing_further_apart_than_the_ban_window_do_not_ban() -> None:
    throttle = FailureThrottle(ban_users=3, ban_window=60)
    for i, now in enumerate((0, 50, 100, 150, 200)):
        assert throttle.failure(f"user{i}", ATTACKER, now) is None
    assert throttle.banned(ATTACKER, 201) is None


def test_one_user_failing_many_times_locks_out_but_does_not_ban() -> None:
    throttle = FailureThrottle(max_failures=3, lockout=10, ban_users=2, ban_window=3600)
    now = 0.0
    for _ in range(10):
        penalty = fail(throttle, 3, now)
        assert penalty is not None and not penalty.banned
        now = penalty.until
    assert throttle.banned(ATTACKER, now) is None


def test_memory_is_bounded() -> None:
    throttle = FailureThrottle(max_entries=100, max_sources=50, ban_users=1000)
    for i in range(1000):
        throttle.failure(f"user{i}", f"198.51.100.{i % 200}", i)
    assert len(throttle) == 100
    assert throttle.sources == 50
    sprayed = FailureThrottle(ban_users=5)
    for i in range(1000):  # one source spraying users: banned after 5
        sprayed.failure(f"user{i}", ATTACKER, i / 1000)
    assert sprayed.banned(ATTACKER, 1) is not None and sprayed.sources == 1


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        FailureThrottle(max_failures=0)
    with pytest.raises(ValueError):
        FailureThrottle(ban_users=-1)
    with pytest.raises(ValueError):
        FailureThrottle(lockout=600, max_lockout=300)
