"""The sans-I/O registration core (RFC 3261 §10.2, RFC 5626 §4) with a driven clock."""

from __future__ import annotations

import pytest

from sipwire import Request, Response
from sipwire.ua.registration import (
    IntervalTooBrief,
    Outbound,
    Registered,
    RegistrationCore,
    RegistrationFailed,
    RegistrationPolicy,
    RegistrationState,
    Unregistered,
    backoff_bound,
    refresh_delay,
)

AOR = "sip:alice@example.com"
CONTACT = "sip:alice@192.0.2.10:5070"


def core(**kwargs: object) -> RegistrationCore:
    kwargs.setdefault("rng", lambda: 0.5)
    return RegistrationCore(AOR, CONTACT, **kwargs)  # type: ignore[arg-type]


def answer(request: Request, status: int, *headers: tuple[str, str],
           contacts: tuple[str, ...] = ()) -> Response:
    lines = [*headers, *(("Contact", c) for c in contacts)]
    return request.reply(status, headers=lines, to_tag="reg")


def test_the_register_names_the_domain_and_binds_the_contact() -> None:
    c = core()
    request = c.request(0.0)
    assert request.method == "REGISTER"
    assert str(request.uri) == "sip:example.com"  # §10.2: the domain of the registrar
    assert str(request.to.uri) == AOR and str(request.from_.uri) == AOR
    assert request.from_.tag and request.to.tag is None
    assert [str(c.uri) for c in request.contact] == [CONTACT]
    assert request.headers.get("Expires") == "3600"
    assert request.route == [] and request.headers.get("Supported") is None
    assert c.state is RegistrationState.REGISTERING


def test_refreshes_keep_the_call_id_and_raise_the_cseq() -> None:
    """§10.2.4: the same Call-ID, CSeq one more than the last one sent, also after
    the CSeq a Digest retry used."""
    c = core()
    first = c.request(0.0)
    # the endpoint answered a 401 with a retry, CSeq 2; the 200 answers that one
    retry = first.copy()
    retry.headers.set("CSeq", "2 REGISTER")
    c.receive(answer(retry, 200, contacts=(f"<{CONTACT}>;expires=600",)), 1.0)
    second = c.request(500.0)
    assert second.call_id == first.call_id
    assert second.from_.tag == first.from_.tag
    assert second.cseq.seq == 3


def test_the_granted_expiry_of_our_contact_decides_the_refresh() -> None:
    c = core()
    request = c.request(0.0)
    response = answer(request, 200, ("Expires", "3600"),
                      contacts=("<sip:other@192.0.2.99>;expires=3000",
                                f"<{CONTACT}>;expires=120"))
    event = c.receive(response, 10.0)
    assert isinstance(event, Registered)
    assert event.expires == 120  # ours, not the other device's, nor Expires
    assert len(event.contacts) == 2
    assert event.expires_at == 130.0
    assert event.refresh_at == 10.0 + 120 - 32  # 64*T1 before expiry
    assert c.next_deadline() == event.refresh_at
    assert c.state is RegistrationState.REGISTERED


def test_without_a_contact_parameter_the_expires_header_is_granted() -> None:
    c = core()
    event = c.receive(answer(c.request(0.0), 200, ("Expires", "50"), contacts=(CONTACT,)), 0.0)
    assert isinstance(event, Registered) and event.expires == 50
    assert event.refresh_at == 25.0  # short: at half of it


def test_with_nothing_granted_what_we_asked_for_holds() -> None:
    c = core(policy=RegistrationPolicy(expires=300))
    event = c.receive(answer(c.request(0.0), 200), 0.0)
    assert isinstance(event, Registered) and event.expires == 300 and event.contacts == ()


@pytest.mark.parametrize(("granted", "delay"), [
    (3600, 3568), (600, 568), (64, 32), (60, 30), (10, 5), (1, 0.5)])
def test_refresh_delay(granted: int, delay: float) -> None:
    assert refresh_delay(granted, 32.0) == delay


