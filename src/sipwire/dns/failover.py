"""The targets of one request, and when to move to the next (RFC 3263 §4.3).

"For SIP requests, failure occurs if the transaction layer reports a 503
error response or a transport failure of some sort ... Failure also occurs
if the transaction layer times out without ever having received any
response, provisional or final (i.e., timer B or timer F ...)."  The client
then sends the same request with a new Via branch, in a new transaction, to
the next target.  ``TargetList`` is that list for one request; the driver
(the UA endpoint, the proxy engine) keeps one per request and asks
``is_failure`` of each final response.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..message.message import Response
from .procedure import DnsTarget

__all__ = ["TargetList", "is_failure", "retry_after"]


class TargetList:
    """The ordered targets of one request and the one being tried.

    ``heard`` is set by the driver when the current target answered anything
    (a provisional response included): a timeout after that is not a failure
    of the target (§4.3).
    """

    __slots__ = ("_index", "heard", "targets")

    def __init__(self, targets: Sequence[DnsTarget]) -> None:
        if not targets:
            raise ValueError("a target list needs at least one target")
        self.targets = tuple(targets)
        self._index = 0
        self.heard = False

    @property
    def current(self) -> DnsTarget:
        return self.targets[self._index]

    @property
    def remaining(self) -> int:
        """Targets after the current one."""
        return len(self.targets) - self._index - 1

    def advance(self) -> DnsTarget | None:
        """Move to the next target (None when there is none left)."""
        if self._index + 1 >= len(self.targets):
            return None
        self._index += 1
        self.heard = False
        return self.targets[self._index]

    def __repr__(self) -> str:
        return (f"<TargetList {self._index + 1}/{len(self.targets)}: "
                f"{', '.join(str(t) for t in self.targets)}>")


def is_failure(response: Response, *, synthetic: bool, heard: bool) -> bool:
    """§4.3: a 503 (received, or made for a transport failure), or a 408 made
    when Timer B or F fired with nothing heard from the target."""
    status = response.status
    if status == 503:
        return True
    return status == 408 and synthetic and not heard


def retry_after(response: Response) -> float | None:
    """The seconds of a 503's Retry-After (RFC 3261 §20.33), None without one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    digits = value.strip().split(";", 1)[0].split("(", 1)[0].strip()
    return float(digits) if digits.isdigit() else None
