"""Import every typed-value module written for the headers of RFC 3261 §20 that are
not in via.py, nameaddr.py, cseq.py and simple.py, so that their classes register.
"""

from __future__ import annotations

from . import accept, auth, date, info, mediatype, text, tokens

__all__ = ["EMPTY_LIST_HEADERS", "accept", "auth", "date", "info", "mediatype", "text", "tokens"]

#: list headers whose grammar is ``[ x *(COMMA x) ]``: an empty value is a valid
#: header with no elements (RFC 3261 §20.1, §20.2, §20.3, §20.5, §20.37)
EMPTY_LIST_HEADERS: frozenset[str] = frozenset(
    {"accept", "accept-encoding", "accept-language", "allow", "supported"}
)
