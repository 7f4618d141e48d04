"""Event, Allow-Events and Subscription-State (RFC 6665 §8.2)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.events import AllowEvents, Event, SubscriptionState

from .conftest import sip

NOTIFY = sip("""\
NOTIFY sip:alice@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK776asdhds
Max-Forwards: 70
From: <sip:bob@example.com>;tag=a6c85cf
To: <sip:alice@example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 2 NOTIFY
o: refer ;id=93809824
u: presence, message-summary,dialog
Subscription-State: Terminated;reason=noresource;retry-after=30;expires=0
Content-Length: 0

""")


def test_registered_and_compact_forms() -> None:
    assert HEADER_TYPES["event"] is Event and HEADER_TYPES["o"] is Event
    assert HEADER_TYPES["allow-events"] is AllowEvents and HEADER_TYPES["u"] is AllowEvents
    assert HEADER_TYPES["subscription-state"] is SubscriptionState
    assert "allow-events" in LIST_HEADERS
    assert not {"event", "subscription-state"} & LIST_HEADERS


def test_read_from_a_message_and_lossless() -> None:
    msg = sipwire.parse(NOTIFY)
    event = msg.headers.first("Event")
    assert isinstance(event, Event)
    assert (event.package, event.id, event.key) == ("refer", "93809824", ("refer", "93809824"))
    allowed = msg.headers.typed("Allow-Events")
    assert [a.package for a in allowed if isinstance(a, AllowEvents)] == [
        "presence", "message-summary", "dialog"]
    state = msg.headers.first("Subscription-State")
    assert isinstance(state, SubscriptionState)
    assert (state.state, state.reason, state.retry_after, state.expires) == (
        "terminated", "noresource", 30, 0)
    assert bytes(msg) == NOTIFY


@pytest.mark.parametrize("text", ["presence", "presence.winfo", "refer;id=1", "dialog;x=\"a;b\"",
                                  "message-summary", "a.b.c;id=x.y"])
def test_event_round_trip(text: str) -> None:
    event = Event.parse(text)
    assert str(event) == text and not event.modified


def test_event_attributes() -> None:
    event = Event.parse("presence.winfo;x=1")
    assert event.templates == ("winfo",)
    assert event.id is None and event.key == ("presence.winfo", None)
    assert str(Event("refer", id="7")) == "refer;id=7"
    # §8.2.1: an Event with an id never matches one without, other params ignored
    assert Event.parse("refer;id=7;x=1").key == Event("refer", id="7").key
    assert Event.parse("refer").key != Event("refer", id="7").key
    # event-types compare byte by byte
    assert Event.parse("Presence").key != Event.parse("presence").key


@pytest.mark.parametrize("text", ["", "pres ence", ".presence", "presence.", "a..b",
                                  "refer;id", "refer;id=\"q\"", "presence;"])
def test_event_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        Event.parse(text)
    assert info.value.rfc == "RFC 6665 §8.2.1"


def test_allow_events_has_no_params() -> None:
    with pytest.raises(ParseError) as info:
        AllowEvents.parse("presence;q=1")
    assert info.value.rfc == "RFC 6665 §8.2.2"


@pytest.mark.parametrize("text", ["active;expires=3600", "pending", "terminated;reason=timeout",
                                  "x-custom;foo=bar", "active ;expires=60"])
def test_subscription_state_round_trip(text: str) -> None:
    state = SubscriptionState.parse(text)
    assert str(state) == text and not state.modified


def test_subscription_state_build() -> None:
    state = SubscriptionState("terminated", reason="rejected", retry_after=10)
    assert str(state) == "terminated;reason=rejected;retry-after=10"
    assert str(SubscriptionState("active", expires=3600)) == "active;expires=3600"
    assert SubscriptionState("pending").reason is None
    assert SubscriptionState("pending").expires is None


@pytest.mark.parametrize("text", ["", "act ive", "active;expires=soon", "terminated;reason",
                                  "terminated;retry-after=-1", "active;expires"])
def test_subscription_state_rejected(text: str) -> None:
    with pytest.raises(ParseError) as info:
        SubscriptionState.parse(text)
    assert info.value.rfc == "RFC 6665 §8.2.3"
