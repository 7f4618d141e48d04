"""The SIP message layer: bytes <-> Request/Response, no I/O (RFC 3261 §7, §20, §25)."""
