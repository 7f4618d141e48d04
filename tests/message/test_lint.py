"""validate() and lint(): every header against its grammar and the rules
between headers, each finding with its RFC section and status code."""

from __future__ import annotations

import pytest

import sipwire

from .conftest import sip

REGISTER = sip("""REGISTER sip:registrar.biloxi.com SIP/2.0
Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Bob <sip:bob@biloxi.com>;tag=456248
Call-ID: 843817637684230@998sdasdh09
CSeq: 1826 REGISTER
Contact: <sip:bob@192.0.2.4>
Expires: 7200
Content-Length: 0

""")


def test_clean_message_has_no_findings() -> None:
    assert sipwire.lint(REGISTER) == []
    sipwire.parse(REGISTER).validate()


@pytest.mark.parametrize(
    ("change", "header", "rfc"),
    [
        ((b"Expires: 7200", b"Expires: soon"), "Expires", "§20.19"),
        ((b"Contact: <sip:bob@192.0.2.4>", b"Contact: <sip:bob@192.0.2.4>;q=2"), "Contact",
         "§20.10"),
        ((b"Contact: <sip:bob@192.0.2.4>", b"Contact: *"), "Contact", "§10.2.2"),
        ((b"Contact: <sip:bob@192.0.2.4>", b"Contact: *, <sip:a@b.com>"), "Contact", "§10.2.2"),
        ((b"Contact: <sip:bob@192.0.2.4>", b'Contact: "Bob <sip:bob@192.0.2.4>'), "Contact",
         "§20.10"),
        ((b"Expires: 7200", b"Date: Sat, 13 Nov 2010 23:29:00 PST"), "Date", None),
        ((b"Expires: 7200", b"Expires: 1\r\nExpires: 2"), "Expires", "§7.3.1"),
        ((b";branch=z9hG4bKnashds7", b";branch=z9hG4bKnashds7;ttl=300"), "Via", "§20.42"),
        ((b";branch=z9hG4bKnashds7", b";branch=z9hG4bKnashds7;received=host.com"), "Via",
         "§20.42"),
        ((b"Expires: 7200", b"Require: "), "Require", None),
    ],
)
def test_findings(change: tuple[bytes, bytes], header: str, rfc: str | None) -> None:
    data = REGISTER.replace(*change)
    assert data != REGISTER
    findings = sipwire.lint(data)
    assert findings, "no finding"
    assert findings[0].header == header
    assert findings[0].status_code == 400
    assert findings[0].rfc and findings[0].rfc.startswith("RFC")
    if rfc:
        assert rfc in findings[0].rfc
    with pytest.raises(sipwire.ParseError):
        sipwire.parse(data).validate()


@pytest.mark.parametrize(
    ("change", "header", "rfc"),
    [
        ((b"Max-Forwards: 70\r\n", b""), "Max-Forwards", "RFC 3261 §8.1.1.6"),
        ((b";branch=z9hG4bKnashds7", b""), "Via", "RFC 3261 §8.1.1.7"),
        ((b"Content-Length: 0\r\n\r\n", b"Content-Length: 3\r\n\r\nabc"), "Content-Type",
         "RFC 3261 §20.15"),
        ((b"REGISTER sip:registrar.biloxi.com", b"REGISTER sip:[2001:db8:::192.0.2.1]"), None,
         "RFC 5954 §4.1"),
        ((b"bobspc.biloxi.com:5060", b"[2001:db8:::192.0.2.4]:5060"), "Via", "RFC 5954 §4.1"),
        ((b";branch=z9hG4bKnashds7", b";branch=z9hG4bKnashds7;received=2001:db8:::192.0.2.4"),
         "Via", "RFC 5954 §4.1"),
        ((b";branch=z9hG4bKnashds7", b";branch=z9hG4bKnashds7;maddr=[ff02:::192.0.2.4]"),
         "Via", "RFC 5954 §4.1"),
        ((b"<sip:bob@192.0.2.4>", b"<sip:bob@[2001:db8:::192.0.2.4]>"), "Contact",
         "RFC 5954 §4.1"),
        ((b"<sip:bob@192.0.2.4>", b"<sip:bob@host;maddr=[2001:db8:::192.0.2.4]>"), "Contact",
         "RFC 5954 §4.1"),
        ((b"Expires: 7200", b"Warning: 399 [2001:db8:::192.0.2.9]:5060 \"odd\""), "Warning",
         "RFC 5954 §4.1"),
    ],
)
def test_tolerated_deviation_validates_and_is_the_one_finding(
        change: tuple[bytes, bytes], header: str | None, rfc: str) -> None:
    """Liberal in what we accept: parse() and validate() let it through, the
    bytes round-trip, and lint() reports it, marked tolerated."""
    data = REGISTER.replace(*change)
    assert data != REGISTER
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()
    (finding,) = sipwire.lint(data)
    assert (finding.header, finding.rfc, finding.tolerated) == (header, rfc, True)
    assert str(finding).endswith(f"({rfc}) [tolerated]")
    assert msg.lint() == [finding]


