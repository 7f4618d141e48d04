"""The registrar of RFC 3261 §10.3, sans-I/O: requests in, responses and a
binding update out.

``RegistrarCore`` checks a REGISTER step by step and turns a valid one into a
``Registration``: the canonical address-of-record and what to do with each
contact.  ``Registration.apply`` is the pure function a ``LocationStore``
runs inside its per-AOR transaction (steps 6 and 7), and
``RegistrarCore.accept`` builds the 200 of step 8 from what the store then
holds.  ``Registrar`` (``registrar.py``) drives these against a store.

Extensions: Path (RFC 3327 §5.3) and outbound (RFC 5626 §6).

How the text of §10.3 is read here, where it leaves room:

- Step 1, a Request-URI outside the served domains: this registrar is not a
  proxy, so it cannot forward; it answers 404.  A Request-URI scheme other
  than sip/sips gets 416 (§8.2.2.1), a method other than REGISTER 405.
- Step 5, "valid for the domain in the Request-URI": the To URI is a sip/sips
  URI whose host is a served domain and equals the Request-URI host, unless
  the Request-URI host is a configured alias of the registrar.  Else 404.
- Steps 6 and 7, a binding whose stored Call-ID equals the request's and whose
  stored CSeq is not lower than the request's: "the update MUST be aborted and
  the request fails".  The failure of a binding update is answered 500 ("If
  any one of them fails ... the request MUST fail with a 500 (Server Error)
  response and all tentative binding updates MUST be removed"), so the whole
  REGISTER is refused with 500 and none of its changes is committed; a
  Warning (399) says which binding was out of order.  This also covers a UA
  that re-sends a REGISTER with the same CSeq in a new transaction.
- Step 7, the 423: only for a requested interval 0 < e < 3600 below
  ``min_expires``, as the RFC's "if and only if" says; a longer one below a
  minimum above an hour is accepted as requested.  Intervals above
  ``max_expires`` are shortened to it ("MAY choose an expiration less than
  the requested").
- Contacts may use any URI scheme (§10.2.1: "they MAY use any URI scheme");
  ``contact_schemes`` restricts them (400 otherwise).  What makes a REGISTER
  malformed here (400): a Contact that does not parse; ``q`` or ``expires``
  outside their grammar (§20.10); ``*`` not alone or without ``Expires: 0``
  (step 6); one contact given twice; a bad ``+sip.instance`` or ``reg-id``
  (RFC 5626 §10); a reg-id registration with another live contact (RFC 5626
  §6); a bad Expires header.

Limits on what one address-of-record may cost (local policy; §10.3 sets none):

- ``max_contacts`` bindings per AOR.  A REGISTER that would leave more is
  refused whole, "403 Too Many Registered Contacts", and stores nothing
  (step 7: the updates are committed "if and only if all binding updates and
  additions succeed").  A REGISTER that does not add to the count (a
  refresh, a removal) always passes.  403 rather than the 503 Kamailio
  answers by default: §21.4.4 says repeating a 403 will not help, which is
  true until a binding goes, whereas a 503 (§21.5.4) says the server is
  overloaded and sends an RFC 3263 client on to the next server, which
  shares the same location service and answers the same.
- ``max_contacts_per_register`` Contacts in one REGISTER, counted on the raw
  header text (quoted strings and ``<...>`` skipped, no further than the
  limit) before any of them is parsed: 403 too.
- ``max_contact_length`` characters of one Contact value: 400, as Kamailio
  answers a contact longer than its ``contact_max_size``.  With
  ``max_contacts`` it bounds the Contact values of the 200 (step 8), and so
  what a REGISTER query without credentials can make the registrar send.
- A 200 that cannot go back in one UDP datagram (§18.2.2 leaves a response
  over UDP no other way back than a datagram to the Via address) is answered
  500 with a Warning saying so, before anything is stored.  500 (§21.5.1,
  the server cannot fulfil the request) rather than 513: §21.5.7 is about
  the length of the request, which may be small (a query), so a UA would
  shorten the wrong message.  The same REGISTER over TCP or TLS gets its 200.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .._frozen import quick_init
from ..location.binding import Binding, Source
from ..message.errors import ParseError
from ..message.fields.date import SIPDate
from ..message.fields.nameaddr import Contact, RouteAddr
from ..message.fields.text import WarningValue
from ..message.message import Request, Response, kept_bytes
from ..message.uri import URI
from ..routing.myself import local_aor, normalize_host

__all__ = ["UDP_MAX_PAYLOAD", "ContactUpdate", "RegistrarCore", "Registration", "ReplyTooLarge",
           "StaleRegistration", "TooManyContacts"]

#: §10.3 step 7: a brief interval may be refused only if it is "smaller than one hour"
ONE_HOUR = 3600
#: RFC 5626 §10: reg-id = "reg-id" EQUAL 1*10DIGIT ; 1 to (2^31 - 1)
_REG_ID_RE = re.compile(r"[0-9]{1,10}", re.ASCII)
REG_ID_MAX = 2**31 - 1
#: RFC 5626 §10: +sip.instance = DQUOTE "<" instance-val ">" DQUOTE, instance-val = 1*uric
_INSTANCE_RE = re.compile(r'"<([^<>"]+)>"')
#: the largest UDP payload over IPv4 (65,535 less the IP and UDP headers): §18.1.1's
#: "maximum datagram packet size", and so the largest response a UDP request can get
UDP_MAX_PAYLOAD = 65507
#: what a 200 adds around each Contact value: "Contact: ", ";expires=NNNNNNNNNN", CRLF
_CONTACT_OVERHEAD = 32
#: what a 200 adds to the request's own headers: a To tag, Supported, Date, Require
_REPLY_OVERHEAD = 512
_UDP_BUDGET = UDP_MAX_PAYLOAD - _REPLY_OVERHEAD
#: one element of a comma-separated header value (§7.3.1): a comma inside a
#: quoted string or ``<...>`` does not end it.  Never fails, so never backtracks.
_LIST_ELEMENT_RE = re.compile(r'(?:[^",<]+|"(?:[^"\\]|\\.)*"?|<[^>]*>?)*')

REASON_TOO_MANY = "Too Many Registered Contacts"


class TooManyContacts(Exception):
    """The REGISTER would leave the AOR more bindings than ``max_contacts``:
    refused (403), nothing is committed (§10.3 step 7)."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"{count} bindings would exceed the limit of {limit} per "
                         "address-of-record")


