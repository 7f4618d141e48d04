"""quick_init: the same constructor as @dataclass(frozen=True, slots=True) writes, quicker."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from sipwire._frozen import quick_init
from sipwire.location.binding import Binding, Source
from sipwire.transaction.actions import Send
from sipwire.transport.base import Address, Flow, Transport


@quick_init
@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    x: int
    y: int = 0
    label: str | None = None


def test_same_signature_as_the_dataclass_init() -> None:
    assert inspect.signature(Point) == inspect.signature(Reference)
    assert Point.__init__.__qualname__ == "Point.__init__"


def test_positional_keyword_and_default_arguments() -> None:
    assert Point(1) == Point(x=1, y=0, label=None)
    assert Point(1, 2, "a") == Point(label="a", y=2, x=1)
    assert repr(Point(1, label="a")) == "Point(x=1, y=0, label='a')"
    assert hash(Point(1, 2)) == hash(Point(1, 2)) and Point(1, 2) != Point(2, 1)
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_still_frozen() -> None:
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    assert dataclasses.replace(point, y=5) == Point(1, 5)
    assert pickle.loads(pickle.dumps(point)) == point


def test_refuses_what_it_cannot_construct_alike() -> None:
    @dataclass(slots=True)
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Factory:
        x: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        x: int

    for cls in (Mutable, NoSlots, PostInit, Factory, KeywordOnly):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


def test_the_hot_values_construct_as_before() -> None:
    flow = Flow(Transport.UDP, Address("127.0.0.1", 5060), Address("127.0.0.1", 5070))
    assert flow.connection is None and flow.remote.port == 5060
    binding = Binding("sip:a@x", "sip:a@1.2.3.4", "<sip:a@1.2.3.4>", 10.0,
                      source=Source("UDP", "1.2.3.4", 5060))
    assert (binding.q, binding.cseq, binding.path, binding.source.local) == (1.0, 0, (), None)
    assert binding.replace(q=0.5).q == 0.5
    assert Send(binding) == Send(binding, transaction=None)  # type: ignore[arg-type]
