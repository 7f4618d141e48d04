"""DigestClient: answering 401/407 and pre-authorizing (RFC 3261 §22.2, §22.3, RFC 8760 §2.4)."""

from __future__ import annotations

import itertools

import pytest

from sipwire import Request, Response
from sipwire.auth import (
    Authenticated,
    Challenged,
    DigestClient,
    DigestServer,
    MemoryUserStore,
    answer_challenge,
)
from sipwire.message.fields.auth import Challenge, Credentials

from .builders import REALM, SECRET, invite, register

T0 = 1_700_000_000.0


@pytest.fixture
def users() -> MemoryUserStore:
    store = MemoryUserStore()
    store.add("alice", REALM, "wonderland")
    store.add("alice", "proxy.example.net", "outbound")
    return store


def counter() -> DigestClient:
    numbers = itertools.count(1)
    return DigestClient("alice", "wonderland", cnonce=lambda: f"cn{next(numbers)}")


def challenge_response(request: Request, *challenges: str, status: int = 401) -> Response:
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return request.reply(status, headers=[(header, c) for c in challenges])


def creds(request: Request, header: str = "Authorization") -> list[Credentials]:
    return [Credentials.parse(text) for text in request.headers.getall(header)]


def test_the_retry_is_a_new_transaction_of_the_same_call() -> None:
    original = register(cseq=7)
    before = bytes(original)
    response = DigestServer(REALM, secret=SECRET).challenge(original, T0)
    retry = counter().answer(response, original)
    assert retry is not None
    assert bytes(original) == before  # untouched
    assert retry.cseq.seq == 8 and retry.cseq.method == "REGISTER"  # §22.2
    assert retry.via[0].branch != original.via[0].branch  # §8.1.1.7
    assert retry.via[0].branch is not None and retry.via[0].branch.startswith("z9hG4bK")
    assert retry.via[0].sent_by == original.via[0].sent_by
    assert (retry.call_id, retry.from_.tag, str(retry.to)) == (
        original.call_id, original.from_.tag, str(original.to))
    assert list(retry.headers)[-1][0] == "Content-Length"
    (c,) = creds(retry)
    assert (c.username, c.realm, c.uri, c.qop, c.nc, c.cnonce, c.algorithm) == (
        "alice", REALM, "sip:example.com", "auth", "00000001", "cn1", "SHA-256")
    assert '"' in retry.headers["Authorization"].split("uri=")[1][:1]  # §22.4 item 2


def test_strongest_supported_challenge_wins_whatever_the_order() -> None:
    request = register()
    response = challenge_response(
        request,
        'Digest realm="example.com", nonce="n1", qop="auth", algorithm=MD5',
        'Digest realm="example.com", nonce="n2", qop="auth", algorithm=SHA-1',
        'Basic realm="example.com"',
        'Digest realm="example.com", nonce="n3", qop="auth", algorithm=SHA-256',
        'Digest realm="example.com", nonce="n4", qop="auth", algorithm=SHA-256-sess',
    )
    retry = counter().answer(response, request)
    assert retry is not None
    (c,) = creds(retry)
    assert (c.algorithm, c.nonce) == ("SHA-256", "n3")  # topmost of the strongest


def test_nothing_supported_means_give_up() -> None:
    request = register()
    response = challenge_response(
        request,
        'Digest realm="example.com", nonce="n1", algorithm=SHA-1',
        'Digest realm="example.com", nonce="n2", qop="auth-conf"',
        'Digest realm="example.com", nonce="n3", algorithm=MD5-sess',  # sess without qop
        'Digest realm="example.com", qop="auth"',  # no nonce
        "Negotiate",
    )
    assert counter().answer(response, request) is None


def test_a_malformed_challenge_is_skipped() -> None:
    request = register()
    response = challenge_response(request, "Digest ,,,", 'Digest realm="r", nonce="n"')
    retry = counter().answer(response, request)
    assert retry is not None and creds(retry)[0].realm == "r"


@pytest.mark.parametrize(("offered", "chosen"), [
    ('"auth,auth-int"', "auth"),
    ('"auth-int"', "auth-int"),
    (None, None),
])
def test_qop_choice(offered: str | None, chosen: str | None) -> None:
    request = register()
    qop = f", qop={offered}" if offered else ""
    retry = counter().answer(challenge_response(request, f'Digest realm="r", nonce="n"{qop}'),
                             request)
    assert retry is not None
    (c,) = creds(retry)
    assert c.qop == chosen
    if chosen is None:  # RFC 2069: no nc, no cnonce, no algorithm invented
        assert c.nc is None and c.cnonce is None and c.algorithm is None


def test_opaque_is_returned() -> None:
    request = register()
    retry = counter().answer(
        challenge_response(request, 'Digest realm="r", nonce="n", opaque="5ccc", qop="auth"'),
        request)
    assert retry is not None and creds(retry)[0].opaque == "5ccc"


