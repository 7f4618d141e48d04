"""``sipwire parse`` and ``sipwire lint`` run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sipwire.cli.main import main

CORPUS = Path(__file__).parent.parent / "message" / "corpus"
INVITE = CORPUS / "valid" / "rfc3261" / "24.2-F1-INVITE.sip"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "sipwire.cli.main", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


def test_parse_prints_structure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(INVITE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Request  INVITE sip:bob@biloxi.com")
    assert "branch='z9hG4bKnashds8'" in out and "tag='1928301774'" in out


def test_parse_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(INVITE)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "request" and info["method"] == "INVITE"
    via = next(h for h in info["headers"] if h["name"] == "Via")
    assert via["parsed"][0]["branch"] == "z9hG4bKnashds8"
    assert info["body_length"] == len(info["body"].encode())


def test_lint_clean_exits_zero_and_reads_stdin_with_lf_endings() -> None:
    data = INVITE.read_bytes().replace(b"\r\n", b"\n")
    proc = run("lint", "-", stdin=data)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"-: ok" in proc.stdout
    assert b"LF line endings" in proc.stderr


def test_lint_problem_exits_one_with_rfc_section() -> None:
    bad = CORPUS / "invalid" / "400-cseq-method-mismatch.sip"
    proc = run("lint", str(bad))
    assert proc.returncode == 1
    assert b"RFC 3261 \xc2\xa78.1.1.5" in proc.stdout


def test_lint_json_lists_findings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    msg = tmp_path / "m.sip"
    msg.write_bytes(INVITE.read_bytes().replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\n"
                                                b"Expires: never"))
    assert main(["lint", "--json", str(msg)]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding["header"] == "Expires" and finding["status_code"] == 400


def test_lint_reports_a_tolerated_deviation(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "tolerated" / "3261-8.1.1.6-request-without-max-forwards.sip"
    assert main(["parse", str(path)]) == 0
    capsys.readouterr()
    assert main(["lint", "--json", str(path)]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding["tolerated"] is True and finding["rfc"] == "RFC 3261 §8.1.1.6"
    assert main(["lint", str(path)]) == 1
    assert capsys.readouterr().out.rstrip().endswith("(RFC 3261 §8.1.1.6) [tolerated]")


def test_parse_error_and_missing_file() -> None:
    proc = run("parse", str(CORPUS / "invalid" / "505-version-3.0.sip"))
    assert proc.returncode == 1 and b"505" in proc.stderr
    proc = run("parse", "/nonexistent.sip")
    assert proc.returncode == 2 and b"no such file" in proc.stderr


def test_lint_lists_every_finding_of_an_invite_without_tag_contact_and_call_id(
        tmp_path: Path) -> None:
    data = INVITE.read_bytes()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n")
             if not line.startswith((b"Contact:", b"Call-ID:"))]
    head = b"\r\n".join(lines).replace(b";tag=1928301774", b"")
    path = tmp_path / "bad.sip"
    path.write_bytes(head + b"\r\n\r\n" + body)
    proc = run("lint", str(path))
    assert proc.returncode == 1
    out = proc.stdout.decode().splitlines()
    assert [line.split(": ", 2)[1] for line in out] == ["400 Call-ID", "400 From", "400 Contact"]
    assert "(RFC 3261 §8.1.1)" in out[0] and "(RFC 3261 §8.1.1.3)" in out[1]
    assert "(RFC 3261 §8.1.1.8)" in out[2]
