"""The failover rules of one request (RFC 3263 §4.3), and the ``dns_server``
setting of ``sipwire serve`` (TOML key and flag)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sipwire import Request, Response
from sipwire.dns import DnsTarget, TargetList, is_failure, parse_dns_server, retry_after
from sipwire.server.config import ConfigError, add_arguments, load_config
from sipwire.transport.base import Transport


def reply(status: int, *headers: tuple[str, str]) -> Response:
    request = Request.build("OPTIONS", "sip:bob@example.test", from_="sip:alice@example.test")
    return request.reply(status, headers=list(headers))


def test_what_counts_as_a_failure() -> None:
    assert is_failure(reply(503), synthetic=False, heard=True)
    assert is_failure(reply(503), synthetic=True, heard=False)
    # Timer B/F: only when nothing at all was heard from the target
    assert is_failure(reply(408), synthetic=True, heard=False)
    assert not is_failure(reply(408), synthetic=True, heard=True)
    assert not is_failure(reply(408), synthetic=False, heard=False)
    for status in (200, 404, 486, 500, 600):
        assert not is_failure(reply(status), synthetic=False, heard=False)


def test_retry_after_of_a_503() -> None:
    assert retry_after(reply(503, ("Retry-After", "120"))) == 120
    assert retry_after(reply(503, ("Retry-After", "18000;duration=3600"))) == 18000
    assert retry_after(reply(503, ("Retry-After", "5 (maintenance)"))) == 5
    assert retry_after(reply(503)) is None


def test_a_target_list_goes_down_in_order() -> None:
    a, b = (DnsTarget(Transport.UDP, f"192.0.2.{n}", 5060) for n in (1, 2))
    targets = TargetList([a, b])
    assert targets.current == a and targets.remaining == 1
    targets.heard = True
    assert targets.advance() == b and not targets.heard
    assert targets.advance() is None and targets.current == b
    with pytest.raises(ValueError):
        TargetList([])


def test_dns_server_values() -> None:
    assert parse_dns_server("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_dns_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_dns_server("[::1]:53") == ("::1", 53)
    assert parse_dns_server("::1") == ("::1", 53)
    for bad in ("ns.example.test:53", "127.0.0.1:0", "127.0.0.1:x", "[::1", "[::1]x"):
        with pytest.raises(ValueError, match="bad DNS server"):
            parse_dns_server(bad)


def test_serve_takes_dns_server_from_toml_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "sipwire.toml"
    path.write_text('listen = ["udp:127.0.0.1:5060"]\ndns_server = "127.0.0.1:5353"\n')
    assert load_config(path=str(path)).check().dns_server == "127.0.0.1:5353"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--config", str(path), "--dns-server", "[::1]:53"])
    assert load_config(args).dns_server == "[::1]:53"  # the flag wins
    path.write_text('listen = ["udp:127.0.0.1:5060"]\ndns_server = "ns.example.test"\n')
    with pytest.raises(ConfigError, match="--dns-server: bad DNS server"):
        load_config(path=str(path)).check()
