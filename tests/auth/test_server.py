"""DigestServer: challenges and verdicts (RFC 3261 §22, RFC 7616, RFC 8760 §2.3)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.auth import (
    Authenticated,
    Challenged,
    DigestClient,
    DigestServer,
    Exempt,
    FailureThrottle,
    MemoryUserStore,
    Rejected,
    UserRecord,
    Verdict,
    ha1,
    request_digest,
)
from sipwire.message.fields.auth import Challenge, Credentials

from .builders import REALM, SECRET, invite, options, register

T0 = 1_700_000_000.0


@pytest.fixture
def users() -> MemoryUserStore:
    store = MemoryUserStore()
    store.add("alice", REALM, "wonderland")
    store.add("bob", REALM, "builder")
    return store


@pytest.fixture
def server() -> DigestServer:
    return DigestServer(REALM, secret=SECRET)


def challenges_of(response: Response, header: str = "WWW-Authenticate") -> list[Challenge]:
    return [Challenge.parse(text) for text in response.headers.getall(header)]


def answered(server: DigestServer, request: Request, password: str = "wonderland",
             now: float = T0, username: str = "alice") -> Request:
    """The request as the client sends it after the server's challenge, via the wire."""
    retry = DigestClient(username, password).answer(server.challenge(request, now), request)
    assert retry is not None
    parsed = sipwire.parse(bytes(retry))
    assert isinstance(parsed, Request)
    return parsed


def forge(request: Request, *, header: str = "Authorization", password: str = "wonderland",
          algorithm: str = "MD5", realm: str = REALM, **params: str | None) -> Request:
    """``request`` with hand-made credentials; ``params`` override the computed ones."""
    values: dict[str, str | None] = {
        "username": "alice", "nonce": "x", "uri": str(request.uri), "qop": "auth",
        "nc": "00000001", "cnonce": "c0ffee",
    }
    values.update(params)
    if "response" not in params:
        values["response"] = request_digest(
            ha1(values["username"] or "", realm, password, algorithm), algorithm=algorithm,
            method=request.method, uri=values["uri"] or "", nonce=values["nonce"] or "",
            qop=values["qop"], nc=values["nc"] or "", cnonce=values["cnonce"] or "")
    creds = Credentials.digest(
        values["username"] or "", realm, values["nonce"] or "", values["uri"] or "",
        values["response"] or "", algorithm=algorithm, qop=values["qop"], nc=values["nc"],
        cnonce=values["cnonce"] if values["qop"] else None)
    out: Request = request.copy()
    out.headers.set(header, creds)
    return out


def fresh_nonce(server: DigestServer, now: float = T0) -> str:
    nonce = server.challenges(now)[0].nonce
    assert nonce is not None
    return nonce


# -- challenges ------------------------------------------------------------------------


def test_challenge_is_a_401_offering_sha256_then_md5() -> None:
    server = DigestServer(REALM, secret=SECRET)
    response = server.challenge(register(), T0)
    assert response.status == 401 and response.reason == "Unauthorized"
    assert response.to.tag is not None  # §8.2.6.2
    sha, md5 = challenges_of(response)
    assert (sha.algorithm, md5.algorithm) == ("SHA-256", "MD5")  # RFC 8760 §2.3 order
    for c in (sha, md5):
        assert c.is_digest and c.realm == REALM and c.qop == ["auth"] and not c.stale
    assert sha.nonce == md5.nonce


def test_proxy_challenge_is_a_407_with_proxy_authenticate() -> None:
    server = DigestServer(REALM, secret=SECRET, proxy=True)
    response = server.challenge(invite(), T0)
    assert response.status == 407
    assert "WWW-Authenticate" not in response.headers
    assert len(challenges_of(response, "Proxy-Authenticate")) == 2


def test_each_challenge_has_a_new_nonce(server: DigestServer) -> None:
    assert fresh_nonce(server) != fresh_nonce(server)


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        DigestServer(REALM, qop=("auth-conf",))
    with pytest.raises(ValueError):
        DigestServer(REALM, algorithms=("SHA-1",))
    with pytest.raises(ValueError):
        DigestServer("")


