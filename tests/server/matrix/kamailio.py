"""Kamailio next to ``sipwire serve``: a minimal configuration written for the
cell, run in the foreground (``-DD -E``) on 127.0.0.1 and stopped by its PID.

``front``: the phones' outbound proxy.  It sends REGISTER and every new
request for the domain 127.0.0.1 on to sipwire, record-routes what it
forwards, and follows Route (loose routing, RFC 3261 §16.12) within dialogs.

``behind``: the callee's edge proxy.  It adds Path to the callee's REGISTER
(RFC 3327 §4), so sipwire reaches the callee through it; it record-routes
and loose-routes as in front.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ..processes import terminate
from .ports import wait_listening
from .programs import find

MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
               "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "path.so"
modparam("rr", "enable_double_rr", 1)

request_route {{
    xlog("L_NOTICE", "recv $rm $ru from $proto:$si:$sp\\n");
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            route(RELAY);
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                route(RELAY);
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    t_check_trans();
    if (is_present_hf("Route")) {{
        loose_route();
    }}
    if (is_method("REGISTER")) {{
        {path}
        $du = "{sipwire}";
        route(RELAY);
    }}
    record_route();
    # a Request-URI without a port is an address-of-record of the domain: to sipwire
    if ($du == $null && $(ru{{uri.port}}) == "") {{
        $du = "{sipwire}";
    }}
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""


@dataclass
class Kamailio:
    """Kamailio at 127.0.0.1:``port`` (UDP and TCP) in ``mode`` "front" or "behind",
    sending on to sipwire at ``sipwire`` over ``transport``."""

    directory: Path
    port: int
    mode: str
    sipwire: tuple[str, int]
    transport: str
    process: asyncio.subprocess.Process | None = None

    @property
    def label(self) -> str:
        return f"kamailio/{self.transport.lower()} ({self.mode})"

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    @property
    def log(self) -> Path:
        return self.directory / "kamailio.log"

    def config(self) -> str:
        modules = next((d for d in MODULE_DIRS if Path(d, "tm.so").exists()), MODULE_DIRS[0])
        host, port = self.sipwire
        return CONFIG.format(
            port=self.port, modules=modules,
            sipwire=f"sip:{host}:{port};transport={self.transport.lower()}",
            path="add_path();" if self.mode == "behind" else "")

    async def start(self) -> None:
        path = find("kamailio")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "kamailio.cfg"
        config.write_text(self.config())
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                path, "-f", str(config), "-DD", "-E", "-m", "32", "-M", "8",
                "-w", str(self.directory), "-Y", str(self.directory),
                cwd=self.directory, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        for transport in ("UDP", "TCP"):
            if not await wait_listening("127.0.0.1", self.port, transport, timeout=10):
                await self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"kamailio did not listen on {transport} {self.port}:\n{tail}")

    async def stop(self) -> None:
        """SIGTERM to our Kamailio (it stops its children); SIGKILL to its
        process group (ours, made at start) if it lingers."""
        await terminate(self.process, group=True)
