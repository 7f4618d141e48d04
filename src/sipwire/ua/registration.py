"""The registration client: REGISTER, refresh, retry and unregister (RFC 3261 §10.2).

Two parts, as everywhere in sipwire:

``RegistrationCore`` is sans-I/O.  It builds each REGISTER (one Call-ID for
every request to one registrar and a CSeq that only goes up, §10.2.4), reads
each final response (the expiry the registrar granted to our Contact, from
its ``expires`` parameter or the Expires header, §10.2.4; 423 Interval Too
Brief and its Min-Expires, §10.2.8; a failure and its Retry-After) and says
when the next REGISTER is due, with time passed in as ``now``.

``Registration`` drives a core over an ``Endpoint``: it sends each REGISTER
at the core's deadline (the Digest 401/407 is answered by the endpoint's
``DigestClient``, which raises the CSeq), reports what happened, sends the
RFC 5626 keep-alives of an outbound registration, and unregisters
(``Expires: 0`` for our Contact only) on ``close()``.  Several registrars at
once are several ``Registration`` objects over one endpoint, each with its
own Call-ID (RFC 5626 §4.2.1: "Each of these REGISTER requests will use a
unique Call-ID").

When to refresh.  §10.2.4 leaves it to the UA ("before the expiration
interval has elapsed").  A REGISTER may take one whole transaction, 64*T1 =
32 s over UDP, before it is known to have failed, so the refresh is sent that
long before the binding expires, but never before half of the granted time
has passed, so that short registrations are not refreshed in a loop:
``refresh = granted - min(granted / 2, margin)`` with ``margin`` = 32 s (3600 s
granted: refreshed after 3568 s; 60 s: after 30 s).  A refresh that fails
leaves the binding to its expiry and is retried as any failure is.

Failures.  A 5xx, a 408 (our own Timer F, §8.1.3.1) or any final response
with Retry-After is retried after the wait of RFC 5626 §4.5: a random time
between 50 % and 100 % of ``min(max-time, base-time * 2**failures)``,
base-time 30 s and max-time 1800 s by default, or the Retry-After if longer
(§20.33).  Another 4xx/6xx (403, 404 ...) will not get better by itself: the
registration is failed and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from ..auth.client import DigestClient
from ..message.fields.base import Field
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response, new_call_id, new_tag
from ..message.uri import URI
from ..transport.base import Flow, Target, Transport, TransportError
from ..transport.stun import BINDING, StunClass, StunMessage
from .endpoint import Endpoint

__all__ = [
    "IntervalTooBrief",
    "Outbound",
    "Registered",
    "Registration",
    "RegistrationCore",
    "RegistrationError",
    "RegistrationEvent",
    "RegistrationFailed",
    "RegistrationPolicy",
    "RegistrationState",
    "Unregistered",
    "backoff_bound",
    "refresh_delay",
]

logger = logging.getLogger("sipwire.ua.registration")


# -- policy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """The numbers of one registration: what to ask for and how to wait.

    ``expires`` is the interval requested (§10.2.1.1); ``margin`` how long
    before expiry a refresh is sent (one transaction lifetime, 64*T1);
    ``base_time`` and ``max_time`` the retry wait of RFC 5626 §4.5;
    ``max_interval_retries`` how many 423s in a row are answered (§10.2.8).
    """

    expires: int = 3600
    margin: float = 32.0
    base_time: float = 30.0
    max_time: float = 1800.0
    max_interval_retries: int = 3

    def __post_init__(self) -> None:
        if self.expires < 1:
            raise ValueError("a registration asks for an expiry of at least 1 s; "
                             "0 is unregistering (RFC 3261 §10.2.2)")
        if self.margin < 0 or self.base_time <= 0 or self.max_time < self.base_time:
            raise ValueError("margin >= 0 and 0 < base_time <= max_time")


def refresh_delay(granted: float, margin: float) -> float:
    """Seconds after a 2xx to refresh a binding granted for ``granted`` seconds:
    ``margin`` before it expires, but not before half of it has passed."""
    return granted - min(granted / 2, margin)


def backoff_bound(failures: int, base_time: float, max_time: float) -> float:
    """RFC 5626 §4.5: W = min(max-time, base-time * 2 ** consecutive-failures)."""
    return min(max_time, base_time * float(2 ** min(failures, 32)))


@dataclass(frozen=True, slots=True)
class Outbound:
    """RFC 5626 outbound: our instance-id (a UUID URN, §4.1) and the reg-id of
    this registration (§4.2.1), which go in the Contact of each REGISTER."""

    instance: str
    reg_id: int = 1

    @classmethod
    def new(cls, reg_id: int = 1) -> Outbound:
        """A fresh ``urn:uuid:`` instance-id.  A device keeps one for its life
        (§4.1): store ``instance`` and pass it back next time."""
        return cls(f"urn:uuid:{uuid.uuid4()}", reg_id)

    def __post_init__(self) -> None:
        if not self.instance.startswith("urn:"):
            raise ValueError("+sip.instance is a URN (RFC 5626 §4.1)")
        if not 1 <= self.reg_id <= 2**31 - 1:
            raise ValueError("reg-id is 1 to 2**31 - 1 (RFC 5626 §10)")

    def contact(self, uri: URI) -> NameAddr:
        """The Contact of a REGISTER: ``+sip.instance`` and ``reg-id`` (§4.2.1)."""
        return NameAddr(uri.copy(), params={"+sip.instance": f'"<{self.instance}>"',
                                            "reg-id": str(self.reg_id)})

    @staticmethod
    def dialog_contact(uri: URI) -> URI:
        """The Contact URI of a dialog-forming request: with ``ob``, so that the
        dialog's requests come back over the flow it went out on (§4.3)."""
        params = dict(uri.params)
        params["ob"] = None
        return uri.copy(params=params)


