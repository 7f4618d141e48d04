"""A location store in one SQLite file: the embedded default.

WAL journal; one connection, used only by the store's own thread, so the
event loop never blocks on the disk.  ``BEGIN IMMEDIATE`` takes SQLite's
write lock before reading, so processes sharing the file (``sipwire serve
--workers N``) serialize their read-modify-writes of an AOR: RFC 3261 §10.3,
REGISTER requests "MUST also be processed atomically".  With
``synchronous=NORMAL`` in WAL mode a committed update survives the process
ending (a crash included); it can be lost only with the machine's power.

**Group commit.**  Every call is queued to the store thread, which takes
whatever is queued (at most ``max_batch`` calls) and applies the writes
among it in *one* transaction: one ``BEGIN IMMEDIATE``, the updates, one
``COMMIT``.  Why: the write lock is what processes sharing the
file contend for.  With a transaction per update, each REGISTER took the
lock once, and while another process held it SQLite's busy handler slept
(1, 2, 5, 10 ... ms); this process has one store thread, so every update
queued behind waited out that sleep too, and two workers served fewer
REGISTERs than one.  Now the updates that arrive during a wait are
committed together by the next transaction: the lock is taken once per
batch, and waiting makes the next batch bigger instead of the queue longer.

The semantics are those of a transaction per update (§10.3):

- each update reads its AOR's bindings, calls ``change`` and writes the
  result under the write lock, and sees the updates before it in its batch
  (one AOR twice in a batch is applied in order);
- a ``change`` that raises fails alone and leaves nothing of it written
  ("the binding updates MUST be committed (that is, made visible to the
  proxy or redirect server) if and only if all binding updates and
  additions succeed", §10.3 step 7); the others of its batch commit.  An
  update runs ``change`` and builds its rows before its first write, then
  writes one row with one statement, or more in a ``SAVEPOINT`` of their own;
- ``update`` returns only once the transaction is committed, so a registrar
  answers 200 with bindings that are stored (§10.3 step 8);
- an ``sqlite3.Error`` that fails the transaction (the lock not obtained
  within ``timeout``, a failed ``COMMIT``) fails each update of the batch
  that would have succeeded with ``StoreError`` (503, §21.5.4).

**The write lock between processes.**  SQLite's own wait for its write
lock is a sleep that grows (1, 2, 5, 10, 15 ... ms): two workers that each
commit every millisecond or so would spend their time asleep.  So before
``BEGIN IMMEDIATE`` the store thread takes an advisory lock of its own,
``flock(2)`` on the file ``PATH-lock`` beside the database, and drops it
after the ``COMMIT``: processes of sipwire take turns there, polling at most
every 0.5 ms, and SQLite finds its lock free.  Its own wait still covers any
other writer.  The lock is released by the kernel when a process ends, so a
crashed worker never leaves it held; a waiter gives up after ``timeout``
as SQLite would (the batch fails with ``StoreError``).

Reads (``lookup``, ``aors``, ``bindings``, ``count``, ``ping``) are queued
too and run before the batch's writes, outside the write transaction: WAL
readers never wait for the write lock.  The thread completes a batch's
futures from one ``call_soon_threadsafe`` callback, so the event loop wakes
once per batch (twice when it held both reads and writes), not per call.

**Bounds.**  A batch holds at most ``max_batch`` calls (256), so that one
transaction holds the lock only briefly.  The queue has no bound of its own:
its callers bound it.  The server's overload control
(``sipwire.server.overload``) answers 503 before a request reaches the
store once ``max_pending`` requests wait for it (1000 by default) or the
event loop lags, so the queue holds at most about that many calls.

``close()`` finishes the calls queued before it, then closes the connection;
calls after it raise ``StoreError``.  A caller cancelled while it waits
gets ``CancelledError``, but its call may still be done, as a REGISTER
may be stored whose 200 is lost on the way.  ``batches`` and ``commits``
count what the thread did, for tests, benchmarks and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .binding import Binding, Source, sort_bindings
from .store import Change, LocationStore, StoreError, check_change

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's own wait alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_MAX_BATCH", "SQLiteStore"]

log = logging.getLogger("sipwire.location")

T = TypeVar("T")

#: the most calls applied together (one transaction for their writes)
DEFAULT_MAX_BATCH = 256

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS binding (
    aor TEXT NOT NULL,
    key TEXT NOT NULL,
    contact TEXT NOT NULL,
    contact_value TEXT NOT NULL,
    expires_at REAL NOT NULL,
    q REAL NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    path TEXT NOT NULL,
    instance_id TEXT,
    reg_id INTEGER,
    transport TEXT,
    source_host TEXT,
    source_port INTEGER,
    source_local TEXT,
    user_agent TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (aor, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS binding_expires_at ON binding (expires_at);
"""

