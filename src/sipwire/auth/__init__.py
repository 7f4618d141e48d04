"""Digest authentication, client and server (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Sans-I/O: no sockets, no clocks; ``now`` is an argument wherever time matters.

Server (registrar, proxy, UAS)::

    users = SQLiteUserStore("users.db")             # or MemoryUserStore()
    guard = DigestServer("example.com", secret=key)  # proxy=True for 407
    verdict = guard.verify(request, users.get, now, source=peer_ip)
    if verdict.response is not None:                 # Challenged / Rejected
        send(verdict.response)
    elif isinstance(verdict, Authenticated):
        ... verdict.username ...

Client (UAC)::

    client = DigestClient("alice", password)
    retry = client.answer(response, request)         # None: give up
    client.authorize(next_request)                   # pre-authorize, nc + 1
"""

from .client import DigestClient, answer_challenge
from .digest import (
    ALGORITHMS,
    Algorithm,
    UnsupportedAlgorithm,
    get_algorithm,
    ha1,
    request_digest,
    session_key,
)
from .nonce import NonceCounter, NonceSigner, SignedNonce
from .server import (
    Authenticated,
    Authorize,
    Challenged,
    DigestServer,
    Exempt,
    Lookup,
    Rejected,
    Verdict,
)
from .sqlite import SQLiteUserStore
from .store import MemoryUserStore, UserExists, UserRecord, UserStore, split_address
from .throttle import FailureThrottle, Penalty
from .userfile import UserFile, UsersFileError, UsersLocation, default_users_path, users_location

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Authenticated",
    "Authorize",
    "Challenged",
    "DigestClient",
    "DigestServer",
    "Exempt",
    "FailureThrottle",
    "Lookup",
    "MemoryUserStore",
    "NonceCounter",
    "NonceSigner",
    "Penalty",
    "Rejected",
    "SQLiteUserStore",
    "SignedNonce",
    "UnsupportedAlgorithm",
    "UserExists",
    "UserFile",
    "UserRecord",
    "UserStore",
    "UsersFileError",
    "UsersLocation",
    "Verdict",
    "answer_challenge",
    "default_users_path",
    "get_algorithm",
    "ha1",
    "request_digest",
    "session_key",
    "split_address",
    "users_location",
]
