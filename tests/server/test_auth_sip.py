"""Digest authentication in ``sipwire serve`` over real sockets (RFC 3261 §22,
RFC 7616, RFC 8760)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from sipwire import Request, Response
from sipwire.auth import DigestClient, MemoryUserStore, SQLiteUserStore, ha1, request_digest
from sipwire.message.fields.auth import Challenge, Credentials

from .conftest import Clock, OpenPhone, Serve
from .phone import Phone, request_of, response_of, status

PASSWORD = "correct horse"


def users() -> MemoryUserStore:
    store = MemoryUserStore()
    store.add("alice", "example.com", PASSWORD)
    store.add("bob", "example.com", "bobs secret")
    return store


def challenges(response: Response, header: str = "WWW-Authenticate") -> list[Challenge]:
    return [Challenge.parse(text) for text in response.headers.getall(header)]


def only(response: Response, algorithm: str, header: str = "WWW-Authenticate") -> Response:
    """``response`` with only the challenge of ``algorithm`` (a client that knows no other)."""
    narrowed: Response = response.copy()
    narrowed.headers.remove(header)
    for text in response.headers.getall(header):
        if Challenge.parse(text).algorithm == algorithm:
            narrowed.headers.add(header, text)
    return narrowed


async def authenticated(phone: Phone, request: Request, password: str = PASSWORD,
                        *, algorithm: str | None = None) -> tuple[Request, Response]:
    """Send ``request``, answer its challenge, return the retry and its answer."""
    challenge = response_of(await phone.request(request))
    assert challenge.status in (401, 407), challenge
    if algorithm is not None:
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        challenge = only(challenge, algorithm, header)
    retry = DigestClient(phone.user, password).answer(challenge, request)
    assert retry is not None
    return retry, response_of(await phone.request(retry))


BOTH = ("SHA-256", "MD5")


async def test_default_challenge_is_md5(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    challenge = response_of(await alice.request(alice.register()))
    assert [c.algorithm for c in challenges(challenge)] == ["MD5"]


async def test_digest_uri_other_than_the_request_uri_is_400(serve: Serve,
                                                            phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    request = alice.register()
    challenge = response_of(await alice.request(request))
    elsewhere = request.copy()
    elsewhere.uri = "sip:elsewhere.example.com"
    retry = DigestClient("alice", PASSWORD).answer(challenge, elsewhere)
    assert retry is not None
    retry.uri = request.uri
    refused = response_of(await alice.request(retry))
    assert refused.status == 400  # RFC 2617 §3.2.2.5
    assert "digest-uri" in (refused.headers.get("Warning") or "")


async def test_register_is_challenged_with_sha256_and_md5(serve: Serve,
                                                          phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users(), algorithms=BOTH)
    alice = await phone("alice", server)
    challenge = response_of(await alice.request(alice.register()))
    assert challenge.status == 401
    offered = challenges(challenge)
    # RFC 8760 §2.3: one challenge per algorithm, the preferred first
    assert [c.algorithm for c in offered] == ["SHA-256", "MD5"]
    assert all(c.realm == "example.com" and c.qop == ["auth"] for c in offered)
    assert offered[0].nonce == offered[1].nonce


async def test_correct_credentials_register(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users(), algorithms=BOTH)
    for algorithm in ("SHA-256", "MD5"):
        alice = await phone("alice", server)
        retry, answer = await authenticated(alice, alice.register(), algorithm=algorithm)
        assert answer.status == 200, answer
        [credentials] = [Credentials.parse(v) for v in retry.headers.getall("Authorization")]
        assert (credentials.algorithm or "MD5") == algorithm
    assert len(await server.store.lookup("sip:alice@example.com", server.clock())) == 2


async def test_wrong_password_is_challenged_again_then_locked_out(serve: Serve,
                                                                  phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users(), max_failures=3, lockout=60)
    alice = await phone("alice", server)
    for _ in range(2):
        _, answer = await authenticated(alice, alice.register(), "wrong")
        assert answer.status == 401  # §22.1: a new challenge
    _, answer = await authenticated(alice, alice.register(), "wrong")
    assert answer.status == 403 and answer.headers.get("Retry-After") is not None
    # locked out: even the right password is refused until the lockout ends
    _, answer = await authenticated(alice, alice.register())
    assert answer.status == 403


async def test_stale_nonce_is_challenged_with_stale_true(serve: Serve, phone: OpenPhone,
                                                         clock: Clock) -> None:
    server = await serve(auth="on", user_store=users(), clock=clock, nonce_lifetime=30)
    alice = await phone("alice", server)
    request = alice.register()
    challenge = response_of(await alice.request(request))
    client = DigestClient("alice", PASSWORD)
    retry = client.answer(challenge, request)
    assert retry is not None
    clock.advance(31)  # the nonce is older than its lifetime when it is used
    answer = response_of(await alice.request(retry))
    assert answer.status == 401
    assert all(c.stale for c in challenges(answer))  # RFC 7616 §3.3: retry with a new nonce
    second = client.answer(answer, retry)
    assert second is not None
    assert status(await alice.request(second)) == 200


async def test_replayed_nonce_count_is_stale(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    retry, answer = await authenticated(alice, alice.register())
    assert answer.status == 200
    replay = retry.copy()
    replay.headers.set("CSeq", f"{retry.cseq.seq + 1} REGISTER")
    replay.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{alice.port};branch=z9hG4bKreplay")
    answer = response_of(await alice.request(replay))
    assert answer.status == 401 and all(c.stale for c in challenges(answer))


async def test_registering_someone_elses_aor_is_403(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    request = alice.register(to="<sip:bob@example.com>")
    _, answer = await authenticated(alice, request)
    assert answer.status == 403  # §10.3 step 4


async def test_invite_is_challenged_407_and_forwarded_once_authenticated(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users(), algorithms=BOTH)
    alice, bob = await phone("alice", server), await phone("bob", server)
    _, answer = await authenticated(bob, bob.register(), "bobs secret")
    assert answer.status == 200

    invite = alice.build("INVITE", bob.aor, body=b"v=0\r\n")
    challenge = response_of(await alice.request(invite))
    assert challenge.status == 407  # §22.3
    assert [c.algorithm for c in challenges(challenge, "Proxy-Authenticate")] == [
        "SHA-256", "MD5"]
    ack = Request.build("ACK", invite.uri, from_=invite.from_, to=challenge.to,
                        call_id=invite.call_id, cseq=invite.cseq.seq, via=invite.via[0])
    alice.send(ack)
    retry = DigestClient("alice", PASSWORD).answer(challenge, invite)
    assert retry is not None and retry.headers.get("Proxy-Authorization")
    alice.send(retry)
    got = await bob.expect("INVITE")
    # our credentials are used up here, not passed on (§22.3)
    assert request_of(got).headers.get("Proxy-Authorization") is None
    bob.answer(got, 486)
    assert status(await alice.expect(486)) == 486


async def test_message_without_credentials_is_407(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    assert status(await alice.request(alice.build("MESSAGE", "sip:bob@example.com"))) == 407


async def test_sending_as_another_user_is_403(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    request = alice.build("MESSAGE", "sip:bob@example.com",
                          from_="<sip:bob@example.com>;tag=forged")
    challenge = response_of(await alice.request(request))
    retry = DigestClient("alice", PASSWORD).answer(challenge, request)
    assert retry is not None
    assert status(await alice.request(retry)) == 403


async def test_calls_from_outside_are_not_challenged(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    bob = await phone("bob", server)
    _, answer = await authenticated(bob, bob.register(), "bobs secret")
    assert answer.status == 200
    carol = await phone("carol", server, domain="biloxi.example.org")
    carol.send(carol.build("MESSAGE", bob.aor))
    got = await bob.expect("MESSAGE")
    bob.answer(got, 200)
    assert status(await carol.expect(200)) == 200
    # ... but are not relayed elsewhere (no open relay)
    relayed = carol.build("MESSAGE", "sip:dave@biloxi.example.org")
    assert status(await carol.request(relayed)) == 403


async def test_auth_is_on_with_no_user_and_follows_the_user_file(
        serve: Serve, phone: OpenPhone, tmp_path: Path) -> None:
    """``auth = "auto"``, once off until a user existed at start, is a deprecated
    "on": with an empty user file every REGISTER is 403, and a user added to
    the file counts without a restart (``reload_users``, as on SIGHUP)."""
    path = tmp_path / "users.db"
    SQLiteUserStore(path).close()
    server = await serve(auth="auto", users=str(path))
    assert server.auth_enabled
    alice = await phone("alice", server)
    refused = response_of(await alice.request(alice.register()))
    assert refused.status == 403
    assert "no user is configured" in (refused.headers.get("Warning") or "")

    with SQLiteUserStore(path) as store:
        store.add("alice", "example.com", PASSWORD)
    server.reload_users()
    _, answer = await authenticated(alice, alice.register())
    assert answer.status == 200
    _, answer = await authenticated(alice, alice.register(), "wrong")
    assert answer.status in (401, 403)
    mallory = await phone("mallory", server)
    _, answer = await authenticated(mallory, mallory.register(), "anything")
    assert answer.status in (401, 403)
    assert await server.store.lookup(mallory.aor, server.clock()) == []


async def test_auth_off_lets_everyone_register(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="off", user_store=users())
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register())) == 200


async def test_realm_is_the_users_own_domain(serve: Serve, phone: OpenPhone) -> None:
    # the default domains: users added as alice@127.0.0.1 and bob@localhost
    # are challenged in their own realm (the To host of a REGISTER, the From
    # host of a call), not in the first domain's
    store = MemoryUserStore()
    store.add("alice", "127.0.0.1", PASSWORD)
    store.add("bob", "localhost", "bobs secret")
    server = await serve(auth="on", user_store=store, domains=("localhost", "127.0.0.1"))
    alice = await phone("alice", server, domain="127.0.0.1")
    bob = await phone("bob", server, domain="localhost")
    for who, password, realm in ((alice, PASSWORD, "127.0.0.1"), (bob, "bobs secret",
                                                                 "localhost")):
        retry, answer = await authenticated(who, who.register(), password)
        assert [c.realm for c in challenges(answer)] == [] and answer.status == 200
        assert Credentials.parse(retry.headers["Authorization"]).realm == realm
    message = alice.build("MESSAGE", bob.aor, body=b"hi")
    challenge = response_of(await alice.request(message))
    assert [c.realm for c in challenges(challenge, "Proxy-Authenticate")] == ["127.0.0.1"]
    retry = DigestClient("alice", PASSWORD).answer(challenge, message)
    assert retry is not None
    alice.send(retry)
    got = await bob.expect("MESSAGE")
    assert request_of(got).body == b"hi"
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_a_configured_realm_is_used_for_every_user(serve: Serve, phone: OpenPhone) -> None:
    store = MemoryUserStore()
    store.add("alice", "corp", PASSWORD)
    server = await serve(auth="on", user_store=store, realm="corp",
                         domains=("localhost", "127.0.0.1"))
    alice = await phone("alice", server, domain="127.0.0.1")
    retry, answer = await authenticated(alice, alice.register())
    assert answer.status == 200
    assert Credentials.parse(retry.headers["Authorization"]).realm == "corp"


# -- attacks: replay, password guessing, scanning (RFC 7616 §5.5, §5.7) ----------------------


def refusals(caplog: pytest.LogCaptureFixture, source: str = "127.0.0.1") -> list[str]:
    """The log lines of refusals from ``source``, less the routine challenges
    of requests without credentials."""
    return [m for m in (r.getMessage() for r in caplog.records)
            if m.startswith("refused ") and f" source={source} " in m
            and "no Digest credentials" not in m]


def resent(request: Request, phone: Phone, call_id: str) -> Request:
    """``request`` with its Authorization as it was, in a new transaction and call."""
    copy = request.copy()
    copy.headers.set("Call-ID", call_id)
    copy.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{call_id}")
    return copy


async def test_an_answer_without_qop_is_401_and_its_replays_too(
        serve: Serve, phone: OpenPhone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.server")
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    request = alice.register()
    challenge = response_of(await alice.request(request))
    [offer] = challenges(challenge)
    assert offer.qop == ["auth"] and offer.nonce is not None
    # an RFC 2069 answer, right password and all, but no qop, nc or cnonce
    uri = str(request.uri)
    digest = request_digest(ha1("alice", "example.com", PASSWORD), algorithm="MD5",
                            method="REGISTER", uri=uri, nonce=offer.nonce)
    answer = request.copy()
    answer.headers.set("Authorization", Credentials.digest(
        "alice", "example.com", offer.nonce, uri, digest, algorithm="MD5"))
    answer.headers.set("CSeq", f"{request.cseq.seq + 1} REGISTER")
    refused = response_of(await alice.request(answer))
    assert refused.status == 401  # RFC 8760 §2.6 item 8: qop was offered
    assert all(not c.stale for c in challenges(refused))
    for n in range(3):  # before: 200 three times, each with a new Call-ID
        replay = resent(answer, alice, f"replay{n}")
        assert status(await alice.request(replay)) == 401
    assert await server.store.lookup(alice.aor, server.clock()) == []
    [line] = refusals(caplog)  # one line, the other three held back
    assert "status=401 method=REGISTER" in line and "qop" in line


async def test_an_accepted_answer_replayed_with_a_new_call_id_is_refused(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve(auth="on", user_store=users())
    alice = await phone("alice", server)
    retry, answer = await authenticated(alice, alice.register())
    assert answer.status == 200
    for n in range(3):
        replayed = response_of(await alice.request(resent(retry, alice, f"again{n}")))
        assert replayed.status == 401 and all(c.stale for c in challenges(replayed))


async def test_guessing_alices_password_locks_out_only_alice_from_that_address(
        serve: Serve, phone: OpenPhone, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.server")
    server = await serve(auth="on", user_store=users(), clock=clock, max_failures=3,
                         lockout=60, max_lockout=240)
    attacker = await phone("alice", server)  # 127.0.0.1, where alice's phone is too
    at_home = await Phone.open("alice", server.address("udp"), host="127.0.0.2")
    try:
        for expected in (401, 401, 403):
            _, answer = await authenticated(attacker, attacker.register(), "guess")
            assert answer.status == expected
        assert answer.headers.get("Retry-After") == "60"
        # while the attack goes on, alice at the attacked address is refused too,
        # the right password unchecked ...
        _, answer = await authenticated(attacker, attacker.register())
        assert answer.status == 403
        # ... but alice from anywhere else registers at once ...
        _, answer = await authenticated(at_home, at_home.register())
        assert answer.status == 200
        # ... and bob, behind the same address as the attacker, too
        bob = await phone("bob", server)
        _, answer = await authenticated(bob, bob.register(), "bobs secret")
        assert answer.status == 200

        # the attack goes on after the lockout: the next one lasts twice as long
        clock.advance(60)
        for expected in (401, 401, 403):
            _, answer = await authenticated(attacker, attacker.register(), "guess")
            assert answer.status == expected
        assert answer.headers.get("Retry-After") == "120"
        # the attack stops; alice at the attacked address waits out the lockout
        clock.advance(119)
        _, answer = await authenticated(attacker, attacker.register())
        assert answer.status == 403 and answer.headers.get("Retry-After") == "1"
        clock.advance(1)
        _, answer = await authenticated(attacker, attacker.register())
        assert answer.status == 200
    finally:
        at_home.close()
    assert await server.store.lookup("sip:alice@example.com", clock()) != []
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("locked_out source=127.0.0.1") for m in messages) == 2
    assert not any(m.startswith("banned ") for m in messages)
    lines = refusals(caplog)
    # one line per 10 s of the clock: at the start, after 60 s, after 119 s
    assert len(lines) == 3
    assert re.search(r"held_back=[1-9]", lines[1]) and "locked out" in lines[-1]
    assert refusals(caplog, "127.0.0.2") == []  # alice at home was refused nothing


async def test_a_source_failing_as_many_users_is_banned_and_dropped(
        serve: Serve, phone: OpenPhone, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.server")
    server = await serve(auth="on", user_store=users(), clock=clock, ban_users=3,
                         ban_window=60, ban_time=300)
    for user in ("100", "101", "102"):  # svwar's finds, tried with svcrack's guesses
        scanner = await phone(user, server)
        _, answer = await authenticated(scanner, scanner.register(), user)
        assert answer.status == (401 if user != "102" else 403)
    # banned: nothing from 127.0.0.1 is answered, whoever it claims to be
    alice = await phone("alice", server)
    alice.send(alice.register())
    assert await alice.silence(0.5) == []
    at_home = await Phone.open("alice", server.address("udp"), host="127.0.0.2")
    try:
        _, answer = await authenticated(at_home, at_home.register())
        assert answer.status == 200
    finally:
        at_home.close()
    messages = [r.getMessage() for r in caplog.records]
    [ban] = [m for m in messages if m.startswith("banned ")]
    assert "source=127.0.0.1" in ban and "3 users" in ban
    assert any(m.startswith("dropped source=127.0.0.1") for m in messages)
    clock.advance(300)  # the ban expires
    _, answer = await authenticated(alice, alice.register())
    assert answer.status == 200



async def test_a_forged_received_does_not_dodge_the_lockout(serve: Serve, phone: OpenPhone,
                                                            clock: Clock) -> None:
    # each guess claims another source in its Via's received: the server
    # removes it (§18.2.1: only the receiver says where a packet came from),
    # so the guesses count against 127.0.0.1 and alice is locked out there
    server = await serve(auth="on", user_store=users(), clock=clock, max_failures=3,
                         lockout=60)
    attacker = await phone("alice", server)
    statuses = []
    for n in range(4):
        request = attacker.register()
        request.headers.set("Via", str(request.via[0]) + f";received=198.51.100.{n + 1}")
        _, answer = await authenticated(attacker, request, "guess")
        statuses.append(answer.status)
    assert statuses == [401, 401, 403, 403]


def test_lockouts_and_bans_count_an_ipv6_network_not_each_address() -> None:
    # one host may rotate through the 2**64 addresses of its /64
    from sipwire.server.policy import source_address
    for host in ("2001:db8::1", "2001:db8::ffff:1234"):
        request = Request.build("REGISTER", "sip:example.com", from_="sip:a@example.com",
                                sent_by=(f"[{host}]", 5060))
        assert source_address(request) == source_address(Request.build(
            "REGISTER", "sip:example.com", from_="sip:a@example.com",
            sent_by=("[2001:db8::2]", 5060)))
    ipv4 = Request.build("REGISTER", "sip:example.com", from_="sip:a@example.com",
                         sent_by=("192.0.2.7", 5060))
    assert source_address(ipv4) == "192.0.2.7"
