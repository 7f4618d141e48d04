"""RFC 3261 §16.5: determining request targets from the location service,
with Path (RFC 3327 §5.4) and outbound (RFC 5626 §7)."""

from __future__ import annotations

import pytest

from sipwire import URI, Response
from sipwire.location import Source
from sipwire.proxy import Target, TargetSet, determine_targets, lookup_aor, needs_flow
from sipwire.proxy.targets import behind_nat

from .builders import T0, binding, config, request


def targets_of(result: TargetSet | Response) -> list[list[str]]:
    assert isinstance(result, TargetSet), result
    return [[str(t.uri) for t in group] for group in result.groups]


def test_served_domain_is_looked_up_canonically() -> None:
    # §16.5: "the Request-URI MUST first be canonicalized as described in Section 10.3"
    assert lookup_aor(request(uri="sip:b%6Fb@EXAMPLE.com:5060;user=phone"), config()) \
        == "sip:bob@example.com"


def test_foreign_domain_is_not_looked_up() -> None:
    assert lookup_aor(request(uri="sip:carol@biloxi.example.org"), config()) is None


def test_maddr_predetermines_the_target() -> None:
    # §16.5: "If the Request-URI of the request contains an maddr parameter,
    # the Request-URI MUST be placed into the target set as the only target"
    req = request(uri="sip:bob@example.com;maddr=198.51.100.9")
    assert lookup_aor(req, config()) is None
    assert targets_of(determine_targets(req, config(relay=True))) == [
        ["sip:bob@example.com;maddr=198.51.100.9"]]


def test_user_at_our_address_maps_to_the_single_domain() -> None:
    assert lookup_aor(request(uri="sip:bob@192.0.2.1"), config()) == "sip:bob@example.com"
    two = config(domains=frozenset({"example.com", "example.net"}))
    assert lookup_aor(request(uri="sip:bob@192.0.2.1"), two) is None


def test_foreign_domain_is_forwarded_to_the_request_uri_when_relaying() -> None:
    # §16.5: "the Request-URI MUST be placed into the target set as the only target"
    req = request(uri="sip:carol@biloxi.example.org")
    assert targets_of(determine_targets(req, config(relay=True))) == [
        ["sip:carol@biloxi.example.org"]]


def test_foreign_domain_is_403_without_relaying() -> None:
    result = determine_targets(request(uri="sip:carol@biloxi.example.org"), config())
    assert isinstance(result, Response)
    assert result.status == 403
    assert "relaying" in (result.headers.get("Warning") or "")


def test_relay_override_for_routed_requests() -> None:
    req = request(uri="sip:carol@biloxi.example.org")
    assert isinstance(determine_targets(req, config(), relay=True), TargetSet)


def test_aor_without_bindings_is_404() -> None:
    # §16.5: "If the Request-URI indicates a resource at this proxy that does
    # not exist, the proxy MUST return a 404"
    result = determine_targets(request(), config(), [], now=T0)
    assert isinstance(result, Response)
    assert result.status == 404


def test_known_user_without_bindings_is_480() -> None:
    # "If the target set remains empty ... SHOULD be the 480"
    result = determine_targets(request(), config(), [], now=T0, known=True)
    assert isinstance(result, Response) and result.status == 480


def test_expired_bindings_count_as_none() -> None:
    result = determine_targets(request(), config(), [binding("sip:bob@192.0.2.9")],
                               now=T0 + 7200)
    assert isinstance(result, Response) and result.status == 404


def test_bindings_whose_flows_are_dead_are_480() -> None:
    flow = Source("TCP", "198.51.100.4", 40000, "conn-1")
    bob = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                  reg_id=1, source=flow)
    result = determine_targets(request(), config(), [bob], now=T0,
                               flow_alive=lambda source: False)
    assert isinstance(result, Response)
    assert result.status == 480


def test_bindings_are_required_for_a_served_domain() -> None:
    with pytest.raises(ValueError):
        determine_targets(request(), config())


def test_parallel_forking_is_one_group_highest_q_first() -> None:
    bindings = [binding("sip:bob@192.0.2.9", q=0.5), binding("sip:bob@192.0.2.10", q=1.0),
                binding("sip:bob@192.0.2.11", q=0.5, updated_at=T0 + 1)]
    result = determine_targets(request(), config(), bindings, now=T0)
    assert targets_of(result) == [["sip:bob@192.0.2.10", "sip:bob@192.0.2.11",
                                   "sip:bob@192.0.2.9"]]