_COLUMNS = ("aor, key, contact, contact_value, expires_at, q, call_id, cseq, path, instance_id, "
            "reg_id, transport, source_host, source_port, source_local, user_agent, updated_at")
_SELECT = f"SELECT {_COLUMNS} FROM binding"
_INSERT = f"INSERT OR REPLACE INTO binding ({_COLUMNS}) VALUES ({', '.join('?' * 17)})"
_SELECT_AOR = f"{_SELECT} WHERE aor = ?"
_DELETE_KEY = "DELETE FROM binding WHERE aor = ? AND key = ?"

#: the longest pause between two tries of the write lock (seconds)
_LOCK_POLL = 0.0005


class _WriteLock:
    """The advisory write lock of the processes sharing one database file
    (see the module): ``flock(2)`` on ``PATH-lock``, tried again at growing
    pauses of at most ``_LOCK_POLL`` until ``timeout``."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path + "-lock"
        self.timeout = timeout
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        #: how many times the lock was held by another process when wanted
        self.waits = 0

    @classmethod
    def for_database(cls, path: str, timeout: float) -> _WriteLock | None:
        """The lock of the database at ``path``; None for one no other process
        can open (in memory, or temporary) or without ``flock``."""
        if fcntl is None or path in ("", ":memory:") or path.startswith("file:"):
            return None
        return cls(path, timeout)

    def acquire(self) -> None:
        """Take the lock; ``sqlite3.OperationalError`` after ``timeout``
        seconds of another process holding it."""
        fd = self._fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        self.waits += 1
        deadline = time.monotonic() + self.timeout
        pause = _LOCK_POLL / 8
        while True:
            time.sleep(pause)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: {self.path} held by another process for "
                        f"{self.timeout:g} s") from None
                pause = min(pause * 2, _LOCK_POLL)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


Row = tuple[Any, ...]
#: a call run in the store thread, given the connection
Work = Callable[[sqlite3.Connection], Any]


class _Call:
    """A call queued to the store thread, and where its outcome goes."""

    __slots__ = ("future", "loop", "work", "writes")

    def __init__(self, work: Work, writes: bool, future: asyncio.Future[Any],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.writes = writes
        self.future = future
        self.loop = loop


class _Close:
    """Queued last: the thread closes the connection and stops (``future``
    None: the store was dropped unclosed)."""

    __slots__ = ("future", "loop")

    def __init__(self, future: asyncio.Future[None] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.future = future
        self.loop = loop


#: a call's outcome: (call, succeeded, result or exception)
Outcome = tuple[_Call, bool, Any]


class SQLiteStore(LocationStore):
    """Bindings in an SQLite database at ``path`` (``":memory:"`` for none).

    Every unexpired binding is there again when the file is opened anew.
    ``timeout``: seconds to wait for another process's write lock before an
    update fails with ``StoreError``.  ``max_batch``: the most calls applied
    together (1: a transaction per update, as before group commit).
    """

    def __init__(self, path: str | Path, *, timeout: float = 5.0,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch is 1 or more")
        self.path = str(path)
        # Opened here (a few milliseconds), used only in the store thread after.
        try:
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open location database {self.path!r}: {exc}") from exc
        try:
            _setup(conn)
            lock = _WriteLock.for_database(self.path, timeout)
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            raise StoreError(f"cannot open location database {self.path!r}: {exc}") from exc
        self._queue: queue.SimpleQueue[_Call | _Close] = queue.SimpleQueue()
        # makes "not closed, so queue" one step against close()'s "closed, queue _Close"
        self._lock = threading.Lock()
        self._closed = False
        self._thread = _StoreThread(conn, self._queue, self.path, max_batch, lock)
        self._thread.start()
        # a store dropped without close() does not leave its thread behind
        self._finalizer = weakref.finalize(self, self._queue.put, _Close())

    @property
    def max_batch(self) -> int:
        """The most calls applied together."""
        return self._thread.max_batch

    @property
    def batches(self) -> int:
        """How many batches of calls the store thread has taken from its queue."""
        return self._thread.batches

    @property
    def commits(self) -> int:
        """How many write transactions (``BEGIN IMMEDIATE`` ... ``COMMIT``) have
        committed: fewer than the updates when they were grouped."""
        return self._thread.commits

    @property
    def lock_waits(self) -> int:
        """How many write transactions found the write lock held by another
        process (the module's "write lock between processes")."""
        lock = self._thread.lock
        return lock.waits if lock is not None else 0

    async def _call(self, work: Work, writes: bool) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreError("the location store is closed")
            self._queue.put(_Call(work, writes, future, loop))
        return await future

    # -- the interface ----------------------------------------------------------------

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        """Replace ``aor``'s bindings by ``change(current)`` under SQLite's write
        lock, in the transaction of the batch the call lands in, and return them
        once committed (RFC 3261 §10.3 steps 7 and 8).  If ``change`` raises, its
        writes are rolled back and the exception propagates; the rest of the
        batch commits."""
        result: list[Binding] = await self._call(
            lambda conn: _update(conn, aor, change, now), True)
        return result

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        result: list[Binding] = await self._call(lambda conn: sort_bindings([
            _binding(row) for row in conn.execute(
                f"{_SELECT} WHERE aor = ? AND expires_at > ?", (aor, now))]), False)
        return result

    async def remove(self, aor: str) -> int:
        result: int = await self._call(lambda conn: conn.execute(
            "DELETE FROM binding WHERE aor = ?", (aor,)).rowcount, True)
        return result

    async def purge(self, now: float) -> int:
        result: int = await self._call(lambda conn: conn.execute(
            "DELETE FROM binding WHERE expires_at <= ?", (now,)).rowcount, True)
        return result

    async def aors(self, now: float) -> list[str]:
        result: list[str] = await self._call(lambda conn: [str(row[0]) for row in conn.execute(
            "SELECT DISTINCT aor FROM binding WHERE expires_at > ? ORDER BY aor", (now,))],
            False)
        return result

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        where, args = ("expires_at > ?", (now,)) if aor is None else \
            ("aor = ? AND expires_at > ?", (aor, now))
        rows: list[Row] = await self._call(lambda conn: conn.execute(
            f"{_SELECT} WHERE {where} ORDER BY aor", args).fetchall(), False)
        by_aor: dict[str, list[Binding]] = {}
        for row in rows:
            binding = _binding(row)
            by_aor.setdefault(binding.aor, []).append(binding)
        return [b for name in sorted(by_aor) for b in sort_bindings(by_aor[name])]

    async def count(self, now: float) -> int:
        row: Row = await self._call(lambda conn: conn.execute(
            "SELECT COUNT(*) FROM binding WHERE expires_at > ?", (now,)).fetchone(), False)
        return int(row[0])

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone(), False)

    async def close(self) -> None:
        """Finish the calls queued so far, close the connection, stop the thread."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._finalizer.detach()
            self._queue.put(_Close(done, loop))
        await done

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


class _StoreThread(threading.Thread):
    """The one thread using the connection: takes the queued calls in batches
    and commits each batch's writes together (the module's docstring says why).

    It holds no reference to its store, so that a store dropped unclosed is
    collected, and its finalizer stops the thread.
    """

    def __init__(self, conn: sqlite3.Connection, calls: queue.SimpleQueue[_Call | _Close],
                 path: str, max_batch: int, lock: _WriteLock | None) -> None:
        super().__init__(name="sipwire-sqlite", daemon=True)
        self.conn = conn
        self.lock = lock
        self.calls = calls
        self.path = path
        self.max_batch = max_batch
        self.batches = 0
        self.commits = 0

    def run(self) -> None:
        calls, max_batch = self.calls, self.max_batch
        while True:
            batch: list[_Call] = []
            item = calls.get()
            while isinstance(item, _Call):
                batch.append(item)
                if len(batch) == max_batch:
                    break
                try:
                    item = calls.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self.batches += 1
                self._serve(batch)
            if isinstance(item, _Close):
                self._close(item)
                return

    def _serve(self, batch: list[_Call]) -> None:
        outcomes: list[Outcome] = []
        try:
            reads = [call for call in batch if not call.writes]
            if reads:
                outcomes = [self._read(call) for call in reads]
                if len(reads) < len(batch):
                    # the readers need not wait for the write lock
                    _deliver(outcomes)
                    outcomes = []
            if len(reads) < len(batch):
                outcomes += self._write([call for call in batch if call.writes])
        except BaseException as exc:  # a bug here must not leave callers waiting
            log.exception("the location store's thread failed")
            answered = {id(call) for call, _, _ in outcomes}
            outcomes += [(call, False, self._error(exc)) for call in batch
                         if id(call) not in answered]
        finally:
            _deliver(outcomes)

    def _read(self, call: _Call) -> Outcome:
        try:
            return call, True, call.work(self.conn)
        except sqlite3.Error as exc:
            return call, False, self._error(exc)
        except Exception as exc:
            return call, False, exc

    def _write(self, writes: list[_Call]) -> list[Outcome]:
        """One transaction for all the calls.  Each call's work is atomic by
        itself (one statement, or a savepoint of its own: ``_update``), so a
        call that raises has written nothing and fails alone; an error of the
        transaction fails every call that had succeeded."""
        conn, lock = self.conn, self.lock
        outcomes: list[Outcome] = []
        locked = False
        try:
            if lock is not None:
                lock.acquire()
                locked = True
            conn.execute("BEGIN IMMEDIATE")
            for call in writes:
                try:
                    result = call.work(conn)
                except Exception as exc:
                    if isinstance(exc, sqlite3.Error) and not conn.in_transaction:
                        raise  # SQLite rolled the whole transaction back
                    failure = self._error(exc) if isinstance(exc, sqlite3.Error) else exc
                    outcomes.append((call, False, failure))
                else:
                    outcomes.append((call, True, result))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rolling back the location store's transaction failed")
            failure = self._error(exc)
            failed = {id(call): outcome for call, ok, outcome in outcomes if not ok}
            return [(call, False, failed.get(id(call), failure)) for call in writes]
        finally:
            if locked:
                assert lock is not None
                lock.release()
        self.commits += 1
        return outcomes

    def _error(self, exc: BaseException) -> StoreError:
        error = StoreError(f"location database {self.path!r}: {exc}")
        error.__cause__ = exc
        return error

    def _close(self, close: _Close) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            log.exception("closing the location database %r failed", self.path)
        if self.lock is not None:
            self.lock.close()
        # close() queues nothing after _Close; this drains what might, to be safe
        stray: list[Outcome] = []
        while True:
            try:
                item = self.calls.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                stray.append((item, False, StoreError("the location store is closed")))
        _deliver(stray)
        if close.future is not None and close.loop is not None:
            _call_soon(close.loop, _finish, close.future)


def _update(conn: sqlite3.Connection, aor: str, change: Change, now: float) -> list[Binding]:
    """§10.3's read-modify-write of one AOR, inside the batch's transaction.

    Everything that can fail in Python (``change``, its check, the rows) is
    done before the first write, so that a failure leaves nothing written.
    One row written or removed is one statement, atomic by itself (the usual
    REGISTER: a binding added or refreshed); more go in a savepoint, rolled
    back if one of them fails."""
    rows = conn.execute(_SELECT_AOR, (aor,)).fetchall()
    current = {b.key: b for b in map(_binding, rows)}
    live = sort_bindings([b for b in current.values() if not b.expired(now)])
    new = check_change(aor, change(live), now)
    keep = {b.key for b in new}
    deletes = [(aor, key) for key in current if key not in keep]
    inserts = [_row(b) for b in new if current.get(b.key) != b]
    writes = len(deletes) + len(inserts)
    if writes == 1:
        if inserts:
            conn.execute(_INSERT, inserts[0])
        else:
            conn.execute(_DELETE_KEY, deletes[0])
    elif writes:
        conn.execute("SAVEPOINT update_aor")
        try:
            if deletes:
                conn.executemany(_DELETE_KEY, deletes)
            if inserts:
                conn.executemany(_INSERT, inserts)
        except Exception:  # sqlite3.Error, or a value it cannot bind (OverflowError)
            if conn.in_transaction:
                conn.execute("ROLLBACK TO update_aor")
                conn.execute("RELEASE update_aor")
            raise
        conn.execute("RELEASE update_aor")
    return new


def _deliver(outcomes: list[Outcome]) -> None:
    """Hand the outcomes to their event loops: one wake-up per loop."""
    if not outcomes:
        return
    loop = outcomes[0][0].loop
    if all(call.loop is loop for call, _, _ in outcomes):
        _call_soon(loop, _complete, outcomes)
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, some in by_loop.items():
        _call_soon(loop, _complete, some)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[T], object],
               arg: T) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(callback, arg)


def _complete(outcomes: list[Outcome]) -> None:
    """In the event loop: settle the futures of a batch."""
    for call, ok, value in outcomes:
        future = call.future
        if future.done():  # its caller was cancelled; the call was done anyway
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        raise sqlite3.DatabaseError(f"schema version {version}, expected {SCHEMA_VERSION}")
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _row(b: Binding) -> Row:
    source = b.source
    return (
        b.aor, b.key, b.contact, b.contact_value, b.expires_at, b.q, b.call_id, b.cseq,
        json.dumps(list(b.path)) if b.path else "[]", b.instance_id, b.reg_id,
        source.transport if source else None, source.host if source else None,
        source.port if source else None, source.local if source else None,
        b.user_agent, b.updated_at,
    )


def _binding(row: Row) -> Binding:
    (aor, _key, contact, contact_value, expires_at, q, call_id, cseq, path, instance_id,
     reg_id, transport, host, port, local, user_agent, updated_at) = row
    source = None
    if transport is not None:
        source = Source(str(transport), str(host), int(port),
                        None if local is None else str(local))
    return Binding(
        aor=str(aor), contact=str(contact), contact_value=str(contact_value),
        expires_at=float(expires_at), q=float(q),
        call_id=str(call_id), cseq=int(cseq),
        path=tuple(json.loads(str(path))) if path != "[]" else (),
        instance_id=None if instance_id is None else str(instance_id),
        reg_id=None if reg_id is None else int(reg_id),
        source=source, user_agent=None if user_agent is None else str(user_agent),
        updated_at=float(updated_at),
    )
