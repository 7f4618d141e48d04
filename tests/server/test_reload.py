"""Reloading a running ``sipwire serve`` (SIGHUP and ``sipwire reload``) and
stopping it (SIGTERM drains), through real subprocesses on 127.0.0.1.

- a user added after the start authenticates after SIGHUP;
- a certificate replaced on disk is presented by new TLS handshakes after a
  reload;
- settings of the ``--config`` file: the live ones take effect, the others
  are reported as needing a restart; a broken file changes nothing;
- SIGHUP never stops the server;
- SIGTERM: new requests get 503 while an INVITE in flight is answered, then
  exit 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
from pathlib import Path

from sipwire.auth import DigestClient

from .phone import Phone, status
from .processes import free_port, sipwire_command, sipwire_environment, start_serve


async def add_user(tmp_path: Path, address: str, password: str) -> None:
    code, _, err = await sipwire_command(
        "user", "add", address, "--password-stdin", "--users", str(tmp_path / "users.db"),
        env=sipwire_environment(tmp_path), stdin=password.encode() + b"\n")
    assert code == 0, err


async def register_as(phone: Phone, password: str) -> int:
    """A REGISTER answered, after one digest challenge (§22.2): the final status."""
    request = phone.register()
    challenge = await phone.request(request)
    if status(challenge) != 401:
        return status(challenge)
    retry = DigestClient(phone.user, password).answer(challenge.message, request)
    assert retry is not None
    return status(await phone.request(retry))


async def test_sighup_reloads_a_user_added_meanwhile(tmp_path: Path) -> None:
    await add_user(tmp_path, "alice@example.com", "alice-secret")
    port = free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--store", "memory:",
        "--users", str(tmp_path / "users.db"), "--control", "", "--no-uvloop", cwd=tmp_path)
    phone = await Phone.open("bob", ("127.0.0.1", port))
    try:
        assert await register_as(phone, "bob-secret") == 401  # bob is nobody yet
        await add_user(tmp_path, "bob@example.com", "bob-secret")
        os.kill(serving.pid, signal.SIGHUP)
        line = await serving.wait_for("users reloaded from")
        assert line.endswith(f"users reloaded from {tmp_path / 'users.db'}: 2 users (were 1)")
        assert await register_as(phone, "bob-secret") == 200
        os.kill(serving.pid, signal.SIGHUP)  # again: never the end of the server
        await serving.wait_for("(were 2)")
        options = phone.build("OPTIONS", f"sip:127.0.0.1:{port}")
        assert status(await phone.request(options)) == 200
    finally:
        phone.close()
        assert await serving.terminate() == 0


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return cert, key


async def presented_certificate(port: int) -> bytes:
    """The DER certificate a new TLS handshake with 127.0.0.1:port gets."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        assert der is not None
        return bytes(der)
    finally:
        writer.close()


