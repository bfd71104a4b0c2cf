"""SQLite (STACKDUCK_STORAGE=sqlite): the record in one file, ``STACKDUCK_DATA_DIR/
stackduck.db``, owned by one server process; the ready queue and the wake-ups in memory
beside it (ADR 0032).

How a job goes through it:

- **Enqueue.** ``Producer`` inserts the job with ``SqliteJobStore.insert``: a function of
  the writer's connection (``insert_jobs``: the idempotency key checked and held in
  ``stackduck_idempotency``, the row written), committed with whatever else arrived
  meanwhile (``Database``: one writer thread, group commit) before the call answers. Then
  ``ReadyPath.offer`` pushes its entry into ``MemoryReadyQueue`` and ``MemoryNotifier``
  wakes a parked stream; a due job enqueued while a stream of its type waits here with
  room is inserted already running and sent once committed (ADR 0013).
- **Claim.** ``QueueClaimer`` pops the best entries from the memory queue and
  ``SqliteJobStore.start`` leases their jobs in one write, a statement each (``START``,
  ``Job.start`` in SQL). An entry whose job is no longer queued is dropped.
- **Acknowledge.** ``Acks`` completes through ``SqliteJobStore.complete``: one write, in
  which the writer reads each job and makes ``Job.complete`` on it; failures and
  heartbeats are domain moves, as everywhere.
- **At start** the queue is filled from the record's queued jobs (``seed``), the running
  counts limits use are read, and the limits and buckets loaded.

Periodic schedules: ``SqliteSchedules`` (a fire step's compare-and-set and its jobs' insert
are one write). Limits: ``SqliteLimits`` (the memory configuration's counting, the limits
and buckets kept in the file, a lock across a limited claim). Fair groups: the memory
queue's turns. Paused types, the charts' minutes: tables of the file. Stops and watched
jobs: ``MemorySignals``. Health: the file open.

One process owns the data directory: opening takes an exclusive lock on
``stackduck.lock`` there, and a second server refuses to start while it is held.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from stackduck.adapters.failover import seed
from stackduck.adapters.memory import MemoryNotifier, MemoryReadyQueue, MemorySignals
from stackduck.adapters.sqlite.database import Database
from stackduck.adapters.sqlite.history import SqliteHistory
from stackduck.adapters.sqlite.limits import SqliteLimits
from stackduck.adapters.sqlite.paused_types import SqlitePausedTypes
from stackduck.adapters.sqlite.schedules import SqliteSchedules
from stackduck.adapters.sqlite.store import SqliteJobStore
from stackduck.application.ports import Clock
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)

DATABASE_FILE = "stackduck.db"
LOCK_FILE = "stackduck.lock"


class SqliteHealth:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def check(self) -> dict[str, bool]:
        return {"sqlite": self._database.is_open}


class SqliteBackend:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.store = SqliteJobStore(database)
        self.queue = MemoryReadyQueue()
        self.schedule = self.queue  # the heap of held entries
        self.notifier = MemoryNotifier()
        self.signals = MemorySignals()
        self.claimer = QueueClaimer(self.queue, self.store, clock, self.notifier)
        self.paused_types = SqlitePausedTypes(database)
        self.schedules = SqliteSchedules(database, self.store)
        self.limits = SqliteLimits(database, self.store, self.queue, self.claimer)
        self.history = SqliteHistory(database)
        self.health = SqliteHealth(database)

    @classmethod
    @asynccontextmanager
    async def open(cls, data_dir: str, synchronous: str, clock: Clock) -> AsyncIterator[SqliteBackend]:
        with _owned(Path(data_dir)) as path:
            log.info("jobs are kept in %s (SQLite, synchronous=%s)", path, synchronous)
            database = Database(path, synchronous.upper())
            await database.open()
            try:
                backend = cls(database, clock)
                await backend.store.load_counts()
                await backend.limits.load()
                await seed(backend.queue, backend.store, clock)
                yield backend
            finally:
                await database.close()


@contextmanager
def _owned(folder: Path) -> Iterator[Path]:
    """The data directory (made if missing) and its lock, held while the server runs
    (released by the system if the process dies); gives the database file's path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageUnavailable(
            f"the data directory {folder} cannot be made ({exc.strerror}): set STACKDUCK_DATA_DIR "
            "to a directory this server may write"
        ) from None
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StorageUnavailable(
                f"the data directory {folder} is in use by another Stackduck server (it holds {path}): "
                "stop that server, or set STACKDUCK_DATA_DIR to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield (folder / DATABASE_FILE).resolve()
    finally:
        os.close(fd)  # closing the descriptor lets the lock go