class ReplyTooLarge(Exception):
    """The 200 listing the AOR's bindings (§10.3 step 8) would not fit in the
    one UDP datagram it must go back in (§18.2.2): refused (500), nothing is
    committed."""

    def __init__(self, bindings: int, limit: int) -> None:
        self.bindings = bindings
        self.limit = limit
        super().__init__(f"a 200 listing {bindings} bindings would not fit in a UDP datagram "
                         f"({limit} bytes): send the REGISTER over TCP or TLS")


class StaleRegistration(Exception):
    """§10.3 steps 6 and 7: a binding was last written by this Call-ID with a
    CSeq at least as high as the request's, so "the update MUST be aborted and
    the request fails" (answered 500, nothing is committed)."""

    def __init__(self, binding: Binding, cseq: int) -> None:
        self.binding = binding
        self.cseq = cseq
        super().__init__(
            f"CSeq {cseq} is not higher than {binding.cseq}, stored for "
            f"{binding.contact} by this Call-ID (out-of-order REGISTER)"
        )


@quick_init
@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """One Contact of a REGISTER: the expiration the registrar chose (0 removes)."""

    uri: URI
    value: str
    expires: int
    q: float
    instance_id: str | None = None
    #: set only when RFC 5626 outbound processing applies to this contact
    reg_id: int | None = None

    def matches(self, binding: Binding, binding_uri: URI | None) -> bool:
        """§10.3 step 7: the same binding, by URI comparison (§19.1.4); an
        outbound binding by AOR, instance-id and reg-id (RFC 5626 §6)."""
        if self.reg_id is not None:
            return binding.reg_id == self.reg_id and binding.instance_id == self.instance_id
        return binding.reg_id is None and binding_uri is not None and binding_uri == self.uri


