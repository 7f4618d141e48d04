"""``sipwire serve``: a registrar (RFC 3261 §10) and stateful proxy (§16) in one process.

``ServerConfig`` / ``load_config`` hold its settings; ``Server`` (an async
context manager) and ``run(config)`` (the command) are in ``app``, imported
on first use so that ``sipwire user`` does not load the network stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ConfigError, ServerConfig, load_config

if TYPE_CHECKING:
    from .app import Server, run

__all__ = ["ConfigError", "Server", "ServerConfig", "load_config", "run"]


def __getattr__(name: str) -> Any:
    if name in ("Server", "run"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
