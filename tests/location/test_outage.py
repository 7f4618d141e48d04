"""StoreOutage: one log line when the location service goes, one when it is
back, whatever the number of requests in between; and the purge task's one
line per failed purge."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sipwire.location import MemoryStore, StoreError, StoreOutage, purge_periodically


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_when_it_starts_and_one_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = StoreOutage(retry_after=9, clock=clock)
    assert not outage.down and outage.retry_after_header == ("Retry-After", "9")
    with caplog.at_level(logging.DEBUG, logger="sipwire.location"):
        outage.succeeded()  # up: nothing to say
        for _ in range(1000):
            outage.failed(StoreError("redis: Connection refused"))
        assert outage.down and outage.failures == 1000
        clock.now += 12.5
        outage.succeeded()
        outage.succeeded()
        outage.failed(StoreError("redis: Timeout"))  # a second outage
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "location store unavailable: redis: Connection refused (answering 503 with "
        "Retry-After 9 until it is back)",
        "location store available again after 12.5 s; 1000 requests were answered 503 "
        "meanwhile",
        "location store unavailable: redis: Timeout (answering 503 with Retry-After 9 "
        "until it is back)",
    ]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in caplog.records)
    assert outage.outages == 2 and outage.failures == 1


def test_retry_after_is_positive() -> None:
    with pytest.raises(ValueError):
        StoreOutage(retry_after=0)


async def test_a_failed_purge_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    class Down(MemoryStore):
        async def purge(self, now: float) -> int:
            raise StoreError("redis: Connection refused")

    with caplog.at_level(logging.DEBUG, logger="sipwire.location"):
        task = asyncio.get_running_loop().create_task(purge_periodically(Down(), 0.01))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert caplog.records
    assert {r.getMessage() for r in caplog.records} == {
        "purging the location store failed: redis: Connection refused"}
    assert all(r.exc_info is None for r in caplog.records)