@quick_init
@dataclass(frozen=True, slots=True)
class Registration:
    """What a valid REGISTER asks for, ready to apply to the AOR's bindings."""

    aor: str
    call_id: str
    cseq: int
    contacts: tuple[ContactUpdate, ...] = ()
    #: ``Contact: *`` with ``Expires: 0``: remove every binding (§10.3 step 6)
    star: bool = False
    path: tuple[str, ...] = ()
    source: Source | None = None
    user_agent: str | None = None
    now: float = 0.0
    #: whether the 200 carries ``Require: outbound`` (RFC 5626 §6)
    outbound: bool = False
    #: a REGISTER that adds bindings may leave at most this many (0: no limit)
    max_contacts: int = 0
    #: bytes the Contact values of the 200 may take, when it goes back over UDP
    reply_budget: int | None = None

    @property
    def is_query(self) -> bool:
        """No Contact: only list the bindings (§10.2.3, §10.3 step 6)."""
        return not self.star and not self.contacts

    def apply(self, current: list[Binding]) -> list[Binding]:
        """Steps 6 and 7 on the AOR's current bindings: the new bindings.

        Raises ``StaleRegistration`` when the request is out of order for a
        binding, ``TooManyContacts`` when it adds bindings past
        ``max_contacts``, ``ReplyTooLarge`` when the 200 would not fit in
        ``reply_budget``: then none of its changes may be committed.
        """
        if self.star:
            for binding in current:
                self._check_order(binding)
            return []
        contacts = self.contacts
        if not current and len(contacts) == 1:  # one contact of a new address-of-record
            result = [self._binding(contacts[0])] if contacts[0].expires > 0 else []
        else:
            result = list(current)
            uris = {b.key: _uri_or_none(b.contact) for b in current if b.reg_id is None}
            for update in self.contacts:
                match = next((b for b in result if update.matches(b, uris.get(b.key))), None)
                if match is not None:
                    self._check_order(match)
                    result.remove(match)
                if update.expires > 0:
                    result.append(self._binding(update))
            limit = self.max_contacts
            if limit and len(result) > limit and len(result) > len(current):
                raise TooManyContacts(len(result), limit)
        budget = self.reply_budget
        if budget is not None:  # check_reply_size, inline on the hot path
            for binding in result:
                budget -= len(binding.contact_value) + _CONTACT_OVERHEAD
            if budget < 0:
                raise ReplyTooLarge(len(result), UDP_MAX_PAYLOAD)
        return result

    def _check_order(self, binding: Binding) -> None:
        if binding.call_id == self.call_id and self.cseq <= binding.cseq:
            raise StaleRegistration(binding, self.cseq)

    def _binding(self, update: ContactUpdate) -> Binding:
        return Binding(
            aor=self.aor,
            contact=str(update.uri),
            contact_value=update.value,
            expires_at=self.now + update.expires,
            q=update.q,
            call_id=self.call_id,
            cseq=self.cseq,
            path=self.path,
            instance_id=update.instance_id,
            reg_id=update.reg_id,
            source=self.source,
            user_agent=self.user_agent,
            updated_at=self.now,
        )


class Rejection(Exception):
    """A REGISTER refused before it reaches the store (internal)."""

    def __init__(self, status: int, text: str | None = None,
                 headers: Iterable[tuple[str, str]] = (), reason: str | None = None) -> None:
        super().__init__(text or str(status))
        self.status = status
        self.text = text
        self.headers = list(headers)
        self.reason = reason


