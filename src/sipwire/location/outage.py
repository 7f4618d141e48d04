"""Telling the operator, and the phones, that the location service is down.

When the store fails (``StoreError``: Redis unreachable, an SQLite file that
cannot be written), every REGISTER and every lookup fails the same way until
it is back.  A line per request would let the request rate choose the log
volume, and a traceback per request says nothing the first did not.
``StoreOutage`` logs one warning when an outage starts and one line when it
ends, with how long it lasted and how many requests it refused, and gives
the Retry-After of the 503 those requests get (RFC 3261 §21.5.4: the server
"is temporarily unable to process the request ... The server MAY indicate
when the client should retry the request in a Retry-After header field").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["DEFAULT_RETRY_AFTER", "StoreOutage"]

log = logging.getLogger("sipwire.location")

#: seconds a client is asked to wait before trying again during an outage
DEFAULT_RETRY_AFTER = 5


class StoreOutage:
    """Whether the location service is failing, since when, and how often.

    Call ``failed(error)`` for each store operation that raised
    ``StoreError`` and ``succeeded()`` for each that did not; the second is
    one attribute test while the store is up.  ``clock`` is monotonic
    seconds (for the duration in the log only).
    """

    __slots__ = ("_clock", "failures", "logger", "outages", "retry_after", "since")

    def __init__(self, *, retry_after: int = DEFAULT_RETRY_AFTER,
                 clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        if retry_after < 1:
            raise ValueError("Retry-After is a positive number of seconds")
        self.retry_after = retry_after
        self.logger = logger
        self._clock = clock
        #: when the current outage started, on ``clock`` (None: the store is up)
        self.since: float | None = None
        #: requests refused in the current outage
        self.failures = 0
        #: outages seen since start
        self.outages = 0

    @property
    def down(self) -> bool:
        """An outage is under way: the last store operation failed."""
        return self.since is not None

    def failed(self, error: BaseException) -> None:
        """A store operation failed: the first failure of an outage is logged."""
        self.failures += 1
        if self.since is None:
            self.since = self._clock()
            self.outages += 1
            self.logger.warning("location store unavailable: %s (answering 503 with "
                                "Retry-After %d until it is back)", error, self.retry_after)

    def succeeded(self) -> None:
        """A store operation worked: the end of an outage is logged."""
        if self.since is None:
            return
        lasted = self._clock() - self.since
        self.logger.warning("location store available again after %.1f s; %d requests were "
                            "answered 503 meanwhile", lasted, self.failures)
        self.since = None
        self.failures = 0

    @property
    def retry_after_header(self) -> tuple[str, str]:
        """The Retry-After header of a 503 sent during an outage (§20.33)."""
        return ("Retry-After", str(self.retry_after))
