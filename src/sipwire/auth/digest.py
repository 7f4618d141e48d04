"""Digest computations (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 8760 §2, RFC 3261 §22.4).

Pure functions over strings: no messages, no state.  Every value is hashed as
UTF-8 (RFC 7616 §4; SIP is UTF-8 throughout) and every digest is lower-case
hex (RFC 8760 §2.2).

* ``HA1``, the stored secret: ``H(username ":" realm ":" password)``.  For a
  ``-sess`` algorithm the session key ``H(HA1 ":" nonce ":" cnonce)`` is
  derived from it per request, so a store holds one HA1 per *hash* (MD5,
  SHA-256, SHA-512-256), never one per algorithm and never the password.
* ``request_digest``, the ``response`` parameter: with a qop (RFC 2617
  §3.2.2.1) ``KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" H(A2))``, without
  one (RFC 2069, kept for RFC 2543 clients by RFC 3261 §22.4)
  ``KD(HA1, nonce ":" H(A2))``; ``A2 = method ":" digest-uri`` and, for
  ``qop=auth-int``, ``":" H(body)`` appended, an empty body hashing as
  ``H("")`` (RFC 8760 §2.6 item 7).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "ALGORITHMS",
    "QOPS",
    "Algorithm",
    "UnsupportedAlgorithm",
    "get_algorithm",
    "ha1",
    "request_digest",
    "session_key",
]

#: the qop-values this module computes (RFC 2617 §3.2.1)
QOPS = ("auth", "auth-int")


class UnsupportedAlgorithm(ValueError):
    """An ``algorithm`` this implementation does not compute."""


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One entry of the IANA "Hash Algorithms for HTTP Digest Authentication".

    ``name`` is the canonical spelling (``SHA-256-sess``), ``base`` the hash the
    HA1 is stored under (``SHA-256``), ``session`` True for ``-sess`` variants,
    ``strength`` orders algorithms for a client picking the strongest.
    """

    name: str
    base: str
    hashlib_name: str
    session: bool
    strength: int

    def hash(self, data: str | bytes) -> str:
        """``H(data)`` as lower-case hex."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return hashlib.new(self.hashlib_name, raw).hexdigest()

    @property
    def digest_size(self) -> int:
        """Length of a digest in hex digits (32 for MD5, 64 for the SHA-2 family)."""
        return hashlib.new(self.hashlib_name).digest_size * 2


def _family(base: str, hashlib_name: str, strength: int) -> tuple[Algorithm, Algorithm]:
    return (Algorithm(base, base, hashlib_name, False, strength),
            Algorithm(f"{base}-sess", base, hashlib_name, True, strength))


#: upper-cased algorithm name -> Algorithm (names compare case-insensitively)
ALGORITHMS: dict[str, Algorithm] = {
    a.name.upper(): a
    for a in (*_family("MD5", "md5", 1), *_family("SHA-256", "sha256", 2),
              *_family("SHA-512-256", "sha512_256", 3))
}


def get_algorithm(name: str | None) -> Algorithm:
    """The algorithm called ``name``; None (parameter absent) means MD5 (RFC 2617 §3.2.1)."""
    found = ALGORITHMS.get((name or "MD5").upper())
    if found is None:
        raise UnsupportedAlgorithm(f"unsupported digest algorithm {name!r}")
    return found


def ha1(username: str, realm: str, password: str, algorithm: str | Algorithm = "MD5") -> str:
    """The stored secret ``H(username ":" realm ":" password)`` for ``algorithm``'s hash.

    A ``-sess`` algorithm gives the HA1 of its base hash: the session key is
    derived per request by :func:`session_key`.
    """
    alg = algorithm if isinstance(algorithm, Algorithm) else get_algorithm(algorithm)
    return alg.hash(f"{username}:{realm}:{password}")


def session_key(ha1: str, algorithm: str | Algorithm, nonce: str, cnonce: str | None) -> str:
    """``H(A1)`` of the response: ``ha1`` itself, or for ``-sess`` ``H(ha1:nonce:cnonce)``.

    RFC 7616 §3.4.2; the inner HA1 is hex, as in RFC 7616 (RFC 2617's sample
    code hashed the raw bytes, an erratum every interoperable stack ignores).
    """
    alg = algorithm if isinstance(algorithm, Algorithm) else get_algorithm(algorithm)
    if not alg.session:
        return ha1
    if cnonce is None:
        # RFC 3261 §22.4 item 8: -sess depends on cnonce, so it needs a qop.
        raise ValueError(f"{alg.name} needs a cnonce (and so a qop)")
    return alg.hash(f"{ha1}:{nonce}:{cnonce}")


def request_digest(
    ha1: str,
    *,
    algorithm: str | Algorithm,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` parameter for a request (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).

    ``ha1`` is the stored (base) HA1; ``nc`` the 8 hex digits as sent.  With
    ``qop=None`` this is the RFC 2069 digest, which takes no nc or cnonce.
    """
    alg = algorithm if isinstance(algorithm, Algorithm) else get_algorithm(algorithm)
    key = session_key(ha1, alg, nonce, cnonce)
    if qop is None:
        return alg.hash(f"{key}:{nonce}:{alg.hash(f'{method}:{uri}')}")
    if qop == "auth":
        a2 = f"{method}:{uri}"
    elif qop == "auth-int":
        a2 = f"{method}:{uri}:{alg.hash(body)}"
    else:
        raise ValueError(f"unsupported qop {qop!r}")
    if nc is None or cnonce is None:
        raise ValueError(f"qop={qop} needs nc and cnonce")
    return alg.hash(f"{key}:{nonce}:{nc}:{cnonce}:{qop}:{alg.hash(a2)}")