def test_sequential_forking_groups_equal_q() -> None:
    # §16.6: "Targets are processed from highest qvalue to lowest.  Targets
    # with equal qvalues may be processed in parallel."
    bindings = [binding("sip:bob@192.0.2.9", q=0.5), binding("sip:bob@192.0.2.10", q=1.0),
                binding("sip:bob@192.0.2.11", q=0.5), binding("sip:bob@192.0.2.12", q=0.1)]
    result = determine_targets(request(), config(forking="sequential"), bindings, now=T0)
    assert targets_of(result) == [["sip:bob@192.0.2.10"],
                                  ["sip:bob@192.0.2.11", "sip:bob@192.0.2.9"],
                                  ["sip:bob@192.0.2.12"]]


def test_a_target_is_in_the_set_once() -> None:
    # §16.5: "If a target URI is already present in the set (based on the
    # definition of equality for the URI type), it MUST NOT be added again."
    same = [binding("sip:bob@192.0.2.9"), binding("sip:bob@192.0.2.9:5060;x=1"),
            binding("sip:bob@192.0.2.9;x=1")]
    assert targets_of(determine_targets(request(), config(), same, now=T0)) == [
        ["sip:bob@192.0.2.9", "sip:bob@192.0.2.9:5060;x=1"]]  # an explicit port differs
    # user parts compare case-sensitively (§19.1.4)
    case = [binding("sip:bob@192.0.2.9"), binding("sip:BOB@192.0.2.9")]
    assert len(targets_of(determine_targets(request(), config(), case, now=T0))[0]) == 2


def test_path_is_kept_with_the_target() -> None:
    path = ("<sip:edge.example.com;lr;ob>", "<sip:p2.example.com;lr>")
    result = determine_targets(request(), config(), [binding("sip:bob@10.0.0.9", path=path)],
                               now=T0)
    assert isinstance(result, TargetSet)
    assert result.first.path == path
    assert result.first.flow is None  # the edge proxy owns the flow


def test_outbound_flow_is_the_target_flow() -> None:
    # RFC 5626 §7: "the proxy MUST send the request over the same 'logical
    # flow' saved with the binding"
    flow = Source("TCP", "198.51.100.4", 40000, "conn-1")
    bob = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                  reg_id=1, source=flow)
    result = determine_targets(request(), config(), [bob], now=T0,
                               flow_alive=lambda source: True)
    assert isinstance(result, TargetSet)
    assert result.first.flow == flow


def test_websocket_client_is_reached_over_its_connection() -> None:
    flow = Source("WSS", "198.51.100.4", 52000, "ws-3")
    bob = binding("sip:k5v1@df7jal23ls0d.invalid;transport=ws", source=flow)
    result = determine_targets(request(), config(), [bob], now=T0)
    assert isinstance(result, TargetSet) and result.first.flow == flow


def test_plain_contact_goes_to_its_uri_unless_routing_to_source() -> None:
    flow = Source("UDP", "198.51.100.4", 5062)
    bob = binding("sip:bob@10.0.0.9", source=flow)
    result = determine_targets(request(), config(), [bob], now=T0)
    assert isinstance(result, TargetSet) and result.first.flow is None
    result = determine_targets(request(), config(route_to_source=True), [bob], now=T0)
    assert isinstance(result, TargetSet) and result.first.flow == flow