class RegistrarCore:
    """The rules of §10.3, configured once, with no I/O.

    ``domains``
        the domains whose bindings this registrar keeps (§10.3: "A registrar
        has to know ... the set of domain(s) for which it maintains bindings").
    ``aliases``
        further Request-URI hosts that reach it (its own host names or
        addresses, as UAs configured with an IP address send); a REGISTER to
        an alias may register an AOR of any served domain, a REGISTER to a
        domain only AORs of that domain (step 5).
    ``min_expires``, ``max_expires``, ``default_expires``
        step 7: 423 below the minimum (under an hour), shortened above the
        maximum, the default when the request names no interval.
    ``path``
        support Path (RFC 3327): store it, copy it into the 200.
    ``path_requires_supported``
        RFC 3327 §5.3's recommended policy: 420 for a Path the UA did not
        announce support for (``Supported: path``).
    ``outbound``
        support RFC 5626: flows keyed by +sip.instance and reg-id, 439, and
        ``Require: outbound`` in the 200.
    ``contact_schemes``
        URI schemes accepted in Contact (None: any, §10.2.1).
    ``max_contacts``, ``max_contacts_per_register``, ``max_contact_length``
        the limits of the module docs (0: none).
    ``agent``
        the warn-agent of the Warning explaining a refusal (default: the first
        domain in sorted order).
    """

    def __init__(
        self,
        domains: Iterable[str],
        *,
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
    ) -> None:
        # hosts compared as the proxy compares them (``routing.myself``):
        # ``[::1]`` is ``::1``, ``LOCALHOST.`` is ``localhost``
        self.domains = frozenset(normalize_host(d) for d in domains)
        if not self.domains:
            raise ValueError("a registrar serves at least one domain")
        self.aliases = frozenset(normalize_host(a) for a in aliases)
        if not 0 <= min_expires <= max_expires:
            raise ValueError("need 0 <= min_expires <= max_expires")
        if default_expires <= 0:
            raise ValueError("default_expires must be positive")
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.path = path
        self.outbound = outbound
        self.path_requires_supported = path_requires_supported
        self.contact_schemes = (frozenset(s.lower() for s in contact_schemes)
                                if contact_schemes is not None else None)
        if min(max_contacts, max_contacts_per_register, max_contact_length) < 0:
            raise ValueError("contact limits are 0 (none) or more")
        self.max_contacts = max_contacts
        self.max_contacts_per_register = max_contacts_per_register
        self.max_contact_length = max_contact_length
        #: the warn-agent of the Warning header that explains a refusal
        self.agent = agent or min(self.domains)
        self._supported = tuple(
            tag for tag, on in (("path", self.path), ("outbound", self.outbound)) if on)
        self._supported_text = ", ".join(self._supported)

    @property
    def supported(self) -> tuple[str, ...]:
        """The option tags this registrar supports (Supported of its 200)."""
        return self._supported

    # -- the steps ------------------------------------------------------------------

    def check_request(self, request: Request) -> Response | None:
        """Step 1 and step 2: the Request-URI's domain and Require."""
        try:
            self._check_request_uri(request)
            self._check_require(request)
        except Rejection as exc:
            return self.reject(request, exc.status, exc.text, exc.headers, exc.reason)
        except ParseError as exc:
            return self.reject(request, exc.status_code, str(exc))
        return None

    def address_of_record(self, request: Request) -> str:
        """Step 5: the To URI in canonical form, "the index into the list of bindings".

        "All URI parameters MUST be removed (including the user-param), and any
        escaped characters MUST be converted to their unescaped form" (``URI.aor``).
        """
        return local_aor(request.to.uri)

    def check_address_of_record(self, request: Request) -> Response | None:
        """Step 5: 404 unless the To URI is an AOR of a domain served here
        that the Request-URI addresses."""
        uri = request.to.uri
        if not uri.is_sip:
            return self.reject(request, 404, f"{uri.scheme}: is not an address-of-record here")
        host = normalize_host(uri.host)
        target = normalize_host(request.uri.host)
        if host not in self.domains or (host != target and target not in self.aliases):
            return self.reject(request, 404, f"{uri.aor} is not in a domain served here")
        return None

    def registration(self, request: Request, now: float, source: Source | None = None, *,
                     aor: str | None = None) -> Registration | Response:
        """Steps 6 and 7 up to the store: check the Contacts and choose each
        expiration; a ``Registration`` to apply, or the refusal to send.
        ``aor`` is ``address_of_record(request)`` when the caller has it."""
        try:
            return self._registration(request, now, source,
                                      aor if aor is not None else self.address_of_record(request))
        except Rejection as exc:
            return self.reject(request, exc.status, exc.text, exc.headers, exc.reason)
        except ParseError as exc:
            return self.reject(request, exc.status_code, str(exc))

    def evaluate(self, request: Request, now: float,
                 source: Source | None = None) -> Registration | Response:
        """Steps 1, 2, 5, 6 and 7 in order, without authentication."""
        refusal = self.check_request(request) or self.check_address_of_record(request)
        return refusal or self.registration(request, now, source)

    def accept(self, request: Request, registration: Registration,
               bindings: list[Binding], now: float) -> Response:
        """Step 8: 200 listing every current binding with its remaining
        ``expires``, and a Date; Path copied (RFC 3327 §5.3), Require:
        outbound when outbound processing applied (RFC 5626 §6)."""
        headers = [("Contact", b.contact_text(now)) for b in bindings]
        headers.extend(("Path", value) for value in registration.path)
        if registration.outbound:
            headers.append(("Require", "outbound"))
        if self._supported_text:
            headers.append(("Supported", self._supported_text))
        headers.append(("Date", date_text(now)))
        return request.reply(200, headers=headers)

    def reject(self, request: Request, status: int, text: str | None = None,
               headers: Iterable[tuple[str, str]] = (), reason: str | None = None) -> Response:
        """A final non-2xx answer, with a Warning (399) saying why when ``text``
        is given, and ``reason`` as its reason phrase if given."""
        extra: list[tuple[str, str | WarningValue]] = list(headers)
        if text:
            clean = " ".join(text.split())
            extra.append(("Warning", WarningValue(399, self.agent, clean)))
        return request.reply(status, reason, headers=extra)

    # -- step 1 and 2 ---------------------------------------------------------------

    def _check_request_uri(self, request: Request) -> None:
        if request.method != "REGISTER":
            # §10.3: a registrar "accepts only REGISTER requests".
            raise Rejection(405, f"{request.method} is not REGISTER", [("Allow", "REGISTER")])
        if request.cseq.method != request.method:
            raise Rejection(400, "CSeq method differs from the request method")
        uri = request.uri
        if not uri.is_sip:
            raise Rejection(416, f"Request-URI scheme {uri.scheme}: is not sip: or sips:")
        host = normalize_host(uri.host)
        if host not in self.domains and host not in self.aliases:
            # Step 1: no access to bindings for this domain.  A registrar that
            # is not also a proxy cannot forward it; 404 says "not here".
            raise Rejection(404, f"domain {uri.host} is not served here")

    def _check_require(self, request: Request) -> None:
        # §8.2.2.3: unknown option tags in Require: 420 listing them in Unsupported.
        unknown = [t for t in request.headers.getall("Require")
                   if t.lower() not in self._supported]
        if unknown:
            raise Rejection(420, None, [("Unsupported", ", ".join(unknown))])

    # -- step 6 and 7 ---------------------------------------------------------------

    def _registration(self, request: Request, now: float, source: Source | None,
                      aor: str) -> Registration:
        # the UA's option tags (Supported, Require) are read only where a Path
        # or an outbound flow makes them matter
        path_values = self._path(request)
        path = tuple([str(p) for p in path_values]) if path_values else ()
        call_id = request.call_id
        cseq = request.cseq.seq
        user_agent = request.headers.get("User-Agent")
        texts = request.headers.texts("Contact")
        limit = self.max_contacts_per_register
        # one line without a comma is one Contact, within any limit
        if limit and (len(texts) > 1 or (texts and "," in texts[0])):
            _check_contact_count(texts, limit)
        budget = None
        if source is not None and source.transport == "UDP":
            # what the Contact values of the 200 may take for it to fit in one
            # datagram: the 200 copies the rest of the request (§8.2.6.2: Via,
            # From, To, Call-ID, CSeq; Path), bounded by the request less its
            # own Contact values
            budget = _UDP_BUDGET - len(kept_bytes(request))
            for text in texts:
                budget += len(text)
        values: list[Contact] = request.headers.typed("contact")  # type: ignore[assignment]
        if not values or _has_star(values):
            base = Registration(aor=aor, call_id=call_id, cseq=cseq, path=path, source=source,
                                user_agent=user_agent, now=now, reply_budget=budget)
            return self._star(request, values, base) if values else base
        header_expires = request.expires
        parsed = [self._contact(c, header_expires) for c in values]
        outbound = self._outbound(request, path_values, parsed)
        self._check_brief([p[2] for p in parsed])
        # Step 7: "The registrar MAY choose an expiration less than the requested".
        updates = [
            ContactUpdate(uri, value, min(expires, self.max_expires), q, instance,
                          reg_id if outbound and instance is not None else None)
            for uri, value, expires, q, instance, reg_id in parsed
        ]
        if len(updates) > 1:
            self._check_duplicates(updates)
        return Registration(
            aor=aor, call_id=call_id, cseq=cseq, contacts=tuple(updates), path=path,
            source=source, user_agent=user_agent, now=now,
            outbound=bool(outbound) and "outbound" in _ua_supports(request),
            max_contacts=self.max_contacts, reply_budget=budget,
        )

    def _path(self, request: Request) -> list[RouteAddr]:
        if not self.path:
            return []
        values: list[RouteAddr] = request.header("Path")  # type: ignore[assignment]
        if values and self.path_requires_supported and "path" not in _ua_supports(request):
            # RFC 3327 §5.3: "The recommended policy is for the registrar to
            # reject the request with a 420 (Bad Extension) ... indicating the
            # Path extension": a proxy added Path behind the UA's back.
            raise Rejection(420, "Path without Supported: path", [("Unsupported", "path")])
        return values

    def _star(self, request: Request, values: list[Contact],
              base: Registration) -> Registration:
        # Step 6: "*" is valid only alone and with an Expires header of zero.
        if len(values) > 1:
            raise Rejection(400, "Contact: * must be the only Contact value")
        if request.expires is None:
            raise Rejection(400, "Contact: * needs Expires: 0")
        if request.expires != 0:
            raise Rejection(400, "Contact: * with an Expires other than 0")
        return Registration(
            aor=base.aor, call_id=base.call_id, cseq=base.cseq, star=True, path=base.path,
            source=base.source, user_agent=base.user_agent, now=base.now,
        )

    def _contact(
        self, contact: Contact, header_expires: int | None
    ) -> tuple[URI, str, int, float, str | None, int | None]:
        contact.check()  # q and expires follow the grammar, or ParseError -> 400
        value = str(contact)
        if self.max_contact_length and len(value) > self.max_contact_length:
            raise Rejection(400, f"a Contact of {len(value)} characters is longer than "
                                 f"{self.max_contact_length}")
        uri = contact.uri
        if self.contact_schemes is not None and uri.scheme not in self.contact_schemes:
            raise Rejection(400, f"contact scheme {uri.scheme}: is not accepted here")
        # Step 7: the expires parameter, else the Expires header, else the default.
        expires = contact.expires
        if expires is None:
            expires = header_expires if header_expires is not None else self.default_expires
        params = contact.params
        instance: str | None = None
        if "+sip.instance" in params:
            m = _INSTANCE_RE.fullmatch(params["+sip.instance"] or "")
            if m is None:
                raise Rejection(400, 'bad +sip.instance (RFC 5626 §10: "<urn>" in quotes)')
            instance = m.group(1)
        reg_id: int | None = None
        if "reg-id" in params:
            text = params["reg-id"] or ""
            if _REG_ID_RE.fullmatch(text) is None or not 1 <= int(text) <= REG_ID_MAX:
                raise Rejection(400, f"bad reg-id {text!r} (RFC 5626 §10: 1 to 2^31-1)")
            reg_id = int(text)
        q = contact.q if contact.q is not None else 1.0
        return uri, value, expires, q, instance, reg_id

    def _outbound(
        self,
        request: Request,
        path: list[RouteAddr],
        parsed: list[tuple[URI, str, int, float, str | None, int | None]],
    ) -> bool | None:
        """RFC 5626 §6: whether reg-ids count (True), or are ignored (None).

        Raises 439 when outbound cannot apply but the UA asked for it, and 400
        for a flow registration with several contacts.
        """
        if not self.outbound:
            return None
        # "A reg-id but no instance-id is not valid ... it simply ignores the reg-id".
        flows = [p for p in parsed if p[5] is not None and p[4] is not None]
        if not flows:
            return None
        first_hop = len(request.via) == 1
        if not first_hop and not (path and path[0].uri.has_param("ob")):
            if "outbound" in _ua_supports(request):
                raise Rejection(439, "the edge proxy did not add a Path with ;ob")
            return None
        live = [p for p in parsed if p[2] != 0]
        if len(live) > 1 and any(p[5] is not None and p[4] is not None for p in live):
            raise Rejection(400, "a reg-id registration has one Contact with a non-zero "
                                 "expiration (RFC 5626 §6)")
        return True

    def _check_brief(self, requested: list[int]) -> None:
        # Step 7: 423 "if and only if the requested expiration interval is greater
        # than zero AND smaller than one hour AND less than a registrar-configured
        # minimum"; the response "MUST contain a Min-Expires header field".
        for expires in requested:
            if 0 < expires < ONE_HOUR and expires < self.min_expires:
                raise Rejection(423, f"expiration {expires}s is below {self.min_expires}s",
                                [("Min-Expires", str(self.min_expires))])

    @staticmethod
    def _check_duplicates(updates: list[ContactUpdate]) -> None:
        # Two values naming one binding would make the request's outcome depend on
        # their order (and the second fail step 7's CSeq check against the first).
        for i, update in enumerate(updates):
            for other in updates[:i]:
                same = (update.reg_id is not None and other.reg_id == update.reg_id
                        and other.instance_id == update.instance_id) or (
                    update.reg_id is None and other.reg_id is None and other.uri == update.uri)
                if same:
                    raise Rejection(400, f"contact {update.uri} appears twice")


