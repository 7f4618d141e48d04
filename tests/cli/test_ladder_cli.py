"""``sipwire ladder`` on files: text by default, --svg, --html, --call-id, and
the exit statuses for a file without SIP or no file at all."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from sipwire.trace import PcapWriter, TraceRecord
from sipwire.transport import Address, Transport

from .conftest import RunCli

A, B = Address("192.0.2.1", 5062), Address("192.0.2.2", 5060)


def message(first: str, call_id: str) -> bytes:
    return (f"{first}\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: {call_id}\r\n"
            "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n").encode()


def capture(path: Path) -> None:
    out = io.BytesIO()
    writer = PcapWriter(out)
    for n, call_id in enumerate(("one@x", "two@x")):
        writer.write(TraceRecord(1000.0 + n, Transport.UDP, A, B,
                                 message("MESSAGE sip:b@x SIP/2.0", call_id)))
        writer.write(TraceRecord(1000.5 + n, Transport.UDP, B, A,
                                 message("SIP/2.0 200 OK", call_id)))
    path.write_bytes(out.getvalue())


async def test_text_is_the_default(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    capture(path)
    result = await run_cli("ladder", str(path))
    assert result.status == 0, result.err
    assert result.out.count("Call-ID ") == 2
    assert "|-------MESSAGE sip:b@x------>|" in result.out and "|<====" in result.out
    only = await run_cli("ladder", str(path), "--call-id", "two@x", "--text")
    assert only.out.startswith("Call-ID two@x") and "one@x" not in only.out


async def test_svg_and_html_files(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    capture(path)
    svg, page = tmp_path / "one.svg", tmp_path / "all.html"
    assert (await run_cli("ladder", str(path), "--svg", str(svg))).status == 0
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "one@x" in svg.read_text() and "two@x" not in svg.read_text()
    assert (await run_cli("ladder", str(path), "--html", str(page))).status == 0
    text = page.read_text()
    assert text.count("<svg ") == 2 and "two.pcap" in text


async def test_no_call_and_no_file(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    capture(path)
    missing = await run_cli("ladder", str(path), "--call-id", "nobody")
    assert missing.status == 1 and "no message of Call-ID nobody" in missing.err
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    assert (await run_cli("ladder", str(empty))).status == 1
    gone = await run_cli("ladder", str(tmp_path / "absent.pcap"))
    assert gone.status == 2 and "no such file" in gone.err
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 4)
    result = await run_cli("ladder", str(broken))
    assert result.status == 2 and "cut short" in result.err
