"""The registrar, RFC 3261 §10.3 steps 1-8, through Registrar.handle."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sipwire
from sipwire.location import Binding, MemoryStore, Source, StoreError, StoreOutage
from sipwire.message.fields.date import SIPDate
from sipwire.message.fields.nameaddr import Contact
from sipwire.message.headers import split_list
from sipwire.message.message import Request, Response
from sipwire.registrar import Registrar
from sipwire.registrar.core import UDP_MAX_PAYLOAD, count_list_values, date_text

from .conftest import AOR, T0, register

UA1 = "<sip:alice@192.0.2.4:5060>"
UA2 = "<sip:alice@198.51.100.8:5070;transport=tcp>"


def contacts(response: Response) -> dict[str, int | None]:
    """Contact URI -> expires parameter of a 200."""
    return {str(c.uri): c.expires for c in response.contact}


def warning(response: Response) -> str:
    return response.headers.get("Warning") or ""


# -- step 8: adding, and what every 200 carries ------------------------------------------


async def test_add_a_binding(registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(register(UA1), T0)
    assert (response.status, response.reason) == (200, "OK")
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 3600}  # the default
    (b,) = await store.lookup(AOR, T0)
    assert (b.aor, b.contact, b.expires_at) == (AOR, "sip:alice@192.0.2.4:5060", T0 + 3600)
    assert (b.call_id, b.cseq, b.q) == ("843817637684230@998sdasdh09", 1826, 1.0)


async def test_the_200_is_a_proper_response(registrar: Registrar) -> None:
    request = register(UA1, headers=["Record-Route: <sip:p1.example.net;lr>"])
    response = await registrar.handle(request, T0)
    # §8.2.6.2: Via, From, Call-ID, CSeq copied, To tagged
    assert response.headers.getall("Via") == request.headers.getall("Via")
    assert response.call_id == request.call_id and response.cseq.seq == 1826
    assert response.to.tag and response.to.uri == request.to.uri
    # §10.3: "Registrars MUST NOT include a Record-Route header field in any response"
    assert "Record-Route" not in response.headers
    assert response.headers.getall("Supported") == ["path", "outbound"]
    # it goes on the wire and back
    assert isinstance(sipwire.parse(bytes(response)), Response)


async def test_date_header(registrar: Registrar) -> None:
    response = await registrar.handle(register(UA1), T0)
    assert response.headers.get("Date") == "Sat, 13 Nov 2010 23:29:00 GMT"
    (date,) = response.header("Date")
    assert isinstance(date, SIPDate)
    assert date.datetime == datetime.fromtimestamp(T0, UTC)


async def test_every_current_binding_is_listed(registrar: Registrar) -> None:
    await registrar.handle(register(UA1, expires=600), T0)
    response = await registrar.handle(register(UA2, call_id="other@ua", cseq=1), T0 + 100)
    assert contacts(response) == {
        "sip:alice@192.0.2.4:5060": 500,
        "sip:alice@198.51.100.8:5070;transport=tcp": 3600,
    }


async def test_contacts_are_returned_as_registered(registrar: Registrar) -> None:
    value = ('"Alice Smith" <sip:alice@192.0.2.4:5060;transport=udp>;q=0.5;'
             'expires=120;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"')
    response = await registrar.handle(register(value), T0)
    (contact,) = response.headers.getall("Contact")
    assert contact == ('"Alice Smith" <sip:alice@192.0.2.4:5060;transport=udp>;q=0.5;'
                       'expires=120;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"')


# -- step 7: expiration ----------------------------------------------------------------


@pytest.mark.parametrize(("contact", "expires", "chosen"), [
    (UA1, None, 3600),                      # neither: the configured default
    (UA1, 1800, 1800),                      # the Expires header
    (UA1 + ";expires=900", 1800, 900),      # the parameter wins over the header
    (UA1 + ";expires=900", None, 900),
    (UA1, 7200, 3600),                      # above max_expires: shortened
    (UA1 + ";expires=4294967296", None, 3600),
    (UA1, 60, 60),                          # exactly min_expires
])
async def test_expiration_choice(registrar: Registrar, contact: str, expires: int | None,
                                 chosen: int) -> None:
    response = await registrar.handle(register(contact, expires=expires), T0)
    assert response.status == 200
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": chosen}


async def test_default_expires_is_configurable() -> None:
    registrar = Registrar(MemoryStore(), ["example.com"], default_expires=300)
    response = await registrar.handle(register(UA1), T0)
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 300}


@pytest.mark.parametrize(("contact", "expires"), [
    (UA1, 59), (UA1, 1), (UA1 + ";expires=30", 3600), (UA1 + ";expires=1", None),
])
async def test_interval_too_brief(registrar: Registrar, store: MemoryStore, contact: str,
                                  expires: int | None) -> None:
    response = await registrar.handle(register(contact, expires=expires), T0)
    assert (response.status, response.reason) == (423, "Interval Too Brief")
    assert response.headers.get("Min-Expires") == "60"
    assert response.min_expires == 60
    assert await store.lookup(AOR, T0) == []


async def test_423_for_any_contact_refuses_the_whole_request(
        registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(register(UA1, UA2 + ";expires=10"), T0)
    assert response.status == 423
    assert await store.lookup(AOR, T0) == []


async def test_423_only_below_one_hour() -> None:
    """§10.3 step 7: 423 "if and only if the requested expiration interval is
    greater than zero AND smaller than one hour AND less than a
    registrar-configured minimum"."""
    registrar = Registrar(MemoryStore(), ["example.com"], min_expires=7200,
                          max_expires=86400, default_expires=7200)
    assert (await registrar.handle(register(UA1, expires=3599), T0)).status == 423
    response = await registrar.handle(register(UA1, expires=3600), T0)
    assert response.status == 200
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 3600}