def test_tolerated_findings_are_listed_with_errors_and_validate_raises_the_error() -> None:
    data = REGISTER.replace(b"Max-Forwards: 70\r\n", b"").replace(b"Expires: 7200",
                                                                   b"Expires: soon")
    findings = sipwire.lint(data)
    assert [(f.header, f.tolerated) for f in findings] == [("Expires", False),
                                                           ("Max-Forwards", True)]
    with pytest.raises(sipwire.ParseError) as info:
        sipwire.parse(data).validate()
    assert info.value.header == "Expires"


def test_every_tolerated_deviation_at_once() -> None:
    data = (REGISTER.replace(b"Max-Forwards: 70\r\n", b"")
            .replace(b";branch=z9hG4bKnashds7", b"")
            .replace(b"sip:registrar.biloxi.com", b"sip:[2001:db8:::192.0.2.1]")
            .replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 3\r\n\r\nabc"))
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()
    assert [(f.header, f.rfc) for f in sipwire.lint(data)] == [
        ("Content-Type", "RFC 3261 §20.15"), ("Max-Forwards", "RFC 3261 §8.1.1.6"),
        ("Via", "RFC 3261 §8.1.1.7"), (None, "RFC 5954 §4.1")]


def test_branch_and_max_forwards_are_not_asked_of_a_response() -> None:
    request = sipwire.parse(REGISTER.replace(b"Max-Forwards: 70\r\n", b"")
                            .replace(b";branch=z9hG4bKnashds7", b""))
    assert isinstance(request, sipwire.Request)
    response = sipwire.parse(bytes(request.reply(200)))
    assert response.via[0].branch is None and response.max_forwards is None
    assert sipwire.lint(response) == []


def test_lint_lists_every_problem() -> None:
    data = REGISTER.replace(b"Expires: 7200", b"Expires: soon\r\nMIME-Version: one")
    findings = sipwire.lint(data)
    assert {f.header for f in findings} == {"Expires", "MIME-Version"}
    assert all(str(f).startswith("400 ") for f in findings)


def test_lint_of_unparsable_bytes_gives_the_parse_error() -> None:
    (finding,) = sipwire.lint(REGISTER.replace(b"SIP/2.0\r\nVia", b"SIP/2.1\r\nVia"))
    assert finding.status_code == 505


def test_refusals_that_belong_to_the_ua_still_validate() -> None:
    """416, 420 and 415 are the UAS's answers, not syntax errors (§8.2.2, §8.2.3)."""
    odd = REGISTER.replace(b"REGISTER sip:registrar", b"REGISTER im:registrar")
    odd = odd.replace(b"Expires: 7200", b"Require: no-such-extension\r\n"
                                        b"Content-Type: application/x-unknown")
    sipwire.parse(odd).validate()


def test_a_nul_set_in_code_is_a_finding_and_parse_refuses_it_from_the_wire() -> None:
    msg = sipwire.parse(REGISTER)
    msg.headers.add("X-Note", "a\x00b")
    [finding] = sipwire.lint(msg)
    assert (finding.header, finding.status_code) == ("X-Note", 400)
    assert finding.rfc == "RFC 3261 §25.1 quoted-pair"
    with pytest.raises(sipwire.ParseError, match="NUL byte outside a quoted-pair"):
        msg.validate()
    [finding] = sipwire.lint(bytes(msg))
    assert finding.header == "X-Note" and "NUL" in finding.message


def test_an_escaped_nul_in_a_display_name_is_clean() -> None:
    """RFC 4475 §3.1.1.3 (``intmeth``) escapes a NUL in the To display name."""
    data = REGISTER.replace(b"To: Bob", b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"')
    assert sipwire.lint(data) == []


INVITE = sip("""INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Length: 0

""")


def _rules(data: bytes) -> list[tuple[str | None, str | None]]:
    return [(f.header, f.rfc) for f in sipwire.lint(data)]


def test_every_missing_mandatory_header_is_listed_not_only_the_first() -> None:
    data = INVITE.replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", b"") \
                 .replace(b"CSeq: 314159 INVITE\r\n", b"")
    data = data.replace(b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n", b"")
    findings = sipwire.lint(data)
    assert [(f.header, f.message) for f in findings[:3]] == [
        ("Via", "missing mandatory header"), ("Call-ID", "missing mandatory header"),
        ("CSeq", "missing mandatory header")]
    assert all(f.rfc == "RFC 3261 §8.1.1" and not f.tolerated for f in findings[:3])


def test_a_malformed_and_a_missing_mandatory_header_are_both_listed() -> None:
    data = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: many INVITE") \
                 .replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", b"")
    assert {f.header for f in sipwire.lint(data)} >= {"CSeq", "Call-ID"}


def test_invite_without_from_tag_and_contact_gets_both_findings() -> None:
    data = INVITE.replace(b";tag=1928301774", b"") \
                 .replace(b"Contact: <sip:alice@pc33.atlanta.com>\r\n", b"")
    assert _rules(data) == [("From", "RFC 3261 §8.1.1.3"), ("Contact", "RFC 3261 §8.1.1.8")]
    assert all(f.tolerated for f in sipwire.lint(data))
    sipwire.parse(data).validate()  # tolerated: elements still take it


@pytest.mark.parametrize("method", [b"SUBSCRIBE", b"REFER"])
def test_other_dialog_creating_requests_need_a_contact(method: bytes) -> None:
    data = INVITE.replace(b"INVITE", method) \
                 .replace(b"Contact: <sip:alice@pc33.atlanta.com>\r\n", b"")
    assert _rules(data) == [("Contact", "RFC 3261 §8.1.1.8")]


def test_in_dialog_request_and_options_need_no_contact() -> None:
    no_contact = INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>\r\n", b"")
    assert sipwire.lint(no_contact.replace(b"INVITE", b"OPTIONS")) == []
    assert sipwire.lint(no_contact.replace(b"To: Bob <sip:bob@biloxi.com>",
                                           b"To: Bob <sip:bob@biloxi.com>;tag=a6c85cf")) == []


def test_dialog_contact_must_be_a_sip_uri() -> None:
    data = INVITE.replace(b"<sip:alice@pc33.atlanta.com>", b"<tel:+15551234>")
    assert _rules(data) == [("Contact", "RFC 3261 §8.1.1.8")]


def _response(status: bytes, *, to_tag: bool, contact: bool) -> bytes:
    request = sipwire.parse(INVITE)
    assert isinstance(request, sipwire.Request)
    data = bytes(request.reply(int(status), to_tag="a6c85cf"))
    if not to_tag:
        data = data.replace(b";tag=a6c85cf", b"")
    if contact:
        data = data.replace(b"Content-Length", b"Contact: <sip:bob@192.0.2.4>\r\nContent-Length")
    return data


def test_responses_need_a_to_tag_except_100() -> None:
    assert sipwire.lint(_response(b"100", to_tag=False, contact=False)) == []
    assert _rules(_response(b"486", to_tag=False, contact=False)) == [("To", "RFC 3261 §8.2.6.2")]
    assert sipwire.lint(_response(b"486", to_tag=True, contact=False)) == []


def test_responses_that_establish_a_dialog_need_a_contact() -> None:
    assert _rules(_response(b"200", to_tag=True, contact=False)) == [
        ("Contact", "RFC 3261 §12.1.1")]
    assert _rules(_response(b"180", to_tag=True, contact=False)) == [
        ("Contact", "RFC 3261 §12.1.1")]
    assert sipwire.lint(_response(b"200", to_tag=True, contact=True)) == []
    assert sipwire.lint(_response(b"180", to_tag=True, contact=True)) == []