def count_list_values(text: str, stop: int) -> int:
    """How many non-empty values the comma-separated header value ``text``
    holds (§7.3.1: a comma in a quoted string or ``<...>`` separates
    nothing), counting no further than ``stop``."""
    count = 0
    position = 0
    end = len(text)
    match = _LIST_ELEMENT_RE.match
    while count < stop:
        element = match(text, position)
        assert element is not None  # the pattern matches the empty string
        if element.group().strip(" \t"):
            count += 1
        position = element.end() + 1  # past the comma
        if position > end:
            break
    return count


def _check_contact_count(contacts: list[str], limit: int) -> None:
    """Refuse more than ``limit`` values in the Contact header texts
    ``contacts``.  Counted on the text, before a single value is parsed: a
    REGISTER with a thousand Contacts costs no more than one with the limit
    plus one."""
    count = 0
    for text in contacts:
        count += 1 if "," not in text else count_list_values(text, limit + 1 - count)
        if count > limit:
            raise Rejection(403, f"more than {limit} Contacts in one REGISTER",
                            reason=REASON_TOO_MANY)


def check_reply_size(bindings: Iterable[Binding], budget: int) -> None:
    """Raise ``ReplyTooLarge`` when the Contact values listing ``bindings``
    in a 200 (§10.3 step 8) would take more than ``budget`` bytes."""
    size = 0
    count = 0
    for binding in bindings:
        size += len(binding.contact_value) + _CONTACT_OVERHEAD
        count += 1
    if size > budget:
        raise ReplyTooLarge(count, UDP_MAX_PAYLOAD)


_date_cache: tuple[int, str] = (-1, "")


def date_text(now: float) -> str:
    """The Date header value for POSIX time ``now`` (§20.17, rfc1123-date in
    GMT, whole seconds): formatted once per second, as a registrar sends one
    in every 200 (§10.3 step 8)."""
    global _date_cache
    # the second datetime.fromtimestamp gives, which rounds to the microsecond
    second = round(now * 1_000_000) // 1_000_000
    cached_second, text = _date_cache
    if second != cached_second:
        text = str(SIPDate(datetime.fromtimestamp(second, UTC)))
        _date_cache = (second, text)
    return text


def _ua_supports(request: Request) -> set[str]:
    """The option tags the UA supports, lower-cased: its Supported and
    Require (§20.37, §20.32)."""
    headers = request.headers
    return {tag.lower() for name in ("Supported", "Require") for tag in headers.getall(name)}


def _has_star(values: list[Contact]) -> bool:
    for value in values:  # noqa: SIM110 - a loop, not a generator per REGISTER
        if value.star:
            return True
    return False


def _uri_or_none(text: str) -> URI | None:
    try:
        return URI.parse(text)
    except ParseError:
        return None