async def test_zero_is_never_too_brief(registrar: Registrar) -> None:
    response = await registrar.handle(register(UA1, expires=0), T0)
    assert response.status == 200
    assert response.contact == []


# -- step 7: refresh, remove, ordering by Call-ID and CSeq --------------------------------


async def test_refresh(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(UA1, expires=600), T0)
    response = await registrar.handle(register(UA1, cseq=1827, expires=1200), T0 + 300)
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 1200}
    (b,) = await store.lookup(AOR, T0 + 300)
    assert (b.cseq, b.expires_at, b.updated_at) == (1827, T0 + 1500, T0 + 300)


async def test_refresh_matches_contacts_by_uri_comparison(registrar: Registrar,
                                                          store: MemoryStore) -> None:
    """§10.3 step 7 searches "using the URI comparison rules" (§19.1.4)."""
    await registrar.handle(register("<sip:alice@Host.Example.COM:5060;transport=TCP>"), T0)
    response = await registrar.handle(
        register("<sip:alice@host.example.com:5060;transport=tcp;x=1>", cseq=1827), T0)
    assert len(response.contact) == 1
    (b,) = await store.lookup(AOR, T0)
    assert b.contact == "sip:alice@host.example.com:5060;transport=tcp;x=1"
    # a different port is a different contact
    await registrar.handle(register("<sip:alice@host.example.com;transport=tcp>", cseq=1828), T0)
    assert len(await store.lookup(AOR, T0)) == 2


async def test_another_call_id_updates_whatever_its_cseq(registrar: Registrar,
                                                         store: MemoryStore) -> None:
    await registrar.handle(register(UA1, cseq=100, expires=600), T0)
    response = await registrar.handle(register(UA1, call_id="reboot@ua", cseq=1), T0)
    assert response.status == 200
    (b,) = await store.lookup(AOR, T0)
    assert (b.call_id, b.cseq, b.expires_at) == ("reboot@ua", 1, T0 + 3600)


@pytest.mark.parametrize("cseq", [1826, 1825, 1])
async def test_same_call_id_with_a_cseq_not_higher_fails(registrar: Registrar,
                                                         store: MemoryStore,
                                                         cseq: int) -> None:
    """§10.3 step 7: "If not [higher], the update MUST be aborted and the request
    fails"; a failed update is answered 500 and nothing is committed."""
    await registrar.handle(register(UA1, cseq=1826, expires=600), T0)
    response = await registrar.handle(register(UA1, cseq=cseq, expires=1200), T0 + 10)
    assert (response.status, response.reason) == (500, sipwire.Status(500).phrase)
    assert "not higher" in warning(response)
    (b,) = await store.lookup(AOR, T0)
    assert (b.cseq, b.expires_at) == (1826, T0 + 600)


