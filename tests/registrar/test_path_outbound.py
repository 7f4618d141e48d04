"""Path (RFC 3327 §5.3) and outbound (RFC 5626 §6) at the registrar."""

from __future__ import annotations

from sipwire.location import MemoryStore, Source
from sipwire.registrar import Registrar

from .conftest import AOR, T0, register

INSTANCE = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
URN = "urn:uuid:00000000-0000-1000-8000-000A95A0E128"
FLOW1 = f"<sip:alice@192.0.2.4:5060;transport=tcp;ob>;+sip.instance={INSTANCE};reg-id=1"
FLOW2 = f"<sip:alice@192.0.2.4:5061;transport=tcp;ob>;+sip.instance={INSTANCE};reg-id=2"
OUTBOUND = "Supported: path, outbound"
EDGE_PATH = "Path: <sip:VskztcQ/S8p4WPbOnHbuyh5iJvJIW3ib@ep1.example.com;lr;ob>"

# -- Path ------------------------------------------------------------------------------


async def test_path_is_stored_and_echoed(registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(register(
        "<sip:UA1@192.0.2.4>", vias=3,
        headers=["Path: <sip:P3.EXAMPLEHOME.COM;lr>", "Path: <sip:P1.EXAMPLEVISITED.COM;lr>",
                 "Supported: path"]), T0)
    assert response.status == 200
    # RFC 3327 §5.3: "copies the Path header field values into a Path header
    # field in the successful (200 class) REGISTER response", order preserved
    assert response.headers.getall("Path") == [
        "<sip:P3.EXAMPLEHOME.COM;lr>", "<sip:P1.EXAMPLEVISITED.COM;lr>"]
    (b,) = await store.lookup(AOR, T0)
    assert b.path == ("<sip:P3.EXAMPLEHOME.COM;lr>", "<sip:P1.EXAMPLEVISITED.COM;lr>")


async def test_path_in_one_header_line(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(
        "<sip:UA1@192.0.2.4>", vias=3, headers=[
            "Path: <sip:p3.example.com;lr>, <sip:p1.example.net;lr>", "Supported: path"]), T0)
    (b,) = await store.lookup(AOR, T0)
    assert b.path == ("<sip:p3.example.com;lr>", "<sip:p1.example.net;lr>")


async def test_path_without_supported_path_is_420(registrar: Registrar,
                                                  store: MemoryStore) -> None:
    """RFC 3327 §5.3: "The recommended policy is for the registrar to reject the
    request with a 420 'Bad Extension' response indicating the Path extension"."""
    response = await registrar.handle(register(
        "<sip:UA1@192.0.2.4>", vias=2, headers=["Path: <sip:p1.example.net;lr>"]), T0)
    assert response.status == 420
    assert response.headers.getall("Unsupported") == ["path"]
    assert await store.aors(T0) == []


async def test_path_without_supported_path_by_policy(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], path_requires_supported=False)
    response = await registrar.handle(register(
        "<sip:UA1@192.0.2.4>", vias=2, headers=["Path: <sip:p1.example.net;lr>"]), T0)
    assert response.status == 200
    assert response.headers.getall("Path") == ["<sip:p1.example.net;lr>"]


async def test_path_support_off(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], path=False, outbound=False)
    response = await registrar.handle(register(
        "<sip:UA1@192.0.2.4>", vias=2, headers=["Path: <sip:p1.example.net;lr>"]), T0)
    assert response.status == 200
    assert "Path" not in response.headers and "Supported" not in response.headers
    (b,) = await store.lookup(AOR, T0)
    assert b.path == ()
    refused = await registrar.handle(register(headers=["Require: path"]), T0)
    assert refused.status == 420


async def test_query_with_path_echoes_it(registrar: Registrar) -> None:
    response = await registrar.handle(register(
        vias=2, headers=["Path: <sip:p1.example.net;lr>", "Supported: path"]), T0)
    assert response.status == 200
    assert response.headers.getall("Path") == ["<sip:p1.example.net;lr>"]


