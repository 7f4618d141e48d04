"""Typed header values, one module per family, and the registry of them."""

from . import all as _all  # noqa: F401  (the other families)
from . import cseq, nameaddr, simple, via  # noqa: F401  (fills the registry)
from .base import HEADER_TYPES, LIST_HEADERS, Field, register

__all__ = ["HEADER_TYPES", "LIST_HEADERS", "Field", "register"]