def test_pre_authorization_reuses_the_nonce_counting_up(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET)
    client = counter()
    first = register()
    retry = client.answer(server.challenge(first, T0), first)
    assert retry is not None
    assert isinstance(server.verify(retry, users.get, T0), Authenticated)
    assert client.sessions == {REALM}
    for n in (2, 3):
        refresh = register(cseq=retry.cseq.seq + n)
        assert client.authorize(refresh)
        (c,) = creds(refresh)
        assert c.nonce == creds(retry)[0].nonce and c.nc == f"{n:08x}" and c.cnonce == f"cn{n}"
        assert isinstance(server.verify(refresh, users.get, T0 + n), Authenticated)


def test_sess_keeps_its_cnonce_for_the_nonce(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET, algorithms=("SHA-256-sess",))
    client = counter()
    first = register()
    retry = client.answer(server.challenge(first, T0), first)
    assert retry is not None
    refresh = register(cseq=3)
    client.authorize(refresh)
    assert creds(refresh)[0].cnonce == creds(retry)[0].cnonce == "cn1"
    assert creds(refresh)[0].nc == "00000002"
    assert isinstance(server.verify(retry, users.get, T0), Authenticated)
    assert isinstance(server.verify(refresh, users.get, T0), Authenticated)


def test_rejected_credentials_are_not_retried(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET)
    client = DigestClient("alice", "not the password")
    first = register()
    retry = client.answer(server.challenge(first, T0), first)
    assert retry is not None
    verdict = server.verify(retry, users.get, T0)
    assert isinstance(verdict, Challenged) and not verdict.stale
    assert client.answer(verdict.response, retry) is None  # §22.1 MUST NOT
    assert client.sessions == frozenset()


def test_stale_credentials_are_retried(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET)
    client = counter()
    first = register()
    retry = client.answer(server.challenge(first, T0), first)
    assert retry is not None
    stale = server.challenge(retry, T0, stale=True)
    again = client.answer(stale, retry)
    assert again is not None and again.cseq.seq == retry.cseq.seq + 1
    (c,) = creds(again)  # replaced, not added
    assert c.nc == "00000001" and c.nonce != creds(retry)[0].nonce


def test_proxy_and_uas_challenges_aggregated_by_a_forking_proxy(
    users: MemoryUserStore,
) -> None:
    # §22.3: one 407 can carry challenges of several realms; answer each.
    uas = DigestServer(REALM, secret=SECRET)
    proxy = DigestServer("proxy.example.net", secret=SECRET, proxy=True)
    request = invite()
    response = proxy.challenge(request, T0)
    for c in uas.challenges(T0):
        response.headers.add("WWW-Authenticate", c)
    client = DigestClient("alice", "wonderland",
                          accounts={"proxy.example.net": ("alice", "outbound")})
    retry = client.answer(response, request)
    assert retry is not None
    assert [c.realm for c in creds(retry)] == [REALM]
    assert [c.realm for c in creds(retry, "Proxy-Authorization")] == ["proxy.example.net"]
    assert isinstance(proxy.verify(retry, users.get, T0), Authenticated)
    assert isinstance(uas.verify(retry, users.get, T0), Authenticated)


def test_realms_limit_what_is_answered() -> None:
    request = invite()
    response = challenge_response(request, 'Digest realm="evil.example", nonce="n"',
                                  status=407)
    client = DigestClient("alice", "wonderland", realms={REALM})
    assert client.answer(response, request) is None
    assert client.account("evil.example") is None
    assert "wonderland" not in repr(client)


def test_authorize_replaces_its_realm_and_keeps_others() -> None:
    client = counter()
    request = register()
    retry = client.answer(challenge_response(request, 'Digest realm="r", nonce="n", qop=auth'),
                          request)
    assert retry is not None
    retry.headers.add("Authorization", 'Digest username="x", realm="other", nonce="m", '
                                       'uri="sip:example.com", response="00"')
    assert client.authorize(retry)
    assert sorted((c.realm, c.nc) for c in creds(retry)) == [("other", None), ("r", "00000002")]


def test_authorize_leaves_ack_and_cancel_and_unknown_realms_alone() -> None:
    client = counter()
    request = register()
    client.answer(challenge_response(request, 'Digest realm="r", nonce="n", qop=auth'), request)
    ack = Request.build("ACK", "sip:bob@example.com", from_="<sip:alice@example.com>")
    assert not client.authorize(ack) and "Authorization" not in ack.headers
    assert not client.authorize(register(), realms=["elsewhere"])
    client.forget("r")
    assert not client.authorize(register())


def test_only_401_and_407_are_challenges() -> None:
    request = register()
    with pytest.raises(ValueError):
        counter().answer(request.reply(403), request)


def test_one_shot_helper(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET, proxy=True)
    request = invite()
    retry = answer_challenge(server.challenge(request, T0), request, "alice", "wonderland")
    assert retry is not None and "Proxy-Authorization" in retry.headers
    assert isinstance(server.verify(retry, users.get, T0), Authenticated)
    challenge = Challenge.parse(server.challenge(request, T0).headers["Proxy-Authenticate"])
    assert challenge.algorithm == "SHA-256"
