"""The SQLite file's schema: numbered migrations applied once each as the server opens
the file, all of one or none of it, and a file from a newer Stackduck left alone."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from stackduck.adapters.backends.sqlite import SqliteBackend
from stackduck.adapters.clock import SystemClock
from stackduck.adapters.migration_files import Migration
from stackduck.adapters.sqlite.migrations import available, migrate, version
from stackduck.domain.errors import StorageUnavailable


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def file_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return version(connection)


async def test_a_new_data_directory_gets_every_migration_and_a_reopened_one_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    latest = available()[-1]
    async with SqliteBackend.open(str(tmp_path), "normal", SystemClock()) as backend:
        path = backend.database.path
        await backend.store.insert([])
    assert file_version(path) == latest.version
    assert {"stackduck_jobs", "stackduck_schedules", "stackduck_limits"} <= tables(path)
    assert f"applied migration {available()[0].label}" in caplog.text

    caplog.clear()
    async with SqliteBackend.open(str(tmp_path), "normal", SystemClock()):
        pass
    assert "applied migration" not in caplog.text
    assert file_version(path) == latest.version


def test_a_migration_that_fails_leaves_nothing_of_itself(tmp_path: Path) -> None:
    path = tmp_path / "stackduck.db"
    latest = available()[-1].version
    broken = Migration(
        latest + 1, "broken", "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        migrate(connection, path)
        with pytest.raises(
            StorageUnavailable, match=f"cannot apply migration {broken.label} .*no such table"
        ):
            migrate(connection, path, [*available(), broken])
        assert version(connection) == latest and not connection.in_transaction
    assert "half" not in tables(path)


def test_the_next_migration_changes_a_file_that_holds_jobs(tmp_path: Path) -> None:
    path = tmp_path / "stackduck.db"
    latest = available()[-1].version
    added = Migration(latest + 1, "job_notes", "ALTER TABLE stackduck_paused ADD COLUMN note TEXT;")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        migrate(connection, path)
        connection.execute("INSERT INTO stackduck_paused (job_type) VALUES ('pdf')")
        assert migrate(connection, path, [*available(), added]) == [added]
        assert migrate(connection, path, [*available(), added]) == []
        assert connection.execute("SELECT job_type, note FROM stackduck_paused").fetchall() == [("pdf", None)]
        assert version(connection) == added.version


async def test_a_file_from_a_newer_stackduck_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "stackduck.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageUnavailable, match="has schema version 999, newer than this Stackduck knows"):
        async with SqliteBackend.open(str(tmp_path), "normal", SystemClock()):
            pass
    assert file_version(path) == 999 and tables(path) == set()
