"""``sipwire answer`` as outside tools run it: registered through ``sipwire serve``
or reached directly, several calls at once, hanging up itself, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal

from tests.server.processes import sipwire_command

from .test_call import PASSWORDS, Site, site

__all__ = ["site"]


async def test_two_calls_at_once_then_exit(site: Site) -> None:
    bob = await site.answer("bob", "--count", "2")
    (s1, out1, err1), (s2, out2, err2) = await asyncio.gather(
        site.call("alice", "bob", "--duration", "1"),
        site.call("carol", "bob", "--duration", "1"))
    assert (s1, s2) == (0, 0), err1 + err2
    assert "ended by local (bye)" in out1 and "ended by local (bye)" in out2
    assert await bob.finish() == 0, "\n".join(bob.err)
    answered = [line for line in bob.out if line.startswith("answered ")]
    assert sorted(line.split()[1] for line in answered) == [
        "sip:alice@127.0.0.1", "sip:carol@127.0.0.1"]
    # an SDP answer with a codec of the offer (RFC 3264 §6)
    assert all("codec=" in line and "codec=none" not in line for line in answered)
    assert bob.out[-1] == "2 calls ended, 0 failed"


async def test_hangs_up_after(site: Site) -> None:
    bob = await site.answer("bob", "--count", "1", "--hangup-after", "0.3")
    status, out, err = await site.call("alice", "bob", "--duration", "20")
    assert status == 0, err
    assert "ended by remote (bye)" in out
    assert await bob.finish() == 0
    assert any("by local (bye)" in line for line in bob.out)
    # the BYE went from bob, through the server, to alice
    assert any(" → udp:127.0.0.1:" in line and " BYE sip:alice@" in line for line in bob.err)
    assert any(f" ← udp:127.0.0.1:{site.port} BYE sip:alice@" in line
               for line in err.splitlines())


async def test_reached_directly_without_registering(site: Site) -> None:
    bob = await site.start("answer", "--listen", "udp:127.0.0.1:0", "--count", "1")
    line = await bob.wait_for("listening on ")
    port = int(line.rsplit(":", 1)[1])
    status, out, err = await sipwire_command(
        "call", f"sip:bob@127.0.0.1:{port}", "--duration", "0.2", env=site.env)
    assert status == 0, err
    assert out.startswith(f"answered sip:bob@127.0.0.1:{port} ")
    assert await bob.finish() == 0
    assert any(line.startswith("incoming sip:sipwire@127.0.0.1") for line in bob.out)


async def test_a_refused_registration(site: Site) -> None:
    bob = await site.start("answer", "--register", "sip:bob@127.0.0.1", "--proxy",
                           site.proxy, "--user", "bob", "--password-stdin",
                           password="not-bobs-password")
    assert await bob.finish() == 1
    assert bob.err[-1].startswith("sipwire answer: registration failed: "), bob.err


async def test_sigterm_unregisters(site: Site) -> None:
    bob = await site.answer("bob")
    os.kill(bob.process.pid, signal.SIGTERM)
    assert await bob.finish() == 0
    assert bob.out[-1] == "0 calls ended, 0 failed"
    # the binding went with it (§10.2.2): a call now finds nobody
    status, _, err = await site.call("alice", "bob")
    assert status == 1
    assert err.splitlines()[-1] in ("sipwire: call failed: 404 Not Found",
                                    "sipwire: call failed: 480 Temporarily not available")
    assert any(" REGISTER sip:" in line for line in bob.err if " → " in line)
    assert PASSWORDS["bob"] not in "\n".join(bob.err + bob.out)


async def test_usage_errors(site: Site) -> None:
    status, _, err = await sipwire_command("answer", "--count", "0", env=site.env)
    assert status == 2 and err.startswith("sipwire answer: --count")
    status, _, err = await sipwire_command("answer", "--register", "sip:127.0.0.1",
                                           env=site.env)
    assert status == 2 and "no user part" in err
