"""Settings of every test run.

``sipwire serve`` runs one worker process per core by default with a shared
store (``sipwire.server.workers``).  The tests that start it as a subprocess
check one process's behaviour (its log, its counters, its PID) unless they
ask for ``--workers N`` themselves, so the default is pinned to one here;
``$SIPWIRE_WORKERS`` set by the caller still wins.
"""

import os

os.environ.setdefault("SIPWIRE_WORKERS", "1")