def der_of(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


async def test_reload_presents_a_new_certificate_to_new_handshakes(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path / "tls", "first")
    first = der_of(cert)
    port = free_port()
    control = str(tmp_path / "ctl.sock")
    serving = await start_serve(
        "--listen", f"tls:127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key),
        "--auth", "off", "--store", "memory:", "--control", control, "--no-uvloop",
        cwd=tmp_path)
    try:
        await serving.wait_for("control=")
        assert await presented_certificate(port) == first
        make_certificate(tmp_path / "tls", "second")  # renewed in place, as certbot does
        second = der_of(cert)
        assert second != first
        code, out, err = await sipwire_command("reload", "--control", control,
                                               env=sipwire_environment(tmp_path))
        assert code == 0, err
        assert f"certificate reloaded from {cert}" in out.splitlines()
        assert await presented_certificate(port) == second

        make_certificate(tmp_path / "tls", "third")
        os.kill(serving.pid, signal.SIGHUP)
        await serving.wait_for("reloaded: applied=")
        assert await presented_certificate(port) == der_of(cert)

        key.write_text("not a key\n")  # a broken renewal: the certificate in use stays
        code, out, err = await sipwire_command("reload", "--control", control,
                                               env=sipwire_environment(tmp_path))
        assert code == 1
        assert any(line.startswith(f"error: TLS certificate not reloaded ({cert})")
                   for line in out.splitlines()), out
        assert await presented_certificate(port) == der_of(cert)
    finally:
        assert await serving.terminate() == 0


CONFIG = """
listen = ["udp:127.0.0.1:{port}"]
domains = ["example.com"]
store = "memory:"
control = "{control}"
uvloop = false

[auth]
mode = "off"

[registrar]
max_contacts = {max_contacts}
"""


async def test_reload_applies_live_settings_and_reports_the_others(tmp_path: Path) -> None:
    port = free_port()
    control = tmp_path / "ctl.sock"
    config = tmp_path / "sipwire.toml"
    config.write_text(CONFIG.format(port=port, control=control, max_contacts=10))
    serving = await start_serve("--config", str(config), "--log-level", "info", cwd=tmp_path)
    env = sipwire_environment(tmp_path)
    phones = [await Phone.open("carol", ("127.0.0.1", port)) for _ in range(2)]
    try:
        await serving.wait_for("control=")
        assert status(await phones[0].request(phones[0].register())) == 200

        config.write_text(CONFIG.format(port=port, control=control, max_contacts=1)
                          .replace('domains = ["example.com"]',
                                   'domains = ["example.com", "example.org"]'))
        code, out, err = await sipwire_command("reload", "--json", "--control", str(control),
                                               env=env)
        assert code == 0, err
        result = json.loads(out)
        assert result["applied"] == ["max_contacts"]
        assert result["restart_needed"] == ["domains"]
        assert result["errors"] == []
        await serving.wait_for("setting domains changed but takes effect only after a "
                               "restart")
        # max_contacts = 1 now holds: carol's second contact is refused (RFC 3261 §10.3)
        assert status(await phones[1].request(phones[1].register())) == 403

        config.write_text("listen = [")  # broken: nothing changes
        code, out, err = await sipwire_command("reload", "--control", str(control), env=env)
        assert code == 1
        assert any(line.startswith(f"error: configuration not reloaded: {config}:")
                   for line in out.splitlines()), out
        assert status(await phones[0].request(phones[0].register())) == 200
    finally:
        for phone in phones:
            phone.close()
        assert await serving.terminate() == 0


async def test_sigterm_drains_in_flight_transactions_then_exits_0(tmp_path: Path) -> None:
    port = free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--auth", "off",
        "--store", "memory:", "--control", "", "--drain-timeout", "30", "--no-uvloop",
        cwd=tmp_path)
    alice = await Phone.open("alice", ("127.0.0.1", port))
    bob = await Phone.open("bob", ("127.0.0.1", port))
    late = await Phone.open("dan", ("127.0.0.1", port))
    try:
        assert status(await bob.request(bob.register())) == 200
        alice.send(alice.build("INVITE", "sip:bob@example.com", to="<sip:bob@example.com>"))
        ringing = await bob.expect("INVITE")
        bob.answer(ringing, 180)
        assert status(await alice.expect(180)) == 180

        os.kill(serving.pid, signal.SIGTERM)
        await serving.wait_for("signal received: stopping")
        refused = await late.request(late.register())
        assert status(refused) == 503  # no new transactions while draining (§21.5.4)
        assert refused.message.headers["Retry-After"] == "5"
        assert serving.process.returncode is None  # the call in flight holds the stop

        bob.answer(ringing, 200)  # the in-flight INVITE ends
        assert status(await alice.expect(200)) == 200
        assert await asyncio.wait_for(serving.process.wait(), 30) == 0
        await serving.wait_for("stopped")
        assert "answering them 503" not in serving.log
    finally:
        for phone in (alice, bob, late):
            phone.close()
        await serving.kill()
