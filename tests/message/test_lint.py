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
        ((b"Content-Length: 0\r\n\r\n", b"Content-Length: 3\r\n\r\nabc"), "Content-Type",
         "§20.15"),
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
