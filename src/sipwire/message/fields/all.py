"""Import every typed-value module written for the headers of RFC 3261 §20 that are
not in via.py, nameaddr.py, cseq.py and simple.py, so that their classes register.
"""

from __future__ import annotations

# events: RFC 6665; refer: RFC 3515, 3891, 3892; session: RFC 3262, 4028
from . import accept, auth, date, events, info, mediatype, refer, session, text, tokens

__all__ = ["accept", "auth", "date", "events", "info", "mediatype", "refer", "session", "text",
           "tokens"]
