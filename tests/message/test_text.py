"""Subject, Organization, MIME-Version, Priority, Server, User-Agent, Timestamp,
Retry-After and Warning (RFC 3261 §20)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS, Field
from sipwire.message.fields.text import (
    Comment,
    MIMEVersion,
    Organization,
    Priority,
    Product,
    RetryAfter,
    Server,
    Subject,
    Text,
    Timestamp,
    UserAgent,
    WarningValue,
)

GRAMMAR_CHARS = "aZ09./;=()\\\" \t,:[]@-é\x00\x7f"


@pytest.mark.parametrize(("name", "cls"), [
    ("subject", Subject), ("s", Subject), ("organization", Organization),
    ("mime-version", MIMEVersion), ("priority", Priority), ("server", Server),
    ("user-agent", UserAgent), ("timestamp", Timestamp), ("retry-after", RetryAfter),
    ("warning", WarningValue),
])
def test_registered(name: str, cls: type[Field]) -> None:
    assert HEADER_TYPES[name] is cls
    assert (name in LIST_HEADERS) is (name == "warning")


# -- Subject, Organization -----------------------------------------------------

@pytest.mark.parametrize(("cls", "text"), [
    # RFC 3261 §20.36: Subject: Need more boxes / s: Tech Support
    (Subject, "Need more boxes"), (Subject, "Tech Support"),
    # RFC 3261 §20.25: Organization: Boxes by Bob
    (Organization, "Boxes by Bob"),
    (Subject, ""), (Subject, "   "), (Subject, "Déjeuner à 13h ? Ça marche — 午餐"),
    (Subject, "I know you're there, pick up the phone\tand talk to me!"),
    (Organization, " Wonderland Tea Parties, Ltd. "),
])
def test_text_round_trip(cls: type[Text], text: str) -> None:
    value = cls.parse(text)
    assert str(value) == text.strip(" \t")
    assert value.value == text.strip(" \t")


@pytest.mark.parametrize("text", ["a\x00b", "bell\x07", "a\rb", "a\nb", "del\x7f", "\x1b[0m"])
def test_text_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Subject.parse(text)


def test_text_modify_and_build() -> None:
    value = Subject.parse("  Need more boxes")
    value.value = "Fewer boxes"
    assert str(value) == "Fewer boxes"
    assert str(Organization("Boxes by Bob")) == "Boxes by Bob"
    assert Subject("x") == Subject.parse(" x ")
    assert Subject("x") != Organization("x")


# -- MIME-Version, Priority ----------------------------------------------------

@pytest.mark.parametrize("text", ["1.0", "10.25", " 1.0 "])
def test_mime_version(text: str) -> None:
    value = MIMEVersion.parse(text)
    assert str(value) == text.strip(" \t")
    assert value.version == text.strip()


@pytest.mark.parametrize("text", ["", "1", "1.", ".0", "1.0.0", "v1.0", "1 .0", "١.٠"])
def test_mime_version_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        MIMEVersion.parse(text)


@pytest.mark.parametrize("text", ["emergency", "urgent", "normal", "non-urgent", "x-critical"])
def test_priority(text: str) -> None:
    value = Priority.parse(text)
    assert str(value) == text.strip(" \t")
    assert value.value == text


@pytest.mark.parametrize("text", ["", "very urgent", "urgent;x", '"urgent"', "urgent,normal"])
def test_priority_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Priority.parse(text)


def test_mime_version_priority_build() -> None:
    assert str(MIMEVersion()) == "1.0"
    value = Priority.parse("normal")
    value.value = "emergency"
    assert str(value) == "emergency"


# -- Server, User-Agent --------------------------------------------------------

@pytest.mark.parametrize(("text", "products"), [
    # RFC 3261 §20.35 Server: HomeServer v2; §20.41 User-Agent: Softphone Beta1.5
    ("HomeServer v2", [Product("HomeServer"), Product("v2")]),
    ("Softphone Beta1.5", [Product("Softphone"), Product("Beta1.5")]),
    ("Softphone/1.5 (Linux; x86_64) libsip/0.9",
     [Product("Softphone", "1.5"), Comment("Linux; x86_64"), Product("libsip", "0.9")]),
    ("HomeServer/2.0 (Build 1234)", [Product("HomeServer", "2.0"), Comment("Build 1234")]),
    ("(just a comment)", [Comment("just a comment")]),
    ("a (b (nested (deep)) \\) \\( c) d", [Product("a"), Comment("b (nested (deep)) \\) \\( c"),
                                           Product("d")]),
    ("foo(bar)baz", [Product("foo"), Comment("bar"), Product("baz")]),
    ("foo / 1.0\t\tbar", [Product("foo", "1.0"), Product("bar")]),
    ("x (ünïcödé)", [Product("x"), Comment("ünïcödé")]),
    ("()", [Comment("")]),
])
def test_server_round_trip(text: str, products: list[Product | Comment]) -> None:
    for cls in (Server, UserAgent):
        value = cls.parse(text)
        assert str(value) == text.strip(" \t")
        assert value.products == products


@pytest.mark.parametrize("text", [
    "", "(", ")", "a)", "(a", "(a))", "((a)", "a/", "/a", "a//b", "a/b/c", "a/(b)", "a, b",
    "a;b", '"a"', "a (\x00)", "a (b\\", "a (b\\é)", "a=b",
])
def test_server_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Server.parse(text)


def test_server_modify_and_build() -> None:
    value = UserAgent.parse("Softphone  Beta1.5")
    value.products.append(Comment("test build"))
    assert str(value) == "Softphone Beta1.5 (test build)"
    built = Server([Product("sipwire", "0.1"), Comment("Linux")])
    assert str(built) == "sipwire/0.1 (Linux)"
    assert built == Server.parse("sipwire / 0.1(Linux)")
    assert str(Product("a", "1")) == "a/1"
    assert str(Comment("x")) == "(x)"


def test_deep_comment_does_not_recurse() -> None:
    text = "a " + "(" * 50_000 + ")" * 50_000
    assert Server.parse(text).products[1] == Comment("(" * 49_999 + ")" * 49_999)


# -- Timestamp -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "value", "delay"), [
    ("54", "54", None),  # RFC 3261 §20.38
    ("54.3", "54.3", None), ("54.3 0.25", "54.3", "0.25"), ("54. .5", "54.", ".5"),
    ("100\t\t7", "100", "7"), (" 1 2 ", "1", "2"), ("1 .", "1", "."),
])
def test_timestamp(text: str, value: str, delay: str | None) -> None:
    parsed = Timestamp.parse(text)
    assert str(parsed) == text.strip(" \t")
    assert parsed.value == value
    assert parsed.delay == delay


@pytest.mark.parametrize("text", ["", ".5", "a", "1,5", "1 2 3", "1 a", "-1", "1.2.3", "1e5"])
def test_timestamp_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Timestamp.parse(text)


def test_timestamp_build() -> None:
    assert str(Timestamp(54)) == "54"
    assert str(Timestamp("54.3", 0.25)) == "54.3 0.25"
    assert str(Timestamp(1e-05, Decimal("1.50"))) == "0.00001 1.50"
    assert Timestamp.parse("54.3").seconds == Decimal("54.3")
    for bad in (-1, float("nan"), float("inf"), ".5", "x", True):
        with pytest.raises(ValueError):
            Timestamp(bad)
    value = Timestamp.parse("54")
    value.delay = "0.1"  # the UAS adds how long it held the request (§8.2.6.1)
    assert str(value) == "54 0.1"


# -- Retry-After ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds", "comment", "duration"), [
    # RFC 3261 §20.33
    ("18000;duration=3600", 18000, None, 3600),
    ("120 (I'm in a meeting)", 120, "I'm in a meeting", None),
    ("0", 0, None, None),
    ("300 (busy (really)) ; duration = 60 ;foo=bar;flag", 300, "busy (really)", 60),
    ("5(x)", 5, "x", None), ("4294967295", 2**32 - 1, None, None),
    ("0000000000042", 42, None, None),
])
def test_retry_after(text: str, seconds: int, comment: str | None, duration: int | None) -> None:
    value = RetryAfter.parse(text)
    assert str(value) == text.strip(" \t")
    assert value.seconds == seconds
    assert value.comment == comment
    assert value.duration == duration


@pytest.mark.parametrize("text", [
    "", "-1", "abc", "1.5", "120 x", "120 (unterminated", "120 (a))", "120;duration",
    "120;duration=abc", '120;duration="5"', "4294967296", "9" * 5000, "120;duration=" + "9" * 5000,
    "120 (a) (b)", "120 (a) x", "120;", "120,5",
])
def test_retry_after_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        RetryAfter.parse(text)


def test_retry_after_modify_and_build() -> None:
    value = RetryAfter.parse("120 (I'm in a meeting)")
    value.duration = 3600
    assert str(value) == "120 (I'm in a meeting);duration=3600"
    value.comment = None
    value.duration = None
    assert str(value) == "120"
    assert str(RetryAfter(18000, duration=3600)) == "18000;duration=3600"
    assert RetryAfter(18000, duration=3600) == RetryAfter.parse("18000 ;duration=3600")


# -- Warning -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "code", "agent", "warn_text"), [
    # RFC 3261 §20.43
    ('307 isi.edu "Session parameter \'foo\' not understood"', 307, "isi.edu",
     "Session parameter 'foo' not understood"),
    ('301 isi.edu "Incompatible network address type \'E.164\'"', 301, "isi.edu",
     "Incompatible network address type 'E.164'"),
    ('370 devnull "Choose a bigger pipe"', 370, "devnull", "Choose a bigger pipe"),
    ('399 192.0.2.1:5060 ""', 399, "192.0.2.1:5060", ""),
    ('399 [2001:db8::1]:5060 "v6, with a comma"', 399, "[2001:db8::1]:5060", "v6, with a comma"),
    ('399 [2001:db8::1] "x"', 399, "[2001:db8::1]", "x"),
    ('399  gw1.example.com\t"a \\"quoted\\" \\\\ word"', 399, "gw1.example.com",
     'a "quoted" \\ word'),
    ('399 gw "Déjà vu"', 399, "gw", "Déjà vu"),
])
def test_warning(text: str, code: int, agent: str, warn_text: str) -> None:
    value = WarningValue.parse(text)
    assert str(value) == text.strip(" \t")
    assert (value.code, value.agent, value.text) == (code, agent, warn_text)


@pytest.mark.parametrize("text", [
    "", "307", "307 isi.edu", '307 "text"', '30 isi.edu "x"', '3070 isi.edu "x"',
    'abc isi.edu "x"', "307 isi.edu text", '307 isi.edu "x', '307 isi.edu "x" y',
    '307 [::1 "x"', '307 [zz::1]:5060 "x"', '307 host:99999 "x"', '307 a:b:c "x"',
    '307 1.2.3.4:x "x"', '307 999.1.1.1:5060 "x"', '307 isi.edu "a\rb"',
])
def test_warning_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        WarningValue.parse(text)


def test_warning_modify_and_build() -> None:
    value = WarningValue.parse('307  isi.edu  "Session parameter \'foo\' not understood"')
    value.text = 'say "hi"'
    assert str(value) == '307 isi.edu "say \\"hi\\""'
    built = WarningValue(399, "gw1.example.com", "No route to number")
    assert str(built) == '399 gw1.example.com "No route to number"'
    assert built == WarningValue.parse('399 gw1.example.com "No route to number"')


# -- the Field contract ----------------------------------------------------------

@pytest.mark.parametrize("cls", [
    Subject, Organization, MIMEVersion, Priority, Server, UserAgent, Timestamp, RetryAfter,
    WarningValue,
])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[Field], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value


@pytest.mark.parametrize("text", ["ExamplePhone/4.2.1 (Linux)", "sipwire/0.1 libfoo/2", "(c)"])
def test_server_values_seen_before_parse_the_same(text: str) -> None:
    first = UserAgent.parse(text)
    again = UserAgent.parse(" " + text)
    server = Server.parse(text)
    assert first.products == again.products == server.products
    assert first.products is not again.products
    assert again._raw == " " + text
    # each parsed value owns its list
    first.products.append(Product("extra"))
    assert UserAgent.parse(text).products == again.products
    assert str(UserAgent.parse(text)) == text


def test_server_values_remembered_are_bounded() -> None:
    from sipwire.message.fields import text as text_module
    for i in range(1000):
        assert Server.parse(f"p{i}/1 (c{i})").products == [Product(f"p{i}", "1"),
                                                            Comment(f"c{i}")]
    assert 0 < len(text_module._PRODUCTS) <= 256
    long = "p/1 " * 100
    assert len(Server.parse(long).products) == 100
    assert long.strip() not in text_module._PRODUCTS
    for bad in ("", "a/", "(unclosed", "p/1 (x"):
        with pytest.raises(ParseError):
            Server.parse(bad)