async def test_a_failed_update_commits_none_of_the_request(registrar: Registrar,
                                                           store: MemoryStore) -> None:
    """§10.3 step 7: updates are committed "if and only if all binding updates
    and additions succeed"."""
    await registrar.handle(register(UA1, cseq=5), T0)
    response = await registrar.handle(register(UA2, UA1, cseq=5), T0)
    assert response.status == 500
    assert [b.contact for b in await store.lookup(AOR, T0)] == ["sip:alice@192.0.2.4:5060"]


async def test_remove_one_binding(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(UA1, UA2), T0)
    response = await registrar.handle(register(UA1 + ";expires=0", cseq=1827), T0)
    assert response.status == 200
    assert contacts(response) == {"sip:alice@198.51.100.8:5070;transport=tcp": 3600}
    response = await registrar.handle(register(UA2, cseq=1828, expires=0), T0)
    assert response.status == 200 and response.contact == []
    assert await store.lookup(AOR, T0) == []
    assert await store.aors(T0) == []


async def test_removing_with_a_stale_cseq_fails(registrar: Registrar,
                                                store: MemoryStore) -> None:
    await registrar.handle(register(UA1, cseq=10), T0)
    response = await registrar.handle(register(UA1, cseq=9, expires=0), T0)
    assert response.status == 500
    assert len(await store.lookup(AOR, T0)) == 1


async def test_removing_an_unknown_contact_is_fine(registrar: Registrar) -> None:
    await registrar.handle(register(UA1), T0)
    response = await registrar.handle(register(UA2, cseq=1827, expires=0), T0)
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 3600}


# -- step 6: Contact: * -----------------------------------------------------------------


async def test_remove_all_with_star(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(UA1), T0)
    await registrar.handle(register(UA2, call_id="second@ua", cseq=7), T0)
    response = await registrar.handle(register("*", cseq=1827, expires=0), T0)
    assert response.status == 200
    assert "Contact" not in response.headers
    assert await store.lookup(AOR, T0) == []


async def test_star_with_the_same_call_id_needs_a_higher_cseq(registrar: Registrar,
                                                              store: MemoryStore) -> None:
    """Step 6: a binding of this Call-ID is removed "only if the CSeq in the
    request is higher ... Otherwise, the update MUST be aborted"."""
    await registrar.handle(register(UA1, cseq=1826), T0)
    await registrar.handle(register(UA2, call_id="second@ua", cseq=7), T0)
    response = await registrar.handle(register("*", cseq=1826, expires=0), T0)
    assert response.status == 500
    assert len(await store.lookup(AOR, T0)) == 2


@pytest.mark.parametrize(("contacts_", "expires", "why"), [
    (("*",), None, "needs Expires: 0"),
    (("*",), 3600, "other than 0"),
    (("*", UA1), 0, "only Contact"),
    ((UA1, "*"), 0, "only Contact"),
    (("*", "*"), 0, "only Contact"),
])
async def test_star_misused(registrar: Registrar, store: MemoryStore,
                            contacts_: tuple[str, ...], expires: int | None, why: str) -> None:
    await registrar.handle(register(UA2), T0)
    response = await registrar.handle(register(*contacts_, cseq=1827, expires=expires), T0)
    assert (response.status, response.reason) == (400, "Bad Request")
    assert why in warning(response)
    assert len(await store.lookup(AOR, T0)) == 1


async def test_star_on_an_empty_aor(registrar: Registrar) -> None:
    response = await registrar.handle(register("*", expires=0), T0)
    assert response.status == 200 and response.contact == []


# -- q ---------------------------------------------------------------------------------


async def test_q_values_order_the_bindings(registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(register(
        "<sip:a@192.0.2.1>;q=0.1", "<sip:b@192.0.2.2>;q=1.0",
        "<sip:c@192.0.2.3>", "<sip:d@192.0.2.4>;q=0.75"), T0)
    assert [str(c.uri) for c in response.contact] == [
        "sip:b@192.0.2.2", "sip:c@192.0.2.3", "sip:d@192.0.2.4", "sip:a@192.0.2.1"]
    assert [c.q for c in response.contact] == [1.0, None, 0.75, 0.1]
    assert [b.q for b in await store.lookup(AOR, T0)] == [1.0, 1.0, 0.75, 0.1]


# -- queries ---------------------------------------------------------------------------


async def test_query_lists_the_bindings(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(UA1, expires=600), T0)
    response = await registrar.handle(register(call_id="query@ua", cseq=1), T0 + 100)
    assert response.status == 200
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 500}
    (b,) = await store.lookup(AOR, T0)
    assert b.call_id == "843817637684230@998sdasdh09"  # a query writes nothing


