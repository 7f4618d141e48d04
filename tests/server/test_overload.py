"""OverloadControl: when and how many new requests are refused (RFC 3261
§21.5.4), with lags and queue fills given as numbers; LagProbe on a driven
fake loop."""

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


def admitted(shed: OverloadControl, requests: int, pending: int = 0) -> int:
    return sum(shed.admit(pending) for _ in range(requests))


def test_admits_everything_while_the_loop_and_the_queues_keep_up() -> None:
    shed = control(max_lag=0.1, max_queue=0.5, max_pending=10)
    shed.observe(0.05, 0.4)
    assert admitted(shed, 100, pending=9) == 100
    assert shed.refused == 0 and not shed.shedding


def test_each_overloaded_probe_refuses_a_larger_share_up_to_the_cap() -> None:
    shed = control(max_lag=0.1, max_queue=0, max_pending=0, step=0.05, max_refused=0.25)
    shed.observe(0.3)
    assert shed.refusing == pytest.approx(0.05)
    assert admitted(shed, 100) == 95  # one in twenty, spread evenly
    for _ in range(10):
        shed.observe(0.3)
    assert shed.refusing == pytest.approx(0.25)
    assert admitted(shed, 100) == 75
    assert shed.refused == 30 and shed.overloads == 1


def test_a_full_receive_queue_is_overload_too() -> None:
    shed = control(max_lag=0, max_queue=0.5, max_pending=0, step=0.1)
    shed.observe(0.0, 0.5)  # at the bound: not over it
    assert shed.refusing == 0
    shed.observe(0.0, 0.9)
    assert shed.refusing == pytest.approx(0.1) and shed.queue == 0.9
    assert admitted(shed, 10) == 9


def test_the_share_shrinks_step_by_step_once_calm_and_then_all_is_admitted() -> None:
    shed = control(max_lag=0.1, max_queue=0, max_pending=0, step=0.1, max_refused=0.3)
    for _ in range(4):
        shed.observe(1.0)
    assert shed.refusing == pytest.approx(0.3)
    for expected in (0.2, 0.1):
        shed.observe(0.0)
        assert shed.refusing == pytest.approx(expected)
    shed.observe(0.0)
    assert shed.refusing == 0 and not shed.shedding
    assert admitted(shed, 50) == 50


def test_pending_at_the_bound_refuses_every_new_request() -> None:
    shed = control(max_lag=0, max_queue=0, max_pending=3)
    assert shed.admit(2)
    assert not shed.admit(3)
    assert not shed.admit(50)
    assert shed.admit(2)
    assert not shed.admit(3)
    assert shed.refused == 3 and shed.overloads == 2


def test_a_sign_set_to_zero_is_not_watched() -> None:
    no_lag = control(max_lag=0, max_queue=0.5, max_pending=5)
    no_lag.observe(60.0, 0.1)
    assert no_lag.refusing == 0 and no_lag.admit(0)
    no_queue = control(max_lag=0.1, max_queue=0, max_pending=5)
    no_queue.observe(0.0, 1.0)
    assert no_queue.refusing == 0
    no_pending = control(max_lag=0.1, max_queue=0.5, max_pending=0)
    assert no_pending.admit(10**6)


def test_overload_control_is_none_when_nothing_is_watched() -> None:
    assert overload_control(0, 0, max_queue=0) is None
    made = overload_control(0.25, 7, retry_after=9, max_queue=0.75, max_refused=0.5)
    assert made is not None
    assert made.limits == OverloadLimits(max_lag=0.25, max_pending=7, retry_after=9,
                                         max_queue=0.75, max_refused=0.5)
    assert made.retry_after_header == ("Retry-After", "9")


@pytest.mark.parametrize("limits", [{"max_lag": -1.0}, {"max_pending": -1},
                                    {"max_queue": 1.5}, {"max_refused": 0.0},
                                    {"step": 0.0}, {"retry_after": 0}])
def test_limits_that_make_no_sense_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverloadLimits(**limits)  # type: ignore[arg-type]


def test_the_serve_settings_reach_the_control() -> None:
    from sipwire.server.config import ConfigError, ServerConfig

    config = ServerConfig(listen=("udp:127.0.0.1:0",), overload_max_refused=0.5).check()
    assert config.overload_max_refused == 0.5
    with pytest.raises(ConfigError, match="overload_max_refused"):
        ServerConfig(listen=("udp:127.0.0.1:0",), overload_max_refused=0.0).check()
    with pytest.raises(ConfigError, match="overload_max_queue"):
        ServerConfig(listen=("udp:127.0.0.1:0",), overload_max_queue=2.0).check()
    with pytest.raises(ConfigError, match="overload_retry_after"):
        ServerConfig(listen=("udp:127.0.0.1:0",), overload_retry_after=0).check()


def test_the_start_and_the_end_of_an_overload_are_logged_once_each(
        caplog: pytest.LogCaptureFixture) -> None:
    shed = control(max_lag=0, max_queue=0.5, max_pending=2, retry_after=4, step=0.5,
                   max_refused=0.5)
    with caplog.at_level(logging.WARNING, logger="sipwire.server"):
        for _ in range(5):
            assert not shed.admit(2)
        shed.observe(0.0, 0.8)  # still overloaded, for another reason
        assert admitted(shed, 4) == 2
        shed.observe(0.0, 0.1)
        shed.observe(0.0, 0.1)
        assert admitted(shed, 3) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "overloaded: 2 requests wait (limit 2); answering new requests 503 with Retry-After 4",
        "no longer overloaded; 7 new requests were answered 503",
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


def test_the_probe_measures_the_lag_and_asks_for_the_queue_fill() -> None:
    loop = FakeLoop()
    fills = [0.2, 0.3, 0.95]
    shed = control(max_lag=0.1, max_queue=0.5, max_pending=0, step=0.1)
    probe = LagProbe(shed, interval=0.05, loop=loop,  # type: ignore[arg-type]
                     queue=lambda: fills.pop(0))
    probe.start()
    assert loop.calls[0][0] == pytest.approx(50.05)
    loop.run_next(late=0.01)
    assert shed.lag == pytest.approx(0.01) and shed.queue == 0.2
    assert shed.refusing == 0
    loop.run_next(late=0.4)  # asked for at 50.11, run at 50.51
    assert shed.lag == pytest.approx(0.4) and shed.queue == 0.3
    assert shed.refusing == pytest.approx(0.1)
    loop.run_next(late=0.0)
    assert shed.queue == 0.95 and shed.refusing == pytest.approx(0.2)
    assert loop.calls[0][0] == pytest.approx(loop.now + 0.05)
    probe.stop()
    assert loop.cancelled == 1
