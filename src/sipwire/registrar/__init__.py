"""The registrar of RFC 3261 §10, with Path (RFC 3327) and outbound (RFC 5626).

``Registrar(store, domains).handle(request, now, source)`` answers a REGISTER
against a ``sipwire.location`` store; ``RegistrarCore`` holds the same rules
without I/O.
"""

from .core import (
    ContactUpdate,
    RegistrarCore,
    Registration,
    ReplyTooLarge,
    StaleRegistration,
    TooManyContacts,
)
from .registrar import Authenticate, Authorize, Registrar

__all__ = [
    "Authenticate",
    "Authorize",
    "ContactUpdate",
    "Registrar",
    "RegistrarCore",
    "Registration",
    "ReplyTooLarge",
    "StaleRegistration",
    "TooManyContacts",
]
