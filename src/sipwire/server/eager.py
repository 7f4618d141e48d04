"""Running a coroutine at once, and as a task only if it has to wait.

The server's per-request coroutines (a location-store lookup, a
registration) often finish without waiting: the memory store never
suspends.  Stepping such a coroutine by hand spares a task per request; one
that does suspend is handed, where it stopped, to a task (``Rest``), which
goes on exactly as if the task had run it from the start.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Rest", "Started", "start"]

T = TypeVar("T")


class Started(Generic[T]):
    """A coroutine stepped once: ``done`` with ``result``, or ``rest`` to await."""

    __slots__ = ("done", "rest", "result")

    def __init__(self, done: bool, result: T | None, rest: Rest[T] | None) -> None:
        self.done = done
        self.result = result
        self.rest = rest


def start(coro: Coroutine[Any, Any, T]) -> Started[T]:
    """Run ``coro`` up to its first suspension.  Exceptions propagate."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return Started(True, stop.value, None)
    return Started(False, None, Rest(coro, yielded))


class Rest(Generic[T]):
    """The rest of a coroutine that suspended on ``yielded``: ``await`` it (in a
    task) to run it to the end.  It passes what the event loop sends or throws
    on to the coroutine, as ``await coro`` would have."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, T], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, T]:
        coro, value = self.coro, self.yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation, while the coroutine waits
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                continue
            try:
                value = coro.send(sent)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
