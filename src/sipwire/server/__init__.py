"""``sipwire serve``: a registrar (RFC 3261 §10) and stateful proxy (§16) in one process."""

from .config import ConfigError, ServerConfig, load_config

__all__ = ["ConfigError", "ServerConfig", "load_config"]