async def test_query_of_an_aor_without_bindings(registrar: Registrar) -> None:
    response = await registrar.handle(register(), T0)
    assert response.status == 200
    assert "Contact" not in response.headers
    assert response.headers.get("Date")


# -- expiry ----------------------------------------------------------------------------


async def test_bindings_expire_on_time(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(UA1, expires=120), T0)
    assert len(await registrar.lookup(AOR, T0 + 119.9)) == 1
    assert await registrar.lookup(AOR, T0 + 120) == []
    response = await registrar.handle(register(cseq=1827), T0 + 120)
    assert response.contact == []
    assert await store.purge(T0 + 120) == 1


async def test_an_expired_binding_is_registered_anew(registrar: Registrar) -> None:
    """Once expired, a binding is gone: even a stale CSeq adds it again."""
    await registrar.handle(register(UA1, cseq=50, expires=120), T0)
    response = await registrar.handle(register(UA1, cseq=10, expires=120), T0 + 200)
    assert response.status == 200
    assert contacts(response) == {"sip:alice@192.0.2.4:5060": 120}


# -- step 1 and 5: domains and the address-of-record -------------------------------------


async def test_request_uri_outside_the_served_domains(registrar: Registrar) -> None:
    response = await registrar.handle(
        register(UA1, uri="sip:elsewhere.org", to="<sip:alice@elsewhere.org>"), T0)
    assert (response.status, response.reason) == (404, "Not Found")


@pytest.mark.parametrize("to", [
    "<sip:alice@elsewhere.org>",          # an AOR of a domain not served here
    "<sip:alice@sub.example.com>",
    "<tel:+12025550123>",                 # not a SIP AOR
])
async def test_aor_not_valid_for_the_domain(registrar: Registrar, store: MemoryStore,
                                            to: str) -> None:
    response = await registrar.handle(register(UA1, to=to), T0)
    assert response.status == 404
    assert await store.aors(T0) == []


async def test_to_must_match_the_request_uri_domain() -> None:
    registrar = Registrar(MemoryStore(), ["example.com", "example.org"])
    response = await registrar.handle(register(UA1, uri="sip:example.org"), T0)
    assert response.status == 404
    ok = await registrar.handle(register(UA1, uri="sip:EXAMPLE.com:5060;transport=tcp"), T0)
    assert ok.status == 200


async def test_an_alias_may_register_any_served_domain(registrar: Registrar,
                                                       store: MemoryStore) -> None:
    response = await registrar.handle(register(UA1, uri="sip:192.0.2.100:5060"), T0)
    assert response.status == 200
    assert await store.aors(T0) == [AOR]


async def test_the_aor_is_canonical(registrar: Registrar, store: MemoryStore) -> None:
    """§10.3 step 5: parameters removed (user-param too), escapes resolved."""
    response = await registrar.handle(register(
        UA1, to='"Alice" <sip:al%69ce@EXAMPLE.com;user=phone?subject=x>'), T0)
    assert response.status == 200
    assert await store.aors(T0) == [AOR]
    query = await registrar.handle(register(to="<sip:alice@example.com>", cseq=1827), T0)
    assert len(query.contact) == 1


# -- step 2: Require -------------------------------------------------------------------


