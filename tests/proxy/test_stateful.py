"""The proxy's building blocks driven by the transaction layer, with no I/O:
a stateful proxy (RFC 3261 §16.2) in miniature, as ``sipwire serve`` drives it."""

from __future__ import annotations

from collections.abc import Sequence

import sipwire
from sipwire import Message, Request, Response
from sipwire.location import Binding, Source
from sipwire.proxy import (
    CancelBranch,
    ContextAction,
    Drop,
    ForwardResponse,
    ForwardTo,
    HandleLocally,
    LookUp,
    NextHop,
    ProxyConfig,
    ProxyCore,
    Respond,
    ResponseContext,
    TryTarget,
    branch_for,
    forward,
)
from sipwire.transaction import (
    Action,
    ClientTransaction,
    Deliver,
    Send,
    ServerTransaction,
    Timeout,
    TransactionLayer,
    TransportFailure,
)

from .builders import T0, binding, config, request

UPSTREAM = "upstream"


class MiniProxy:
    """A driver: the transaction layer below, ``ProxyCore`` and a
    ``ResponseContext`` per server transaction above; ``wire`` records what
    would be sent, with where to."""

    def __init__(self, cfg: ProxyConfig, bindings: dict[str, list[Binding]]) -> None:
        self.config = cfg
        self.core = ProxyCore(cfg)
        self.layer = TransactionLayer(detect_merged_requests=False)
        self.bindings = bindings
        self.wire: list[tuple[str, Message]] = []
        self.contexts: dict[ServerTransaction, tuple[ResponseContext, Request]] = {}
        self.owner: dict[ClientTransaction, ServerTransaction] = {}
        self.dest: dict[ClientTransaction, NextHop] = {}

    # -- below: the transaction layer -----------------------------------------------------

    def receive(self, message: Message, now: float) -> None:
        self.perform(self.layer.receive(sipwire.parse(bytes(message)), now), now)

    def tick(self, now: float) -> None:
        self.perform(self.layer.handle_timer(now), now)
        for server, (ctx, _) in list(self.contexts.items()):
            deadline = ctx.next_deadline()
            if deadline is not None and deadline <= now:
                self.run(server, ctx.handle_timer(now), now)

    def perform(self, actions: Sequence[Action], now: float) -> None:
        for action in actions:
            tx = action.transaction
            if isinstance(action, Send):
                where = str(self.dest[tx]) if isinstance(tx, ClientTransaction) else UPSTREAM
                self.wire.append((where, action.message))
            elif isinstance(action, Deliver):
                if isinstance(action.message, Request):
                    self.on_request(action.message, tx, now)  # type: ignore[arg-type]
                else:
                    self.on_response(action.message, tx, now)  # type: ignore[arg-type]
            elif isinstance(action, (Timeout, TransportFailure)) and action.response:
                self.on_response(action.response, tx, now)  # type: ignore[arg-type]

    # -- above: the proxy core ------------------------------------------------------------

    def on_request(self, req: Request, server: ServerTransaction | None, now: float) -> None:
        if req.method == "CANCEL" and server is not None:
            invite = self.layer.find_cancelled(req)
            self.perform(server.send(req.reply(200 if invite else 481), now), now)
            if invite is not None and invite in self.contexts:
                self.run(invite, self.contexts[invite][0].cancel(), now)
            return
        decision = self.core.receive(req)
        if isinstance(decision, LookUp):
            decision = self.core.resolve(decision, self.bindings.get(decision.aor, []), now)
        if isinstance(decision, Respond):
            assert server is not None
            self.perform(server.send(decision.response, now), now)
        elif isinstance(decision, ForwardTo) and decision.relay:
            # no auth policy here: nobody may relay (§16.5 local policy)
            assert server is not None
            self.perform(server.send(req.reply(403), now), now)
        elif isinstance(decision, ForwardTo):
            if server is None:  # an ACK for a 2xx: no transaction (§16.12)
                fwd = forward(decision.request, decision.targets.first, self.config,
                              branch_for(req))
                self.wire.append((str(fwd.next_hop), fwd.request))
                return
            ctx = self.core.context(server.request, decision.targets)
            self.contexts[server] = (ctx, decision.request)
            self.run(server, ctx.start(now), now)
        else:
            assert isinstance(decision, (Drop, HandleLocally))

    def on_response(self, response: Response, client: ClientTransaction, now: float) -> None:
        server = self.owner.get(client)
        if server is None:  # a response to one of our CANCELs
            return
        ctx, _ = self.contexts[server]
        self.run(server, ctx.on_response(client, response, now), now)

    def run(self, server: ServerTransaction, actions: Sequence[ContextAction],
            now: float) -> None:
        ctx, preprocessed = self.contexts[server]
        for action in actions:
            if isinstance(action, TryTarget):
                fwd = forward(preprocessed, action.target, self.config, action.branch)
                client = self.layer.create_client(fwd.request, reliable=False)
                self.owner[client] = server
                self.dest[client] = fwd.next_hop
                ctx.add_branch(client, fwd.request, now, action.target)
                self.perform(client.start(now), now)
            elif isinstance(action, ForwardResponse):
                self.perform(server.send(action.response, now), now)
            elif isinstance(action, CancelBranch):
                assert isinstance(action.key, ClientTransaction)
                cancel = self.layer.create_client(action.request, reliable=False)
                self.dest[cancel] = self.dest[action.key]
                self.perform(cancel.start(now), now)

    # -- reading the wire -----------------------------------------------------------------

    def sent_to(self, where: str) -> list[Message]:
        return [m for w, m in self.wire if w == where]

    def take(self) -> list[tuple[str, Message]]:
        out, self.wire = self.wire, []
        return out


