"""The SQLite file as the server writes it: one writer, group commit, one failing write
undone alone, reads of what was committed, and what was committed still there after."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from stackduck.adapters.sqlite.database import Database
from stackduck.domain.errors import StorageUnavailable

#: A table of the tests' own, beside the server's schema.
NOTES = "CREATE TABLE IF NOT EXISTS notes (n INTEGER PRIMARY KEY, text TEXT NOT NULL)"


class Counted(Database):
    """The database, counting the transactions its writer commits."""

    commits = 0

    def _commit(self, batch: list) -> list:  # type: ignore[type-arg]
        self.commits += 1
        return super()._commit(batch)


async def opened(path: Path) -> Counted:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(NOTES)
    database = Counted(path)
    await database.open()
    return database


def note(n: int, text: str = "x"):  # type: ignore[no-untyped-def]
    def write(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO notes (n, text) VALUES (?, ?)", (n, text))
        return n

    return write


async def count(database: Database) -> int:
    return int(await database.read(lambda conn: conn.execute("SELECT count(*) FROM notes").fetchone()[0]))


async def test_writes_that_arrive_together_share_a_commit_and_each_gets_its_answer(tmp_path: Path) -> None:
    database = await opened(tmp_path / "db")
    try:
        answers = await asyncio.gather(*(database.write(note(n)) for n in range(200)))

        assert answers == list(range(200))
        assert await count(database) == 200
        assert database.commits < 20  # not one transaction per write
    finally:
        await database.close()


async def test_a_failing_write_is_undone_alone(tmp_path: Path) -> None:
    database = await opened(tmp_path / "db")
    try:

        def half_then_fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO notes (n, text) VALUES (100, 'half')")
            conn.execute("INSERT INTO notes (n, text) VALUES (1, 'taken')")  # n = 1 exists by then

        results = await asyncio.gather(
            database.write(note(1)), database.write(half_then_fail), database.write(note(2)),
            return_exceptions=True,
        )  # fmt: skip

        assert results[0] == 1 and results[2] == 2
        assert isinstance(results[1], sqlite3.IntegrityError)
        kept = await database.read(lambda conn: conn.execute("SELECT n FROM notes ORDER BY n").fetchall())
        assert kept == [(1,), (2,)]
    finally:
        await database.close()


async def test_what_was_committed_is_there_after_a_restart(tmp_path: Path) -> None:
    database = await opened(tmp_path / "db")
    await asyncio.gather(*(database.write(note(n)) for n in range(10)))
    await database.close()

    again = await opened(tmp_path / "db")
    try:
        assert await count(again) == 10
        mode = await again.read(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        await again.close()


async def test_a_closed_database_refuses_writes_with_a_storage_error(tmp_path: Path) -> None:
    database = await opened(tmp_path / "db")
    await database.close()

    with pytest.raises(StorageUnavailable, match="not open"):
        await database.write(note(1))


async def test_closing_mid_commit_answers_its_writers(tmp_path: Path) -> None:
    database = await opened(tmp_path / "db")

    def slow(conn: sqlite3.Connection) -> None:
        time.sleep(0.3)
        conn.execute("INSERT INTO notes (n, text) VALUES (1, 'late')")

    writing = asyncio.ensure_future(database.write(slow))
    await asyncio.sleep(0.05)  # the writer thread is in the commit
    await database.close()

    with pytest.raises(StorageUnavailable, match="closing"):
        await asyncio.wait_for(writing, 5)