def test_423_retries_at_once_with_min_expires() -> None:
    """§10.2.8: the interval is raised to Min-Expires and the REGISTER goes again."""
    c = core(policy=RegistrationPolicy(expires=30))
    first = c.request(0.0)
    event = c.receive(answer(first, 423, ("Min-Expires", "120")), 1.0)
    assert isinstance(event, IntervalTooBrief) and event.expires == 120
    assert c.next_deadline() == 1.0
    second = c.request(1.0)
    assert second.headers.get("Expires") == "120"
    assert second.cseq.seq == first.cseq.seq + 1 and second.call_id == first.call_id
    assert isinstance(c.receive(answer(second, 200, ("Expires", "120")), 1.5), Registered)


def test_a_423_without_a_larger_min_expires_fails() -> None:
    c = core(policy=RegistrationPolicy(expires=300))
    event = c.receive(answer(c.request(0.0), 423, ("Min-Expires", "60")), 0.0)
    assert isinstance(event, RegistrationFailed) and event.retry_at is None
    assert c.state is RegistrationState.FAILED and c.next_deadline() is None


def test_423s_in_a_row_are_answered_a_bounded_number_of_times() -> None:
    c = core(policy=RegistrationPolicy(expires=10, max_interval_retries=2))
    events = []
    for n in range(3):
        request = c.request(float(n))
        events.append(c.receive(answer(request, 423, ("Min-Expires", str(100 + n))), float(n)))
    assert [type(e) for e in events] == [IntervalTooBrief, IntervalTooBrief, RegistrationFailed]


@pytest.mark.parametrize("status", [500, 503, 408, 504])
def test_server_failures_and_timeouts_back_off_per_rfc_5626(status: int) -> None:
    """W = min(1800, 30 * 2**failures), waited 50-100 % of (here rng 0.5: 75 %)."""
    c = core()
    now = 0.0
    waits = []
    for _ in range(8):
        event = c.receive(answer(c.request(now), status), now)
        assert isinstance(event, RegistrationFailed) and event.retry_at is not None
        waits.append(event.retry_at - now)
        now = event.retry_at
    assert waits == [0.75 * min(1800, 30 * 2**n) for n in range(8)]
    assert c.state is RegistrationState.RETRYING


def test_the_wait_is_random_between_half_and_all_of_the_bound() -> None:
    low = core(rng=lambda: 0.0)
    high = core(rng=lambda: 0.999999)
    a = low.receive(answer(low.request(0.0), 503), 0.0)
    b = high.receive(answer(high.request(0.0), 503), 0.0)
    assert isinstance(a, RegistrationFailed) and isinstance(b, RegistrationFailed)
    assert a.retry_at == 15.0 and b.retry_at is not None and 29.9 < b.retry_at < 30.0
    assert backoff_bound(3, 30.0, 1800.0) == 240.0  # the RFC's example
    assert backoff_bound(100, 30.0, 1800.0) == 1800.0


def test_retry_after_is_honoured_when_longer() -> None:
    c = core()
    event = c.receive(answer(c.request(0.0), 503, ("Retry-After", "300 (maintenance)")), 5.0)
    assert isinstance(event, RegistrationFailed) and event.retry_at == 305.0
    # a 4xx with Retry-After is retried too (§20.33), not failed for good
    event = c.receive(answer(c.request(305.0), 480, ("Retry-After", "20")), 305.0)
    assert isinstance(event, RegistrationFailed) and event.retry_at is not None


def test_a_refusal_fails_for_good_and_a_refresh_starts_again() -> None:
    c = core()
    event = c.receive(answer(c.request(0.0), 403), 0.0)
    assert isinstance(event, RegistrationFailed) and event.retry_at is None
    assert str(event) == "403 Forbidden"
    assert c.state is RegistrationState.FAILED and c.next_deadline() is None
    c.refresh_now(50.0)
    assert c.next_deadline() == 50.0 and c.state is RegistrationState.UNREGISTERED