async def test_a_refresh_stores_the_new_path(registrar: Registrar, store: MemoryStore) -> None:
    ua = "<sip:UA1@192.0.2.4>"
    await registrar.handle(register(ua, vias=2, headers=[
        "Path: <sip:old.example.net;lr>", "Supported: path"]), T0)
    await registrar.handle(register(ua, cseq=1827, vias=2, headers=[
        "Path: <sip:new.example.net;lr>", "Supported: path"]), T0)
    (b,) = await store.lookup(AOR, T0)
    assert b.path == ("<sip:new.example.net;lr>",)


# -- +sip.instance and reg-id ----------------------------------------------------------


async def test_instance_and_reg_id_are_stored_and_returned(registrar: Registrar,
                                                           store: MemoryStore) -> None:
    source = Source("TCP", "192.0.2.4", 50000, "node1/tcp/9")
    response = await registrar.handle(register(FLOW1, headers=[OUTBOUND]), T0, source)
    assert response.status == 200
    (contact,) = response.contact
    assert contact.params["+sip.instance"] == INSTANCE
    assert contact.params["reg-id"] == "1"
    assert contact.expires == 3600
    # RFC 5626 §6: Require: outbound when the UA supports it and reg-id was used
    assert response.headers.getall("Require") == ["outbound"]
    (b,) = await store.lookup(AOR, T0)
    assert (b.instance_id, b.reg_id, b.source) == (URN, 1, source)


async def test_a_new_flow_registration_replaces_the_old_one(registrar: Registrar,
                                                            store: MemoryStore) -> None:
    """RFC 5626 §6: the binding is "between an AOR and the combination of the
    instance-id ... and the value of reg-id"; after a reboot the UA uses a new
    Call-ID and a new contact, and replaces its old flow."""
    await registrar.handle(register(FLOW1, headers=[OUTBOUND]), T0)
    rebooted = FLOW1.replace("192.0.2.4:5060", "203.0.113.77:41000")
    response = await registrar.handle(
        register(rebooted, call_id="after-reboot@ua", cseq=1, headers=[OUTBOUND]), T0 + 60)
    assert response.status == 200
    assert [str(c.uri) for c in response.contact] == [
        "sip:alice@203.0.113.77:41000;transport=tcp;ob"]
    (b,) = await store.lookup(AOR, T0 + 60)
    assert (b.call_id, b.reg_id, b.contact) == (
        "after-reboot@ua", 1, "sip:alice@203.0.113.77:41000;transport=tcp;ob")


async def test_two_flows_of_one_instance(registrar: Registrar, store: MemoryStore) -> None:
    await registrar.handle(register(FLOW1, headers=[OUTBOUND]), T0)
    await registrar.handle(register(FLOW2, call_id="flow2@ua", cseq=1, headers=[OUTBOUND]), T0)
    assert sorted(b.reg_id or 0 for b in await store.lookup(AOR, T0)) == [1, 2]
    # deregistering one flow keeps the other
    response = await registrar.handle(
        register(FLOW1 + ";expires=0", cseq=1827, headers=[OUTBOUND]), T0)
    assert [c.params["reg-id"] for c in response.contact] == ["2"]


async def test_a_flow_refresh_with_a_stale_cseq_fails(registrar: Registrar) -> None:
    await registrar.handle(register(FLOW1, cseq=5, headers=[OUTBOUND]), T0)
    response = await registrar.handle(register(FLOW1, cseq=5, headers=[OUTBOUND]), T0)
    assert response.status == 500


async def test_plain_and_flow_bindings_live_side_by_side(registrar: Registrar,
                                                         store: MemoryStore) -> None:
    """RFC 5626 §6: "MUST be prepared to receive, simultaneously for the same AOR,
    some registrations that use instance-id and reg-id and some that do not"."""
    await registrar.handle(register(FLOW1, headers=[OUTBOUND]), T0)
    await registrar.handle(register("<sip:alice@192.0.2.4:5060;transport=tcp;ob>",
                                    call_id="plain@ua", cseq=1), T0)
    bindings = await store.lookup(AOR, T0)
    assert sorted(str(b.reg_id) for b in bindings) == ["1", "None"]