# -- the happy paths -------------------------------------------------------------------


def test_no_credentials_get_a_challenge(server: DigestServer, users: MemoryUserStore) -> None:
    verdict = server.verify(register(), users.get, T0)
    assert isinstance(verdict, Challenged) and not verdict.stale
    assert verdict.routine  # the first leg of every authentication: not a refusal
    assert verdict.response.status == 401


@pytest.mark.parametrize("algorithm", [
    "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"])
def test_round_trip_for_each_algorithm(algorithm: str, users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET, algorithms=(algorithm,))
    request = answered(server, register())
    assert Credentials.parse(request.headers["Authorization"]).algorithm == algorithm
    verdict = server.verify(request, users.get, T0 + 1)
    assert isinstance(verdict, Authenticated)
    assert (verdict.username, verdict.realm, verdict.algorithm, verdict.qop) == (
        "alice", REALM, algorithm, "auth")
    assert verdict.response is None and verdict.record.username == "alice"


def test_client_picks_sha256_from_the_default_offer(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    verdict = server.verify(answered(server, register()), users.get, T0)
    assert isinstance(verdict, Authenticated) and verdict.algorithm == "SHA-256"


def test_round_trip_through_a_proxy(users: MemoryUserStore) -> None:
    proxy = DigestServer(REALM, secret=SECRET, proxy=True)
    request = invite(body=b"v=0\r\n")
    retry = DigestClient("alice", "wonderland").answer(proxy.challenge(request, T0), request)
    assert retry is not None and "Authorization" not in retry.headers
    assert isinstance(proxy.verify(retry, users.get, T0), Authenticated)
    # A UAS behind the proxy does not read Proxy-Authorization.
    assert isinstance(DigestServer(REALM, secret=SECRET).verify(retry, users.get, T0),
                      Challenged)


def test_auth_int_when_offered(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET, qop=("auth-int",))
    request = answered(server, invite(body=b"v=0\r\ns=-\r\n"))
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Authenticated) and verdict.qop == "auth-int"
    tampered = request.copy()
    tampered.body = b"v=0\r\ns=evil\r\n"
    assert isinstance(server.verify(tampered, users.get, T0), Challenged)


def test_parsed_request_round_trip(server: DigestServer, users: MemoryUserStore) -> None:
    users.add("carol", REALM, "sesame")
    request = answered(server, options(), "sesame", username="carol")
    assert request.cseq.seq == 63105
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Authenticated) and verdict.username == "carol"


# -- stale nonces ----------------------------------------------------------------------


def test_expired_nonce_gets_a_stale_challenge_and_the_client_retries(
    users: MemoryUserStore,
) -> None:
    server = DigestServer(REALM, secret=SECRET, nonce_lifetime=60)
    client = DigestClient("alice", "wonderland")
    first = register()
    request = client.answer(server.challenge(first, T0), first)
    assert request is not None
    assert isinstance(server.verify(request, users.get, T0 + 60), Authenticated)
    later = register(cseq=3)
    assert client.authorize(later)
    verdict = server.verify(later, users.get, T0 + 61)
    assert isinstance(verdict, Challenged) and verdict.stale and verdict.routine
    assert verdict.reason == "nonce expired"
    assert all(c.stale for c in challenges_of(verdict.response))
    retry = client.answer(verdict.response, later)  # stale: retried without asking the user
    assert retry is not None
    assert isinstance(server.verify(retry, users.get, T0 + 62), Authenticated)


def test_nonce_of_a_restarted_server_is_stale(users: MemoryUserStore) -> None:
    before = DigestServer(REALM, secret=SECRET)
    request = answered(before, register())
    after = DigestServer(REALM, secret=SECRET)  # same secret, fresh nonce-count memory
    verdict = after.verify(request, users.get, T0 + 1)
    assert isinstance(verdict, Challenged) and verdict.stale


# -- attacks and mistakes --------------------------------------------------------------


