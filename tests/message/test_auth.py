"""WWW-Authenticate, Proxy-Authenticate, Authorization, Proxy-Authorization and
Authentication-Info (RFC 3261 §20.6, §20.7, §20.27, §20.28, §20.44, §25.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.auth import AuthenticationInfo, Challenge, Credentials
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS

GRAMMAR_CHARS = 'Digestrealmnoc=",\\ \t:/@019abcdef+~_-.é()\x00'

# RFC 3261 §20.27 / §20.44
CHALLENGE = (
    'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth", '
    'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
)
# RFC 3261 §20.7
AUTHORIZATION = (
    'Digest username="Alice", realm="atlanta.com", '
    'nonce="84a4cc6f3082121f32b42a2187831a9e", '
    'response="7587245234b3434cc3412213e5f113a5432"'
)
# RFC 3261 §20.28
PROXY_AUTHORIZATION = (
    'Digest username="Alice", realm="atlanta.com", nonce="c60f3082ee1212b402a21831ae", '
    'response="245f23415f11432b3434341c022"'
)
# RFC 3261 §22.4 (Figure in §24.2 style), with every Digest parameter
FULL_CREDENTIALS = (
    'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", '
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41", '
    "algorithm=MD5"
)


@pytest.mark.parametrize(("name", "cls"), [
    ("www-authenticate", Challenge), ("proxy-authenticate", Challenge),
    ("authorization", Credentials), ("proxy-authorization", Credentials),
    ("authentication-info", AuthenticationInfo),
])
def test_registered_not_as_lists(name: str, cls: type[object]) -> None:
    assert HEADER_TYPES[name] is cls
    assert name not in LIST_HEADERS


# -- Challenge -------------------------------------------------------------------

def test_challenge_rfc_example() -> None:
    value = Challenge.parse(CHALLENGE)
    assert str(value) == CHALLENGE
    assert value.scheme == "Digest"
    assert value.is_digest
    assert value.realm == "atlanta.com"
    assert value.domain == ["sip:ss1.carrier.com"]
    assert value.qop == ["auth"]
    assert value.nonce == "f84f1cec41e6cbe5aea9c8e88d359"
    assert value.opaque == ""
    assert value.stale is False
    assert value.algorithm == "MD5"
    assert value.params["realm"] == '"atlanta.com"'
    assert value.params["stale"] == "FALSE"
    assert value.token68 is None


@pytest.mark.parametrize("text", [
    CHALLENGE,
    'Digest realm="atlanta.example.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", '
    'opaque="", stale=FALSE, algorithm=MD5',
    'digest REALM = "a" ,NONCE="b"',
    'Digest realm="a",nonce="b",qop="auth,auth-int",stale=true',
    'Digest realm="x", nonce="y", algorithm=SHA-256, userhash=true, charset=UTF-8',
    'Digest realm="with \\"quotes\\" and, commas", nonce="n"',
    'Basic realm="WallyWorld"',
    "Bearer mF_9.B5f-4.1JqM",
    "Bearer abc/def+ghi==",
    "Negotiate",
    "Newauth realm=apps, type=1, title=\"Login to \\\"apps\\\"\"",
    "Digest\trealm=\"a\"",
])
def test_challenge_round_trip(text: str) -> None:
    value = Challenge.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_challenge_values() -> None:
    value = Challenge.parse('Digest realm="a",nonce="b",qop="auth, auth-int",stale="TRUE"')
    assert value.qop == ["auth", "auth-int"]
    assert value.stale is True
    assert value.domain == []
    assert Challenge.parse('Digest domain="sip:a.com  sip:b.com /c", realm="r"').domain == [
        "sip:a.com", "sip:b.com", "/c"]
    assert Challenge.parse('Digest realm="with \\"quotes\\""').realm == 'with "quotes"'
    assert Challenge.parse('DIGEST nonce="n"').is_digest
    bearer = Challenge.parse("Bearer abc==")
    assert bearer.token68 == "abc=="
    assert bearer.params == {}
    assert not bearer.is_digest
    basic = Challenge.parse('Basic realm="WallyWorld"')
    assert basic.realm == "WallyWorld"


@pytest.mark.parametrize("text", [
    "", "Digest", "Digest ", 'Digest realm="a" nonce="b"', 'Digest realm="a",',
    'Digest ,realm="a"', 'Digest realm="a",,nonce="b"', 'Digest realm="a', "Digest realm=",
    'Digest realm=a b', 'Digest realm="a", realm="b"', 'Digest realm="a", REALM="a"',
    "Digest abc==", 'Digest="a"', 'Digest,realm="a"', 'realm="a"', "Bearer a b",
    'Basic realm="a", Digest realm="b"', "Digest realm=\"\x00\"", "Digest realm=é",
    'Digest realm="a"\\', "Bearer =abc", "Bearer abc=d=ef",
])
def test_challenge_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Challenge.parse(text)


def test_challenge_build_quotes_per_rfc() -> None:
    value = Challenge.digest(
        "atlanta.com", "f84f1cec41e6cbe5aea9c8e88d359", domain=["sip:ss1.carrier.com"],
        qop=["auth"], opaque="", stale=False, algorithm="MD5",
    )
    assert str(value) == CHALLENGE.replace("stale=FALSE", "stale=false")
    assert value == Challenge.parse(str(value))
    minimal = Challenge.digest("r", "n")
    assert str(minimal) == 'Digest realm="r", nonce="n"'
    extra = Challenge.digest("r", "n", qop=["auth", "auth-int"], algorithm="SHA-256",
                             userhash="true")
    assert str(extra) == ('Digest realm="r", qop="auth,auth-int", nonce="n", '
                          "algorithm=SHA-256, userhash=true")
    assert str(Challenge("Basic", {"realm": '"x"'})) == 'Basic realm="x"'
    assert str(Challenge("Bearer", token68="abc")) == "Bearer abc"


def test_challenge_modify_renders_canonically() -> None:
    value = Challenge.parse(CHALLENGE)
    value.nonce = "new"
    value.stale = True
    assert str(value) == (
        'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth", '
        'nonce="new", opaque="", stale=true, algorithm=MD5'
    )
    value.opaque = None
    value.qop = None
    value.domain = None
    assert str(value) == 'Digest realm="atlanta.com", nonce="new", stale=true, algorithm=MD5'
    spaced = Challenge.parse('Digest   realm = "a" ,  nonce="b"')
    spaced.set_param("foo", "a b")
    assert str(spaced) == 'Digest realm="a", nonce="b", foo="a b"'
    spaced.set_param("bar", "tok")
    spaced.set_param("baz", "tok", quoted=True)
    assert spaced.render().endswith('bar=tok, baz="tok"')
    with pytest.raises(ValueError):
        spaced.set_param("bad name", "x")


# -- Credentials -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    AUTHORIZATION, PROXY_AUTHORIZATION, FULL_CREDENTIALS,
    'Digest username="alice", realm="biloxi.example.com",\tnonce="c1e2", '
    'uri="sip:bob@biloxi.example.com;user=phone", qop=auth, nc=00000001, '
    'cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="", algorithm=MD5',
    'Digest username="a", qop="auth", algorithm="MD5"',  # quoted by some UAs
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    'Digest username*=UTF-8\'\'J%C3%A4s%C3%B8n%20Doe, realm="r"',
])
def test_credentials_round_trip(text: str) -> None:
    value = Credentials.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_credentials_values() -> None:
    value = Credentials.parse(FULL_CREDENTIALS)
    assert value.scheme == "Digest"
    assert value.username == "bob"
    assert value.realm == "biloxi.com"
    assert value.nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert value.uri == "sip:bob@biloxi.com"
    assert value.response == "6629fae49393a05397450978507c4ef1"
    assert value.algorithm == "MD5"
    assert value.cnonce == "0a4f113b"
    assert value.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert value.qop == "auth"
    assert value.nc == "00000001"
    assert value.param("NC") == "00000001"
    assert value.param("missing") is None
    quoted = Credentials.parse('Digest username="a", qop="auth", algorithm="MD5"')
    assert quoted.qop == "auth"
    assert quoted.algorithm == "MD5"
    assert quoted.params["qop"] == '"auth"'
    assert Credentials.parse(AUTHORIZATION).response == "7587245234b3434cc3412213e5f113a5432"


def test_credentials_build_quotes_per_rfc() -> None:
    value = Credentials.digest(
        "bob", "biloxi.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "sip:bob@biloxi.com",
        "6629fae49393a05397450978507c4ef1", algorithm="MD5", cnonce="0a4f113b",
        opaque="5ccc069c403ebaf9f0171e9517f40e41", qop="auth", nc=1,
    )
    assert str(value) == (
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="sip:bob@biloxi.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
        'cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )
    assert value == Credentials.parse(str(value))
    assert value == Credentials.parse(FULL_CREDENTIALS)  # same values, other order
    minimal = Credentials.digest("a", "r", "n", "sip:x", "00")
    assert str(minimal) == 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="00"'
    minimal.nc = "0000000a"
    assert minimal.nc == "0000000a"
    minimal.nc = 255
    assert minimal.params["nc"] == "000000ff"
    minimal.username = 'Dr. "Who"'
    assert minimal.params["username"] == '"Dr. \\"Who\\""'
    assert Credentials.parse(str(minimal)).username == 'Dr. "Who"'


def test_credentials_modify_renders_canonically() -> None:
    value = Credentials.parse('Digest username="a",  realm = "r", qop="auth"')
    assert str(value) == 'Digest username="a",  realm = "r", qop="auth"'
    value.realm = "other"
    # untouched parameters keep the quoting they came with
    assert str(value) == 'Digest username="a", realm="other", qop="auth"'


@pytest.mark.parametrize("text", [
    "", "Digest", 'Digest username="a", username="b"', 'Digest username="a" realm="b"',
    'Digest uri=sip:a@b', "Basic a b", 'Digest response="x",',
])
def test_credentials_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        Credentials.parse(text)


# -- Authentication-Info ---------------------------------------------------------

@pytest.mark.parametrize("text", [
    # RFC 3261 §20.6
    'nextnonce="47364c23432d2e131a5fb210812c"',
    'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, '
    'rspauth="e3b0c44298fc1c149afbf4c8996fb924", cnonce="0a4f113b", nc=00000001',
    ' qop = auth ,nc=00000002 ',
])
def test_authentication_info_round_trip(text: str) -> None:
    value = AuthenticationInfo.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_authentication_info_values_and_build() -> None:
    value = AuthenticationInfo.parse(
        'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, '
        'rspauth="e3b0c44298fc1c149afbf4c8996fb924", cnonce="0a4f113b", nc=00000001'
    )
    assert value.nextnonce == "47364c23432d2e131a5fb210812c"
    assert value.qop == "auth"
    assert value.rspauth == "e3b0c44298fc1c149afbf4c8996fb924"
    assert value.cnonce == "0a4f113b"
    assert value.nc == "00000001"
    built = AuthenticationInfo(nextnonce="47364c23432d2e131a5fb210812c", qop="auth",
                               rspauth="e3b0c44298fc1c149afbf4c8996fb924", cnonce="0a4f113b",
                               nc=1)
    assert built == value
    assert str(built) == value.render()
    assert str(AuthenticationInfo({"nextnonce": '"x"'}, qop="auth")) == 'nextnonce="x", qop=auth'
    value.nextnonce = "abc"
    assert str(value).startswith('nextnonce="abc", qop=auth,')


@pytest.mark.parametrize("text", [
    "", "nextnonce", 'nextnonce="a",', 'Digest nextnonce="a"', 'nextnonce="a" qop=auth',
    'qop=auth, qop=auth-int',
])
def test_authentication_info_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        AuthenticationInfo.parse(text)


# -- the Field contract ----------------------------------------------------------

@pytest.mark.parametrize("cls", [Challenge, Credentials, AuthenticationInfo])
@given(text=st.text() | st.text(alphabet=GRAMMAR_CHARS))
def test_parse_raises_only_parse_error(cls: type[Challenge], text: str) -> None:
    try:
        value = cls.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
    assert cls.parse(value.render()) == value


def test_scheme_alone_is_rfc7235_credentials() -> None:
    assert Credentials.parse("Negotiate").scheme == "Negotiate"


# quoted-string content: qdtext and any quoted-pair, so no CR, LF or other controls
_QDTEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc"]) | st.just("\t"))


@given(realm=_QDTEXT, nonce=_QDTEXT)
def test_built_challenge_parses_back(realm: str, nonce: str) -> None:
    value = Challenge.digest(realm, nonce, qop=["auth"], stale=False)
    again = Challenge.parse(str(value))
    assert again.realm == realm
    assert again.nonce == nonce
    assert again == value