def reply_from(sent: Message, status: int, to_tag: str) -> Response:
    assert isinstance(sent, Request)
    return sent.reply(status, to_tag=to_tag)


BOB1 = "udp:192.0.2.31:5060"
BOB2 = "udp:192.0.2.32:5060"


def bob_registered() -> dict[str, list[Binding]]:
    return {"sip:bob@example.com": [binding("sip:bob@192.0.2.31"),
                                    binding("sip:bob@192.0.2.32")]}


def test_parallel_fork_answered_on_one_branch_and_cancelled_on_the_other() -> None:
    proxy = MiniProxy(config(), bob_registered())
    invite = request()
    proxy.receive(invite, T0)
    [to1], [to2] = proxy.sent_to(BOB1), proxy.sent_to(BOB2)
    assert isinstance(to1, Request) and isinstance(to2, Request)
    assert (str(to1.uri), str(to2.uri)) == ("sip:bob@192.0.2.31", "sip:bob@192.0.2.32")
    assert to1.max_forwards == 69 and to1.record_route[0].uri.lr
    proxy.take()

    proxy.receive(reply_from(to1, 180, "b1"), T0 + 1)
    proxy.receive(reply_from(to2, 180, "b2"), T0 + 1)
    proxy.receive(reply_from(to1, 200, "b1"), T0 + 2)
    wire = proxy.take()
    up = [m for w, m in wire if w == UPSTREAM]
    got = [(m.status, m.to.tag) for m in up if isinstance(m, Response)]
    assert got == [(180, "b1"), (180, "b2"), (200, "b1")]
    assert all([v.branch for v in m.via] == ["z9hG4bK776asdhds"] for m in up)
    assert up[-1].record_route[0].uri == to1.record_route[0].uri  # Record-Route kept

    # the 2xx made the proxy CANCEL the other, ringing, branch (§16.7 step 10)
    [cancel] = [m for w, m in wire if w == BOB2]
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert cancel.via[0].branch == to2.via[0].branch
    proxy.receive(reply_from(cancel, 200, "b2"), T0 + 3)
    proxy.receive(reply_from(to2, 487, "b2"), T0 + 3)
    # the 487 is ACKed downstream and goes no further
    assert [m.method for w, m in proxy.take() if isinstance(m, Request)] == ["ACK"]
    assert proxy.sent_to(UPSTREAM) == []


def test_cancel_from_upstream_reaches_every_ringing_branch() -> None:
    # §16.10
    proxy = MiniProxy(config(), bob_registered())
    invite = request()
    proxy.receive(invite, T0)
    [to1], [to2] = proxy.sent_to(BOB1), proxy.sent_to(BOB2)
    proxy.receive(reply_from(to1, 180, "b1"), T0 + 1)
    proxy.receive(reply_from(to2, 180, "b2"), T0 + 1)
    proxy.take()

    cancel = request("CANCEL")
    proxy.receive(cancel, T0 + 2)
    wire = proxy.take()
    assert [(w, m.status) for w, m in wire if isinstance(m, Response)] == [(UPSTREAM, 200)]
    cancels = {w: m for w, m in wire if isinstance(m, Request)}
    assert set(cancels) == {BOB1, BOB2}
    assert all(m.method == "CANCEL" for m in cancels.values())
    assert cancels[BOB1].via[0].branch == to1.via[0].branch

    proxy.receive(reply_from(to1, 487, "b1"), T0 + 3)
    proxy.receive(reply_from(to2, 487, "b2"), T0 + 3)
    up = [m for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)]
    assert [m.status for m in up] == [487]


