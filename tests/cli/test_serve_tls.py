"""``sipwire serve --tls-ca`` and ``--tls-verify``: the trust of the TLS and WSS
connections the proxy opens (RFC 5922 §7.3), as a user meets the flags."""

from __future__ import annotations

from pathlib import Path

from tests.server.processes import free_port, start_serve

from .conftest import RunCli


async def test_help_lists_the_tls_trust_flags(run_cli: RunCli) -> None:
    result = await run_cli("serve", "--help")
    assert result.status == 0, result.err
    text = " ".join(result.out.split())
    assert "--tls-ca PEM" in text and "besides the system store (repeatable)" in text
    assert "--tls-verify {peer,none}" in text
    assert "none: no verification at all (a warning is logged at start)" in text


async def test_an_unknown_verify_mode_is_a_usage_error(run_cli: RunCli) -> None:
    result = await run_cli("serve", "--tls-verify", "off")
    assert result.status == 2 and "invalid choice: 'off'" in result.err


async def test_a_missing_ca_file_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    result = await run_cli("serve", "--store", "memory:", "--tls-ca", str(missing))
    assert result.status == 2
    assert result.err == f"sipwire serve: --tls-ca {str(missing)!r}: no such file or directory\n"


async def test_a_file_without_certificates_stops_the_start(run_cli: RunCli,
                                                           tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    result = await run_cli("serve", "--store", "memory:", "--auth", "off",
                           "--listen", "udp:127.0.0.1:0", "--tls-ca", str(junk))
    assert result.status == 1
    assert f"sipwire serve: cannot start: {junk}: no CA certificate in PEM form" in result.err


async def test_verify_none_is_logged_as_a_warning_at_start(tmp_path: Path) -> None:
    serving = await start_serve("--listen", f"udp:127.0.0.1:{free_port()}", "--store",
                                "memory:", "--tls-verify", "none", "--no-uvloop", cwd=tmp_path)
    try:
        line = await serving.wait_for("tls_verify is none")
        assert "WARNING" in line.upper() and "not authenticated (RFC 5922 §7.3)" in line
    finally:
        assert await serving.terminate() == 0


async def test_verify_peer_logs_no_such_warning(tmp_path: Path) -> None:
    serving = await start_serve("--listen", f"udp:127.0.0.1:{free_port()}", "--store",
                                "memory:", "--no-uvloop", cwd=tmp_path)
    try:
        assert "tls_verify" not in serving.log
    finally:
        assert await serving.terminate() == 0
