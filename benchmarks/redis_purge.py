"""What purging the Redis location store costs: ``--aors`` AORs of one
binding each, registered (pipelined, untimed), then all expired and purged
in one ``purge`` call, timed (wall and this process's CPU).

Run from the repository root, against a redis-server you started::

    python3 benchmarks/redis_purge.py redis://127.0.0.1:6379/15 --aors 66000

It uses the key prefix ``bench:purge:<pid>`` and deletes what it wrote.
``SIPWIRE_SRC`` points at another tree's src/ to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("SIPWIRE_SRC") or str(ROOT / "src"))

from sipwire.location import Binding, RedisStore  # noqa: E402

T0 = 1_000_000.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(url: str, aors: int) -> None:
    prefix = f"bench:purge:{os.getpid()}"
    store = RedisStore.from_url(url, prefix=prefix)
    try:
        for start in range(0, aors, 50):
            await asyncio.gather(*(store.put(Binding(
                aor=f"sip:u{n}@bench.test", contact=f"sip:u{n}@192.0.2.1:5060",
                contact_value=f"<sip:u{n}@192.0.2.1:5060>", expires_at=T0 + 60,
                call_id=f"c{n}", cseq=1, updated_at=T0), T0)
                for n in range(start, min(aors, start + 50))))
        cpu0, wall0 = _cpu(), time.monotonic()
        removed = await store.purge(T0 + 120)
        cpu1, wall1 = _cpu(), time.monotonic()
        left = len(await store.aors(T0))
    finally:
        await store.close()
    print(f"purge of {aors} AORs: {removed} bindings removed ({left} AORs left) in "
          f"{wall1 - wall0:.2f} s, CPU of this process {cpu1 - cpu0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--aors", type=int, default=66000)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.aors))


if __name__ == "__main__":
    main()
