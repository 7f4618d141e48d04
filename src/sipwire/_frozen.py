"""Quicker construction of frozen, slotted dataclasses.

``@dataclass(frozen=True)`` generates an ``__init__`` that writes each field
with ``object.__setattr__(self, name, value)``: a generic attribute lookup per
field, about twice the cost of the whole constructor of an unfrozen class.
The values a server builds for every message (transaction actions, flows,
registrations, bindings) pay it on the hot path.  ``quick_init`` replaces that
``__init__`` with one that writes each slot through its descriptor: the same
signature, defaults and result, still frozen to everyone else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

C = TypeVar("C", bound=type)


def quick_init(cls: C) -> C:
    """Give a ``@dataclass(frozen=True, slots=True)`` class a quicker ``__init__``.

    Apply it above the ``@dataclass`` decorator.  Only for classes whose
    fields are all plain ``__init__`` parameters: no ``__post_init__``, no
    ``default_factory``, ``init=False``, keyword-only fields or ``InitVar``.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init is for frozen, slotted dataclasses")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick_init cannot run __post_init__")
    names: dict[str, Any] = {}
    signature: list[str] = []
    body: list[str] = []
    for i, f in enumerate(dataclasses.fields(cls)):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_init needs a plain field")
        names[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            names[f"_default{i}"] = f.default
            signature.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})")
    source = f"def __init__(self, {', '.join(signature)}):\n" + "\n".join(body or ["    pass"])
    exec(source, names)
    init = names["__init__"]
    generated = cls.__dict__["__init__"]
    init.__qualname__ = generated.__qualname__
    init.__module__ = cls.__module__
    init.__annotations__ = dict(generated.__annotations__)
    type.__setattr__(cls, "__init__", init)
    return cls