def test_busy_and_unknown_branches_answer_busy() -> None:
    proxy = MiniProxy(config(), bob_registered())
    proxy.receive(request(), T0)
    [to1], [to2] = proxy.sent_to(BOB1), proxy.sent_to(BOB2)
    proxy.take()
    proxy.receive(reply_from(to1, 404, "b1"), T0 + 1)
    proxy.receive(reply_from(to2, 486, "b2"), T0 + 1)
    wire = proxy.take()
    # each branch's 4xx is ACKed hop by hop by its client transaction (§17.1.1.3)
    assert sorted(w for w, m in wire if isinstance(m, Request) and m.method == "ACK") == [
        BOB1, BOB2]
    up = [m for w, m in wire if w == UPSTREAM]
    assert [m.status for m in up if isinstance(m, Response)] == [486]


def test_unregistered_user_is_404() -> None:
    proxy = MiniProxy(config(), {})
    proxy.receive(request(), T0)
    assert [m.status for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)] == [404]


def test_timer_c_cancels_a_branch_that_rings_forever() -> None:
    proxy = MiniProxy(config(), {"sip:bob@example.com": [binding("sip:bob@192.0.2.31")]})
    proxy.receive(request(), T0)
    [to1] = proxy.sent_to(BOB1)
    proxy.receive(reply_from(to1, 180, "b1"), T0 + 1)
    proxy.take()
    proxy.tick(T0 + 1 + proxy.config.timer_c)
    [cancel] = [m for w, m in proxy.take() if w == BOB1]
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    proxy.receive(reply_from(to1, 487, "b1"), T0 + 200)
    assert [m.status for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)] == [487]


def test_in_dialog_ack_and_bye_follow_our_record_route() -> None:
    # §16.12.1.1: later requests come with our Route on top and are forwarded
    # to the Request-URI, even with relaying off
    proxy = MiniProxy(config(relay=False), {})
    # the Record-Route value the INVITE got, with its token (RouteToken)
    invite = request()
    token = proxy.config.token.sign(invite.call_id, invite.from_.tag,
                                    caller_flow=Source("UDP", "192.0.2.20", 5060),
                                    callee_flow=Source("UDP", "192.0.2.31", 5060))
    route = f"Route: <sip:{token}@proxy.example.com:5060;lr>"
    ack = request("ACK", "sip:bob@192.0.2.31", to="<sip:bob@example.com>;tag=b1",
                  vias=["SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKack1"], headers=[route])
    proxy.receive(ack, T0)
    [(where, sent)] = proxy.take()
    assert where == BOB1
    assert isinstance(sent, Request) and sent.method == "ACK" and "Route" not in sent.headers
    assert sent.via[0].branch == branch_for(ack)

    bye = request("BYE", "sip:bob@192.0.2.31", to="<sip:bob@example.com>;tag=b1",
                  cseq=314160, headers=[route])
    proxy.receive(bye, T0 + 5)
    [(where, sent)] = proxy.take()
    assert where == BOB1 and isinstance(sent, Request) and sent.method == "BYE"
    proxy.receive(reply_from(sent, 200, "b1"), T0 + 6)
    assert [m.status for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)] == [200]


def test_request_for_a_foreign_domain_without_relaying_is_403() -> None:
    proxy = MiniProxy(config(relay=False), {})
    proxy.receive(request(uri="sip:carol@biloxi.example.org"), T0)
    assert [m.status for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)] == [403]


def test_in_dialog_request_with_a_forged_route_is_not_relayed() -> None:
    # a To tag and our Route without a valid token prove no dialog of ours
    proxy = MiniProxy(config(relay=False), {})
    bye = request("BYE", "sip:bob@192.0.2.31", to="<sip:bob@example.com>;tag=b1",
                  cseq=314160, headers=["Route: <sip:proxy.example.com:5060;lr>"])
    proxy.receive(bye, T0)
    assert [m.status for m in proxy.sent_to(UPSTREAM) if isinstance(m, Response)] == [403]
    assert proxy.sent_to(BOB1) == []
