"""One SQLite file, as a server uses it: every write from one thread, the writes that
arrive while one is committing sharing the next transaction (group commit); reads on
connections of their own, in other threads (WAL lets them read while it writes).

sqlite3 calls block, so none runs on the event loop: a write is a function of a
connection, run in the writer's thread inside a savepoint (one that fails is rolled
back alone and its caller gets the error; the others commit); a read is a function of
a connection, run in a reader thread. A write's caller hears back once its transaction
is committed, at the ``synchronous`` level asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from stackduck.adapters.sqlite.migrations import migrate
from stackduck.domain.errors import StorageUnavailable

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

#: A batch's writes at most: enough to share a commit, few enough to keep its latency.
MAX_BATCH = 1000
READERS = 2
#: How long a connection waits for a lock another one holds (a checkpoint, a reader).
BUSY_MS = 5000


@dataclass
class _Write:
    work: Work
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Database:
    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="stackduck-sqlite-writer")
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="stackduck-sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._writing: list[_Write] = []  # the batch being committed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect the writer and bring the file's schema up to date."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._connect_writer)
        self._task = asyncio.create_task(self._write_loop(), name="stackduck-sqlite-writes")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Writes still waiting, and the batch whose commit the close interrupted (committed
        # or not: its callers were not told, so none of them was acknowledged).
        for write in [*self._pending, *self._writing]:
            if not write.done.done():
                write.done.set_exception(StorageUnavailable("the SQLite database is closing"))
        self._pending, self._writing = [], []
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in the writer's next transaction; its result once committed."""
        if not self.is_open:
            raise StorageUnavailable("the SQLite database is not open")
        write = _Write(work)
        self._pending.append(write)
        self._wake.set()
        result: T = await asyncio.shield(write.done)
        return result

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on a reader's connection (a consistent snapshot of the last commit)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, work)

    # -- in the threads ---------------------------------------------------------------

    def _connection(self, writer: bool) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            connection.execute(f"PRAGMA synchronous = {self._synchronous}")
            if not writer:
                connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _connect_writer(self) -> None:
        connection = self._connection(writer=True)
        connection.execute("PRAGMA journal_mode = WAL")
        migrate(connection, self.path)

    def _read(self, work: Work) -> Any:
        connection = self._connection(writer=False)
        connection.execute("BEGIN")
        try:
            return work(connection)
        finally:
            connection.execute("COMMIT")

    def _commit(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        """One transaction for the batch, each write in a savepoint of its own."""
        connection = self._connection(writer=True)
        outcomes: list[tuple[bool, Any]] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                connection.execute("SAVEPOINT one")
                try:
                    outcomes.append((True, write.work(connection)))
                    connection.execute("RELEASE one")
                except Exception as exc:  # this write's own failure: undone alone, given back to its caller
                    connection.execute("ROLLBACK TO one")
                    connection.execute("RELEASE one")
                    outcomes.append((False, exc))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return outcomes

    # -- on the event loop ---------------------------------------------------------------

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                self._writing = batch
                try:
                    outcomes = await asyncio.shield(loop.run_in_executor(self._writer, self._commit, batch))
                except Exception as exc:  # nothing of the batch committed: each caller is told
                    self._writing = []
                    failure = StorageUnavailable(f"SQLite could not commit: {exc}")
                    for write in batch:
                        if not write.done.done():
                            write.done.set_exception(failure)
                    continue
                self._writing = []  # (cancelled above, by close: close tells its callers)
                for write, (ok, value) in zip(batch, outcomes, strict=True):
                    if write.done.done():
                        continue
                    if ok:
                        write.done.set_result(value)
                    else:
                        write.done.set_exception(value)
