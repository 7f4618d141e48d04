"""The TTL cache and the blacklist, with the clock passed in."""

from __future__ import annotations

import pytest

from sipwire.dns import Answer, Blacklist, DnsCache, Query, RecordType

A = Query("a.test", RecordType.A)
B = Query("b.test", RecordType.A)


def test_an_answer_lives_for_its_ttl() -> None:
    cache = DnsCache()
    cache.put(A, Answer(("192.0.2.1",), 60.0), now=100.0)
    assert cache.get(A, 100.0) == Answer(("192.0.2.1",), 60.0)
    assert cache.get(A, 159.0) == Answer(("192.0.2.1",), 1.0)  # the TTL left
    assert cache.get(A, 160.0) is None
    assert len(cache) == 0  # the expired entry is gone


def test_negative_answers_are_cached_for_their_ttl_capped() -> None:
    cache = DnsCache(max_negative_ttl=30.0)
    cache.put(A, Answer((), 600.0), now=0.0)  # RFC 2308 §5: capped
    cached = cache.get(A, 29.0)
    assert cached is not None and cached.negative
    assert cache.get(A, 30.0) is None


def test_failures_and_zero_ttls_are_not_kept() -> None:
    cache = DnsCache()
    cache.put(A, Answer(failed=True), now=0.0)
    cache.put(B, Answer(("192.0.2.2",), 0.0), now=0.0)
    assert cache.get(A, 0.0) is None and cache.get(B, 0.0) is None


def test_positive_ttl_is_capped() -> None:
    cache = DnsCache(max_ttl=10.0)
    cache.put(A, Answer(("192.0.2.1",), 1e9), now=0.0)
    assert cache.get(A, 9.9) is not None and cache.get(A, 10.0) is None


def test_bounded_least_recently_used_goes() -> None:
    cache = DnsCache(max_entries=2)
    cache.put(A, Answer(("192.0.2.1",), 60.0), now=0.0)
    cache.put(B, Answer(("192.0.2.2",), 60.0), now=0.0)
    assert cache.get(A, 1.0) is not None  # A is now the most recent
    c = Query("c.test", RecordType.A)
    cache.put(c, Answer(("192.0.2.3",), 60.0), now=1.0)
    assert len(cache) == 2
    assert cache.get(B, 1.0) is None and cache.get(A, 1.0) is not None
    with pytest.raises(ValueError):
        DnsCache(max_entries=0)


def test_blacklist_for_a_while_or_retry_after() -> None:
    blacklist = Blacklist(duration=30.0)
    assert blacklist.add("x", now=0.0) == 30.0
    assert blacklist.blocked("x", 29.9) and not blacklist.blocked("x", 30.0)
    blacklist.add("y", now=0.0, retry_after=5.0)
    assert blacklist.blocked("y", 4.0) and not blacklist.blocked("y", 5.0)
    assert not blacklist.blocked("z", 0.0)


def test_blacklist_is_bounded() -> None:
    blacklist = Blacklist(duration=30.0, max_entries=2)
    for key in ("a", "b", "c"):
        blacklist.add(key, now=0.0)
    assert len(blacklist) == 2 and not blacklist.blocked("a", 1.0)
    blacklist.remove("b")
    assert not blacklist.blocked("b", 1.0) and blacklist.blocked("c", 1.0)
