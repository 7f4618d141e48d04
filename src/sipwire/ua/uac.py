"""Requests a UAC core sends within the dialog a 2xx created (RFC 3261 §12, §13.2.2.4).

Kept for callers that hold no ``Dialog``: both are built by ``sipwire.dialog``.
"""

from __future__ import annotations

from ..dialog.dialog import build_2xx_ack, build_in_dialog_request

__all__ = ["build_2xx_ack", "build_in_dialog_request"]
