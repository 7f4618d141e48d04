"""Log lines about what strangers send, at a bounded rate.

An unparsable datagram, a refused connection or a stream closed for its
framing is worth a line to whoever runs the server, but a peer that sends a
million of them must not write a million lines: the log volume would be
theirs to choose.  ``LogLimiter`` lets through at most ``lines`` lines of
each kind per ``interval`` seconds; the first line let through after some
were held back says how many were (``... (41 more like this suppressed)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LogLimiter"]


class _Kind:
    __slots__ = ("count", "start", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0
        self.suppressed = 0


class LogLimiter:
    """At most ``lines`` log lines per kind per ``interval`` seconds.

    ``lines`` 0 lets every line through.  ``clock`` returns seconds (the
    event loop's ``time`` in the transport layer; monotonic by default).
    """

    def __init__(self, logger: logging.Logger, lines: int, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.lines = lines
        self.interval = interval
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}

    def log(self, level: int, kind: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``kind`` used its lines for this interval;
        True when the line was written."""
        if not self.logger.isEnabledFor(level):
            return False
        if self.lines <= 0:
            self.logger.log(level, msg, *args)
            return True
        now = self._clock()
        state = self._kinds.get(kind)
        if state is None:
            state = self._kinds[kind] = _Kind(now)
        elif now - state.start >= self.interval:
            state.start = now
            state.count = 0
        if state.count >= self.lines:
            state.suppressed += 1
            return False
        state.count += 1
        if state.suppressed:
            msg += " (%d more like this suppressed)"
            args = (*args, state.suppressed)
            state.suppressed = 0
        self.logger.log(level, msg, *args)
        return True

    def suppressed(self, kind: str) -> int:
        """Lines of ``kind`` held back and not yet reported."""
        state = self._kinds.get(kind)
        return state.suppressed if state is not None else 0
