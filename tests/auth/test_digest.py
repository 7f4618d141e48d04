"""Digest computations: the RFC example vectors and the variants (RFC 2617, 7616, 8760)."""

from __future__ import annotations

import hashlib

import pytest

from sipwire.auth.digest import (
    UnsupportedAlgorithm,
    get_algorithm,
    ha1,
    request_digest,
    session_key,
)

# RFC 7616 §3.9.1
R7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


def test_rfc2617_section_3_5_example() -> None:
    secret = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = request_digest(
        secret, algorithm="MD5", method="GET", uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", nc="00000001",
        cnonce="0a4f113b")
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    secret = ha1("Mufasa", R7616["realm"], "Circle of Life", algorithm)
    response = request_digest(
        secret, algorithm=algorithm, method="GET", uri="/dir/index.html",
        nonce=R7616["nonce"], qop="auth", nc="00000001", cnonce=R7616["cnonce"])
    assert response == expected


def test_sha512_256_is_the_fips_180_4_truncation() -> None:
    # The RFC 7616 §3.9.2 example is known to be wrong (errata 4897), so the
    # hash is checked against FIPS 180-4's own "abc" vector instead.
    assert get_algorithm("SHA-512-256").hash("abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23")
    assert get_algorithm("sha-512-256").digest_size == 64


def test_algorithm_names_compare_case_insensitively_and_default_to_md5() -> None:
    assert get_algorithm(None).name == "MD5"
    assert get_algorithm("md5-SESS").name == "MD5-sess"
    assert get_algorithm("SHA-256-sess").base == "SHA-256"
    with pytest.raises(UnsupportedAlgorithm):
        get_algorithm("SHA-1")


def test_sess_derives_the_session_key_from_the_stored_ha1() -> None:
    # RFC 7616 §3.4.2: A1 = H(user:realm:pass) ":" nonce ":" cnonce, the inner H in hex.
    base = ha1("bob", "biloxi.com", "zanzibar", "SHA-256")
    key = session_key(base, "SHA-256-sess", "n0nce", "c0nce")
    assert key == hashlib.sha256(f"{base}:n0nce:c0nce".encode()).hexdigest()
    assert session_key(base, "SHA-256", "n0nce", "c0nce") == base
    with pytest.raises(ValueError, match="cnonce"):
        session_key(base, "MD5-sess", "n0nce", None)


def test_rfc2069_digest_without_qop() -> None:
    # RFC 2069 §2.1.2: response = H(H(A1) ":" nonce ":" H(A2)).
    base = ha1("Mufasa", "testrealm@host.com", "CircleOfLife")
    h = hashlib.md5
    a2 = h(b"GET:/dir/index.html").hexdigest()
    expected = h(f"{base}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{a2}".encode()).hexdigest()
    got = request_digest(base, algorithm="MD5", method="GET", uri="/dir/index.html",
                         nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093")
    assert got == expected


def test_auth_int_hashes_the_body_and_an_empty_body_as_h_of_empty() -> None:
    base = ha1("alice", "example.com", "pw", "SHA-256")
    common = {"algorithm": "SHA-256", "method": "INVITE", "uri": "sip:bob@example.com",
              "nonce": "n", "qop": "auth-int", "nc": "00000001", "cnonce": "c"}
    empty = request_digest(base, **common)  # type: ignore[arg-type]
    sha = hashlib.sha256
    # RFC 8760 §2.6 item 7: H(entity-body) = SHA-256("") = e3b0c442...
    a2 = sha(b"INVITE:sip:bob@example.com:" + sha(b"").hexdigest().encode()).hexdigest()
    assert empty == sha(f"{base}:n:00000001:c:auth-int:{a2}".encode()).hexdigest()
    assert request_digest(base, body=b"v=0\r\n", **common) != empty


def test_qop_needs_nc_and_cnonce_and_must_be_known() -> None:
    with pytest.raises(ValueError, match="nc and cnonce"):
        request_digest("x", algorithm="MD5", method="A", uri="u", nonce="n", qop="auth")
    with pytest.raises(ValueError, match="qop"):
        request_digest("x", algorithm="MD5", method="A", uri="u", nonce="n", qop="auth-conf",
                       nc="00000001", cnonce="c")


def test_utf8_usernames_and_passwords() -> None:
    # RFC 7616 §4: UTF-8 throughout.
    expected = hashlib.md5("J\u00e4s\u00f8n:r:p\u00e4ss".encode()).hexdigest()
    assert ha1("J\u00e4s\u00f8n", "r", "p\u00e4ss") == expected