# -- events ---------------------------------------------------------------------------------


class RegistrationState(enum.Enum):
    """Where a registration stands."""

    UNREGISTERED = "unregistered"  # never registered, or unregistered
    REGISTERING = "registering"    # a REGISTER is out, no binding yet
    REGISTERED = "registered"      # a 2xx granted our binding (refreshes included)
    RETRYING = "retrying"          # failed; waiting to try again (RFC 5626 §4.5)
    FAILED = "failed"              # refused for good (403, 404 ...)


@dataclass(frozen=True, slots=True)
class Registered:
    """A 2xx: our binding holds for ``expires`` seconds (refreshed at ``refresh_at``).

    ``contacts`` are every binding of the AOR the registrar listed (§10.3
    step 8); ``outbound`` is whether it answered ``Require: outbound``.
    """

    response: Response
    contacts: tuple[NameAddr, ...]
    expires: int
    expires_at: float
    refresh_at: float
    outbound: bool
    flow_timer: int | None


@dataclass(frozen=True, slots=True)
class IntervalTooBrief:
    """A 423 (§10.2.8): the REGISTER goes again at once with ``expires``."""

    response: Response
    expires: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    """A failure: ``retry_at`` is when the next attempt is due, None if none is."""

    response: Response
    retry_at: float | None

    @property
    def status(self) -> int:
        return self.response.status

    def __str__(self) -> str:
        r = self.response
        return f"{r.status} {r.reason}"


@dataclass(frozen=True, slots=True)
class Unregistered:
    """The answer to our ``Expires: 0`` (§10.2.2)."""

    response: Response


RegistrationEvent = Registered | IntervalTooBrief | RegistrationFailed | Unregistered


class RegistrationError(Exception):
    """A registration that did not succeed: ``event`` says how."""

    def __init__(self, event: RegistrationFailed) -> None:
        super().__init__(f"REGISTER failed: {event}")
        self.event = event


# -- the sans-I/O core ------------------------------------------------------------------------


