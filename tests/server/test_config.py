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
    assert config.auth == "on" and config.auth_realm == "localhost"
    assert config.users == ""  # the default location: auth.userfile.users_location
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


# -- TLS trust of the connections the proxy opens (RFC 5922 §7.3) --------------------------


def test_tls_trust_defaults_to_verifying_peers_with_the_system_store() -> None:
    config = load_config(parse_flags())
    assert config.tls_ca == () and config.tls_verify == "peer"


def test_tls_ca_flags_repeat_and_win_over_the_file(tmp_path: Path) -> None:
    for name in ("a.pem", "b.pem", "file.pem"):
        (tmp_path / name).write_text("")
    path = tmp_path / "sipwire.toml"
    path.write_text(f'[tls]\nca = "{tmp_path / "file.pem"}"\nverify = "none"\n')
    from_file = load_config(parse_flags("--config", str(path)))
    assert from_file.tls_ca == (str(tmp_path / "file.pem"),)
    assert from_file.tls_verify == "none"
    config = load_config(parse_flags("--config", str(path), "--tls-ca", str(tmp_path / "a.pem"),
                                     "--tls-ca", str(tmp_path / "b.pem"),
                                     "--tls-verify", "peer"))
    assert config.tls_ca == (str(tmp_path / "a.pem"), str(tmp_path / "b.pem"))
    assert config.tls_verify == "peer"


def test_tls_ca_may_be_a_list_or_a_directory_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sipwire.toml"
    path.write_text(f'[tls]\nca = ["{tmp_path}", "{path}"]\n')
    assert load_config(parse_flags("--config", str(path))).tls_ca == (str(tmp_path), str(path))


@pytest.mark.parametrize(("toml", "message"), [
    ("[tls]\nverify = 'maybe'\n", "--tls-verify must be peer or none, not 'maybe'"),
    ("[tls]\nca = 'no/such/ca.pem'\n", "--tls-ca 'no/such/ca.pem': no such file or directory"),
    ("[tls]\ntrust = 'all'\n", "unknown setting tls.trust"),
])
def test_bad_tls_settings_are_refused(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(parse_flags("--config", str(path)))
    assert message in str(info.value)


def test_tls_verify_flag_takes_only_peer_or_none(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_flags("--tls-verify", "off")
    assert "invalid choice: 'off'" in capsys.readouterr().err


def test_aliases_from_flags_and_toml(tmp_path: Path) -> None:
    config = load_config(parse_flags("--alias", "sip.example.com", "--alias", "[2001:db8::1]:5080"))
    assert config.aliases == ("sip.example.com", "[2001:db8::1]:5080")
    path = tmp_path / "sipwire.toml"
    path.write_text('aliases = ["proxy.example.com:5070"]\n')
    assert load_config(parse_flags("--config", str(path))).aliases == ("proxy.example.com:5070",)
    with pytest.raises(ConfigError, match="--alias 'host:99999'"):
        load_config(parse_flags("--alias", "host:99999"))


# -- failed-authentication lockouts and bans (RFC 7616 §5.7) --------------------------------


def test_lockout_and_ban_settings_from_toml_and_flags(tmp_path: Path) -> None:
    defaults = ServerConfig()
    assert (defaults.max_failures, defaults.failure_window, defaults.lockout,
            defaults.max_lockout) == (10, 60, 300, 3600)
    assert (defaults.ban_users, defaults.ban_window, defaults.ban_time) == (5, 600, 3600)
    path = tmp_path / "sipwire.toml"
    path.write_text("[auth]\nmax_failures = 4\nlockout = 30\nmax_lockout = 240\n"
                    "ban_users = 3\nban_window = 120\nban_time = 900\n")
    config = load_config(parse_flags("--config", str(path), "--ban-time", "60",
                                     "--max-lockout", "480"))
    assert (config.max_failures, config.lockout, config.max_lockout) == (4, 30, 480)
    assert (config.ban_users, config.ban_window, config.ban_time) == (3, 120, 60)


@pytest.mark.parametrize("flags", [
    ("--lockout", "600", "--max-lockout", "300"), ("--ban-users", "-1"),
    ("--max-failures", "0"),
])
def test_bad_lockout_settings_are_refused(flags: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        load_config(parse_flags(*flags))


# -- what one source can spend at the transport ---------------------------------------------


def test_per_source_limits_from_toml_and_flags(tmp_path: Path) -> None:
    defaults = ServerConfig()
    assert (defaults.max_connections_per_source, defaults.message_timeout,
            defaults.max_requests_per_source) == (64, 10.0, 200)
    path = tmp_path / "sipwire.toml"
    path.write_text("[limits]\nmax_connections_per_source = 8\nmessage_timeout = 4\n"
                    "max_requests_per_source = 50\n")
    from_file = load_config(parse_flags("--config", str(path)))
    assert (from_file.max_connections_per_source, from_file.message_timeout,
            from_file.max_requests_per_source) == (8, 4.0, 50)
    config = load_config(parse_flags("--config", str(path), "--max-connections-per-source",
                                     "0", "--message-timeout", "2.5",
                                     "--max-requests-per-source", "0"))
    assert (config.max_connections_per_source, config.message_timeout,
            config.max_requests_per_source) == (0, 2.5, 0)


@pytest.mark.parametrize("flags", [
    ("--max-connections-per-source", "-1"), ("--message-timeout", "-1"),
    ("--max-requests-per-source", "-5"),
])
def test_negative_per_source_limits_are_refused(flags: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="must be 0 \\(no limit\\) or more"):
        load_config(parse_flags(*flags))
