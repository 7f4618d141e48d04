"""Ladders: grouping by Call-ID, lanes, order, retransmission and final marks,
from made-up records and from a real call through ``serve`` (its pcap)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sipwire.ladder import build_ladders, render_html, render_svg, render_text
from sipwire.trace import TraceRecord, read_records
from sipwire.transport import Address, Transport

from ..trace.calls import run_call
from ..transport.conftest import Certificate, certificate  # noqa: F401

A, P, B = Address("192.0.2.1", 5062), Address("192.0.2.10", 5060), Address("192.0.2.2", 5064)


def message(first: str, call_id: str = "c1@x", cseq: str = "1 INVITE",
            branch: str = "z9hG4bK1", to_tag: str = "") -> bytes:
    to = "<sip:b@x>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{first}\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch={branch}\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def rec(when: float, source: Address, destination: Address, data: bytes) -> TraceRecord:
    return TraceRecord(when, Transport.UDP, source, destination, data)


INVITE = message("INVITE sip:b@x SIP/2.0")
CALL = [
    rec(0.0, A, P, INVITE),
    rec(0.5, A, P, INVITE),                                              # same bytes again
    rec(0.1, P, A, message("SIP/2.0 100 Trying")),
    rec(0.2, P, B, message("INVITE sip:b@192.0.2.2 SIP/2.0", branch="z9hG4bKp1")),
    rec(0.3, B, P, message("SIP/2.0 486 Busy Here", branch="z9hG4bKp1", to_tag="b")),
    rec(0.35, P, B, message("ACK sip:b@192.0.2.2 SIP/2.0", cseq="1 ACK", branch="z9hG4bKp1")),
    rec(0.4, P, A, message("SIP/2.0 486 Busy Here", to_tag="b")),
    rec(0.6, P, A, message("SIP/2.0 486 Busy Here", to_tag="b") + b""),  # again
    rec(0.05, A, P, message("OPTIONS sip:x SIP/2.0", call_id="other@x", cseq="1 OPTIONS",
                            branch="z9hG4bK9")),
]


def test_messages_are_grouped_by_call_id_in_time_order() -> None:
    ladders = build_ladders(CALL)
    assert [ladder.call_id for ladder in ladders] == ["c1@x", "other@x"]
    call = ladders[0]
    assert call.lanes == (str(A), str(P), str(B))
    assert [a.short_label for a in call.arrows] == [
        "INVITE sip:b@x", "100 Trying", "INVITE sip:b@192.0.2.2", "486 Busy Here",
        "ACK sip:b@192.0.2.2", "486 Busy Here", "INVITE sip:b@x", "486 Busy Here"]
    assert [a.retransmission for a in call.arrows] == [False] * 6 + [True, True]
    assert [a.final for a in call.arrows] == [False, False, False, True, False, True, False,
                                              True]
    assert build_ladders(CALL, "other@x")[0].arrows[0].method == "OPTIONS"
    assert build_ladders(CALL, "nope") == []


def test_same_branch_and_cseq_is_a_retransmission_even_with_other_bytes() -> None:
    first = message("REGISTER sip:x SIP/2.0", cseq="5 REGISTER", branch="z9hG4bKr")
    again = first.replace(b"Content-Length: 0", b"l: 0")  # re-serialized, same request
    other = message("REGISTER sip:x SIP/2.0", cseq="6 REGISTER", branch="z9hG4bKs")
    forked = [message("SIP/2.0 200 OK", to_tag=tag) for tag in ("one", "two")]
    (ladder,) = build_ladders([rec(0, A, P, first), rec(1, A, P, again), rec(2, A, P, other),
                               rec(3, P, A, forked[0]), rec(4, P, A, forked[1])])
    # two 2xx with other To tags are two answers of a forked request (§16.7), not one again
    assert [a.retransmission for a in ladder.arrows] == [False, True, False, False, False]


def test_a_message_that_does_not_parse_still_gets_an_arrow() -> None:
    broken = b"INVITE sip:b@[bad SIP/2.0\r\ni: c1@x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n"
    (ladder,) = build_ladders([rec(0, A, P, broken)])
    assert ladder.call_id == "c1@x" and ladder.arrows[0].method == "INVITE"


def test_text_fits_100_columns_and_marks_what_it_should() -> None:
    text = render_text(build_ladders(CALL)[0])
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].startswith("Call-ID c1@x - 1970-01-01 00:00:00 UTC - 8 messages, 3 elements")
    rows = lines[3:]
    assert rows[0].startswith("00:00:00.000") and "--INVITE sip:b@x-" in rows[0]
    assert rows[0].index("|") < rows[0].index("INVITE") < rows[0].index(">")
    assert "<" in rows[1] and "100 Trying" in rows[1] and "=" not in rows[1]
    assert "=486 Busy Here=" in rows[3]                     # final: "="
    assert rows[6].endswith("(again)") and "..INVITE" in rows[6]   # again: "." and marked
    assert sum(line.endswith("(again)") for line in rows) == 2


def test_many_lanes_and_long_addresses_still_fit() -> None:
    hosts = [Address(f"2001:db8:ffff:ffff:ffff:ffff:ffff:{i:x}", 5060) for i in range(6)]
    records = [rec(i, hosts[i], hosts[i + 1], message(f"MESSAGE sip:{i}@x SIP/2.0",
                                                      branch=f"z9hG4bK{i}"))
               for i in range(5)]
    text = render_text(build_ladders(records)[0])
    assert max(len(line) for line in text.splitlines()) <= 100
    assert f"  [1] {hosts[0]}" in text  # too long for its lane: numbered, listed above


def test_svg_is_xml_and_html_holds_it() -> None:
    ladder = build_ladders(CALL)[0]
    svg = render_svg(ladder)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    groups = root.findall(f"{ns}g")
    assert len(groups) == len(ladder.arrows)
    assert [g.get("class") for g in groups][3] == "arrow response final error"
    assert "again" in (groups[6].get("class") or "")
    heads = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "head"]
    assert heads[1:] == list(ladder.lanes)
    page = render_html([ladder])
    assert page.startswith("<!DOCTYPE html>") and svg in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert "https://" not in page and "<script" not in page


async def test_ladder_of_a_real_call_through_serve(tmp_path: Path,
                                                   certificate: Certificate) -> None:  # noqa: F811
    pcap = tmp_path / "call.pcap"
    run = await run_call(tmp_path, certificate, pcap=str(pcap))
    (ladder,) = build_ladders(read_records(pcap), run.call_id)
    alice, proxy_udp = f"127.0.0.1:{run.alice}", f"127.0.0.1:{run.ports['udp']}"
    proxy_tcp, bob = f"127.0.0.1:{run.ports['tcp']}", f"127.0.0.1:{run.bob}"
    # the server is one element: its TCP side forwarded what its UDP side got
    assert ladder.lanes == (alice, proxy_udp, bob)
    assert ladder.addresses(proxy_udp) == (proxy_tcp,)
    assert ladder.lane(proxy_tcp) == ladder.lane(proxy_udp) == 1
    steps = [(a.source, a.destination, a.short_label.split(" ")[0], a.retransmission)
             for a in ladder.arrows]
    assert steps == [
        (alice, proxy_udp, "INVITE", False), (proxy_udp, alice, "100", False),
        (proxy_tcp, bob, "INVITE", False),
        (alice, proxy_udp, "INVITE", True), (proxy_udp, alice, "100", True),
        (bob, proxy_tcp, "180", False), (proxy_udp, alice, "180", False),
        (bob, proxy_tcp, "200", False), (proxy_udp, alice, "200", False),
        (alice, proxy_udp, "ACK", False), (proxy_tcp, bob, "ACK", False),
        (alice, proxy_udp, "BYE", False), (proxy_tcp, bob, "BYE", False),
        (bob, proxy_tcp, "200", False), (proxy_udp, alice, "200", False)]
    assert [a.final for a in ladder.arrows].count(True) == 4
    text = render_text(ladder)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("(again)") == 2


def test_an_element_is_one_lane_whichever_port_it_sends_from() -> None:
    """A proxy that got an INVITE on UDP and forwards it over a TCP connection
    of its own (another port; its Via names its listening port) is one lane;
    a UA whose Via names the port it sends to is not folded into that one."""
    proxy_tcp = Address("192.0.2.10", 40001)  # the connection's own port

    def request(first: str, vias: list[str]) -> bytes:
        return (f"{first}\r\n" + "".join(f"Via: {v}\r\n" for v in vias) +
                "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: tcp@x\r\n"
                "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()

    alice_via = "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKa"
    proxy_via = "SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKp"
    records = [
        rec(0.0, A, P, request("INVITE sip:b@x SIP/2.0", [alice_via])),
        TraceRecord(0.1, Transport.TCP, proxy_tcp, B,
                    request("INVITE sip:b@192.0.2.2 SIP/2.0", [proxy_via, alice_via])),
        TraceRecord(0.2, Transport.TCP, B, proxy_tcp, message(
            "SIP/2.0 200 OK", call_id="tcp@x", branch="z9hG4bKp", to_tag="b")),
        rec(0.3, P, A, message("SIP/2.0 200 OK", call_id="tcp@x", branch="z9hG4bKa",
                               to_tag="b")),
    ]
    (ladder,) = build_ladders(records)
    assert ladder.lanes == (str(A), str(P), str(B))
    assert ladder.addresses(str(P)) == (str(proxy_tcp),)
    assert [(ladder.lane(a.source), ladder.lane(a.destination)) for a in ladder.arrows] == [
        (0, 1), (1, 2), (2, 1), (1, 0)]
    assert ladder.arrows[1].source == str(proxy_tcp)  # the arrow keeps the wire's address
    assert f"{P} also sends or receives as {proxy_tcp}" in render_text(ladder)
    assert f"also {proxy_tcp}" in render_svg(ladder)
    # a UA on a connection of its own whose Via names the proxy's port: two elements
    ua = Address("192.0.2.10", 40002)
    (ladder,) = build_ladders([TraceRecord(0.0, Transport.TCP, ua, P, request(
        "INVITE sip:b@x SIP/2.0", ["SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKu"]))])
    assert ladder.lanes == (str(ua), str(P)) and ladder.aliases == ()
