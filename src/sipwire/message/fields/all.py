"""Import every typed-value module written for the headers of RFC 3261 §20 that are
not in via.py, nameaddr.py, cseq.py and simple.py, so that their classes register.
"""

from __future__ import annotations

from . import accept, auth, date, info, mediatype, text, tokens

__all__ = ["accept", "auth", "date", "info", "mediatype", "text", "tokens"]