@pytest.mark.parametrize(("contact", "source", "behind"), [
    # another address than the packet source: the UA is behind a NAT
    ("sip:bob@192.168.1.20", Source("UDP", "203.0.113.5", 5060), True),
    ("sip:bob@10.0.0.9:5062", Source("UDP", "203.0.113.5", 5062), True),
    ("sip:bob@100.64.0.7", Source("UDP", "203.0.113.5", 5060), True),  # RFC 6598
    ("sip:bob@[fd00::7]", Source("UDP", "2001:db8::5", 5060), True),  # ULA
    ("sip:bob@[fe80::7];transport=tcp", Source("TCP", "2001:db8::5", 40000), True),
    ("sip:bob@192.168.1.20;transport=tcp", Source("TCP", "203.0.113.5", 40000), True),
    ("sip:bob@abc.invalid;transport=tcp", Source("TCP", "203.0.113.5", 40000), True),
    # the address, but another port over UDP: the NAT's mapping (RFC 3581)
    ("sip:bob@203.0.113.5", Source("UDP", "203.0.113.5", 1024), True),
    ("sip:bob@203.0.113.5:5070", Source("UDP", "203.0.113.5", 5060), True),
    # the source itself: no NAT in between
    ("sip:bob@203.0.113.5", Source("UDP", "203.0.113.5", 5060), False),
    ("sip:bob@[2001:DB8::5]:5062", Source("UDP", "2001:db8::5", 5062), False),
    ("sip:bob@192.168.1.20:5062", Source("UDP", "192.168.1.20", 5062), False),  # a LAN UA
    ("sips:bob@203.0.113.5", Source("TLS", "203.0.113.5", 5061), False),
    # over a connection the source port is ephemeral and says nothing
    ("sip:bob@203.0.113.5;transport=tcp", Source("TCP", "203.0.113.5", 40000), False),
    # a name is left to DNS
    ("sip:bob@phone.example.com", Source("UDP", "203.0.113.5", 5060), False),
])
def test_nat_routes_to_the_source_only_the_contacts_behind_a_nat(
        contact: str, source: Source, behind: bool) -> None:
    """``nat``: what Kamailio's fix_nated_register does for a REGISTER whose
    contact is not its source; other contacts keep their own address."""
    bob = binding(contact, source=source)
    result = determine_targets(request(), config(nat=True), [bob], now=T0)
    assert isinstance(result, TargetSet)
    assert result.first.flow == (source if behind else None)
    assert str(result.first.uri) == contact  # the Request-URI is the contact either way
    without = determine_targets(request(), config(), [bob], now=T0)
    assert isinstance(without, TargetSet) and without.first.flow is None


def test_behind_nat_reads_the_uri_the_caller_parsed() -> None:
    # determine_targets parses a binding's contact once and hands it on
    source = Source("UDP", "203.0.113.5", 5060)
    bob = binding("sip:bob@203.0.113.5:5060", source=source)
    assert not behind_nat(bob, source)
    assert behind_nat(bob, source, uri=URI.parse("sip:bob@192.168.1.20"))
    assert needs_flow(bob, config(nat=True), uri=URI.parse("sip:bob@192.168.1.20"))
    assert not needs_flow(bob, config(nat=True))


def test_nat_leaves_a_contact_reached_through_a_path_to_its_edge_proxy() -> None:
    bob = binding("sip:bob@192.168.1.20", source=Source("UDP", "203.0.113.5", 5060),
                  path=("<sip:edge.example.com;lr>",))
    result = determine_targets(request(), config(nat=True), [bob], now=T0)
    assert isinstance(result, TargetSet) and result.first.flow is None


def test_one_contact_per_instance_with_the_others_as_alternates() -> None:
    # RFC 5626 §7: "The proxy MUST NOT populate the target set with more than
    # one contact with the same AOR and instance-id at a time."
    flow1 = Source("TCP", "198.51.100.4", 40000, "conn-1")
    flow2 = Source("TCP", "198.51.100.4", 40001, "conn-2")
    newest = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                     reg_id=1, source=flow1, updated_at=T0 + 5)
    older = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                    reg_id=2, source=flow2)
    other = binding("sip:bob@192.0.2.30", instance_id="urn:uuid:2")
    result = determine_targets(request(), config(), [older, other, newest], now=T0)
    assert isinstance(result, TargetSet)
    assert len(result) == 2
    first = result.first
    assert first.flow == flow1
    assert [a.flow for a in first.alternates] == [flow2]
    alternate = first.next_alternate()
    assert alternate is not None and alternate.flow == flow2
    assert alternate.next_alternate() is None


def test_dead_flow_makes_way_for_another_of_the_instance() -> None:
    flow1 = Source("TCP", "198.51.100.4", 40000, "conn-1")
    flow2 = Source("TCP", "198.51.100.4", 40001, "conn-2")
    newest = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                     reg_id=1, source=flow1, updated_at=T0 + 5)
    older = binding("sip:bob@10.0.0.9;transport=tcp;ob", instance_id="urn:uuid:1",
                    reg_id=2, source=flow2)
    result = determine_targets(request(), config(), [older, newest], now=T0,
                               flow_alive=lambda source: source != flow1)
    assert isinstance(result, TargetSet)
    assert [t.flow for t in result] == [flow2]


def test_non_sip_contact_without_path_is_not_a_target() -> None:
    result = determine_targets(request(), config(), [binding("tel:+15551234567")], now=T0)
    assert isinstance(result, Response) and result.status == 480


def test_target_set_iterates_in_order() -> None:
    a, b = Target(request().uri), Target(request(uri="sip:x@y.example").uri)
    targets = TargetSet(((a,), (b,)))
    assert list(targets) == [a, b] and len(targets) == 2 and targets.first is a
