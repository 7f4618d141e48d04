"""Timer values of RFC 3261 §17 and Table 4 (Appendix A), with RFC 6026's L and M.

Every timer is derived from T1, T2 and T4 held by one ``TimerConfig`` per
transaction (never module globals), so a test or a high-latency deployment
changes them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig"]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 and the values built from them (RFC 3261 Table 4).

    ``t1`` is the RTT estimate (default 500 ms), ``t2`` the longest interval
    between retransmissions of non-INVITE requests and INVITE responses
    (4 s), ``t4`` the longest time a message stays in the network (5 s).
    ``timer_d`` is Timer D over unreliable transports: "at least 32 seconds"
    (§17.1.1.2), not scaled with T1 because the client cannot know the
    server's T1 (RFC 6026 §8.4).  ``trying_delay`` is how long an INVITE
    server transaction waits for the TU before sending 100 Trying itself
    (§17.2.1, "200 ms"); ``None`` leaves 100 Trying entirely to the TU.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying_delay: float | None = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError(f"need 0 < T1 <= T2, got T1={self.t1} T2={self.t2}")
        if self.t4 < 0 or self.timer_d < 0:
            raise ValueError("T4 and Timer D cannot be negative")
        if self.trying_delay is not None and self.trying_delay < 0:
            raise ValueError("trying_delay cannot be negative")

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout, 64*T1 (§17.1.1.2)."""
        return 64 * self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE transaction timeout, 64*T1 (§17.1.2.2)."""
        return 64 * self.t1

    @property
    def timer_h(self) -> float:
        """Wait time for ACK receipt, 64*T1 (§17.2.1)."""
        return 64 * self.t1

    @property
    def timer_j(self) -> float:
        """Wait time for non-INVITE request retransmits over UDP, 64*T1 (§17.2.2)."""
        return 64 * self.t1

    @property
    def timer_l(self) -> float:
        """Wait time for accepted INVITE request retransmits, 64*T1 (RFC 6026 §8.7)."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """Wait time for retransmitted or forked 2xx, 64*T1 (RFC 6026 §8.4)."""
        return 64 * self.t1
