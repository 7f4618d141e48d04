"""OverloadControl: when new requests are refused (RFC 3261 §21.5.4), with a
driven clock and measured lags given as numbers; LagProbe on a fake loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from sipwire.server.overload import (
    LagProbe,
    OverloadControl,
    OverloadLimits,
    overload_control,
)


def control(**limits: float) -> OverloadControl:
    return OverloadControl(OverloadLimits(**limits))  # type: ignore[arg-type]


def test_admits_while_the_loop_keeps_up_and_little_waits() -> None:
    shed = control(max_lag=0.1, max_pending=10)
    shed.lagged(100.0, 0.05)
    assert shed.admit(100.01, 9)
    assert shed.refused == 0 and not shed.shedding


def test_a_lag_over_the_bound_refuses_for_hold_seconds_then_admits() -> None:
    shed = control(max_lag=0.1, max_pending=0, hold=0.2)
    shed.lagged(100.0, 0.3)
    assert not shed.admit(100.0, 0)
    assert not shed.admit(100.19, 0)
    assert shed.admit(100.2, 0)  # no later probe lagged: refusing ends
    assert shed.refused == 2 and shed.overloads == 1


def test_each_late_probe_extends_the_refusing() -> None:
    shed = control(max_lag=0.1, max_pending=0, hold=0.2)
    shed.lagged(100.0, 0.5)
    shed.lagged(100.15, 0.4)
    assert not shed.admit(100.3, 0)
    shed.lagged(100.31, 0.01)  # caught up: the hold of the last late probe still runs
    assert not shed.admit(100.34, 0)
    assert shed.admit(100.36, 0)


def test_pending_at_the_bound_refuses_and_below_admits() -> None:
    shed = control(max_lag=0, max_pending=3)
    assert shed.admit(1.0, 2)
    assert not shed.admit(1.0, 3)
    assert not shed.admit(1.0, 50)
    assert shed.admit(1.0, 2)
    assert not shed.admit(1.0, 3)
    assert shed.refused == 3 and shed.overloads == 2


def test_a_sign_set_to_zero_is_not_watched() -> None:
    no_lag = control(max_lag=0, max_pending=5)
    no_lag.lagged(1.0, 60.0)
    assert no_lag.admit(1.0, 0)
    no_pending = control(max_lag=0.1, max_pending=0)
    assert no_pending.admit(1.0, 10**6)


def test_overload_control_is_none_when_nothing_is_watched() -> None:
    assert overload_control(0, 0) is None
    made = overload_control(0.25, 7, retry_after=9)
    assert made is not None
    assert made.limits == OverloadLimits(max_lag=0.25, max_pending=7, retry_after=9)
    assert made.retry_after_header == ("Retry-After", "9")


@pytest.mark.parametrize("limits", [{"max_lag": -1.0}, {"max_pending": -1},
                                    {"hold": -0.1}, {"retry_after": 0}])
def test_limits_that_make_no_sense_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverloadLimits(**limits)  # type: ignore[arg-type]


def test_the_start_and_the_end_of_an_overload_are_logged_once_each(
        caplog: pytest.LogCaptureFixture) -> None:
    shed = control(max_lag=0, max_pending=2, retry_after=4)
    with caplog.at_level(logging.WARNING, logger="sipwire.server"):
        for _ in range(5):
            assert not shed.admit(1.0, 2)
        assert shed.admit(2.0, 0)
        assert shed.admit(2.0, 0)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "overloaded: 2 requests wait (limit 2); answering new requests 503 with Retry-After 4",
        "no longer overloaded; 5 new requests were answered 503",
    ]


class FakeLoop:
    """time() and call_at() of an event loop, driven by the test."""

    def __init__(self) -> None:
        self.now = 50.0
        self.calls: list[tuple[float, Callable[[], None]]] = []
        self.cancelled = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeLoop:
        self.calls.append((when, callback))
        return self

    def cancel(self) -> None:  # as the TimerHandle call_at returned
        self.cancelled += 1

    def run_next(self, late: float) -> None:
        when, callback = self.calls.pop(0)
        self.now = when + late
        callback()


def test_the_probe_measures_how_late_its_callback_runs() -> None:
    loop = FakeLoop()
    shed = control(max_lag=0.1, max_pending=0, hold=0.2)
    probe = LagProbe(shed, interval=0.05, loop=loop)  # type: ignore[arg-type]
    probe.start()
    assert loop.calls[0][0] == pytest.approx(50.05)
    loop.run_next(late=0.01)
    assert shed.lag == pytest.approx(0.01)
    assert shed.admit(loop.now, 0)
    loop.run_next(late=0.4)  # asked for at 50.11, run at 50.51
    assert shed.lag == pytest.approx(0.4)
    assert not shed.admit(loop.now, 0)
    assert loop.calls[0][0] == pytest.approx(loop.now + 0.05)
    probe.stop()
    assert loop.cancelled == 1