def test_a_failed_refresh_keeps_the_binding_until_it_lapses() -> None:
    c = core()
    c.receive(answer(c.request(0.0), 200, ("Expires", "100")), 0.0)  # refresh at 50
    event = c.receive(answer(c.request(50.0), 503), 50.0)
    assert isinstance(event, RegistrationFailed)
    assert c.state is RegistrationState.REGISTERED and c.expires_at == 100.0
    # the retry at 72.5 fails too, and the next is past the expiry: the binding lapsed
    event = c.receive(answer(c.request(72.5), 503), 120.0)
    assert c.state is RegistrationState.RETRYING and c.expires_at is None
    # success resets the failures: the next failure waits the base time again
    c.receive(answer(c.request(200.0), 200, ("Expires", "100")), 200.0)
    event = c.receive(answer(c.request(250.0), 500), 250.0)
    assert isinstance(event, RegistrationFailed) and event.retry_at == 250.0 + 22.5


def test_unregister_asks_expires_zero_for_our_contact_only() -> None:
    c = core()
    c.receive(answer(c.request(0.0), 200, ("Expires", "100")), 0.0)
    request = c.unregister_request()
    assert request.headers.get("Expires") == "0"
    assert [str(x.uri) for x in request.contact] == [CONTACT]  # not "*"
    assert c.next_deadline() is None
    event = c.receive(answer(request, 200), 1.0)
    assert isinstance(event, Unregistered)
    assert c.state is RegistrationState.UNREGISTERED and c.expires_at is None


def test_a_proxy_goes_in_route() -> None:
    c = core(route="sip:proxy.example.com;lr")
    request = c.request(0.0)
    assert [str(r.uri) for r in request.route] == ["sip:proxy.example.com;lr"]


def test_outbound_puts_instance_and_reg_id_in_the_contact() -> None:
    """RFC 5626 §4.2.1: Supported: outbound; +sip.instance with a UUID URN; reg-id."""
    outbound = Outbound.new(reg_id=2)
    assert outbound.instance.startswith("urn:uuid:") and len(outbound.instance) == 45
    c = core(outbound=outbound)
    request = c.request(0.0)
    assert "outbound" in request.headers.getall("Supported")
    contact = request.contact[0]
    assert contact.params["+sip.instance"] == f'"<{outbound.instance}>"'
    assert contact.params["reg-id"] == "2"
    # the registrar may rewrite the URI: the instance and reg-id find our binding
    response = answer(request, 200, ("Require", "outbound"), ("Flow-Timer", "60"),
                      contacts=(f'<sip:alice@198.51.100.1:4000>;expires=500;reg-id=2;'
                                f'+sip.instance="<{outbound.instance}>"',))
    event = c.receive(response, 0.0)
    assert isinstance(event, Registered)
    assert event.expires == 500 and event.outbound and event.flow_timer == 60
    assert "ob" in Outbound.dialog_contact(c.contact).params


def test_keepalive_intervals_follow_rfc_5626_section_4_4() -> None:
    low, high = core(rng=lambda: 0.0), core(rng=lambda: 1.0)
    assert (low.keepalive_interval(False, None), high.keepalive_interval(False, None)) == \
        (24.0, 29.0)  # STUN on UDP
    assert (low.keepalive_interval(True, None), high.keepalive_interval(True, None)) == \
        (95.0, 120.0)  # CRLF on a connection
    assert (low.keepalive_interval(True, 50), high.keepalive_interval(True, 50)) == \
        (40.0, 50.0)  # 80-100 % of Flow-Timer


def test_a_dead_flow_makes_the_register_due_at_once() -> None:
    c = core(outbound=Outbound.new())
    c.receive(answer(c.request(0.0), 200, ("Expires", "600")), 0.0)
    c.flow_failed(42.0)
    assert c.next_deadline() == 42.0


@pytest.mark.parametrize("bad", [{"expires": 0}, {"margin": -1.0}, {"base_time": 0.0}])
def test_policy_checks(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RegistrationPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="URN"):
        Outbound("uuid-without-urn")
