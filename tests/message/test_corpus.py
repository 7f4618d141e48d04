"""Every message of the corpus: RFC 3261 §24 and other complete examples,
the RFC 3665 call flows, extension messages, malformed messages named
after the status code a server should answer them with, and tolerated ones
named after the RFC section their one lint finding cites."""

from __future__ import annotations

from pathlib import Path

import pytest

import sipwire

from .conftest import CORPUS

VALID = sorted((CORPUS / "valid").rglob("*.sip"))
INVALID = sorted((CORPUS / "invalid").glob("*.sip"))
TOLERATED = sorted((CORPUS / "tolerated").glob("*.sip"))


def _id(path: Path) -> str:
    return str(path.relative_to(CORPUS))


def test_corpus_is_there() -> None:
    assert len(VALID) > 200
    assert len(INVALID) > 40
    assert len(TOLERATED) >= 6


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_valid_message_parses_round_trips_and_validates(path: Path) -> None:
    data = path.read_bytes()
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()
    assert sipwire.lint(data) == []
    # the fields every element reads are there and consistent
    assert msg.via and msg.via[0].transport
    assert msg.call_id == msg.headers.get("Call-ID")
    assert msg.cseq.seq >= 0
    if isinstance(msg, sipwire.Request):
        assert msg.cseq.method == msg.method
        assert msg.max_forwards is not None
        assert str(msg.uri).split(":", 1)[0].lower() == msg.uri.scheme
    else:
        assert 100 <= msg.status <= 699
    length = msg.content_length
    assert length is None or length == len(msg.body)


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_valid_message_reparses_equal_after_rewrite(path: Path) -> None:
    """Touching every typed header rewrites it canonically; the result parses
    to the same values (``parse(bytes(m))`` equivalence)."""
    msg = sipwire.parse(path.read_bytes())
    for key in msg.headers.keys():  # noqa: SIM118 (Headers iterates pairs)
        try:
            values = msg.headers.typed(key)
        except KeyError:
            continue
        if values:
            msg.headers.set(key, values)
    again = sipwire.parse(bytes(msg))
    for key in msg.headers.keys():  # noqa: SIM118 (Headers iterates pairs)
        try:
            assert again.headers.typed(key) == msg.headers.typed(key), key
        except KeyError:
            assert again.headers.getall(key) == msg.headers.getall(key)
    assert again.body == msg.body


@pytest.mark.parametrize("path", INVALID, ids=_id)
def test_invalid_message_is_refused_with_its_status(path: Path) -> None:
    data = path.read_bytes()
    expected = int(path.name[:3])
    findings = sipwire.lint(data)
    assert findings, "accepted a malformed message"
    assert findings[0].status_code == expected, findings
    assert findings[0].rfc and "RFC" in findings[0].rfc
    with pytest.raises(sipwire.ParseError) as info:
        sipwire.parse(data).validate()
    assert info.value.status_code == expected


@pytest.mark.parametrize("path", TOLERATED, ids=_id)
def test_tolerated_message_is_accepted_with_one_finding(path: Path) -> None:
    """Liberal in what we accept: parse() and validate() let it through,
    bytes round-trip, and lint() names the one rule broken."""
    data = path.read_bytes()
    number, section = path.name.split("-")[:2]
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()
    (finding,) = sipwire.lint(data)
    assert finding.tolerated
    assert finding.rfc == f"RFC {number} §{section}"
    assert finding.status_code == 400
    assert f"({finding.rfc})" in str(finding)
