"""The charts' minutes in the SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from stackduck.adapters.sqlite.database import Database
from stackduck.application.history import MinuteCounts

COLUMNS = "minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait"
REPLACE = f"INSERT OR REPLACE INTO stackduck_minutes ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _counts(row: Sequence[Any]) -> MinuteCounts:
    minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait = row
    return MinuteCounts(
        minute, job_type, enqueued, completed, retried, dead, json.loads(runs), depth, oldest_wait
    )


class SqliteHistory:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, minutes: Sequence[MinuteCounts]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for counts in minutes:
                found = conn.execute(
                    f"SELECT {COLUMNS} FROM stackduck_minutes WHERE minute = ? AND job_type = ?",
                    (counts.minute, counts.job_type),
                ).fetchone()
                merged = MinuteCounts(counts.minute, counts.job_type) if found is None else _counts(found)
                merged.add(counts)
                conn.execute(
                    REPLACE,
                    (
                        merged.minute, merged.job_type, merged.enqueued, merged.completed, merged.retried,
                        merged.dead, json.dumps(merged.runs), merged.depth, merged.oldest_wait,
                    ),
                )  # fmt: skip

        if minutes:
            await self._db.write(write)

    async def read(self, first: int, last: int, job_type: str | None) -> list[MinuteCounts]:
        statement = (
            f"SELECT {COLUMNS} FROM stackduck_minutes WHERE minute BETWEEN ? AND ? "
            "AND (? IS NULL OR job_type = ?) ORDER BY minute, job_type"
        )
        rows = await self._db.read(
            lambda conn: conn.execute(statement, (first, last, job_type, job_type)).fetchall()
        )
        return [_counts(found) for found in rows]

    async def prune(self, before: int) -> int:
        statement = "DELETE FROM stackduck_minutes WHERE minute < ?"
        return await self._db.write(lambda conn: conn.execute(statement, (before,)).rowcount)
