"""Server nonces: self-contained, signed, expiring; and nonce-count replay protection.

A nonce is ``base64url(issued_ms[8] || random[12] || mac[16])``, 48 characters
from the token alphabet, where ``mac`` is HMAC-SHA256 under the server secret
over the issue time, the random part and the realm (truncated to 128 bits).
Checking one needs only the secret and the clock (RFC 7616 §3.3 "nonce",
§5.4), so servers sharing a secret check each other's nonces and a restart
with the same secret keeps clients' nonces valid.

Replay protection (RFC 7616 §5.5) is the one piece of state: the highest
nonce-count accepted for each nonce, in a bounded LRU map.  A count is
accepted only above that mark, so no (nonce, nc) pair is accepted twice.  An
answer without qop has no nonce-count; it is taken as count 1, so such a
nonce serves one answer (RFC 7616 §5.5's one-time nonces).  A nonce that is
not in the map was either never accepted here, or was dropped from it; to
tell the two apart the map keeps a *floor*, the latest issue time of any nonce
it has forgotten (and, initially, of any nonce from before it started).  A
nonce issued at or before the floor and not in the map is refused as stale,
so a dropped entry can never make an old nonce-count acceptable again; the
client gets a fresh nonce (``stale=true``) and carries on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["NonceCounter", "NonceSigner", "SignedNonce"]

_TS_LEN = 8
_RAND_LEN = 12
_MAC_LEN = 16
_RAW_LEN = _TS_LEN + _RAND_LEN + _MAC_LEN
_DOMAIN = b"sipwire digest nonce v1\x00"


def _ms(now: float) -> int:
    return int(now * 1000)


@dataclass(frozen=True, slots=True)
class SignedNonce:
    """A nonce whose signature checked out: its text and when it was issued."""

    value: str
    issued_ms: int

    @property
    def issued(self) -> float:
        """The issue time in the units of ``now`` (seconds)."""
        return self.issued_ms / 1000


class NonceSigner:
    """Makes and checks nonces for one realm under one secret."""

    __slots__ = ("_key", "_realm")

    def __init__(self, realm: str, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        self._key = secret
        self._realm = realm.encode("utf-8")

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + body + self._realm, hashlib.sha256).digest()[:_MAC_LEN]

    def issue(self, now: float) -> str:
        """A new nonce stamped with ``now``."""
        body = max(_ms(now), 0).to_bytes(_TS_LEN, "big") + secrets.token_bytes(_RAND_LEN)
        return base64.urlsafe_b64encode(body + self._mac(body)).decode("ascii")

    def check(self, nonce: str) -> SignedNonce | None:
        """The nonce with its issue time if this server made it for this realm, else None."""
        if len(nonce) != _RAW_LEN * 4 // 3 or not nonce.isascii():
            return None
        try:
            raw = base64.b64decode(nonce, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            return None
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        return SignedNonce(nonce, int.from_bytes(body[:_TS_LEN], "big"))


class NonceCounter:
    """The highest nonce-count accepted per nonce: a bounded LRU map with a floor.

    See the module docs for the floor.  ``max_entries`` bounds memory (an
    entry is about 200 bytes); entries of expired nonces are dropped first.
    """

    __slots__ = ("_floor_ms", "_lifetime_ms", "_seen", "max_entries")

    def __init__(self, lifetime: float, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._lifetime_ms = _ms(lifetime)
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()  # nonce -> (nc, issued)
        self._floor_ms: int | None = None

    def start(self, now: float) -> None:
        """Refuse nonces issued before ``now`` that this counter has not seen.

        Called on the first ``now`` the server sees: a nonce from an earlier
        process (same secret) may have been used there with any count.
        """
        if self._floor_ms is None:
            self._floor_ms = _ms(now) - 1

    def advance(self, nonce: SignedNonce, nc: int, now: float) -> bool:
        """Record ``nc`` for ``nonce`` if it is above every count accepted before.

        False means a replay (a count already used, or lower), or a nonce this
        counter cannot vouch for (issued at or before the floor and unknown).
        Call only once the request is otherwise authenticated, so that failed
        attempts cannot fill the map.
        """
        self.start(now)
        entry = self._seen.get(nonce.value)
        if entry is None:
            assert self._floor_ms is not None
            if nonce.issued_ms <= self._floor_ms:
                return False
        elif nc <= entry[0]:
            return False
        self._seen[nonce.value] = (nc, nonce.issued_ms)
        self._seen.move_to_end(nonce.value)
        self._prune(_ms(now))
        return True

    def use_once(self, nonce: SignedNonce, now: float) -> bool:
        """Record the one use of ``nonce`` by an answer without nonce-count
        (RFC 2069); False if it was used before."""
        return self.advance(nonce, 1, now)

    def _prune(self, now_ms: int) -> None:
        seen = self._seen
        # Oldest-used first: drop expired entries at the front, then whatever is
        # over the bound.  Each drop raises the floor to the dropped nonce's
        # issue time, so the dropped nonce (and anything older) stays refused.
        while seen:
            value, (_, issued) = next(iter(seen.items()))
            if len(seen) <= self.max_entries and now_ms - issued <= self._lifetime_ms:
                break
            del seen[value]
            assert self._floor_ms is not None
            self._floor_ms = max(self._floor_ms, issued)

    def __len__(self) -> int:
        return len(self._seen)