async def test_no_require_outbound_without_supported_outbound(registrar: Registrar,
                                                              store: MemoryStore) -> None:
    response = await registrar.handle(register(FLOW1), T0)
    assert response.status == 200
    assert "Require" not in response.headers
    (b,) = await store.lookup(AOR, T0)
    assert b.reg_id == 1


async def test_reg_id_without_instance_is_ignored(registrar: Registrar,
                                                  store: MemoryStore) -> None:
    response = await registrar.handle(register(
        "<sip:alice@192.0.2.4;transport=tcp>;reg-id=1", headers=[OUTBOUND]), T0)
    assert response.status == 200
    assert "Require" not in response.headers  # §6: MUST NOT when reg-id was ignored
    (b,) = await store.lookup(AOR, T0)
    assert (b.instance_id, b.reg_id) == (None, None)


async def test_instance_without_reg_id_is_a_plain_binding(registrar: Registrar,
                                                          store: MemoryStore) -> None:
    await registrar.handle(register(f"<sip:alice@192.0.2.4>;+sip.instance={INSTANCE}"), T0)
    (b,) = await store.lookup(AOR, T0)
    assert (b.instance_id, b.reg_id, b.key) == (URN, None, "sip:alice@192.0.2.4")


async def test_first_hop_lacks_outbound_support(registrar: Registrar,
                                                store: MemoryStore) -> None:
    """RFC 5626 §6: not the first hop, and no Path with ;ob first: 439 when the
    UA asked for outbound."""
    response = await registrar.handle(register(FLOW1, vias=2, headers=[OUTBOUND]), T0)
    assert (response.status, response.reason) == (439, "First Hop Lacks Outbound Support")
    response = await registrar.handle(register(FLOW1, vias=2, headers=[
        OUTBOUND, "Path: <sip:edge.example.com;lr>"]), T0)
    assert response.status == 439
    assert await store.aors(T0) == []


async def test_not_first_hop_without_outbound_support_ignores_reg_id(
        registrar: Registrar, store: MemoryStore) -> None:
    response = await registrar.handle(register(FLOW1, vias=2), T0)
    assert response.status == 200
    (b,) = await store.lookup(AOR, T0)
    assert (b.instance_id, b.reg_id) == (URN, None)


async def test_through_an_outbound_edge_proxy(registrar: Registrar,
                                              store: MemoryStore) -> None:
    response = await registrar.handle(
        register(FLOW1, vias=2, headers=[OUTBOUND, EDGE_PATH]), T0)
    assert response.status == 200
    assert response.headers.getall("Require") == ["outbound"]
    assert response.headers.getall("Path") == [EDGE_PATH.removeprefix("Path: ")]
    (b,) = await store.lookup(AOR, T0)
    assert (b.reg_id, b.path) == (1, (EDGE_PATH.removeprefix("Path: "),))


async def test_one_flow_per_registration(registrar: Registrar, store: MemoryStore) -> None:
    """RFC 5626 §6: several Contacts with a non-zero expiration, one with a
    reg-id: 400."""
    response = await registrar.handle(
        register(FLOW1, "<sip:alice@192.0.2.9>", headers=[OUTBOUND]), T0)
    assert response.status == 400
    assert await store.aors(T0) == []
    # de-registering others in the same request is fine
    response = await registrar.handle(
        register(FLOW1, "<sip:alice@192.0.2.9>;expires=0", headers=[OUTBOUND]), T0)
    assert response.status == 200


async def test_outbound_off(store: MemoryStore) -> None:
    registrar = Registrar(store, ["example.com"], outbound=False)
    response = await registrar.handle(register(FLOW1, headers=[OUTBOUND]), T0)
    assert response.status == 200
    assert response.headers.getall("Supported") == ["path"]
    assert "Require" not in response.headers
    (b,) = await store.lookup(AOR, T0)
    assert b.reg_id is None
    refused = await registrar.handle(register(FLOW1, headers=["Require: outbound"]), T0)
    assert refused.status == 420