class RegistrationCore:
    """One binding of ``contact`` to ``aor`` at one registrar, without I/O.

    ``request(now)`` is the REGISTER to send; ``receive(response, now)`` reads
    its final response (after any Digest retry) and returns what happened;
    ``next_deadline()`` is when ``request`` is due again (None: never).
    ``registrar`` is the Request-URI, by default the AOR's domain (§10.2);
    ``route`` an outbound proxy put in Route (§8.1.2).  ``rng`` returns a
    float in [0, 1): tests pass a fixed one.
    """

    def __init__(self, aor: URI | str, contact: URI | str, *,
                 registrar: URI | str | None = None, route: URI | str | None = None,
                 policy: RegistrationPolicy | None = None, outbound: Outbound | None = None,
                 call_id: str | None = None, rng: Callable[[], float] = random.random,
                 ) -> None:
        self.aor = URI.parse(aor) if isinstance(aor, str) else aor
        self.contact = URI.parse(contact) if isinstance(contact, str) else contact
        if registrar is None:
            self.registrar = URI(self.aor.scheme, None, self.aor.host, self.aor.port)
        else:
            self.registrar = URI.parse(registrar) if isinstance(registrar, str) else registrar
        self.route = URI.parse(route) if isinstance(route, str) else route
        self.policy = policy if policy is not None else RegistrationPolicy()
        self.outbound = outbound
        self.call_id = call_id or new_call_id()
        self.from_tag = new_tag()
        #: the CSeq number of the last REGISTER (a Digest retry raises it too)
        self.cseq = 0
        self.state = RegistrationState.UNREGISTERED
        #: the interval we ask for; raised by a 423's Min-Expires
        self.expires = self.policy.expires
        self.failures = 0
        self.last: RegistrationEvent | None = None
        #: when our binding lapses (None: not registered)
        self.expires_at: float | None = None
        self._deadline: float | None = None
        self._interval_retries = 0
        self._unregistering = False
        self._rng = rng

    # -- requests ---------------------------------------------------------------------

    def request(self, now: float) -> Request:
        """The REGISTER to send now: same Call-ID, CSeq + 1 (§10.2.4)."""
        self._deadline = None
        if self.state is not RegistrationState.REGISTERED:
            self.state = RegistrationState.REGISTERING
        return self._build(self.expires)

    def unregister_request(self) -> Request:
        """The REGISTER removing our binding: ``Expires: 0`` (§10.2.2), for our
        Contact only (``*`` would remove the AOR's other devices too)."""
        self._deadline = None
        self._unregistering = True
        return self._build(0)

    def _build(self, expires: int) -> Request:
        self.cseq += 1
        contact: NameAddr = (self.outbound.contact(self.contact) if self.outbound is not None
                             else NameAddr(self.contact.copy()))
        headers: list[tuple[str, str | Field]] = []
        if self.route is not None:
            headers.append(("Route", NameAddr(self.route.copy())))
        headers.append(("Expires", str(expires)))
        if self.outbound is not None:
            headers.append(("Supported", "path, outbound"))  # RFC 5626 §4.2.1
        request = Request.build(
            "REGISTER", self.registrar.copy(), from_=NameAddr(self.aor.copy(), tag=self.from_tag),
            to=NameAddr(self.aor.copy()), call_id=self.call_id, cseq=self.cseq,
            contact=contact, headers=headers)
        return request

    # -- responses --------------------------------------------------------------------

    def receive(self, response: Response, now: float) -> RegistrationEvent:
        """Read the final response to our last REGISTER (or to its Digest retry)."""
        if response.status < 200:
            raise ValueError("a registration reads final responses only")
        self.cseq = max(self.cseq, response.cseq.seq)
        event = self._read(response, now)
        self.last = event
        return event

    def _read(self, response: Response, now: float) -> RegistrationEvent:
        if self._unregistering:
            self._unregistering = False
            self.state = RegistrationState.UNREGISTERED
            self.expires_at = self._deadline = None
            return Unregistered(response)
        status = response.status
        if 200 <= status < 300:
            return self._registered(response, now)
        if status == 423:
            min_expires = _int_header(response, "Min-Expires")
            if min_expires is not None and min_expires > self.expires and \
                    self._interval_retries < self.policy.max_interval_retries:
                self._interval_retries += 1
                self.expires = min_expires
                self._deadline = now
                return IntervalTooBrief(response, min_expires)
        return self._failed(response, now)

    def _registered(self, response: Response, now: float) -> Registered:
        self._interval_retries = 0
        self.failures = 0
        contacts = tuple(response.contact)
        granted = self._granted(response, contacts)
        self.state = RegistrationState.REGISTERED
        self.expires_at = now + granted
        refresh_at = now + refresh_delay(granted, self.policy.margin)
        self._deadline = refresh_at
        requires = [t.lower() for t in response.headers.getall("Require")]
        return Registered(response, contacts, granted, self.expires_at, refresh_at,
                          "outbound" in requires, _int_header(response, "Flow-Timer"))

    def _granted(self, response: Response, contacts: Sequence[NameAddr]) -> int:
        """Our binding's expiry: the ``expires`` of our Contact in the 2xx, else its
        Expires header, else what we asked for (§10.2.4, §10.3 step 8)."""
        ours = next((c for c in contacts if self._is_ours(c)), None)
        if ours is not None:
            value = ours.params.get("expires")
            if value is not None and value.isdigit():
                return int(value)
        header = _int_header(response, "Expires")
        return header if header is not None else self.expires

    def _is_ours(self, contact: NameAddr) -> bool:
        if self.outbound is not None:
            # the registrar keys outbound bindings by instance and reg-id (RFC 5626 §6)
            instance = (contact.params.get("+sip.instance") or "").strip('"<>')
            if instance == self.outbound.instance and \
                    contact.params.get("reg-id") == str(self.outbound.reg_id):
                return True
        return contact.uri == self.contact  # §19.1.4 comparison

    def _failed(self, response: Response, now: float) -> RegistrationFailed:
        self._interval_retries = 0
        status = response.status
        retry_after = _retry_after(response)
        if status >= 500 or status == 408 or retry_after is not None:
            bound = backoff_bound(self.failures, self.policy.base_time, self.policy.max_time)
            wait = bound * (0.5 + 0.5 * self._rng())
            if retry_after is not None:
                wait = max(wait, retry_after)
            self.failures += 1
            self._deadline = now + wait
            if self.expires_at is not None and now >= self.expires_at:
                self.expires_at = None
            if self.expires_at is None:
                self.state = RegistrationState.RETRYING
            return RegistrationFailed(response, self._deadline)
        self.state = RegistrationState.FAILED
        self.expires_at = self._deadline = None
        return RegistrationFailed(response, None)

    # -- time ------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When the next REGISTER is due: a refresh, a retry, or None."""
        return self._deadline

    def refresh_now(self, now: float) -> None:
        """Make the next REGISTER due at ``now``."""
        if self.state is RegistrationState.FAILED:
            self.state = RegistrationState.UNREGISTERED
        self._deadline = now

    def flow_failed(self, now: float) -> None:
        """RFC 5626 §4.4: the flow died (no pong): register again at once."""
        if self.state is RegistrationState.REGISTERED:
            self._deadline = now

    def keepalive_interval(self, reliable: bool, flow_timer: int | None) -> float:
        """Seconds to the next keep-alive (RFC 5626 §4.4): 80-100 % of the
        registrar's Flow-Timer, else 95-120 s on a connection, 24-29 s on UDP."""
        if flow_timer is not None and flow_timer > 0:
            return flow_timer * (0.8 + 0.2 * self._rng())
        if reliable:
            return 95.0 + 25.0 * self._rng()
        return 24.0 + 5.0 * self._rng()


