"""Stepping a coroutine at once, and finishing it in a task only if it waits."""

from __future__ import annotations

import asyncio

import pytest

from sipwire.server import eager


async def test_a_coroutine_that_never_waits_is_done_at_once() -> None:
    async def quick() -> int:
        return 42

    started = eager.start(quick())
    assert started.done and started.result == 42 and started.rest is None


async def test_a_coroutine_that_waits_goes_on_in_a_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def slow() -> str:
        steps.append("before")
        value = await gate
        steps.append("after")
        return value + "!"

    started = eager.start(slow())
    assert not started.done and steps == ["before"]
    assert started.rest is not None
    rest = started.rest

    async def finish() -> str:
        return await rest

    task = asyncio.get_running_loop().create_task(finish())
    await asyncio.sleep(0)
    gate.set_result("open")
    assert await asyncio.wait_for(task, 1) == "open!" and steps == ["before", "after"]


async def test_cancelling_the_task_reaches_the_coroutine() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def waits() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    started = eager.start(waits())
    assert started.rest is not None
    rest = started.rest

    async def finish() -> None:
        await rest

    task = asyncio.get_running_loop().create_task(finish())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_exceptions_propagate() -> None:
    async def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        eager.start(fails())
