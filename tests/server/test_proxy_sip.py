"""The stateful proxy of ``sipwire serve`` over real sockets (RFC 3261 §16)."""

from __future__ import annotations

import errno
import io
import time

from sipwire import URI, Request
from sipwire.auth import MemoryUserStore
from sipwire.server.logs import Tracer
from sipwire.transaction import ClientTransaction

from .conftest import OpenPhone, Serve
from .phone import Phone, request_of, response_of, status

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


async def registered(phone: Phone, **options: object) -> None:
    assert status(await phone.request(phone.register(**options))) == 200  # type: ignore[arg-type]


def record_route(server_address: tuple[str, int]) -> str:
    host, port = server_address
    return f"sip:{host}:{port};lr"


# -- forwarding (§16.6) ---------------------------------------------------------------------


async def test_message_is_forwarded_to_the_registered_contact(serve: Serve,
                                                              phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    sent = alice.build("MESSAGE", bob.aor, body=b"hello")
    alice.send(sent)
    got = await bob.expect("MESSAGE")
    forwarded = request_of(got)
    assert str(forwarded.uri) == bob.contact  # §16.6 step 2: retargeted
    assert forwarded.max_forwards == 69  # step 3
    assert len(forwarded.via) == 2 and forwarded.via[1].branch == sent.via[0].branch  # step 8
    assert forwarded.body == b"hello"
    assert got.source == server.address("udp")
    bob.answer(got, 200)
    ok = response_of(await alice.expect(200))
    assert [v.branch for v in ok.via] == [sent.via[0].branch]  # §16.7 step 3: our Via off


async def test_unregistered_user_is_404(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    got = await alice.request(alice.build("INVITE", "sip:nobody@example.com", body=SDP))
    assert status(got) == 404  # §16.5
    # the 404 is ACKed hop by hop and retransmitted until then (§17.2.1)
    ack = alice.build("ACK", "sip:nobody@example.com", call_id=response_of(got).call_id,
                      cseq=response_of(got).cseq.seq)
    ack.headers.set("Via", str(response_of(got).via[0]))
    ack.headers.set("To", response_of(got).headers["To"])
    alice.send(ack)
    assert [r for r in await alice.silence(0.3) if status(r) == 404] == []


async def test_known_user_without_binding_is_404_to_a_stranger(serve: Serve,
                                                               phone: OpenPhone) -> None:
    # 480 only to our own users (test_enumeration_sip.py), or a stranger could
    # tell bob, a user of ours, from dave, nobody
    users = MemoryUserStore()
    users.add("bob", "example.com", "secret")
    server = await serve(auth="on", user_store=users)
    carol = await phone("carol", server, domain="biloxi.example.org")  # no auth from outside
    assert status(await carol.request(carol.build("MESSAGE", "sip:bob@example.com"))) == 404
    assert status(await carol.request(carol.build("MESSAGE", "sip:dave@example.com"))) == 404


async def test_max_forwards_zero_is_483_but_options_is_answered(serve: Serve,
                                                                phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    assert status(await alice.request(alice.build("INVITE", bob.aor, max_forwards=0))) == 483
    ok = response_of(await alice.request(alice.build("OPTIONS", bob.aor, max_forwards=0)))
    assert ok.status == 200 and "INVITE" in ok.headers.getall("Allow")  # §16.3 step 3
    assert await bob.silence(0.2) == []


async def test_loop_is_482(serve: Serve, phone: OpenPhone) -> None:
    # bob's contact is the server itself: the request comes back with the same
    # Request-URI, Route and tags, and the server finds its own Via (§16.3 step 4)
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    host, port = server.address("udp")
    await registered(bob, contact=f"<sip:bob@{host}:{port}>")
    got = response_of(await alice.request(alice.build("MESSAGE", bob.aor)))
    assert got.status == 482


async def test_unsupported_proxy_require_is_420(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    request = alice.build("INVITE", bob.aor, headers=[("Proxy-Require", "foo")])
    refused = response_of(await alice.request(request))
    assert refused.status == 420 and refused.headers.get("Unsupported") == "foo"  # step 5


async def test_foreign_domain_is_403_without_relay(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    assert status(await alice.request(alice.build("MESSAGE", "sip:carol@biloxi.example"))) == 403


async def test_relay_forwards_to_another_domain(serve: Serve, phone: OpenPhone) -> None:
    # "localhost" is not served: with relay the request goes to its Request-URI,
    # a name the transport resolves (the path that waits)
    server = await serve(relay=True)
    alice = await phone("alice", server)
    carol = await phone("carol", server, domain="localhost")
    alice.send(alice.build("MESSAGE", f"sip:carol@localhost:{carol.port}"))
    got = await carol.expect("MESSAGE")
    assert str(request_of(got).uri) == f"sip:carol@localhost:{carol.port}"
    carol.answer(got, 202)
    assert status(await alice.expect(202)) == 202


async def test_options_to_the_server_is_answered(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    host, port = server.address("udp")
    ok = response_of(await alice.request(alice.build("OPTIONS", f"sip:{host}:{port}")))
    assert ok.status == 200 and "REGISTER" in ok.headers.getall("Allow")  # §11.2
    ok = response_of(await alice.request(alice.build("OPTIONS", "sip:example.com")))
    assert ok.status == 200


# -- a call: Record-Route, ACK and BYE end to end (§16.6 step 4, §16.12) -------------------


async def call(alice: Phone, bob: Phone) -> tuple[Request, Request, list[str]]:
    """alice calls bob, bob answers: the INVITE sent, the INVITE bob got and the
    route set alice learned from the 200 (§12.1.2)."""
    invite = alice.build("INVITE", bob.aor, body=SDP, contact=f"<{alice.contact}>")
    alice.send(invite)
    trying = response_of(await alice.receive())
    assert trying.status == 100  # §16.2: at once
    got = await bob.expect("INVITE")
    bob.answer(got, 180)
    assert status(await alice.expect(180)) == 180
    bob.answer(got, 200, body=SDP)
    ok = response_of(await alice.expect(200))
    routes = [str(r.uri) for r in ok.record_route]
    return invite, request_of(got), routes


def in_dialog(alice: Phone, method: str, invite: Request, routes: list[str], callee: str,
              *, cseq: int | None = None) -> Request:
    request = alice.build(method, callee, call_id=invite.call_id,
                          cseq=cseq if cseq is not None else invite.cseq.seq,
                          to="<sip:bob@example.com>;tag=callee",
                          headers=[("Route", f"<{r}>") for r in routes])
    request.headers.set("From", invite.headers["From"])
    return request


async def test_call_with_record_route(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    invite, reached, routes = await call(alice, bob)
    assert [str(r.uri.copy(user=None)) for r in reached.record_route] == [
        record_route(server.address())]
    assert [str(URI.parse(r).copy(user=None)) for r in routes] == [
        record_route(server.address())]
    assert reached.record_route[0].uri.user  # the signed token (RouteToken)

    # the ACK for the 2xx goes through the proxy (Route) to bob's Contact, no transaction
    alice.send(in_dialog(alice, "ACK", invite, routes, bob.contact))
    ack = request_of(await bob.expect("ACK"))
    assert str(ack.uri) == bob.contact and ack.route == []  # our Route removed (§16.4)

    bye = in_dialog(alice, "BYE", invite, routes, bob.contact, cseq=invite.cseq.seq + 1)
    alice.send(bye)
    got = await bob.expect("BYE")
    assert str(request_of(got).uri) == bob.contact
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_after_the_2xx_retransmissions_still_pass_with_transactions_compacted(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    invite = alice.build("INVITE", bob.aor, body=SDP, contact=f"<{alice.contact}>")
    alice.send(invite)
    got = await bob.expect("INVITE")
    ok = bob.answer(got, 200, body=SDP)
    first = response_of(await alice.expect(200))
    # Accepted (RFC 6026 §8.6, §8.4) for 64*T1: both INVITE transactions keep
    # their requests as bytes only
    invites = [tx for tx in server.engine.transactions if tx.method == "INVITE"]
    assert len(invites) == 2 and all(tx.state.name == "ACCEPTED" for tx in invites)
    assert all(tx._request is None for tx in invites)
    # and so does the finished response context that waits for them to end
    [proxied] = server.engine._contexts
    assert proxied.context.finished and proxied.request is None
    # nor its targets: a finished context starts no branch (§16.7 step 5)
    assert proxied.context.targets is None
    assert all(proxied.context.branch_target(key) is None for key in proxied.context._branches)
    # the callee retransmits its 2xx until the ACK (§13.3.1.4): passed on
    # upstream unchanged (§16.7 step 10); a retransmitted INVITE is absorbed
    bob.send(ok, got.source)
    again = response_of(await alice.expect(200))
    assert bytes(again) == bytes(first)
    alice.send(invite)
    assert [r for r in await bob.silence(0.2) if isinstance(r.message, Request)] == []
    routes = [str(r.uri) for r in first.record_route]
    alice.send(in_dialog(alice, "ACK", invite, routes, bob.contact))
    assert request_of(await bob.expect("ACK")).method == "ACK"


async def test_a_proxied_non_invite_answered_over_udp_keeps_only_its_response_bytes(
        serve: Serve, phone: OpenPhone) -> None:
    # §17.2.2: the server transaction answers retransmissions of the request
    # with its final response until Timer J (64*T1 over UDP). Once that
    # response is sent upstream the proxy has nothing else to send for a
    # non-INVITE request (§16.7 step 9), so the transaction becomes a table
    # entry of bytes, and the response context waits only for the client
    # transaction's Timer K (T4 over UDP, §17.1.2.2).
    server = await serve(t4=0.3)
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    engine = server.engine
    retired = engine.transactions.retired  # bob's REGISTER
    sent = alice.build("MESSAGE", bob.aor, body=b"hello")
    alice.send(sent)
    got = await bob.expect("MESSAGE")
    bob.answer(got, 202)
    first = response_of(await alice.expect(202))
    assert engine.transactions.retired == retired + 1
    [client] = engine.transactions  # the server one is no object any more
    assert isinstance(client, ClientTransaction) and client.method == "MESSAGE"
    assert engine._incoming == {}
    [proxied] = engine._contexts
    assert proxied.server_gone and proxied.context.finished
    # a retransmission is answered from the table, byte for byte, and not forwarded
    alice.send(sent)
    assert bytes(response_of(await alice.expect(202))) == bytes(first)
    assert [r for r in await bob.silence(0.1) if isinstance(r.message, Request)] == []
    # Timer K ends the client transaction: the context is gone, the entry stays
    deadline = time.monotonic() + 5
    while engine._contexts and time.monotonic() < deadline:
        await bob.silence(0.05)
    assert not engine._contexts and len(engine.transactions) == 0
    assert engine.transactions.retired == retired + 1
    alice.send(sent)
    assert bytes(response_of(await alice.expect(202))) == bytes(first)


async def test_a_branch_whose_held_datagram_cannot_be_sent_counts_as_503(
        serve: Serve, phone: OpenPhone) -> None:
    # serve holds UDP sends to the end of the loop's round (udp_coalesce_sends);
    # a send that fails then still reaches the branch's client transaction
    # (§18.4, §17.1.4), which answers it 503 (§16.9): the only response, so
    # the caller gets 500 (§16.7 step 6)
    server = await serve(t1=0.5, t2=4.0)  # the first retransmission 500 ms later
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    listener = server.engine.transport._udp[0]
    socket_io = listener._io
    assert socket_io is not None
    bob_port = str(bob.port)

    class Unreachable:
        def __getattr__(self, name: str) -> object:
            return getattr(socket_io, name)

        def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
            if str(addr[1]) == bob_port:
                raise OSError(errno.EHOSTUNREACH, "No route to host")
            socket_io.sendto(data, addr)

    listener._io = Unreachable()  # type: ignore[assignment]
    started = time.monotonic()
    try:
        answer = await alice.request(alice.build("MESSAGE", bob.aor, body=b"hi"))
    finally:
        listener._io = socket_io
    assert status(answer) == 500
    # from the first send, not from a retransmission (Timer E, T1 = 500 ms)
    assert time.monotonic() - started < 0.4
    assert await bob.silence(0.1) == []


async def test_call_without_record_route(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(record_route=False)
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    _, reached, routes = await call(alice, bob)
    assert reached.record_route == [] and routes == []


async def test_call_from_tcp_to_udp(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server, transport="tcp")
    bob = await phone("bob", server)
    await registered(bob)
    _, reached, routes = await call(alice, bob)
    assert reached.via[0].transport == "UDP" and reached.via[1].transport == "TCP"
    assert routes


# -- forking (§16.6, §16.7 step 10) ---------------------------------------------------------


async def test_parallel_fork_one_answers_the_other_is_cancelled(serve: Serve,
                                                                phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    desk, mobile = await phone("bob", server), await phone("bob", server)
    await registered(desk)
    await registered(mobile)
    alice.send(alice.build("INVITE", "sip:bob@example.com", body=SDP))
    at_desk, at_mobile = await desk.expect("INVITE"), await mobile.expect("INVITE")
    mobile.answer(at_mobile, 180, to_tag="mobile")
    assert status(await alice.expect(180)) == 180
    desk.answer(at_desk, 200, to_tag="desk", body=SDP)
    ok = response_of(await alice.expect(200))
    assert ok.to.tag == "desk"

    # the ringing branch is cancelled; its 487 is ACKed by the proxy and goes no further
    cancel = await mobile.expect("CANCEL")
    assert request_of(cancel).via[0].branch == request_of(at_mobile).via[0].branch
    mobile.answer(cancel, 200, to_tag="mobile")
    mobile.answer(at_mobile, 487, to_tag="mobile")
    ack = request_of(await mobile.expect("ACK"))
    assert ack.via[0].branch == request_of(at_mobile).via[0].branch  # §17.1.1.3
    assert [r for r in await alice.silence(0.3) if status(r) == 487] == []


async def test_every_branch_fails_best_response_wins(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    desk, mobile = await phone("bob", server), await phone("bob", server)
    await registered(desk)
    await registered(mobile)
    alice.send(alice.build("INVITE", "sip:bob@example.com", body=SDP))
    at_desk, at_mobile = await desk.expect("INVITE"), await mobile.expect("INVITE")
    desk.answer(at_desk, 486, to_tag="desk")
    mobile.answer(at_mobile, 404, to_tag="mobile")
    assert status(await alice.expect(486)) == 486  # §16.7 step 6: 404 says least


async def test_sequential_fork_tries_lower_q_after_a_failure(serve: Serve,
                                                             phone: OpenPhone) -> None:
    server = await serve(forking="sequential")
    alice = await phone("alice", server)
    desk, mobile = await phone("bob", server), await phone("bob", server)
    await registered(desk, contact=f"<{desk.contact}>;q=1.0")
    await registered(mobile, contact=f"<{mobile.contact}>;q=0.5")
    alice.send(alice.build("MESSAGE", "sip:bob@example.com"))
    at_desk = await desk.expect("MESSAGE")
    assert await mobile.silence(0.2) == []  # not yet: the higher q first
    desk.answer(at_desk, 480, to_tag="desk")
    at_mobile = await mobile.expect("MESSAGE")
    mobile.answer(at_mobile, 200, to_tag="mobile")
    assert response_of(await alice.expect(200)).to.tag == "mobile"


# -- CANCEL (§16.10) ------------------------------------------------------------------------


async def test_cancel_reaches_the_ringing_callee(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    invite = alice.build("INVITE", bob.aor, body=SDP)
    alice.send(invite)
    got = await bob.expect("INVITE")
    bob.answer(got, 180)
    assert status(await alice.expect(180)) == 180

    cancel = Request.build("CANCEL", invite.uri, from_=invite.from_, to=invite.to,
                           call_id=invite.call_id, cseq=invite.cseq.seq, via=invite.via[0])
    alice.send(cancel)
    assert response_of(await alice.expect(200)).cseq.method == "CANCEL"  # §9.2
    downstream = await bob.expect("CANCEL")
    bob.answer(downstream, 200)
    bob.answer(got, 487)
    terminated = response_of(await alice.expect(487))
    assert terminated.cseq.method == "INVITE"
    assert request_of(await bob.expect("ACK")).cseq.method == "ACK"


async def test_cancel_matching_nothing_is_481(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    cancel = alice.build("CANCEL", "sip:bob@example.com")
    assert status(await alice.request(cancel)) == 481


# -- timeouts (§16.7 step 6, §16.8) ---------------------------------------------------------


async def test_no_answer_at_all_is_408(serve: Serve, phone: OpenPhone) -> None:
    # T1 = 10 ms: Timer B = 64*T1 = 0.64 s; bob never answers (not even 100)
    server = await serve(t1=0.01, t2=0.08)
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    alice.send(alice.build("INVITE", bob.aor, body=SDP))
    assert status(await alice.expect(408, timeout=4)) == 408
    retransmissions = [r for r in await bob.silence(0.1) if isinstance(r.message, Request)]
    assert all(request_of(r).method == "INVITE" for r in retransmissions)


async def test_non_invite_without_answer_is_408(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(t1=0.01, t2=0.08)  # Timer F = 64*T1 = 0.64 s
    alice, bob = await phone("alice", server), await phone("bob", server)
    await registered(bob)
    got = await alice.request(alice.build("MESSAGE", bob.aor), timeout=4)
    assert status(got) == 408


# -- operating: trace --------------------------------------------------------------------------


async def test_trace_prints_every_message_with_direction(serve: Serve,
                                                         phone: OpenPhone) -> None:
    server = await serve()
    stream = io.StringIO()
    server.engine.tracer = Tracer(stream)
    alice = await phone("alice", server)
    await registered(alice)
    host, port = server.address()
    text = stream.getvalue()
    assert f"recv UDP 127.0.0.1:{alice.port} -> {host}:{port}" in text
    assert f"sent UDP {host}:{port} -> 127.0.0.1:{alice.port}" in text
    assert "REGISTER sip:example.com SIP/2.0" in text and "SIP/2.0 200 OK" in text


async def test_broken_request_uri_is_400(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(relay=True)
    alice = await phone("alice", server)
    request = alice.build("MESSAGE", "sip:bob@example.com")
    data = bytes(request).replace(b"MESSAGE sip:bob@example.com", b"MESSAGE sip:bob@[bad")
    alice.send(data)
    assert status(await alice.expect(400)) == 400
