"""The transaction layer is sans-I/O: no clock, no sockets, no event loop, no globals."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import sipwire.transaction as transaction
from sipwire.transaction import (
    Deliver,
    LoopDetected,
    Send,
    Stray,
    Terminated,
    Timeout,
    TimerConfig,
    TransportFailure,
)

PACKAGE = Path(transaction.__file__).parent
FORBIDDEN = {"asyncio", "socket", "time", "selectors", "threading", "datetime", "trio"}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_module_imports_a_clock_socket_or_event_loop(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        assert not {n.split(".")[0] for n in names} & FORBIDDEN, (path.name, names)


@pytest.mark.parametrize("cls", [Send, Deliver, Timeout, TransportFailure, Terminated, Stray,
                                 LoopDetected, TimerConfig])
def test_actions_and_config_are_small_frozen_dataclasses(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in cls.__dict__


def test_action_equality_ignores_the_transaction_handle() -> None:
    assert Terminated("Timer K") == Terminated("Timer K", transaction=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Terminated("Timer K").reason = "x"  # type: ignore[misc]


def test_timer_config_defaults_and_derived_timers() -> None:
    config = TimerConfig()
    assert (config.t1, config.t2, config.t4) == (0.5, 4.0, 5.0)
    assert config.timer_b == config.timer_f == config.timer_h == config.timer_j == 32.0
    assert config.timer_l == config.timer_m == 32.0
    assert config.timer_d == 32.0 and config.trying_delay == 0.2
    assert TimerConfig(t1=0.25).timer_b == 16.0


@pytest.mark.parametrize("kwargs", [{"t1": 0}, {"t1": 5.0, "t2": 4.0}, {"t4": -1},
                                    {"trying_delay": -0.1}])
def test_timer_config_refuses_impossible_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)