def _int_header(message: Response, name: str) -> int | None:
    value = message.headers.get(name)
    if value is None:
        return None
    value = value.split(";", 1)[0].strip()
    return int(value) if value.isdigit() else None


def _retry_after(response: Response) -> int | None:
    """Retry-After's delta-seconds (§20.33: comment and parameters ignored)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    head = value.split("(", 1)[0].split(";", 1)[0].strip()
    return int(head) if head.isdigit() else None


# -- the asyncio driver -----------------------------------------------------------------------


#: RFC 5626 §4.4.1: a ping with no pong in this many seconds: the flow failed
PONG_TIMEOUT = 10.0

EventHandler = Callable[[RegistrationEvent], None]


class Registration:
    """Keeps ``aor`` registered at one registrar over ``endpoint`` (RFC 3261 §10.2).

    >>> async with Registration(ep, "sip:alice@example.com", proxy="sip:192.0.2.1") as reg:
    ...     print(reg.state, reg.contacts)

    ``start()`` sends the first REGISTER and returns the first outcome
    (``Registered`` or ``RegistrationFailed``; ``start(check=True)`` raises
    ``RegistrationError`` for the latter); refreshes, 423 retries and the
    retry waits follow in a background task, each outcome passed to
    ``on_event``.  ``close()`` unregisters.  ``proxy`` is where requests go
    (an outbound proxy, in Route), by default the registrar;
    ``contact`` defaults to the endpoint's URI on ``transport`` with the
    AOR's user; ``credentials`` to the endpoint's.  With ``outbound``
    (RFC 5626) the REGISTER carries the instance-id and reg-id, and the flow
    it went on is kept alive: a double-CRLF ping answered by a CRLF pong on
    a connection (§4.4.1), a STUN Binding request on UDP (§4.4.2).
    """

    def __init__(self, endpoint: Endpoint, aor: URI | str, *,
                 registrar: URI | str | None = None, proxy: URI | str | None = None,
                 contact: URI | str | None = None, transport: str | Transport | None = None,
                 policy: RegistrationPolicy | None = None, outbound: Outbound | None = None,
                 credentials: DigestClient | None = None,
                 on_event: EventHandler | None = None,
                 rng: Callable[[], float] = random.random) -> None:
        self.endpoint = endpoint
        aor_uri = URI.parse(aor) if isinstance(aor, str) else aor
        proxy_uri = URI.parse(proxy) if isinstance(proxy, str) else proxy
        self._transport = transport
        self._contact_given = URI.parse(contact) if isinstance(contact, str) else contact
        self.core = RegistrationCore(
            aor_uri, self._contact_given or URI("sip", aor_uri.user, "invalid"),
            registrar=registrar, route=_loose(proxy_uri) if proxy_uri is not None else None,
            policy=policy, outbound=outbound, rng=rng)
        self.target: Target | None = None
        self.credentials = credentials
        self.on_event = on_event
        self.flow: Flow | None = None
        self.events: list[RegistrationEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._first: asyncio.Future[RegistrationEvent] | None = None
        self._flow_timer: int | None = None

    # -- what users read ------------------------------------------------------------------

    @property
    def state(self) -> RegistrationState:
        return self.core.state

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        """The AOR's bindings the last 2xx listed (§10.3 step 8)."""
        for event in reversed(self.events):
            if isinstance(event, Registered):
                return event.contacts
        return ()

    @property
    def expires_at(self) -> float | None:
        """The loop time our binding lapses at (None: not registered)."""
        return self.core.expires_at

    # -- life cycle ------------------------------------------------------------------------

    async def start(self, *, check: bool = False) -> RegistrationEvent:
        """Register, and keep registered; the first outcome (not a 423 retry)."""
        if self._task is not None:
            raise RuntimeError("the registration is already started")
        await self._prepare()
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._wake = asyncio.Event()
        self._task = self.endpoint._spawn(self._run())
        first = await asyncio.shield(self._first)
        if check and isinstance(first, RegistrationFailed):
            raise RegistrationError(first)
        return first

    async def close(self) -> Response | None:
        """Stop refreshing and unregister (§10.2.2); the answer, or None when
        there was no binding to remove."""
        for task in (self._task, self._keepalive):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._keepalive = None
        core = self.core
        if core.state is not RegistrationState.REGISTERED:
            return None
        request = core.unregister_request()
        response = await self._exchange(request)
        self._emit(core.receive(response, self._now()))
        return response

    def refresh(self) -> None:
        """Send the next REGISTER now rather than at its deadline (the network
        changed, say); a registration that failed for good starts again."""
        now = self._now()
        self.core.refresh_now(now)
        if self._task is not None and self._task.done() and self._wake is not None:
            self._task = self.endpoint._spawn(self._run())
        if self._wake is not None:
            self._wake.set()

    async def __aenter__(self) -> Registration:
        await self.start(check=True)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- the loop ---------------------------------------------------------------------------

    async def _prepare(self) -> None:
        core = self.core
        route = core.route
        self.target = _target_of(route if route is not None else core.registrar,
                                 self._transport)
        if self._contact_given is None:
            core.contact = self.endpoint.contact(self.target.transport, user=core.aor.user)

    async def _run(self) -> None:
        try:
            await self._loop()
        except BaseException as exc:
            first = self._first
            if first is not None and not first.done():
                if isinstance(exc, asyncio.CancelledError):
                    first.cancel()
                else:
                    first.set_exception(exc)
            raise

    async def _loop(self) -> None:
        core = self.core
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            deadline = core.next_deadline()
            if deadline is None and self.state is not RegistrationState.UNREGISTERED:
                return  # failed for good
            if deadline is not None:
                delay = deadline - loop.time()
                if delay > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            request = core.request(loop.time())
            response = await self._exchange(request)
            event = core.receive(response, loop.time())
            self._emit(event)
            if isinstance(event, Registered):
                self._flow_timer = event.flow_timer
                self._start_keepalive()
            if not isinstance(event, IntervalTooBrief) and self._first is not None and \
                    not self._first.done():
                self._first.set_result(event)

    async def _exchange(self, request: Request) -> Response:
        handle = self.endpoint.send(request, self.target, credentials=self.credentials)
        response = await handle.final()
        if handle.flow is not None:
            self.flow = handle.flow
        return response

    def _emit(self, event: RegistrationEvent) -> None:
        self.events.append(event)
        if isinstance(event, RegistrationFailed):
            logger.info("REGISTER %s at %s: %s", self.core.aor, self.core.registrar, event)
        if self.on_event is not None:
            self.on_event(event)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- RFC 5626 keep-alives -------------------------------------------------------------------

    def _start_keepalive(self) -> None:
        if self.core.outbound is None or self.flow is None:
            return
        if self._keepalive is None or self._keepalive.done():
            self._keepalive = self.endpoint._spawn(self._keep_alive())

    async def _keep_alive(self) -> None:
        while self.state is RegistrationState.REGISTERED and self.flow is not None:
            flow = self.flow
            await asyncio.sleep(self.core.keepalive_interval(flow.reliable, self._flow_timer))
            if flow is not self.flow:
                continue
            try:
                alive = await self.ping(flow)
            except TransportError as exc:
                logger.info("keep-alive on %s: %s", flow.remote, exc)
                alive = False
            if not alive:
                logger.info("no pong on %s in %g s: registering again (RFC 5626 §4.4.1)",
                            flow.remote, PONG_TIMEOUT)
                self.core.flow_failed(self._now())
                if self._wake is not None:
                    self._wake.set()
                return

    async def ping(self, flow: Flow, timeout: float = PONG_TIMEOUT) -> bool:
        """One keep-alive on ``flow``.  On a connection a double CRLF, and True
        when the connection hears anything (its pong) within ``timeout``
        (§4.4.1).  On UDP a STUN Binding request (§4.4.2), which refreshes the
        NAT binding; its answer is not read (True)."""
        transport = self.endpoint.transport
        if not flow.reliable:
            request = StunMessage(BINDING, StunClass.REQUEST, os.urandom(12))
            await transport.send_on(flow, request.encode(fingerprint=True))
            return True
        connection = flow.connection
        if connection is None or not connection.is_open:
            return False
        await transport.send_on(flow, b"\r\n\r\n")
        sent = connection.activity
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end and not connection.closed:
            if connection.activity != sent:
                return True
            await asyncio.sleep(min(0.05, max(0.0, end - loop.time())))
        return connection.activity != sent and not connection.closed


def _loose(uri: URI) -> URI:
    """A proxy URI as a loose route (§16.12: ``lr``)."""
    if "lr" in uri.params:
        return uri
    params = dict(uri.params)
    params["lr"] = None
    return uri.copy(params=params)


def _target_of(uri: URI, transport: str | Transport | None) -> Target:
    from .target import uri_target

    target = uri_target(uri)
    if transport is not None:
        target = Target(Transport.parse(str(transport)), target.host, target.port)
    return target