async def test_unsupported_require(registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(
        register(UA1, headers=["Require: path, foo, 100rel"]), T0)
    assert (response.status, response.reason) == (420, "Bad Extension")
    assert response.headers.getall("Unsupported") == ["foo", "100rel"]
    assert await store.aors(T0) == []


async def test_supported_require(registrar: Registrar) -> None:
    response = await registrar.handle(register(
        UA1, headers=["Require: path, outbound", "Supported: path, outbound"]), T0)
    assert response.status == 200


# -- other requests and schemes ------------------------------------------------------


async def test_only_register(registrar: Registrar) -> None:
    response = await registrar.handle(register(method="OPTIONS"), T0)
    assert (response.status, response.headers.get("Allow")) == (405, "REGISTER")


async def test_request_uri_must_be_sip(registrar: Registrar) -> None:
    response = await registrar.handle(register(UA1, uri="tel:+12025550123"), T0)
    assert response.status == 416


async def test_cseq_method_must_be_register(registrar: Registrar) -> None:
    request = register(UA1)
    request.headers.set("CSeq", "1826 INVITE")
    assert (await registrar.handle(request, T0)).status == 400


# -- 400: malformed in registrar terms -------------------------------------------------


@pytest.mark.parametrize("contact", [
    UA1 + ";expires=abc",
    UA1 + ";expires=-5",
    UA1 + ";expires",
    UA1 + ";q=2",
    UA1 + ";q=0.1234",
    UA1 + ";q",
    "<sip:alice@192.0.2.4:99999>",
    "sip:alice@192.0.2.4 <nope",
    "<>",
    UA1 + ';+sip.instance="urn:uuid:no-angle-brackets";reg-id=1',
    UA1 + ';+sip.instance="<urn:uuid:1>";reg-id=0',
    UA1 + ';+sip.instance="<urn:uuid:1>";reg-id=x',
    UA1 + ';+sip.instance="<urn:uuid:1>";reg-id=2147483648',
])
async def test_bad_contacts(registrar: Registrar, store: MemoryStore, contact: str) -> None:
    response = await registrar.handle(register(contact), T0)
    assert response.status == 400, warning(response)
    assert await store.aors(T0) == []


async def test_bad_expires_header(registrar: Registrar) -> None:
    response = await registrar.handle(register(UA1, expires="soon"), T0)
    assert response.status == 400
    assert "Expires" in warning(response)


async def test_the_same_contact_twice(registrar: Registrar) -> None:
    response = await registrar.handle(register(UA1, UA1.upper().replace("SIP:", "sip:")), T0)
    assert response.status == 200  # a different user part: two contacts
    response = await registrar.handle(
        register(UA1 + ";expires=60", "<sip:alice@192.0.2.4:5060;foo=bar>", cseq=1827), T0)
    assert response.status == 400
    assert "twice" in warning(response)


async def test_any_uri_scheme_may_be_a_contact(registrar: Registrar) -> None:
    """§10.2.1: contacts "MAY use any URI scheme" (tel, mailto ...)."""
    response = await registrar.handle(
        register("<tel:+12025550123>", "<mailto:alice@example.com>;q=0.1"), T0)
    assert response.status == 200
    assert len(response.contact) == 2


async def test_contact_schemes_can_be_restricted() -> None:
    registrar = Registrar(MemoryStore(), ["example.com"], contact_schemes=["sip", "sips"])
    response = await registrar.handle(register("<mailto:alice@example.com>"), T0)
    assert response.status == 400
    assert (await registrar.handle(register("<sips:alice@192.0.2.4>"), T0)).status == 200


# -- steps 3 and 4: hooks --------------------------------------------------------------


async def test_authentication_hook_may_challenge(store: MemoryStore) -> None:
    def authenticate(request: Request) -> Response:
        return request.reply(401, headers=[("WWW-Authenticate", 'Digest realm="example.com", '
                                                                 'nonce="abc"')])

    registrar = Registrar(store, ["example.com"], authenticate=authenticate)
    response = await registrar.handle(register(UA1), T0)
    assert response.status == 401
    assert await store.aors(T0) == []


async def test_authorization_hook(store: MemoryStore) -> None:
    seen: list[tuple[str | None, str]] = []

    async def authenticate(request: Request) -> str:
        return "alice"

    async def authorize(user: str | None, aor: str, request: Request) -> bool:
        seen.append((user, aor))
        return aor == f"sip:{user}@example.com"

    registrar = Registrar(store, ["example.com"], authenticate=authenticate,
                          authorize=authorize)
    assert (await registrar.handle(register(UA1), T0)).status == 200
    response = await registrar.handle(register(UA1, to="<sip:bob@example.com>"), T0)
    assert (response.status, response.reason) == (403, "Forbidden")
    assert seen == [("alice", AOR), ("alice", "sip:bob@example.com")]
    assert await store.aors(T0) == [AOR]


async def test_anonymous_authorization(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], authorize=lambda user, aor, req: user is None)
    assert (await registrar.handle(register(UA1), T0)).status == 200


