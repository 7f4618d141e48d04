"""Two endpoints over real sockets on 127.0.0.1: the UAC and UAS behaviour of RFC 3261 §8,
the transactions of §17 and the transports of §18 working together."""

from __future__ import annotations

import asyncio
import time

import pytest

from sipwire import Request, Response
from sipwire.auth import Authenticated, DigestClient, DigestServer, MemoryUserStore
from sipwire.transport import Flow, Target, Transport, TransportConfig
from sipwire.ua import Endpoint, ServerTransactionHandle, build_in_dialog_request

from .conftest import FAST, QUICK, TIMEOUT, MakeEndpoint, port, request, uri

TRANSPORTS = ["udp", "tcp", "tls", "ws", "wss"]


async def test_listening_points_and_contact(make_endpoint: MakeEndpoint,
                                            tls_config: TransportConfig) -> None:
    ep = await make_endpoint("udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0",
                             "ws:127.0.0.1:0", transport=tls_config)
    assert [p.transport for p in ep.listening_points] == [
        Transport.UDP, Transport.TCP, Transport.TLS, Transport.WS]
    assert all(p.port for p in ep.listening_points)
    assert str(ep.contact()) == f"sip:127.0.0.1:{port(ep)}"
    tcp = port(ep, "tcp")
    assert str(ep.contact("tcp", user="bob")) == f"sip:bob@127.0.0.1:{tcp};transport=tcp"
    assert str(ep.contact("tls")) == f"sips:127.0.0.1:{port(ep, 'tls')}"
    with pytest.raises(ValueError):
        ep.contact("wss")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_request_and_final_response(make_endpoint: MakeEndpoint, transport: str,
                                          tls_config: TransportConfig) -> None:
    server = await make_endpoint(f"{transport}:127.0.0.1:0", transport=tls_config)
    client = await make_endpoint("udp:127.0.0.1:0", transport=tls_config)
    seen: list[tuple[Request, Flow]] = []

    @server.handles("MESSAGE")
    async def message(req: Request, tx: ServerTransactionHandle) -> Response:
        seen.append((req, tx.flow))
        return tx.reply(200, body=req.body, content_type="text/plain")

    req = request("MESSAGE", uri(server, transport), body=b"hello", content_type="text/plain")
    handle = client.send(req)
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    assert response.status == 200 and response.body == b"hello" and not handle.synthetic
    assert [r.status for r in handle.responses] == [200]
    assert handle.flow is not None and handle.flow.transport == transport.upper()
    assert req.via[0].transport == transport.upper()  # stamped by the transport (§18.1.1)
    [(received, flow)] = seen
    assert flow.transport == transport.upper() and received.call_id == req.call_id


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_provisional_responses_arrive_before_the_final(
        make_endpoint: MakeEndpoint, transport: str) -> None:
    server = await make_endpoint(f"{transport}:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    go_on = asyncio.Event()
    acked: list[Request | None] = []

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(180)
        await go_on.wait()
        await tx.respond(tx.reply(200, contact=server.contact(transport)))
        acked.append(await tx.wait_ack())

    inv = request("INVITE", uri(server, transport), contact=client.contact())
    handle = client.send(inv)
    statuses = []
    async with asyncio.timeout(TIMEOUT):
        async for response in handle:
            statuses.append(response.status)
            if response.status == 180:
                assert not handle.done  # it came before the final response
                go_on.set()
    assert statuses == [180, 200]
    final = handle.final_response
    assert final is not None and final.to.tag == handle.responses[0].to.tag  # one dialog
    ack = await client.ack(inv, final)
    assert ack.cseq.seq == inv.cseq.seq and ack.cseq.method == "ACK"
    assert ack.via[0].branch != inv.via[0].branch  # not part of the INVITE transaction
    async with asyncio.timeout(TIMEOUT):
        while not acked:
            await asyncio.sleep(0.005)
    assert acked[0] is not None and acked[0].call_id == inv.call_id


async def test_request_returns_the_final_response(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(202), "SUBSCRIBE")
    response = await asyncio.wait_for(client.request(request("SUBSCRIBE", uri(server))),
                                      TIMEOUT)
    assert response.status == 202


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_cancel_of_a_pending_invite_gets_487_and_200(
        make_endpoint: MakeEndpoint, transport: str) -> None:
    server = await make_endpoint(f"{transport}:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    handles: list[ServerTransactionHandle] = []
    handler_cancelled = asyncio.Event()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        handles.append(tx)
        await tx.respond(180)
        try:
            await asyncio.Event().wait()  # never answers: the user does not pick up
        except asyncio.CancelledError:
            handler_cancelled.set()
            raise

    handle = client.send(request("INVITE", uri(server, transport), contact=client.contact()))
    cancel_response = await asyncio.wait_for(handle.cancel(), TIMEOUT)
    assert cancel_response is not None and cancel_response.status == 200  # §9.2
    final = await asyncio.wait_for(handle.final(), TIMEOUT)
    assert final.status == 487
    assert [r.status for r in handle.responses] == [180, 487]
    assert cancel_response.to.tag == final.to.tag  # §9.2: the same To tag
    await asyncio.wait_for(handler_cancelled.wait(), TIMEOUT)
    assert handles[0].cancelled and handles[0].final_response is not None


async def test_cancel_waits_for_a_provisional_response(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    requests: list[str] = []
    server.receive_filter = lambda m, f: requests.append(str(getattr(m, "method", ""))) or True
    ring = asyncio.Event()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await ring.wait()
        await tx.respond(180)
        await asyncio.Event().wait()

    handle = client.send(request("INVITE", uri(server), contact=client.contact()))
    cancelling = asyncio.ensure_future(handle.cancel())
    await asyncio.sleep(0.05)
    assert "CANCEL" not in requests  # §9.1: not before a provisional response
    ring.set()
    response = await asyncio.wait_for(cancelling, TIMEOUT)
    assert response is not None and response.status == 200
    assert (await asyncio.wait_for(handle.final(), TIMEOUT)).status == 487


async def test_cancel_after_the_final_response_sends_nothing(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(486), "INVITE")
    handle = client.send(request("INVITE", uri(server), contact=client.contact()))
    assert (await asyncio.wait_for(handle.final(), TIMEOUT)).status == 486
    assert await handle.cancel() is None


async def test_a_2xx_crossing_the_cancel_is_acknowledged_and_ended(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    cancel_lost = asyncio.Event()
    byes: list[Request] = []
    acks: list[Request | None] = []

    def lose_cancel(message: Request | Response, flow: Flow) -> bool:
        if isinstance(message, Request) and message.method == "CANCEL":
            cancel_lost.set()
            return False
        return True

    server.receive_filter = lose_cancel

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(180)
        await cancel_lost.wait()
        await tx.respond(tx.reply(200, contact=server.contact()))
        acks.append(await tx.wait_ack())

    @server.handles("BYE")
    async def bye(req: Request, tx: ServerTransactionHandle) -> Response:
        byes.append(req)
        return tx.reply(200)

    handle = client.send(request("INVITE", uri(server), contact=client.contact()))
    cancel_response = await asyncio.wait_for(handle.cancel(), TIMEOUT)
    assert cancel_response is not None and cancel_response.status == 408  # lost: Timer F
    assert (await asyncio.wait_for(handle.final(), TIMEOUT)).status == 200
    async with asyncio.timeout(TIMEOUT):
        while not (byes and acks):
            await asyncio.sleep(0.005)
    assert acks[0] is not None
    assert byes[0].cseq.seq == handle.request.cseq.seq + 1


@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
async def test_no_answer_ends_in_408_after_timer_f_or_b(make_endpoint: MakeEndpoint,
                                                         method: str) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    server.receive_filter = lambda message, flow: False  # a black hole
    client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    started = time.monotonic()
    handle = client.send(request(method, uri(server)))
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    elapsed = time.monotonic() - started
    assert handle.synthetic
    assert response.status == 408 and response.reason == "Request Timeout"  # §8.1.3.1
    assert 64 * FAST.t1 * 0.9 <= elapsed < 64 * FAST.t1 + 1.0


async def test_a_connection_refused_ends_in_503(make_endpoint: MakeEndpoint) -> None:
    client = await make_endpoint("udp:127.0.0.1:0")
    free = await make_endpoint("tcp:127.0.0.1:0")
    closed_port = port(free, "tcp")
    await free.close()
    response = await asyncio.wait_for(
        client.request(request("OPTIONS", f"sip:bob@127.0.0.1:{closed_port};transport=tcp")),
        TIMEOUT)
    assert response.status == 503  # §8.1.3.1


async def test_a_lost_request_is_retransmitted_and_answered(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    copies: list[Request] = []

    def drop_first(message: Request | Response, flow: Flow) -> bool:
        if isinstance(message, Request):
            copies.append(message)
            return len(copies) > 1
        return True

    server.receive_filter = drop_first
    calls = 0

    @server.handles("MESSAGE")
    async def message(req: Request, tx: ServerTransactionHandle) -> Response:
        nonlocal calls
        calls += 1
        return tx.reply(200)

    response = await asyncio.wait_for(client.request(request("MESSAGE", uri(server))),
                                      TIMEOUT)
    assert response.status == 200
    assert len(copies) >= 2 and calls == 1  # Timer E retransmitted it (§17.1.2.2)
    assert bytes(copies[0]) == bytes(copies[1])


async def test_a_lost_response_is_sent_again_for_the_retransmission(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    responses = 0

    def drop_first_response(message: Request | Response, flow: Flow) -> bool:
        nonlocal responses
        if isinstance(message, Response):
            responses += 1
            return responses > 1
        return True

    client.receive_filter = drop_first_response
    calls = 0

    @server.handles("MESSAGE")
    async def message(req: Request, tx: ServerTransactionHandle) -> Response:
        nonlocal calls
        calls += 1
        return tx.reply(200)

    response = await asyncio.wait_for(client.request(request("MESSAGE", uri(server))),
                                      TIMEOUT)
    assert response.status == 200 and calls == 1 and responses >= 2  # §17.2.2


async def test_a_2xx_is_retransmitted_until_the_ack(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    client = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    received_2xx = 0

    def count(message: Request | Response, flow: Flow) -> bool:
        nonlocal received_2xx
        if isinstance(message, Response) and message.status == 200:
            received_2xx += 1
        return True

    client.receive_filter = count
    acked: asyncio.Future[Request | None] = asyncio.get_running_loop().create_future()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(tx.reply(200, contact=server.contact()))
        acked.set_result(await tx.wait_ack())

    inv = request("INVITE", uri(server), contact=client.contact())
    final = await asyncio.wait_for(client.request(inv), TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        while received_2xx < 3:  # §13.3.1.4: at T1, 2*T1 ... until the ACK
            await asyncio.sleep(0.005)
    await client.ack(inv, final)
    ack = await asyncio.wait_for(acked, TIMEOUT)
    assert ack is not None and ack.cseq.method == "ACK"
    seen = received_2xx
    await asyncio.sleep(8 * QUICK.t1)
    assert received_2xx <= seen + 1  # at most one was on its way


async def test_a_lost_ack_is_sent_again_for_the_retransmitted_2xx(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    client = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    acks = 0

    def drop_first_ack(message: Request | Response, flow: Flow) -> bool:
        nonlocal acks
        if isinstance(message, Request) and message.method == "ACK":
            acks += 1
            return acks > 1
        return True

    server.receive_filter = drop_first_ack
    acked: asyncio.Future[Request | None] = asyncio.get_running_loop().create_future()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(tx.reply(200, contact=server.contact()))
        acked.set_result(await tx.wait_ack())

    inv = request("INVITE", uri(server), contact=client.contact())
    final = await asyncio.wait_for(client.request(inv), TIMEOUT)
    sent = await client.ack(inv, final)
    ack = await asyncio.wait_for(acked, TIMEOUT)
    assert ack is not None and acks >= 2  # §13.2.2.4: the ACK again for each 2xx
    assert ack.via[0].branch == sent.via[0].branch


async def test_no_ack_gives_up_after_64_t1(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    client = await make_endpoint("udp:127.0.0.1:0")
    acked: asyncio.Future[Request | None] = asyncio.get_running_loop().create_future()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(tx.reply(200, contact=server.contact()))
        acked.set_result(await tx.wait_ack())

    inv = request("INVITE", uri(server), contact=client.contact())
    assert (await asyncio.wait_for(client.request(inv), TIMEOUT)).status == 200
    assert await asyncio.wait_for(acked, TIMEOUT) is None


async def test_wait_ack_after_a_non_2xx_returns_none(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    acked: asyncio.Future[Request | None] = asyncio.get_running_loop().create_future()

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(486)
        acked.set_result(await tx.wait_ack())

    inv = request("INVITE", uri(server), contact=client.contact())
    assert (await asyncio.wait_for(client.request(inv), TIMEOUT)).status == 486
    assert await asyncio.wait_for(acked, TIMEOUT) is None


@pytest.mark.parametrize("method", ["MESSAGE", "INVITE"])
async def test_a_digest_challenge_is_answered(make_endpoint: MakeEndpoint, method: str) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0",
                                 credentials=DigestClient("alice", "wonderland"))
    users = MemoryUserStore()
    users.add("alice", "example.com", "wonderland")
    digest = DigestServer("example.com")
    seen: list[Request] = []

    async def guarded(req: Request, tx: ServerTransactionHandle) -> Response:
        seen.append(req)
        verdict = digest.verify(req, users.get, time.time())
        if verdict.response is not None:
            return verdict.response
        assert isinstance(verdict, Authenticated)
        return tx.reply(200, contact=server.contact())

    server.on_request(guarded, method)
    req = request(method, uri(server), contact=client.contact())
    started = time.monotonic()
    handle = client.send(req)
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    assert response.status == 200
    assert time.monotonic() - started < 0.45  # the retry went at once, not on Timer A/E
    assert [r.status for r in handle.challenges] == [401]
    assert [r.cseq.seq for r in seen] == [1, 2]  # §22.2: CSeq incremented
    assert seen[0].via[0].branch != seen[1].via[0].branch  # a new transaction
    assert handle.request.headers.get("Authorization") is not None
    if method == "INVITE":
        ack = await client.ack(req, response)  # the INVITE before the retry will do
        assert ack.cseq.seq == 2 and ack.headers.get("Authorization") is not None


async def test_wrong_credentials_end_with_the_challenge(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0",
                                 credentials=DigestClient("alice", "looking-glass"))
    users = MemoryUserStore()
    users.add("alice", "example.com", "wonderland")
    digest = DigestServer("example.com")

    async def guarded(req: Request, tx: ServerTransactionHandle) -> Response:
        verdict = digest.verify(req, users.get, time.time())
        return verdict.response or tx.reply(200)

    server.on_request(guarded, "MESSAGE")
    handle = client.send(request("MESSAGE", uri(server)))
    response = await asyncio.wait_for(handle.final(), TIMEOUT)
    assert response.status == 401 and len(handle.challenges) == 1  # §22.1: no retry


async def test_without_credentials_the_challenge_is_final(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    digest = DigestServer("example.com")
    server.on_request(_respond_with(lambda req: digest.challenge(req, time.time())), "MESSAGE")
    response = await asyncio.wait_for(client.request(request("MESSAGE", uri(server))),
                                      TIMEOUT)
    assert response.status == 401


async def test_a_merged_request_gets_482(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    release = asyncio.Event()

    @server.handles("MESSAGE")
    async def message(req: Request, tx: ServerTransactionHandle) -> Response:
        await release.wait()
        return tx.reply(200)

    first = request("MESSAGE", uri(server))
    second = first.copy()  # same From tag, Call-ID and CSeq, another branch: a fork
    second.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-fork-{id(second)}")
    one = client.send(first)
    await asyncio.sleep(0.02)
    merged = await asyncio.wait_for(client.request(second), TIMEOUT)
    assert merged.status == 482  # §8.2.2.2
    release.set()
    assert (await asyncio.wait_for(one.final(), TIMEOUT)).status == 200


async def test_unknown_method_gets_501_and_known_one_405_with_allow(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(200), "INVITE")
    unknown = await asyncio.wait_for(client.request(request("FROBNICATE", uri(server))),
                                     TIMEOUT)
    assert unknown.status == 501  # §8.2.1
    known = await asyncio.wait_for(client.request(request("SUBSCRIBE", uri(server))), TIMEOUT)
    assert known.status == 405
    assert known.headers.getall("Allow") == ["INVITE", "ACK", "CANCEL", "OPTIONS"]


async def test_options_is_answered_by_default(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0", supported=("timer",))
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(200), "MESSAGE", "BYE")
    response = await asyncio.wait_for(client.request(request("OPTIONS", uri(server))),
                                      TIMEOUT)
    assert response.status == 200  # §11.2
    assert response.headers.getall("Allow") == ["BYE", "OPTIONS", "MESSAGE"]
    assert response.headers.get("Accept") == "application/sdp"
    assert response.headers.get("Supported") == "timer"
    assert response.headers.get("Server", "").startswith("sipwire/")


async def test_a_handler_for_options_replaces_the_default(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(480))  # every method
    response = await asyncio.wait_for(client.request(request("OPTIONS", uri(server))),
                                      TIMEOUT)
    assert response.status == 480


async def test_a_failing_or_silent_handler_gets_500(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")

    async def broken(req: Request, tx: ServerTransactionHandle) -> Response:
        raise RuntimeError("boom")

    async def silent(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(100)

    server.on_request(broken, "MESSAGE")
    server.on_request(silent, "INFO")
    for method in ("MESSAGE", "INFO"):
        response = await asyncio.wait_for(client.request(request(method, uri(server))),
                                          TIMEOUT)
        assert response.status == 500


async def test_a_second_final_response_is_refused(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    errors: list[Exception] = []

    @server.handles("MESSAGE")
    async def message(req: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(202)
        try:
            await tx.respond(200)
        except RuntimeError as exc:
            errors.append(exc)

    response = await asyncio.wait_for(client.request(request("MESSAGE", uri(server))),
                                      TIMEOUT)
    assert response.status == 202 and len(errors) == 1


async def test_unsupported_scheme_416_and_extension_420(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0", supported=("timer",))
    client = await make_endpoint("udp:127.0.0.1:0")
    server.on_request(_answer(200), "MESSAGE")
    target = Target(Transport.UDP, "127.0.0.1", port(server))
    odd = request("MESSAGE", "im:bob@example.com")
    assert (await asyncio.wait_for(client.request(odd, target), TIMEOUT)).status == 416
    needs = request("MESSAGE", uri(server), headers=[("Require", "100rel, timer")])
    response = await asyncio.wait_for(client.request(needs), TIMEOUT)
    assert response.status == 420  # §8.2.2.3
    assert response.headers.getall("Unsupported") == ["100rel"]


async def test_a_cancel_for_nothing_gets_481(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    cancel = request("CANCEL", uri(server))
    assert (await asyncio.wait_for(client.request(cancel), TIMEOUT)).status == 481  # §9.2


async def test_a_bye_within_the_dialog(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("tcp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    byes: list[Request] = []

    @server.handles("INVITE")
    async def invite(req: Request, tx: ServerTransactionHandle) -> Response:
        return tx.reply(200, contact=server.contact("tcp"))

    @server.handles("BYE")
    async def bye(req: Request, tx: ServerTransactionHandle) -> Response:
        byes.append(req)
        return tx.reply(200)

    inv = request("INVITE", uri(server, "tcp"), contact=client.contact())
    final = await asyncio.wait_for(client.request(inv), TIMEOUT)
    await client.ack(inv, final)
    bye_request = build_in_dialog_request("BYE", inv, final, inv.cseq.seq + 1)
    assert (await asyncio.wait_for(client.request(bye_request), TIMEOUT)).status == 200
    assert byes[0].to.tag == final.to.tag and byes[0].from_.tag == inv.from_.tag


async def test_ack_has_no_transaction(make_endpoint: MakeEndpoint) -> None:
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(ValueError):
        client.send(request("ACK", "sip:bob@127.0.0.1:5060"))


async def test_a_duplicate_branch_is_an_error(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    server.receive_filter = lambda message, flow: False
    client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    req = request("OPTIONS", uri(server))
    client.send(req)
    with pytest.raises(ValueError):
        await asyncio.wait_for(client.send(req).final(), TIMEOUT)


async def test_close_ends_pending_requests_with_503(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    server.receive_filter = lambda message, flow: False
    client = Endpoint(["udp:127.0.0.1:0"])
    await client.start()
    handle = client.send(request("OPTIONS", uri(server)))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(client.close(), TIMEOUT)
    assert (await asyncio.wait_for(handle.final(), TIMEOUT)).status == 503
    await client.close()  # twice is fine
    with pytest.raises(Exception, match="closed"):
        client.send(request("OPTIONS", uri(server)))


async def test_stray_responses_and_acks_reach_their_hooks(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    client = await make_endpoint("udp:127.0.0.1:0")
    strays: list[Response] = []
    acks: list[Request] = []
    client.on_stray = lambda response, flow: strays.append(response)
    server.on_ack = lambda ack, flow: acks.append(ack)
    # an ACK that acknowledges nothing of the server's
    ack = request("ACK", uri(server))
    await client.send_direct(ack)
    # a response to a request the client never sent (its Via is the client's own)
    probe = request("OPTIONS", uri(client))
    probe.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{port(client)};branch=z9hG4bKnobody")
    await server.transport.send_response(probe.reply(200))
    async with asyncio.timeout(TIMEOUT):
        while not (strays and acks):
            await asyncio.sleep(0.005)


async def test_the_timer_is_one_call_at_at_the_next_deadline(
        make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    server.receive_filter = lambda message, flow: False
    client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    handles = [client.send(request("OPTIONS", uri(server))) for _ in range(5)]
    await asyncio.sleep(0.02)
    deadline = client.transactions.next_deadline()
    assert deadline is not None
    assert client._timer is not None and client._timer_when <= deadline
    for handle in handles:
        assert (await asyncio.wait_for(handle.final(), TIMEOUT)).status == 408


# -- helpers ------------------------------------------------------------------------------------


def _answer(status: int):  # type: ignore[no-untyped-def]
    async def answer(req: Request, tx: ServerTransactionHandle) -> Response:
        return tx.reply(status)
    return answer


def _respond_with(build):  # type: ignore[no-untyped-def]
    async def answer(req: Request, tx: ServerTransactionHandle) -> Response:
        response: Response = build(req)
        return response
    return answer
