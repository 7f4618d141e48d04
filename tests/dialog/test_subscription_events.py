"""The event package registry (RFC 6665 §5) and message-summary bodies (RFC 3842)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire import Request
from sipwire.dialog.events import (
    MESSAGE_SUMMARY,
    REFER,
    EventPackage,
    EventPackages,
    MessageCounts,
    MessageSummary,
)
from sipwire.message.errors import ParseError

# RFC 3842 §3.5's example body
EXAMPLE = (b"Messages-Waiting: yes\r\n"
           b"Message-Account: sip:alice@vmail.example.com\r\n"
           b"Voice-Message: 4/8 (1/2)\r\n"
           b"\r\n")


def subscribe(*headers: tuple[str, str]) -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        "SUBSCRIBE", "sip:alice@example.com", from_="<sip:bob@example.com>",
        headers=list(headers))))
    assert isinstance(parsed, Request)
    return parsed


def test_parse_the_rfc_example() -> None:
    summary = MessageSummary.parse(EXAMPLE)
    assert summary.waiting is True
    assert summary.account == "sip:alice@vmail.example.com"
    assert summary.count("voice-message") == MessageCounts(4, 8, 1, 2)
    assert summary.count("fax-message") is None


def test_render_and_round_trip() -> None:
    summary = MessageSummary(False, None, (("voice-message", MessageCounts(0, 3)),
                                           ("fax-message", MessageCounts(1, 0, 1, 0))),
                             (("Message-Id", "x"),))
    body = bytes(summary)
    assert body == (b"Messages-Waiting: no\r\nvoice-message: 0/3\r\nfax-message: 1/0 (1/0)\r\n"
                    b"\r\nMessage-Id: x\r\n")
    assert MessageSummary.parse(body) == summary
    assert bytes(MessageSummary(True)) == b"Messages-Waiting: yes\r\n"


def test_parse_is_case_insensitive() -> None:
    summary = MessageSummary.parse(b"messages-waiting: YES\nVOICE-MESSAGE: 1 / 2\n")
    assert summary.waiting and summary.count("Voice-Message") == MessageCounts(1, 2)


@pytest.mark.parametrize("body", [b"", b"Voice-Message: 1/2\r\n", b"Messages-Waiting: maybe\r\n",
                                  b"Messages-Waiting: yes\r\nVoice-Message: 1\r\n",
                                  b"Messages-Waiting: yes\r\nnot a line\r\n",
                                  b"Messages-Waiting: yes\r\nVoice-Message: 4294967296/0\r\n",
                                  b"Messages-Waiting: yes\r\n\r\n: x\r\n"])
def test_bad_bodies(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        MessageSummary.parse(body)
    assert info.value.rfc == "RFC 3842 §5.2"


def test_builtin_packages() -> None:
    packages = EventPackages.default()
    assert [p.name for p in packages] == ["message-summary", "refer"]
    assert packages.get("message-summary") is MESSAGE_SUMMARY
    assert MESSAGE_SUMMARY.default_expires == 3600
    assert MESSAGE_SUMMARY.content_type == "application/simple-message-summary"
    assert MESSAGE_SUMMARY.build_body(MessageSummary(True)) == b"Messages-Waiting: yes\r\n"
    assert REFER.content_type == "message/sipfrag;version=2.0"
    assert REFER.build_body(200) == b"SIP/2.0 200 OK\r\n"
    assert REFER.build_body(b"raw") == b"raw"
    with pytest.raises(TypeError):
        MESSAGE_SUMMARY.build_body("text")
    with pytest.raises(TypeError):
        REFER.build_body("text")
    assert "refer" in packages and "presence" not in packages


def test_a_plugged_in_package() -> None:
    presence = EventPackage("presence", ("application/pidf+xml",), 3600,
                            lambda state: str(state).encode())
    packages = EventPackages.default()
    packages.register(presence)
    assert packages.allow_events() == "message-summary, refer, presence"
    assert packages.check_subscribe(subscribe(("Event", "presence"))) is presence
    assert presence.build_body("open") == b"open"
    with pytest.raises(TypeError):
        EventPackage("bare", ("text/plain",), 60).build_body("state")
    with pytest.raises(ValueError, match="body type"):
        EventPackage("none", (), 60)


def test_check_subscribe() -> None:
    packages = EventPackages.default()
    assert packages.check_subscribe(subscribe(("Event", "message-summary"))) is MESSAGE_SUMMARY
    for headers in ([("Event", "presence")], [], [("Event", "bad event")]):
        refused = packages.check_subscribe(subscribe(*headers))
        assert isinstance(refused, sipwire.Response) and refused.status == 489
        assert refused.headers.getall("Allow-Events") == ["message-summary", "refer"]
    # Accept: one of ours, a wildcard, or none of ours (406)
    ok = [("Event", "message-summary"), ("Accept", "application/simple-message-summary")]
    assert packages.check_subscribe(subscribe(*ok)) is MESSAGE_SUMMARY
    for accept in ("application/*", "*/*", "text/plain, application/simple-message-summary"):
        found = packages.check_subscribe(subscribe(("Event", "message-summary"),
                                                   ("Accept", accept)))
        assert found is MESSAGE_SUMMARY, accept
    refused = packages.check_subscribe(subscribe(("Event", "message-summary"),
                                                 ("Accept", "text/plain")))
    assert isinstance(refused, sipwire.Response) and refused.status == 406
    assert refused.headers.get("Accept") == "application/simple-message-summary"