# -- what is stored besides the contact ------------------------------------------------


async def test_source_and_user_agent_are_stored(registrar: Registrar,
                                                store: MemoryStore) -> None:
    source = Source("UDP", "203.0.113.5", 34567, "udp:0.0.0.0:5060")
    await registrar.handle(register(UA1, headers=["User-Agent: Softphone/1.0"]), T0, source)
    (b,) = await store.lookup(AOR, T0)
    assert b.source == source
    assert b.user_agent == "Softphone/1.0"


async def test_a_store_fault_gives_500() -> None:
    """Anything but StoreError is a fault of ours: 500, logged with its traceback."""
    class Broken(MemoryStore):
        async def update(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
            raise KeyError("a bug")

    registrar = Registrar(Broken(), ["example.com"])
    response = await registrar.handle(register(UA1), T0)
    assert response.status == 500
    assert "KeyError" in warning(response)
    assert "Retry-After" not in response.headers


class Unreachable(MemoryStore):
    """A location service that is down until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    async def update(self, *args: Any, **kwargs: Any) -> list[Binding]:
        if not self.up:
            raise StoreError("redis: Error 111 connecting to 127.0.0.1:6379")
        return await super().update(*args, **kwargs)

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        if not self.up:
            raise StoreError("redis: Error 111 connecting to 127.0.0.1:6379")
        return await super().lookup(aor, now)


async def test_a_store_outage_is_503_with_retry_after_and_one_log_line_each_way(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Unreachable()
    registrar = Registrar(store, ["example.com"], outage=StoreOutage(retry_after=7))
    with caplog.at_level(logging.INFO):
        for n in range(20):
            response = await registrar.handle(register(UA1, cseq=n + 1), T0)
            assert response.status == 503  # §21.5.4
            assert response.headers.get("Retry-After") == "7"
        query = await registrar.handle(register(cseq=30), T0)
        assert (query.status, query.headers.get("Retry-After")) == (503, "7")
        assert registrar.outage.down and registrar.outage.failures == 21
        store.up = True
        assert (await registrar.handle(register(UA1, cseq=40), T0)).status == 200
        assert (await registrar.handle(register(UA1, cseq=41), T0)).status == 200
    lines = [r for r in caplog.records if r.name.startswith("sipwire")]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    assert "unavailable" in lines[0].getMessage() and "Error 111" in lines[0].getMessage()
    assert "21 requests" in lines[1].getMessage()
    assert all(r.exc_info is None for r in lines)  # no traceback
    assert not registrar.outage.down and registrar.outage.outages == 1


# -- limits per address-of-record ---------------------------------------------------------

UDP = Source("UDP", "192.0.2.4", 5060, "udp:192.0.2.100:5060")
TCP = Source("TCP", "192.0.2.4", 40000, "tcp:192.0.2.100:5060")


def ua(i: int) -> str:
    return f"<sip:alice@192.0.2.{i}:5060>"


async def test_a_register_past_max_contacts_is_403_and_stores_nothing(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], max_contacts=3)
    for i in range(3):
        response = await registrar.handle(register(ua(i), call_id=f"ua{i}", cseq=1), T0)
        assert response.status == 200
    refused = await registrar.handle(register(ua(3), ua(4), call_id="ua3", cseq=1), T0)
    assert (refused.status, refused.reason) == (403, "Too Many Registered Contacts")
    assert "limit of 3" in warning(refused)
    assert len(await store.lookup(AOR, T0)) == 3
    # what does not add to the count still passes: a refresh, a swap, a removal
    refresh = await registrar.handle(register(ua(0), call_id="ua0", cseq=2), T0 + 10)
    assert refresh.status == 200 and len(refresh.contact) == 3
    swap = await registrar.handle(
        register(ua(1) + ";expires=0", ua(5), call_id="ua1", cseq=2), T0 + 10)
    assert swap.status == 200 and len(swap.contact) == 3
    gone = await registrar.handle(register(ua(2), expires=0, call_id="ua2", cseq=2), T0 + 10)
    assert gone.status == 200 and len(gone.contact) == 2
    assert (await registrar.handle(register(ua(6), call_id="ua6", cseq=1), T0)).status == 200


async def test_max_contacts_is_10_by_default_and_0_is_no_limit(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"])
    statuses = [(await registrar.handle(register(ua(i), call_id=f"ua{i}", cseq=1), T0)).status
                for i in range(11)]
    assert statuses == [200] * 10 + [403]
    unlimited = Registrar(MemoryStore(), ["example.com"], max_contacts=0,
                          max_contacts_per_register=0)
    many = await unlimited.handle(register(*(ua(i) for i in range(30))), T0)
    assert many.status == 200 and len(many.contact) == 30


async def test_too_many_contacts_in_one_register_are_refused_before_any_is_parsed(
        store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], max_contacts=50, max_contacts_per_register=4)
    # one header line, four values, commas in quoted names and in URIs between <>
    four = ('"Smith, Alice" <sip:alice@192.0.2.1>, <sip:a,b@192.0.2.2>, '
            '"x\\", y" <sip:alice@192.0.2.3>, sip:alice@192.0.2.4')
    assert (await registrar.handle(register(four), T0)).status == 200
    # the fifth value is broken: counting, not parsing, refuses the REGISTER
    refused = await registrar.handle(register(four, "<sip:broken", cseq=1900), T0)
    assert (refused.status, refused.reason) == (403, "Too Many Registered Contacts")
    assert "more than 4 Contacts in one REGISTER" in warning(refused)
    assert len(await store.lookup(AOR, T0)) == 4


async def test_a_thousand_contacts_cost_no_more_than_the_limit(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"])
    lines = [", ".join(f'"UA {i}" <sip:alice@192.0.2.{i % 250}:{5000 + i};transport=udp>;q=0.5'
                       for i in range(start, start + 100)) for start in range(0, 1000, 100)]
    request = register(*lines)
    started = time.process_time()
    response = await registrar.handle(request, T0)
    spent = time.process_time() - started
    assert response.status == 403 and await store.lookup(AOR, T0) == []
    assert spent < 0.05, spent  # parsing them all took 0.6-1 s


@pytest.mark.parametrize(("text", "count"), [
    ("", 0), ("sip:a@h", 1), ("sip:a@h, sip:b@h", 2), (" , sip:a@h,,", 1),
    ('"a, b" <sip:a@h>, <sip:x,y@h>;q=1', 2), ('"a\\"," <sip:a@h>, sip:b@h', 2),
    ('"unterminated, <sip:a@h>', 1), ("<sip:a@h, sip:b@h", 1),
])
def test_count_list_values(text: str, count: int) -> None:
    assert count_list_values(text, 100) == count
    assert count_list_values(text, 1) == min(count, 1)


_NAME = st.text(alphabet=st.sampled_from('ab ,;<>=\\"'), max_size=8)
_USER = st.text(alphabet=st.sampled_from("ab,;?=&"), min_size=1, max_size=6)


@given(st.lists(st.tuples(_NAME, _USER), max_size=12), st.integers(min_value=1, max_value=15))
def test_count_list_values_agrees_with_the_split_of_getall(
        values: list[tuple[str, str]], stop: int) -> None:
    """Quoted display names and <URIs> holding commas, as Contact carries them."""
    line = ", ".join(
        '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <sip:{user}@h>;q=0.5'
        for name, user in values)
    if values:
        assert count_list_values(line, 100) == len(split_list(line)) == len(values)
    assert count_list_values(line, stop) == min(len(values), stop)


async def test_a_contact_longer_than_max_contact_length_is_400(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], max_contact_length=100)
    fits = "<sip:alice@192.0.2.4:5060;x=" + "a" * 71 + ">"
    assert len(fits) == 100
    assert (await registrar.handle(register(fits), T0)).status == 200
    long = "<sip:alice@192.0.2.5:5060;x=" + "a" * 72 + ">"
    refused = await registrar.handle(register(long, cseq=1900), T0)
    assert refused.status == 400 and "longer than 100" in warning(refused)
    assert [b.contact_value for b in await store.lookup(AOR, T0)] == [fits]


async def test_a_200_too_big_for_udp_is_500_and_nothing_is_stored(store: MemoryStore) -> None:
    """§18.2.2: a response to a UDP request goes back in one datagram.  A 200
    that cannot is refused 500 before the store is written; over TCP the
    same REGISTER is accepted, and a UDP query of those bindings gets 500."""
    registrar = Registrar(store, ["example.com"], max_contact_length=0)
    big = [f"<sip:alice@192.0.2.{i}:5060;pad={'x' * 13000}>" for i in range(6)]
    for i, contact in enumerate(big[:4]):
        response = await registrar.handle(register(contact, call_id=f"ua{i}", cseq=1), T0, UDP)
        assert response.status == 200
    assert len(bytes(response)) < UDP_MAX_PAYLOAD
    refused = await registrar.handle(register(big[4], call_id="ua4", cseq=1), T0, UDP)
    assert refused.status == 500 and "would not fit in a UDP datagram" in warning(refused)
    assert len(bytes(refused)) < 1300
    assert len(await store.lookup(AOR, T0)) == 4
    # over TCP the same REGISTER is accepted: its 200 is indeed too big for UDP
    accepted = await registrar.handle(register(big[4], call_id="ua4", cseq=2), T0, TCP)
    assert accepted.status == 200 and len(bytes(accepted)) > UDP_MAX_PAYLOAD
    query = await registrar.handle(register(call_id="q", cseq=1), T0, UDP)
    assert query.status == 500 and "over TCP or TLS" in warning(query)
    assert (await registrar.handle(register(call_id="q", cseq=2), T0, TCP)).status == 200
    # a small contact over UDP is refused too: its 200 would list the big ones
    small = await registrar.handle(register(ua(9), call_id="ua9", cseq=1), T0, UDP)
    assert small.status == 500
    await registrar.handle(register("*", expires=0, call_id="ua9", cseq=2), T0, TCP)
    assert (await registrar.handle(register(ua(9), call_id="ua9", cseq=3), T0, UDP)).status == 200


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        Registrar(MemoryStore(), ["example.com"], max_contacts=-1)
    with pytest.raises(ValueError):
        Registrar(MemoryStore(), [])
    with pytest.raises(ValueError):
        Registrar(MemoryStore(), ["example.com"], min_expires=600, max_expires=60)
    with pytest.raises(ValueError):
        Registrar(MemoryStore(), ["example.com"], default_expires=0)


# -- the text of the 200 (§10.3 step 8), written without parsing the bindings again -------


@pytest.mark.parametrize("contact", [
    "<sip:alice@192.0.2.4>",
    "<sip:alice@192.0.2.4;transport=udp>;q=0.5",
    "<sip:alice@192.0.2.4>;expires=30;q=1",
    "<sip:alice@192.0.2.4>;Q=0.5",
    "<sip:alice@192.0.2.4> ;q=0.7",
    '"Alice" <sip:alice@192.0.2.4>',
    "sip:alice@192.0.2.4",
    '<sip:alice@192.0.2.4>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
    "<sip:alice@192.0.2.4>;x;y=z",
    "<sip:alice@192.0.2.4>;x;x=1",
    "<sips:[2001:db8::4]:5061>",
    "<tel:+15551234567>",
])
def test_contact_text_is_the_contact_header_with_expires(contact: str) -> None:
    value = Contact.parse(contact)
    binding = Binding(aor=AOR, contact=str(value.uri), contact_value=str(value),
                                       expires_at=T0 + 100.4)
    assert binding.contact_text(T0) == str(binding.contact_header(T0))
    assert binding.contact_text(T0).endswith(";expires=101") or ";expires=101;" in \
        binding.contact_text(T0)


def test_contact_text_of_a_binding_written_elsewhere() -> None:
    # not the registrar's canonical form: the slow path, as before
    binding = Binding(aor=AOR, contact="sip:alice@192.0.2.4",
                                       contact_value="<sip:bob@192.0.2.4>", expires_at=T0 + 5)
    assert binding.contact_text(T0) == str(binding.contact_header(T0))


@pytest.mark.parametrize("now", [0.0, T0, T0 + 0.5, T0 + 0.9999996, T0 + 0.9999994, 2e9 + 0.25])
def test_date_text_is_the_rfc1123_date_of_the_second(now: float) -> None:
    expected = str(SIPDate(datetime.fromtimestamp(now, UTC)))
    assert date_text(now) == expected
    assert date_text(now) == expected  # from the cache