def test_tampered_nonce_in_a_captured_request_is_rejected(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    request = answered(server, register())
    creds = Credentials.parse(request.headers["Authorization"])
    nonce = creds.nonce or ""
    creds.nonce = nonce[:-1] + ("A" if nonce[-1] != "A" else "B")
    request.headers.set("Authorization", creds)
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Challenged) and not verdict.stale  # the digest is wrong now


def test_forged_nonce_with_a_good_digest_is_stale(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    forged = "A" * 48  # well-formed base64url, not signed by us
    verdict = server.verify(forge(register(), nonce=forged), users.get, T0)
    assert isinstance(verdict, Challenged) and verdict.stale
    assert verdict.reason == "nonce not issued by this server"


def test_nonce_count_replay_is_rejected(server: DigestServer, users: MemoryUserStore) -> None:
    request = answered(server, register())
    assert isinstance(server.verify(request, users.get, T0 + 1), Authenticated)
    replay = server.verify(request, users.get, T0 + 2)
    assert isinstance(replay, Challenged) and replay.stale
    assert "replayed" in replay.reason
    nonce = fresh_nonce(server)
    good = forge(register(), nonce=nonce, nc="00000005")
    assert isinstance(server.verify(good, users.get, T0 + 3), Authenticated)
    lower = forge(register(), nonce=nonce, nc="00000004")
    assert isinstance(server.verify(lower, users.get, T0 + 4), Challenged)


def test_wrong_password_gets_a_new_challenge(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    verdict = server.verify(answered(server, register(), "guess"), users.get, T0)
    assert isinstance(verdict, Challenged) and not verdict.stale
    assert not verdict.routine
    assert verdict.reason == "wrong response for 'alice'"
    assert verdict.response.status == 401
    assert challenges_of(verdict.response)


def test_unknown_user_looks_like_a_wrong_password(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    verdict = server.verify(answered(server, register("mallory"), username="mallory"),
                            users.get, T0)
    assert isinstance(verdict, Challenged) and not verdict.stale
    assert verdict.response.status == 401


def test_credentials_for_another_realm_are_not_ours(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    other = forge(register(), nonce=fresh_nonce(server), realm="example.org")
    verdict = server.verify(other, users.get, T0)
    assert isinstance(verdict, Challenged)
    assert verdict.reason == "no Digest credentials for realm 'example.com'"


def test_digest_uri_must_be_the_request_uri(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET)
    request = forge(register(), nonce=fresh_nonce(server), uri="sip:other.example.com")
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Rejected) and verdict.response.status == 400
    assert "Request-URI" in verdict.reason
    lenient = DigestServer(REALM, secret=SECRET, check_uri=False)
    request = forge(register(), nonce=fresh_nonce(lenient), uri="sip:other.example.com")
    assert isinstance(lenient.verify(request, users.get, T0), Authenticated)


def test_an_equivalent_digest_uri_is_accepted(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    # §19.1.4: host names compare case-insensitively.
    request = forge(register(), nonce=fresh_nonce(server), uri="sip:EXAMPLE.com")
    assert isinstance(server.verify(request, users.get, T0), Authenticated)


def test_algorithm_not_offered_gets_a_challenge(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET)
    request = forge(register(), nonce=fresh_nonce(server), algorithm="SHA-512-256")
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Challenged) and "not offered" in verdict.reason


def test_user_without_an_ha1_for_the_algorithm(server: DigestServer) -> None:
    md5_only = UserRecord("alice", REALM, {"MD5": ha1("alice", REALM, "wonderland")})
    users = MemoryUserStore([md5_only])
    request = forge(register(), nonce=fresh_nonce(server), algorithm="SHA-256")
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Challenged) and "no SHA-256 HA1" in verdict.reason


@pytest.mark.parametrize(("params", "why"), [
    ({"nc": "1"}, "nc="),
    ({"nc": "00000000"}, "nc="),
    ({"nc": "0000000g"}, "nc="),
    ({"cnonce": None}, "without cnonce"),
    ({"username": ""}, "without username"),
])
def test_malformed_credentials_get_a_400(
    params: dict[str, str | None], why: str, server: DigestServer, users: MemoryUserStore,
) -> None:
    request = forge(register(), nonce=fresh_nonce(server), **params)  # type: ignore[arg-type]
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Rejected) and verdict.response.status == 400
    assert why in verdict.reason


def test_unparseable_credentials_get_a_400(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    request = register()
    request.headers.set("Authorization", 'Digest username="alice", realm=')
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Rejected) and verdict.response.status == 400


def test_a_malformed_line_for_another_realm_does_not_hide_ours(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    request = answered(server, register())
    request.headers.add("Authorization", "Digest ,,,", top=True)
    assert isinstance(server.verify(request, users.get, T0), Authenticated)


# -- RFC 2069 clients ----------------------------------------------------------------------


def test_an_answer_without_qop_is_refused_when_qop_was_offered(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    # RFC 8760 §2.6 item 8: the UAC MUST send the qop; an answer without one
    # has no nonce-count, so nothing would stop its replay.
    request = forge(register(), nonce=fresh_nonce(server), qop=None, nc=None)
    for call_id in ("first@attacker", "second@attacker", "third@attacker"):
        replay = request.copy()
        replay.headers.set("Call-ID", call_id)
        verdict = server.verify(replay, users.get, T0, source="198.51.100.7")
        assert isinstance(verdict, Challenged) and not verdict.stale
        assert "qop" in verdict.reason
    # the password was never looked at: not a guess, so not a failure
    assert server.throttle.check("alice@example.com", "198.51.100.7", T0) is None


def test_rfc2069_answers_when_no_qop_is_offered_use_a_nonce_once(
    users: MemoryUserStore,
) -> None:
    server = DigestServer(REALM, secret=SECRET, algorithms=("MD5",), qop=())
    challenge = server.challenges(T0)[0]
    assert challenge.param("qop") is None  # an RFC 2069 challenge
    request = forge(register(), nonce=fresh_nonce(server), qop=None, nc=None)
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Authenticated) and verdict.qop is None
    # the same header again, in a new request: the nonce is spent
    replay = request.copy()
    replay.headers.set("Call-ID", "replayed@attacker")
    verdict = server.verify(replay, users.get, T0 + 1)
    assert isinstance(verdict, Challenged) and verdict.stale and "used before" in verdict.reason
    # an answer with a qop that was not offered
    with_qop = forge(register(), nonce=fresh_nonce(server))
    verdict = server.verify(with_qop, users.get, T0 + 2)
    assert isinstance(verdict, Challenged) and "not offered" in verdict.reason


def test_no_qop_needs_rfc2069_answers_and_no_sess_algorithm() -> None:
    with pytest.raises(ValueError):
        DigestServer(REALM, qop=(), accept_rfc2069=False)
    with pytest.raises(ValueError):
        DigestServer(REALM, qop=(), algorithms=("MD5-sess",))


def test_sess_without_qop_is_malformed(users: MemoryUserStore) -> None:
    server = DigestServer(REALM, secret=SECRET, algorithms=("MD5-sess",))
    request = forge(register(), nonce=fresh_nonce(server), algorithm="MD5-sess", qop=None,
                    nc=None, response="0" * 32)
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Rejected) and "needs qop" in verdict.reason


# -- throttling ----------------------------------------------------------------------------


def test_throttling_after_repeated_failures_and_recovery(users: MemoryUserStore) -> None:
    throttle = FailureThrottle(max_failures=3, window=60, lockout=300)
    server = DigestServer(REALM, secret=SECRET, throttle=throttle)
    source = "203.0.113.9"
    verdicts: list[Verdict] = [
        server.verify(answered(server, register(), "guess", T0 + i), users.get, T0 + i,
                      source=source)
        for i in range(3)
    ]
    assert [type(v) for v in verdicts] == [Challenged, Challenged, Rejected]
    locked = verdicts[-1]
    assert locked.response is not None and locked.response.status == 403
    assert locked.response.headers["Retry-After"] == "300"
    # Locked out: even the right password is refused, without looking at it.
    good = answered(server, register(), now=T0 + 10)
    verdict = server.verify(good, users.get, T0 + 10, source=source)
    assert isinstance(verdict, Rejected) and verdict.response.headers["Retry-After"] == "292"
    # Other sources are not affected, nor other users from this one.
    assert isinstance(server.verify(good, users.get, T0 + 10, source="198.51.100.1"),
                      Authenticated)
    bob = answered(server, register("bob"), "builder", T0 + 10, username="bob")
    assert isinstance(server.verify(bob, users.get, T0 + 10, source=source), Authenticated)
    # After the lockout the source is welcome again.
    later = answered(server, register(), now=T0 + 303)
    assert isinstance(server.verify(later, users.get, T0 + 303, source=source), Authenticated)


def test_a_source_failing_as_many_users_is_banned_before_credentials_are_read(
    users: MemoryUserStore,
) -> None:
    throttle = FailureThrottle(max_failures=10, ban_users=3, ban_window=60, ban_time=900)
    server = DigestServer(REALM, secret=SECRET, throttle=throttle)
    scanner = "203.0.113.66"
    verdicts = [server.verify(answered(server, register(user), user, T0, username=user),
                              users.get, T0, source=scanner)
                for user in ("100", "101", "102")]
    assert [type(v) for v in verdicts] == [Challenged, Challenged, Rejected]
    banned = verdicts[-1]
    assert isinstance(banned, Rejected) and banned.penalty is not None
    assert banned.penalty.banned and "banned for 900 s" in banned.reason
    assert banned.response.headers["Retry-After"] == "900"
    # every request from it, even without credentials, the right password of a
    # user it never tried included
    for request in (register("bob"), answered(server, register(), now=T0 + 1)):
        verdict = server.verify(request, users.get, T0 + 1, source=scanner)
        assert isinstance(verdict, Rejected) and verdict.response.status == 403
    good = answered(server, register(), now=T0 + 1)
    assert isinstance(server.verify(good, users.get, T0 + 1, source="192.0.2.50"),
                      Authenticated)
    later = answered(server, register(), now=T0 + 901)
    assert isinstance(server.verify(later, users.get, T0 + 901, source=scanner), Authenticated)


def test_stale_nonces_and_missing_credentials_are_not_failures(
    users: MemoryUserStore,
) -> None:
    server = DigestServer(REALM, secret=SECRET, nonce_lifetime=10,
                          throttle=FailureThrottle(max_failures=1))
    assert isinstance(server.verify(register(), users.get, T0, source="s"), Challenged)
    stale = answered(server, register())
    verdict = server.verify(stale, users.get, T0 + 20, source="s")
    assert isinstance(verdict, Challenged) and verdict.stale
    assert len(server.throttle) == 0


# -- what the server leaves to its caller ---------------------------------------------------


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_are_never_challenged(
    method: str, server: DigestServer, users: MemoryUserStore,
) -> None:
    request = Request.build(method, "sip:bob@example.com", from_="<sip:alice@example.com>")
    verdict = server.verify(request, users.get, T0)
    assert isinstance(verdict, Exempt) and verdict.response is None


def test_authenticated_but_not_authorized_gets_a_403(
    server: DigestServer, users: MemoryUserStore,
) -> None:
    request = answered(server, register())

    def only_bob(username: str, req: Request) -> bool:
        return username == "bob"

    verdict = server.verify(request, users.get, T0, authorize=only_bob)
    assert isinstance(verdict, Rejected) and verdict.response.status == 403
    assert "Retry-After" not in verdict.response.headers


def test_a_proxy_consumes_only_its_own_credentials(users: MemoryUserStore) -> None:
    proxy = DigestServer(REALM, secret=SECRET, proxy=True)
    request = invite()
    retry = DigestClient("alice", "wonderland").answer(proxy.challenge(request, T0), request)
    assert retry is not None
    retry.headers.add("Proxy-Authorization", 'Digest username="a", realm="next.example", '
                                             'nonce="n", uri="sip:bob@example.com", response="0"')
    assert isinstance(proxy.verify(retry, users.get, T0), Authenticated)
    assert proxy.consume(retry) == 1
    assert proxy.consume(retry) == 0
    (left,) = retry.headers.getall("Proxy-Authorization")
    assert 'realm="next.example"' in left
