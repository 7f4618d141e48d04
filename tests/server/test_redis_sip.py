"""Two ``sipwire serve`` nodes sharing one Redis location store (RFC 3261 §10:
the location service is one, whichever registrar or proxy uses it)."""

from __future__ import annotations

import uuid

from sipwire.auth import DigestClient, MemoryUserStore

from .conftest import OpenPhone, Serve
from .phone import request_of, response_of, status


async def test_binding_registered_on_one_node_is_used_by_the_other(
        serve: Serve, phone: OpenPhone, redis_url: str) -> None:
    node1 = await serve(store=redis_url)
    node2 = await serve(store=redis_url)
    assert node1.address() != node2.address()
    user = f"alice{uuid.uuid4().hex[:8]}"
    alice = await phone(user, node1)
    assert status(await alice.request(alice.register(expires=60))) == 200

    bob = await phone("bob", node2)
    bob.send(bob.build("OPTIONS", alice.aor))
    got = await alice.expect("OPTIONS")
    assert got.source == node2.address()  # came through node 2
    assert str(request_of(got).uri) == alice.contact
    alice.answer(got, 200)
    assert status(await bob.expect(200)) == 200

    # and a call through node 2
    bob.send(bob.build("INVITE", alice.aor, body=b"v=0\r\n"))
    got = await alice.expect("INVITE")
    alice.answer(got, 486)
    assert status(await bob.expect(486)) == 486

    # unregistering through node 2 is seen by node 1
    alice.server = node2.address()
    assert status(await alice.request(alice.register(expires=0))) == 200
    assert await node1.store.lookup(alice.aor, node1.clock()) == []


async def test_nodes_sharing_a_secret_accept_each_others_nonces(
        serve: Serve, phone: OpenPhone, redis_url: str) -> None:
    users = MemoryUserStore()
    user = f"carol{uuid.uuid4().hex[:8]}"
    users.add(user, "example.com", "pw")
    node1 = await serve(store=redis_url, auth="on", user_store=users, secret="shared")
    node2 = await serve(store=redis_url, auth="on", user_store=users, secret="shared")
    carol = await phone(user, node1)
    request = carol.register()
    challenge = response_of(await carol.request(request))  # nonce of node 1
    retry = DigestClient(user, "pw").answer(challenge, request)
    assert retry is not None
    carol.server = node2.address()
    assert status(await carol.request(retry)) == 200
    assert len(await node1.store.lookup(carol.aor, node1.clock())) == 1
