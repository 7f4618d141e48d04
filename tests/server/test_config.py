"""``sipwire serve`` configuration: defaults, TOML file, flags over the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sipwire.server.config import ConfigError, ServerConfig, add_arguments, load_config


def parse_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_of_a_bare_start() -> None:
    config = load_config(parse_flags())
    assert config.listen == ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
    assert config.domains == ("localhost", "127.0.0.1")
    assert config.store == "sqlite:///sipwire.db"
    assert config.auth == "auto" and config.auth_realm == "localhost"
    assert config == ServerConfig()


def test_flags_in_the_documented_form() -> None:
    config = load_config(parse_flags(
        "--listen", "udp:127.0.0.1:5070", "--listen", "tcp:127.0.0.1:5070",
        "--domain", "example.com", "--store", "sqlite:///path/loc.db", "--no-record-route",
        "--t1", "0.25", "--auth", "on"))
    assert config.listen == ("udp:127.0.0.1:5070", "tcp:127.0.0.1:5070")
    assert config.domains == ("example.com",) and config.store == "sqlite:///path/loc.db"
    assert not config.record_route and config.t1 == 0.25 and config.auth == "on"


def test_toml_file_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "sipwire.toml"
    path.write_text('listen = "udp:127.0.0.1:5080"\ndomains = ["a.example", "b.example"]\n'
                    '[proxy]\nrecord_route = false\nforking = "sequential"\n'
                    '[registrar]\nmin_expires = 120\n[auth]\nmode = "off"\n')
    config = load_config(parse_flags("--config", str(path), "--min-expires", "30"))
    assert config.listen == ("udp:127.0.0.1:5080",)
    assert config.domains == ("a.example", "b.example")
    assert not config.record_route and config.forking == "sequential"
    assert config.min_expires == 30 and config.auth == "off"


@pytest.mark.parametrize("toml", [
    "nonsense = 1\n", "[proxy]\nunknown = 1\n", "listen = []\n", "[proxy]\nforking = 'x'\n",
    "[registrar]\nmin_expires = 'soon'\n", "listen = ['sctp:1.2.3.4:5']\n",
    "listen = ['tls:127.0.0.1:5061']\n", "not toml [\n",
])
def test_bad_files_are_refused(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError):
        load_config(parse_flags("--config", str(path)))
