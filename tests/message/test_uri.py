"""URIs: RFC 3261 §19.1 syntax, escaping, and the §19.1.4 comparison rules
(the examples of §19.1.4 are used verbatim)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire import URI, ParseError, Request, parse
from sipwire.message.fields.nameaddr import Contact
from sipwire.message.uri import escape, unescape


@pytest.mark.parametrize(
    ("text", "user", "password", "host", "port", "params", "headers"),
    [
        ("sip:alice@atlanta.com", "alice", None, "atlanta.com", None, {}, {}),
        ("sip:alice:secretword@atlanta.com;transport=tcp", "alice", "secretword",
         "atlanta.com", None, {"transport": "tcp"}, {}),
        ("sips:alice@atlanta.com?subject=project%20x&priority=urgent", "alice", None,
         "atlanta.com", None, {}, {"subject": "project%20x", "priority": "urgent"}),
        ("sip:+1-212-555-1212:1234@gateway.com;user=phone", "+1-212-555-1212", "1234",
         "gateway.com", None, {"user": "phone"}, {}),
        ("sips:1212@gateway.com", "1212", None, "gateway.com", None, {}, {}),
        ("sip:alice@192.0.2.4", "alice", None, "192.0.2.4", None, {}, {}),
        ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", None, None,
         "atlanta.com", None, {"method": "REGISTER"}, {"to": "alice%40atlanta.com"}),
        ("sip:alice;day=tuesday@atlanta.com", "alice;day=tuesday", None, "atlanta.com",
         None, {}, {}),
        ("sip:[2001:db8::10]:5070;lr", None, None, "[2001:db8::10]", 5070, {"lr": None}, {}),
        ("SIP:Bob@Biloxi.COM:5061;maddr=239.255.255.1;ttl=15", "Bob", None, "Biloxi.COM", 5061,
         {"maddr": "239.255.255.1", "ttl": "15"}, {}),
    ],
)
def test_rfc3261_19_1_3_examples(text: str, user: str | None, password: str | None, host: str,
                                 port: int | None, params: dict[str, str | None],
                                 headers: dict[str, str]) -> None:
    uri = URI.parse(text)
    assert (uri.user, uri.password, uri.host, uri.port) == (user, password, host, port)
    assert uri.params == params and uri.headers == headers
    assert str(uri) == text


@pytest.mark.parametrize(("a", "b"), [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
])
def test_rfc3261_19_1_4_equivalent(a: str, b: str) -> None:
    assert URI.parse(a) == URI.parse(b)
    assert hash(URI.parse(a)) == hash(URI.parse(b))


@pytest.mark.parametrize(("a", "b"), [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;newparam=6"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
])
def test_rfc3261_19_1_4_not_equivalent(a: str, b: str) -> None:
    assert URI.parse(a) != URI.parse(b)


@pytest.mark.parametrize("text", [
    "sip:", "sip:@a.com", "sip:a@", "sip:a b@c.com", "sip:a@b.com:65536", "sip:a@b.com:x",
    "sip:a@[2001:db8::1", "sip:a@[zz::1]", "sip:a@300.1.1.1", "sip:a@-a.com", "sip:a@a..com",
    "sip:%g1@a.com", "sip:a@b.com;=x", "sip:a@b.com?h", "nocolon", "1sip:a@b", "tel:abc",
])
def test_malformed_uris_refused(text: str) -> None:
    with pytest.raises(ParseError) as info:
        URI.parse(text)
    assert info.value.status_code == 400


def test_tel_and_absolute_uris() -> None:
    tel = URI.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert tel.scheme == "tel" and tel.user == "+1-201-555-0123"
    assert tel.params == {"phone-context": "example.com"}
    assert tel == URI.parse("tel:+12015550123;phone-context=example.com")
    mail = URI.parse("mailto:watson@bell-telephone.com")
    assert mail.scheme == "mailto" and mail.opaque == "watson@bell-telephone.com"
    assert not mail.is_sip
    assert str(URI.parse("http://www.example.com/alice/photo.jpg")) == \
        "http://www.example.com/alice/photo.jpg"


def test_escaping_round_trip() -> None:
    assert escape("a b@c") == "a%20b%40c"
    assert unescape("a%20b%40c") == "a b@c"
    assert unescape("caf%C3%A9") == "café"


def test_modifying_a_component_gives_canonical_text() -> None:
    uri = URI.parse("sip:Alice@Atlanta.com;Transport=TCP")
    assert str(uri) == "sip:Alice@Atlanta.com;Transport=TCP"
    uri.params["maddr"] = "192.0.2.1"
    assert str(uri) == "sip:Alice@Atlanta.com;transport=TCP;maddr=192.0.2.1"
    uri = URI.parse("sip:a@b.com")
    uri.port = 5070
    assert str(uri) == "sip:a@b.com:5070"
    assert str(URI("sips", "bob", "biloxi.com", params={"lr": None})) == "sips:bob@biloxi.com;lr"


def test_accessors() -> None:
    uri = URI.parse("sip:bob@Biloxi.com:5070;transport=TCP;lr;maddr=10.0.0.1")
    assert uri.transport == "tcp" and uri.lr and uri.maddr == "10.0.0.1"
    assert uri.aor == "sip:bob@biloxi.com"
    assert uri.copy(port=None, params={}).aor == uri.aor
    assert str(uri.copy(port=None, params={})) == "sip:bob@Biloxi.com"


# -- URIs built from the parser's fast patterns (URI.from_parts) ---------------------------

_FAST_EXAMPLES = [
    "sip:alice@atlanta.com",
    "sip:alice:secretword@atlanta.com;transport=tcp",
    "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
    "sip:+1-212-555-1212:1234@gateway.com;user=phone",
    "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
    "sip:alice;day=tuesday@atlanta.com",
    "sip:[2001:db8::10]:5070;lr",
    "SIP:Bob@Biloxi.COM:5061;maddr=239.255.255.1;ttl=15",
    "SiPs:carol:@chicago.com",
    "sip:bench.test",
    "sip:u1@127.0.0.1:17062",
]


def _components(uri: URI) -> tuple[object, ...]:
    return (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params, uri.headers,
            uri.opaque, str(uri), uri.aor)


@pytest.mark.parametrize("text", _FAST_EXAMPLES)
def test_a_uri_from_a_name_addr_is_the_uri_parsed_alone(text: str) -> None:
    contact = Contact.parse(f"<{text}>;expires=60")
    assert contact._uri_parts is not None  # the fast pattern matched
    assert _components(contact.uri) == _components(URI.parse(text))
    assert contact.uri == URI.parse(text)


@pytest.mark.parametrize("text", [t for t in _FAST_EXAMPLES if "?" not in t])
def test_a_request_uri_from_the_request_line_is_the_uri_parsed_alone(text: str) -> None:
    request = parse(f"OPTIONS {text} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                    "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
                    "Max-Forwards: 70\r\n\r\n".encode())
    assert isinstance(request, Request) and request._uri_parts is not None
    assert _components(request.uri) == _components(URI.parse(text))


_user = st.text(alphabet=string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/",
                min_size=1, max_size=10)
_host = st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,6}[a-z0-9](\.[a-z]{2,5}){0,2}", fullmatch=True),
                  st.from_regex(r"(25[0-5]|1?[0-9]?[0-9])(\.(25[0-5]|1?[0-9]?[0-9])){3}",
                                fullmatch=True))


@given(st.sampled_from(["sip", "sips", "SIP"]), st.one_of(st.none(), _user),
       st.one_of(st.none(), st.text(alphabet=string.ascii_letters + "&=+$,", max_size=6)),
       _host, st.one_of(st.none(), st.integers(1, 65535)),
       st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,5}", fullmatch=True),
                          st.one_of(st.none(), st.from_regex(r"[a-z0-9.]{1,6}",
                                                             fullmatch=True))), max_size=3))
def test_generated_uris_from_parts_equal_parsed(scheme: str, user: str | None,
                                                password: str | None, host: str,
                                                port: int | None,
                                                params: list[tuple[str, str | None]]) -> None:
    userinfo = "" if user is None else user + ("" if password is None else ":" + password) + "@"
    tail = "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
    text = f"{scheme}:{userinfo}{host}{'' if port is None else f':{port}'}{tail}"
    try:
        expected = URI.parse(text)
    except ParseError:
        with pytest.raises(ParseError):
            Contact.parse(f"<{text}>")
        return
    assert _components(Contact.parse(f"<{text}>").uri) == _components(expected)
