"""fields/all.py: every header of RFC 3261 §20 outside via, nameaddr, cseq and
simple has a registered class, and the values in the corpus parse with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sipwire.message.errors import ParseError
from sipwire.message.fields import all as fields_all  # noqa: F401  (fills the registry)
from sipwire.message.fields.base import EMPTY_LISTS, HEADER_TYPES, LIST_HEADERS
from sipwire.message.headers import header_key, split_list

CORPUS = Path(__file__).parent / "corpus" / "valid"

MINE = {
    "accept", "accept-encoding", "accept-language", "alert-info", "allow",
    "authentication-info", "authorization", "call-info", "content-disposition",
    "content-encoding", "content-language", "content-type", "date", "error-info",
    "in-reply-to", "mime-version", "organization", "priority", "proxy-authenticate",
    "proxy-authorization", "proxy-require", "require", "retry-after", "server", "subject",
    "supported", "timestamp", "unsupported", "user-agent", "warning", "www-authenticate",
}
LISTS = {
    "accept", "accept-encoding", "accept-language", "alert-info", "call-info", "error-info",
    "allow", "content-encoding", "content-language", "in-reply-to", "proxy-require",
    "require", "supported", "unsupported", "warning",
}


def test_every_header_registered() -> None:
    assert HEADER_TYPES.keys() >= MINE
    assert {"e", "k", "c", "s"} <= HEADER_TYPES.keys()
    assert {name for name in MINE if name in LIST_HEADERS} == LISTS
    assert EMPTY_LISTS <= LISTS


def _header_values(data: bytes) -> list[tuple[str, str]]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
    unfolded = re.sub(r"\r\n[ \t]+", " ", head)
    out = []
    for line in unfolded.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.append((header_key(name.strip(" \t")), value.strip(" \t")))
    return out


# Values of the "valid" corpus that break the grammar, copied as printed in their RFC.
# (RFC 3665 §2.1 F3 prints no comma between realm="..." and nonce="..."; the corpus
# copy has it added, see corpus/README.md.)
KNOWN_BAD: dict[str, str] = {}


def _case(path: Path, key: str, value: str) -> object:
    case_id = f"{path.parent.name}/{path.name}:{key}"
    marks = []
    if case_id in KNOWN_BAD:
        marks.append(pytest.mark.xfail(raises=ParseError, strict=True,
                                       reason=KNOWN_BAD[case_id]))
    return pytest.param(key, value, id=case_id, marks=marks)


CASES = [
    _case(path, key, value)
    for path in sorted(CORPUS.rglob("*.sip"))
    for key, value in _header_values(path.read_bytes())
    if key in MINE
]


def test_corpus_has_cases() -> None:
    assert len(CASES) > 100


@pytest.mark.parametrize(("key", "value"), CASES)
def test_corpus_values_parse_and_round_trip(key: str, value: str) -> None:
    cls = HEADER_TYPES[key]
    if key in LIST_HEADERS:
        if not value:
            assert key in EMPTY_LISTS
            return
        elements = split_list(value)
    else:
        elements = [value]
    for element in elements:
        parsed = cls.parse(element)
        assert str(parsed) == element
        assert not parsed.modified
        assert cls.parse(parsed.render()) == parsed
