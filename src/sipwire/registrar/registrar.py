"""The registrar as a service: ``RegistrarCore``'s rules against a location store.

``await registrar.handle(request, now, source)`` answers one REGISTER, in the
order of RFC 3261 §10.3: (1) the Request-URI's domain, (2) Require, (3)
authentication and (4) authorization through optional hooks, (5) the
address-of-record, (6, 7) the Contacts applied to the store in one
transaction, (8) the 200 listing the bindings.

A store that fails (``StoreError``: the location service is unreachable) is
answered 503 with Retry-After (§21.5.4), and logged once per outage through
``outage`` (``StoreOutage``), not once per request.  Anything else the store
raises is a fault of ours: 500, logged with its traceback.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from ..location.binding import Binding, Source
from ..location.outage import StoreOutage
from ..location.store import LocationStore, StoreError
from ..message.errors import ParseError
from ..message.message import Request, Response
from .core import (
    REASON_TOO_MANY,
    RegistrarCore,
    ReplyTooLarge,
    StaleRegistration,
    TooManyContacts,
    check_reply_size,
)

__all__ = ["Authenticate", "Authorize", "Registrar"]

log = logging.getLogger("sipwire.registrar")

T = TypeVar("T")

#: Step 3.  Given the REGISTER, return the authenticated user name, ``None``
#: when there is no authentication (§10.3: the registrar "MAY take the From
#: address as the asserted identity"), or a Response to send instead (a 401
#: challenge, a 403).  Plain or async.
Authenticate = Callable[[Request], "Awaitable[str | Response | None] | str | Response | None"]
#: Step 4.  Given the authenticated user (or None), the canonical AOR and the
#: REGISTER: may this user change this AOR's bindings?  False gives 403.
Authorize = Callable[[str | None, str, Request], "Awaitable[bool] | bool"]


async def _result(value: Awaitable[T] | T) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


class Registrar:
    """A §10.3 registrar keeping its bindings in ``store``.

    The options after the hooks are ``RegistrarCore``'s: see there.
    ``outage`` tracks store failures (shared with whoever else reads the
    store, such as a proxy's lookups); one is made if not given.
    """

    def __init__(
        self,
        store: LocationStore,
        domains: Iterable[str],
        *,
        authenticate: Authenticate | None = None,
        authorize: Authorize | None = None,
        aliases: Iterable[str] = (),
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        path: bool = True,
        outbound: bool = True,
        path_requires_supported: bool = True,
        contact_schemes: Iterable[str] | None = None,
        max_contacts: int = 10,
        max_contacts_per_register: int = 10,
        max_contact_length: int = 1024,
        agent: str | None = None,
        outage: StoreOutage | None = None,
    ) -> None:
        self.store = store
        self.core = RegistrarCore(
            domains, aliases=aliases, min_expires=min_expires, max_expires=max_expires,
            default_expires=default_expires, path=path, outbound=outbound,
            path_requires_supported=path_requires_supported,
            contact_schemes=contact_schemes, max_contacts=max_contacts,
            max_contacts_per_register=max_contacts_per_register,
            max_contact_length=max_contact_length, agent=agent,
        )
        self.authenticate = authenticate
        self.authorize = authorize
        self.outage = outage if outage is not None else StoreOutage()

    async def handle(self, request: Request, now: float,
                     source: Source | None = None) -> Response:
        """The final response to one REGISTER received at POSIX time ``now``.

        ``source`` is where it came from (transport, remote address, the local
        socket or connection), stored with each binding for routing back
        through NATs and for RFC 5626 flows.
        """
        core = self.core
        try:
            refusal = core.check_request(request)  # steps 1 and 2
            if refusal is not None:
                return refusal
            user: str | None = None
            if self.authenticate is not None:  # step 3
                outcome = await _result(self.authenticate(request))
                if isinstance(outcome, Response):
                    return outcome
                user = outcome
            aor = core.address_of_record(request)
            if self.authorize is not None and not await _result(  # step 4
                self.authorize(user, aor, request)
            ):
                return core.reject(request, 403, f"not allowed to register {aor}")
            refusal = core.check_address_of_record(request)  # step 5
            if refusal is not None:
                return refusal
            registration = core.registration(request, now, source, aor=aor)  # steps 6, 7
            if isinstance(registration, Response):
                return registration
        except ParseError as exc:
            return core.reject(request, exc.status_code, str(exc))
        outage = self.outage
        try:
            bindings: list[Binding]
            if registration.is_query:
                bindings = await self.store.lookup(registration.aor, now)
                if registration.reply_budget is not None:
                    check_reply_size(bindings, registration.reply_budget)
            else:
                bindings = await self.store.update(registration.aor, registration.apply, now)
        except StaleRegistration as exc:
            # §10.3 step 7: "the update MUST be aborted and the request fails"; a
            # failed binding update fails the request "with a 500 (Server Error)".
            return core.reject(request, 500, str(exc))
        except TooManyContacts as exc:
            return core.reject(request, 403, str(exc), reason=REASON_TOO_MANY)
        except ReplyTooLarge as exc:
            return core.reject(request, 500, str(exc))
        except StoreError as exc:
            outage.failed(exc)
            return core.reject(request, 503, "the location service is unavailable",
                               [outage.retry_after_header])
        except Exception as exc:
            log.exception("location store failed for %s", registration.aor)
            return core.reject(request, 500, f"location service failed: {type(exc).__name__}")
        if outage.since is not None:
            outage.succeeded()
        return core.accept(request, registration, bindings, now)

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        """The unexpired bindings of ``aor`` (canonical, as ``URI.aor``), best q first."""
        return await self.store.lookup(aor, now)
